//! `Event`: a flag that processes wait on, set by any one of them.
//!
//! # How it works underneath
//!
//! ## One word: a flag and a generation
//!
//! The event lives in a page of shared memory mapped before the fork, so every process sees the
//! same bytes. The state is one 32-bit word:
//!
//! ```text
//!   bit 31 ............................ bit 1 | bit 0
//!   generation: how many times `set` found   | flag: 1 = set, 0 = unset
//!   the flag unset and set it (wraps around) |
//! ```
//!
//! - `set` turns the flag on *and* adds one to the generation, in one compare-and-swap, but only
//!   when the flag was off: setting a set event changes nothing.
//! - `clear` turns the flag off and leaves the generation alone.
//! - `is_set` reads bit 0.
//!
//! Why a generation and not just the flag: a waiter must notice a `set` even when a `clear`
//! follows at once ("pulse" the event). With the flag alone, a waiter woken by `set` would look,
//! find the flag already cleared, and go back to sleep; the pulse is lost. With a generation the
//! question a waiter asks is "has anyone set the event since I started waiting?", and the word
//! alone answers it. A waiter reads the word once, `seen`, with the flag off. From then on the
//! only thing that can change the word is a `set` (a `clear` of an unset word writes the same
//! value), so *the word differs from `seen`* means exactly *a `set` happened*, even if the flag
//! is off again by the time the waiter looks. The waiter then returns `true`.
//!
//! This is what Python's `threading.Event` answers (its `Condition.wait` reports the
//! notification). CPython's `multiprocessing.Event` also wakes such a waiter (its `notify_all`
//! even waits until the sleepers are awake), but then re-reads the flag after taking its lock
//! back, so it returns `False` when the `clear` took the lock first. Here `wait()` returns `true`
//! every time, as documented, because it only returns once a `set` has happened.
//!
//! The generation wraps around after 2^31 sets. A waiter would miss a pulse only if a multiple
//! of 2^31 `set`s happened while it was not looking, which cannot happen within one sleep slice
//! (see below): while it sleeps, each `set` makes a wake-up system call of a microsecond or more.
//!
//! ## Sleeping: a futex on that word
//!
//! Waiting is a futex wait on the word (`futex(2)`, see `shm.rs`): "put me to sleep *only if the
//! word still holds `seen`*". The kernel checks and sleeps atomically with respect to wake-ups
//! on the same word, so a `set` that lands between the waiter's last look and its sleep is never
//! missed: either the word has changed and the waiter does not sleep at all, or the waiter is
//! already queued and the setter's wake-up finds it. Why a futex and not CPython's design (a
//! `Condition` over a semaphore) or a pipe: it is the smallest mechanism that does exactly this,
//! costs no system call to test the flag, and needs no file descriptor per waiter. The futex
//! must not use `FUTEX_PRIVATE_FLAG`, which would key it by address inside one process only.
//!
//! ## Sleepers: no system call in `set` when nobody sleeps
//!
//! Waking is a system call, and most `set`s have nobody to wake. So waiters count themselves in
//! a second word, `sleepers`, around each sleep, and `set` calls the kernel only when the count
//! is not zero. Why this loses no wake-up, with every access sequentially consistent (one total
//! order that all processes agree on):
//!
//! ```text
//!   waiter                               setter
//!   W1  seen = word (flag off)           S1  word = seen + set (compare-and-swap)
//!   W2  sleepers += 1                    S2  n = sleepers
//!   W3  futex_wait(word, seen)           S3  if n > 0: futex_wake(word)
//! ```
//!
//! - If S2 comes before W2 in the total order, so does S1, and W3 (after W2) finds the word
//!   changed: the waiter does not sleep.
//! - If W2 comes before S2, the setter sees `n > 0` and wakes. Its wake-up either finds the
//!   waiter queued (and wakes it), or comes before W3 queues it, and then W3's check, which is
//!   after S1, finds the word changed.
//!
//! A `set` of an event that is already set also wakes any counted sleepers: cheap, and it lets a
//! second `set` repair what a first one left undone (next section).
//!
//! ## Bounded slices: a dead process cannot owe a wake-up forever
//!
//! The argument above assumes the setter lives to S3. A setter killed between S1 and S3 (a
//! `SIGKILL`, an OOM kill) leaves the flag set and the waiters asleep; nothing will ever wake
//! them. So no waiter sleeps for longer than one `SLICE` (100 ms, the crate's liveness tick,
//! as the queue's waits use): it wakes, re-reads the word, and goes back to sleep only if it
//! still holds `seen`. A wake-up that a dead process owed costs at most one slice. The price is
//! ten system calls a second per waiter on an event that stays unset, which is negligible.
//!
//! A waiter killed while asleep leaves `sleepers` counted too high for good. That is harmless:
//! every later `set` makes a wake-up call that nobody needed, a microsecond wasted.
//!
//! ## Spinning briefly before sleeping
//!
//! Before its first sleep a waiter spins for 20 us re-reading the word, where that can pay: the
//! crate's one rule for it, and the measurements behind it, are in `spin.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::shm::{ProcessShared, SharedMemory, futex_wait, futex_wake_all};
use crate::spin;

