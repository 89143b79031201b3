//! `Event`: a flag that processes wait on, set by any one of them.
//!
//! # How it works underneath
//!
//! The flag is one 32-bit word (0 = unset, 1 = set) in a page of shared memory mapped before the
//! fork, so every process sees the same word. Waiting is a futex wait on that word: the kernel
//! puts the caller to sleep *only if the word still holds 0*, checked atomically, so a `set`
//! that lands between the caller's check and its sleep is never missed. `set` stores 1 and wakes
//! every sleeper on the word, in every process.
//!
//! Why a futex and not CPython's design (a `Condition` over a semaphore) or a pipe: it is the
//! smallest mechanism that does exactly this, costs no system call to test the flag, and needs no
//! file descriptor per waiter. The word must not use `FUTEX_PRIVATE_FLAG`, which would key it by
//! address inside one process only.
//!
//! Two refinements, both common in lock implementations:
//!
//! - A waiter first spins briefly (a few microseconds) re-reading the flag before it sleeps: when
//!   the setter is running on another core, the flag often changes within that time, and a
//!   sleep and wake-up through the kernel costs ten times more (tens of microseconds on a VM).
//! - Sleepers are counted in a second word, so `set` makes the wake-up system call only when
//!   someone sleeps. The counter and the flag are both sequentially consistent: either `set`
//!   sees the sleeper's count, or the sleeper sees the flag before it sleeps (and the futex
//!   re-checks the flag atomically as it goes to sleep).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::shm::{ProcessShared, SharedMemory, futex_wait, futex_wake_all};

#[repr(C)]
struct EventShm {
    flag: AtomicU32,
    /// How many waiters are (about to be) asleep on `flag`.
    sleepers: AtomicU32,
}

/// How many times a waiter re-reads the flag before sleeping (about 2-5 us).
const SPINS: u32 = 2_000;

// SAFETY: all-zero is a valid, unset flag with no sleepers, and atomics work across processes.
unsafe impl ProcessShared for EventShm {}

/// A flag shared by processes: `set` wakes everyone who `wait`s.
///
/// Equivalent to Python's `multiprocessing.Event`. Create it before starting the processes that
/// use it, and give each a clone.
///
/// ```rust,no_run
/// use multiprocessing::{Event, Process};
///
/// let e = Event::new()?;
/// let child_e = e.clone();
/// let mut p = Process::new(move || {
///     child_e.wait();
///     println!("set!");
/// });
/// p.start()?;
/// e.set();
/// p.join()?;
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct Event {
    shm: Arc<SharedMemory<EventShm>>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Event {}>", if self.is_set() { "set" } else { "unset" })
    }
}

impl Event {
    /// A new event, not set. Equivalent to Python's `multiprocessing.Event()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the shared page cannot be mapped.
    pub fn new() -> Result<Event> {
        crate::process::register_exit_hook();
        Ok(Event { shm: Arc::new(SharedMemory::new()?) })
    }

    /// Whether the flag is set. Equivalent to Python's `Event.is_set()`.
    pub fn is_set(&self) -> bool {
        self.shm.flag.load(Ordering::SeqCst) == 1
    }

    /// Sets the flag and wakes every waiting process. Equivalent to Python's `Event.set()`.
    pub fn set(&self) {
        self.shm.flag.store(1, Ordering::SeqCst);
        if self.shm.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake_all(&self.shm.flag);
        }
    }

    /// Unsets the flag. Equivalent to Python's `Event.clear()`.
    pub fn clear(&self) {
        self.shm.flag.store(0, Ordering::SeqCst);
    }

    /// Waits until the flag is set; returns `true`. Equivalent to Python's `Event.wait()`.
    pub fn wait(&self) -> bool {
        while !self.spin_until_set() {
            self.sleep(None);
        }
        true
    }

    /// Waits at most `timeout` for the flag; returns whether it is set.
    ///
    /// Equivalent to Python's `Event.wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.spin_until_set() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.sleep(Some(deadline - now));
        }
    }

    /// Re-reads the flag for a short while; whether it was set.
    fn spin_until_set(&self) -> bool {
        for _ in 0..SPINS {
            if self.is_set() {
                return true;
            }
            std::hint::spin_loop();
        }
        self.is_set()
    }

    /// Sleeps on the flag while it is unset, at most `timeout`.
    fn sleep(&self, timeout: Option<Duration>) {
        self.shm.sleepers.fetch_add(1, Ordering::SeqCst);
        futex_wait(&self.shm.flag, 0, timeout);
        self.shm.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}