#[repr(C)]
struct EventShm {
    /// The flag in bit 0, the generation in bits 1 to 31 (module docs). Also the futex word.
    word: AtomicU32,
    /// How many waiters are (about to be) asleep on `word`.
    sleepers: AtomicU32,
}

// SAFETY: all-zero is a valid state (flag unset, generation 0, no sleepers), and atomics work
// across processes.
unsafe impl ProcessShared for EventShm {}

/// Bit 0 of the word: the flag.
const FLAG: u32 = 1;
/// What one `set` adds to the word: one in the generation, which starts at bit 1.
const GENERATION_ONE: u32 = 2;

/// The longest a waiter sleeps before it re-reads the word on its own, in case the process that
/// owed it a wake-up died (module docs). The crate's liveness tick, as in the queue.
const SLICE: Duration = Duration::from_millis(100);

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
        crate::lifecycle::install();
        Ok(Event {
            shm: Arc::new(SharedMemory::new().map_err(crate::Error::os("mmap (an Event's shared page)"))?),
        })
    }

    /// Whether the flag is set. Equivalent to Python's `Event.is_set()`.
    pub fn is_set(&self) -> bool {
        self.shm.word.load(Ordering::SeqCst) & FLAG != 0
    }

    /// Sets the flag and wakes every waiting process. Equivalent to Python's `Event.set()`.
    ///
    /// A waiter wakes and returns `true` even if the flag is cleared again before it runs.
    pub fn set(&self) {
        self.store_set();
        if self.shm.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake_all(&self.shm.word);
        }
    }

    /// Unsets the flag. Equivalent to Python's `Event.clear()`.
    pub fn clear(&self) {
        self.shm.word.fetch_and(!FLAG, Ordering::SeqCst);
    }

    /// Waits until the flag is set; returns `true`. Equivalent to Python's `Event.wait()`.
    ///
    /// Returns at once when the flag is set, and otherwise as soon as any process sets it, even
    /// if it is cleared again straight away.
    pub fn wait(&self) -> bool {
        self.wait_until(None)
    }

    /// Waits at most `timeout` for the flag; returns whether it was set meanwhile (or already).
    ///
    /// Equivalent to Python's `Event.wait(timeout)`. A timeout too large to be added to the
    /// clock (`Duration::MAX`) waits without limit.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// The first half of `set`: the flag goes on and the generation up, if the flag was off.
    fn store_set(&self) {
        // `Err` means the flag was already on: nothing to store.
        let _ = self.shm.word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
            (word & FLAG == 0).then(|| word.wrapping_add(GENERATION_ONE) | FLAG)
        });
    }

    /// Stores the flag exactly as [`set`](Event::set) does but wakes nobody, as a setter killed
    /// between the two steps would. For the crate's tests only.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn set_without_wake_for_tests(&self) {
        self.store_set();
    }

    /// How many waiters are counted as (about to be) asleep. For the crate's tests only: they
    /// use it to know that a waiting process has got as far as sleeping.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn sleepers_for_tests(&self) -> u32 {
        self.shm.sleepers.load(Ordering::SeqCst)
    }

    /// Waits until a `set` happens or the flag is already set (`true`), or until `deadline`
    /// passes (`false`); `None` waits without limit.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let seen = self.shm.word.load(Ordering::SeqCst);
        if seen & FLAG != 0 {
            return true;
        }
        // From here on `seen` has the flag off, and any change of the word is a `set`.
        if self.spin(seen, deadline) {
            return true;
        }
        loop {
            let slice = match deadline {
                None => SLICE,
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return self.changed_since(seen);
                    }
                    (deadline - now).min(SLICE)
                }
            };
            self.shm.sleepers.fetch_add(1, Ordering::SeqCst);
            // Sleeps only while the word still holds `seen`; at most one slice, so that a
            // wake-up owed by a process that died costs at most that (module docs).
            futex_wait(&self.shm.word, seen, Some(slice));
            self.shm.sleepers.fetch_sub(1, Ordering::SeqCst);
            if self.changed_since(seen) {
                return true;
            }
        }
    }

    /// Whether a `set` happened since the waiter read `seen` (a word with the flag off).
    fn changed_since(&self, seen: u32) -> bool {
        self.shm.word.load(Ordering::SeqCst) != seen
    }

    /// Re-reads the word while the crate's waits spin (`spin.rs`), less if `deadline` comes
    /// first; whether a `set` happened since `seen`.
    fn spin(&self, seen: u32, deadline: Option<Instant>) -> bool {
        spin::until_true(deadline, || self.changed_since(seen))
    }
}
