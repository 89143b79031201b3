//! `Lock` and `RLock`: mutual exclusion between processes, that survives a holder's death.
//!
//! # How it works underneath
//!
//! ## A robust pthread mutex in shared memory
//!
//! A lock is a pthread mutex in a page of shared memory mapped before the fork (see `shm.rs`),
//! initialised with two attributes:
//!
//! - `PTHREAD_PROCESS_SHARED`: the mutex may be used by every process that maps the page. The
//!   mutex is a futex word holding the owner's thread id; taking a free lock is one
//!   compare-and-swap in user space, and only a contended lock asks the kernel to sleep.
//! - `PTHREAD_MUTEX_ROBUST`: each thread keeps, in its own memory, a list of the robust mutexes
//!   it holds, and has told the kernel where that list is (`set_robust_list(2)`, done by glibc).
//!   When the thread dies, however it dies (a `SIGKILL` included), the kernel walks the list,
//!   marks each mutex "owner died" and wakes one waiter. The next `pthread_mutex_lock` gets the
//!   lock *and* the error `EOWNERDEAD`, instead of waiting forever.
//!
//! CPython builds its `Lock` on a POSIX semaphore instead, and a process killed while holding it
//! leaves every other process waiting forever. That is the reason for this choice: a hand-written
//! futex lock would be as small as a semaphore but would share its flaw, and only the kernel can
//! notice, at the instant a process dies, which locks it held.
//!
//! ## When the holder died: the lock is yours, the data may not be whole
//!
//! The process that takes a lock whose holder died gets it (never a hang, never an error), and
//! its guard says so: [`LockGuard::previous_holder_died`] is true, and a warning is logged,
//! naming the dead process when it can tell. What the lock protected may be half-updated (the holder was killed
//! in the middle of its work): check it, repair it, or give up. The lock itself is made whole
//! again at once (`pthread_mutex_consistent`), so later `acquire`s see a normal lock.
//!
//! Beside the mutex, the shared page holds three numbers that only the holder writes: the pid
//! of the process that holds the lock (0 when free), the pid of the last process that took it
//! (for that warning: the holder may die after it cleared the first), and how many times the
//! holder took it (an `RLock`'s depth, which a [`Condition`](crate::Condition) saves and
//! restores around a `wait`). The mutex orders these writes: whoever takes the lock next sees
//! them, and a holder's death always shows as `EOWNERDEAD`, whatever they hold.
//!
//! ## `Lock` and `RLock`
//!
//! A [`Lock`] is an *error-checking* robust mutex: a thread that takes it a second time gets
//! [`Error::WouldDeadlock`] instead of waiting for itself forever, as CPython's would. An
//! [`RLock`] is a *recursive* one: its holder may take it again, and it is free once every
//! guard is dropped. Both are also locks between the threads of one process.
//!
//! ## Guards, and why "release by a non-owner" cannot be written
//!
//! `acquire` returns a guard; dropping the guard (or calling [`LockGuard::release`]) releases
//! the lock: Python's `with lock:`. A pthread mutex must be released by the thread that took
//! it, so guards are not `Send`: a guard cannot move to another thread. CPython's `RLock`
//! raises `AssertionError` when a process releases it without holding it, and its `Lock` (a
//! semaphore underneath, which has no owner) raises `ValueError` when released while free, but
//! lets any process release it while another holds it. Here both locks belong to their holder,
//! and there is no `release` without a guard, so none of these mistakes compiles. The one way
//! left to try is a guard copied into a child by `fork`: a lock leaked to `'static` (a
//! `OnceLock`, `Box::leak`) and its guard moved into the child's closure, since
//! [`Process::new`](crate::Process::new) does not ask for `Send`, or any guard alive in the
//! forking thread when the program calls `fork` itself. The copy holds nothing in the child:
//! whoever holds the lock then (the parent, or the child itself through a guard of its own),
//! the copy's `release` gets [`Error::NotLockOwner`] and changes nothing, and dropping it
//! changes nothing. A guard knows it is a copy by the fork generation it remembers (`lifecycle.rs`
//! counts the forks): the pid cannot tell, since the child's own guards have the same one.
//!
//! ## A guard leaked with `mem::forget`
//!
//! Leaking a guard is safe Rust: the lock then stays held by its thread for good (as a lock
//! whose holder never releases it: other processes wait, or time out). Dropping the lock's last
//! handle afterwards must not unmap its page, because the holder thread's list of robust mutexes
//! links through the mutex (see `shm.rs`): that page is left mapped, one page leaked with the
//! guard.
//!
//! ## Spinning briefly, then sleeping in slices
//!
//! A contended `acquire` first spins for 20 us where that can pay (the crate's one rule for
//! spinning, and the measurements behind it, are in `spin.rs`): it re-reads
//! the holder's pid and tries the lock when it reads 0. Most critical sections are a few
//! microseconds long, and a hand-off that stays in user space costs a fraction of a microsecond,
//! against tens for a sleep and a wake-up through the kernel on a VM. Re-reading a plain word,
//! and trying the lock only when it looks free, keeps the spinner off the mutex's cache line
//! while the holder works.
//!
//! Then it sleeps in the kernel (`pthread_mutex_clocklock`), in `SLICE`s of 100 ms, the
//! crate's liveness tick. The kernel wakes a waiter when a holder dies, so the slices are only a
//! second line of defence: a wake-up lost on the way (a holder killed inside its unlock) costs
//! at most one slice, never a hang.
//!
//! ## Fork
//!
//! Nothing to do at fork or at exit: the lock lives in shared memory, and a child does not
//! inherit ownership (glibc empties the child's robust list). A lock held by the parent at the
//! fork is held by the parent in the child's eyes too, until the parent releases it.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::lifecycle::{current_pid, generation};
use crate::shm::{Locked, MutexKind, ProcessShared, RobustMutex, SharedMemory};
use crate::spin;

/// The longest one sleep lasts before the waiter tries again on its own (module docs).
const SLICE: Duration = Duration::from_millis(100);

#[repr(C)]
struct LockShm {
    mutex: RobustMutex,
    /// The pid of the process that holds the lock, 0 when it is free. A hint for spinners and
    /// for `Debug`; written only by the holder, while it holds the mutex.
    owner: AtomicI32,
    /// The pid of the last process that took the lock, kept after it releases it: the name in
    /// the warning when a holder dies (it may die after clearing `owner`).
    last_owner: AtomicI32,
    /// How many times the holder took the lock (always 1 for a `Lock`), 0 when free.
    depth: AtomicU32,
}

// SAFETY: all-zero bytes are a valid state once `mutex` is initialised in place (which
// `RawLock::new` does before the mapping is shared); the rest are atomics, which work across
// processes.
unsafe impl ProcessShared for LockShm {
    /// A guard can be leaked with `mem::forget`, leaving the mutex held past every borrow of
    /// the lock: its page must then stay mapped (module docs).
    fn held_by_this_process(&self) -> bool {
        self.mutex.held_by_this_process()
    }
}

pub(crate) use raw::RawLock;

/// In a private module: `RawLock` must be `pub` (the sealed `ConditionLock` trait's method
/// returns it), and here no one outside the crate can name it.
mod raw {
    use std::sync::Arc;

    use crate::shm::SharedMemory;

    /// The lock both [`Lock`](crate::Lock) and [`RLock`](crate::RLock) are made of; a
    /// [`Condition`](crate::Condition) holds one.
    #[derive(Clone)]
    pub struct RawLock {
        pub(super) shm: Arc<SharedMemory<super::LockShm>>,
        pub(super) recursive: bool,
    }
}

/// What one try at the mutex found.
enum Attempt {
    /// The lock is ours; whether its previous holder died holding it.
    Took(bool),
    /// Another thread holds it.
    Busy,
    /// This thread holds this `Lock` already (never for an `RLock`, which takes it again).
    HeldByThisThread,
}

/// The guard both [`LockGuard`] and [`RLockGuard`] are made of: one level of the lock held.
pub(crate) struct RawGuard<'a> {
    lock: &'a RawLock,
    owner_died: bool,
    /// The fork generation of the process that took the level: a copy of the guard in a
    /// forked child has another, and holds nothing there (module docs).
    generation: u32,
    /// A pthread mutex must be released by the thread that took it: the guard stays on it.
    _not_send: PhantomData<*const ()>,
}

impl RawLock {
    fn new(recursive: bool) -> Result<RawLock> {
        crate::lifecycle::install();
        let shm = SharedMemory::<LockShm>::new().map_err(Error::os("mmap (a Lock's shared page)"))?;
        let kind = if recursive { MutexKind::Recursive } else { MutexKind::ErrorCheck };
        // SAFETY: the mapping was just made; no other thread or process can see it yet.
        unsafe { shm.mutex.init_kind(kind) }.map_err(Error::os("pthread_mutex_init (a Lock)"))?;
        Ok(RawLock { shm: Arc::new(shm), recursive })
    }

    /// Takes one level of the lock, waiting until `deadline` at most (`None`: no limit).
    /// `Ok(None)` when the deadline passed first.
    pub(crate) fn acquire_until(&self, deadline: Option<Instant>) -> Result<Option<RawGuard<'_>>> {
        match self.attempt()? {
            Attempt::Took(owner_died) => return Ok(Some(self.took(owner_died))),
            Attempt::HeldByThisThread => return Err(Error::WouldDeadlock),
            Attempt::Busy => {}
        }
        if let Some(owner_died) = self.spin(deadline)? {
            return Ok(Some(self.took(owner_died)));
        }
        loop {
            let slice_end = Instant::now() + SLICE;
            let until = deadline.map_or(slice_end, |deadline| deadline.min(slice_end));
            match self.shm.mutex.lock(Some(until)) {
                Ok(Locked::Acquired(guard)) => return Ok(Some(self.took(guard.keep()))),
                Ok(Locked::TimedOut) => {
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        return Ok(None);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EDEADLK) => return Err(Error::WouldDeadlock),
                Err(e) => return Err(Error::os("pthread_mutex_clocklock (acquire of a Lock)")(e)),
            }
        }
    }

    /// Takes the lock if it is free (or, for an `RLock`, held by this thread). A `Lock` held by
    /// this thread is busy, as Python's `acquire(block=False)` says.
    pub(crate) fn try_acquire(&self) -> Result<Option<RawGuard<'_>>> {
        match self.attempt()? {
            Attempt::Took(owner_died) => Ok(Some(self.took(owner_died))),
            Attempt::Busy | Attempt::HeldByThisThread => Ok(None),
        }
    }

    /// One `pthread_mutex_trylock`, its answer sorted.
    fn attempt(&self) -> Result<Attempt> {
        match self.shm.mutex.try_lock() {
            Ok(Locked::Acquired(guard)) => Ok(Attempt::Took(guard.keep())),
            Ok(Locked::TimedOut) => Ok(Attempt::Busy),
            // An error-checking mutex refuses its own holder: waiting would never end.
            Err(e) if e.raw_os_error() == Some(libc::EDEADLK) => Ok(Attempt::HeldByThisThread),
            Err(e) => Err(Error::os("pthread_mutex_trylock (acquire of a Lock)")(e)),
        }
    }

    /// Re-reads the holder's pid while the crate's waits spin (`spin.rs`), or until
    /// `deadline`, trying the lock whenever it reads 0. `Some(owner_died)` when the lock was
    /// taken.
    fn spin(&self, deadline: Option<Instant>) -> Result<Option<bool>> {
        let taken = spin::until(deadline, || {
            if self.shm.owner.load(Ordering::Relaxed) != 0 {
                return None;
            }
            match self.attempt() {
                Ok(Attempt::Took(owner_died)) => Some(Ok(owner_died)),
                Ok(Attempt::HeldByThisThread) => Some(Err(Error::WouldDeadlock)),
                Ok(Attempt::Busy) => None,
                Err(e) => Some(Err(e)),
            }
        });
        taken.transpose()
    }

    /// The bookkeeping of a level just taken; the mutex is held.
    fn took(&self, owner_died: bool) -> RawGuard<'_> {
        let shm = &*self.shm;
        let me = current_pid();
        // Relaxed is enough for these: only the holder writes them, and the mutex orders one
        // holder's writes before the next holder's reads.
        let depth = if owner_died {
            // The last process that recorded itself as the holder; but a holder killed between
            // taking the mutex and recording itself leaves the one before it there, which may
            // still run: only a process that is gone is named.
            let dead = shm.last_owner.load(Ordering::Relaxed);
            let kind = if self.recursive { "RLock" } else { "Lock" };
            if dead != 0 && !crate::lifecycle::process_is_running(dead) {
                log::warn!(
                    "process {dead} died holding a {kind}: the lock is yours now, but what it \
                     protected may be half-updated"
                );
            } else {
                log::warn!(
                    "a process died holding a {kind}: the lock is yours now, but what it \
                     protected may be half-updated"
                );
            }
            // The dead holder's count means nothing now: the mutex counts this one level.
            1
        } else {
            shm.depth.load(Ordering::Relaxed) + 1
        };
        shm.depth.store(depth, Ordering::Relaxed);
        if depth == 1 {
            shm.last_owner.store(me, Ordering::Relaxed);
            shm.owner.store(me, Ordering::Relaxed);
        }
        RawGuard { lock: self, owner_died, generation: generation(), _not_send: PhantomData }
    }

    /// Releases one level of the lock.
    fn release_level(&self) -> Result<()> {
        let shm = &*self.shm;
        if shm.owner.load(Ordering::Relaxed) != current_pid() {
            // Not held by this process (the callers let only holders come here: a second line).
            return Err(Error::NotLockOwner);
        }
        let depth = shm.depth.load(Ordering::Relaxed);
        if depth <= 1 {
            shm.depth.store(0, Ordering::Relaxed);
            shm.owner.store(0, Ordering::Relaxed);
        } else {
            shm.depth.store(depth - 1, Ordering::Relaxed);
        }
        // SAFETY: this process holds the lock (checked above), and guards are not `Send`, so it
        // is this thread; `unlock_checked` refuses, changing nothing, if it were not.
        unsafe { self.shm.mutex.unlock_checked() }.map_err(|_| Error::NotLockOwner)
    }

    /// Releases every level this thread holds (a `Condition`'s `wait`); returns how many, for
    /// [`reacquire`](RawLock::reacquire). The caller holds at least one level (a guard).
    pub(crate) fn release_all(&self) -> Result<u32> {
        let depth = self.shm.depth.load(Ordering::Relaxed).max(1);
        for _ in 0..depth {
            self.release_level()?;
        }
        Ok(depth)
    }

    /// Takes the lock back at `depth` levels, after [`release_all`](RawLock::release_all).
    /// Returns whether a holder died meanwhile (`EOWNERDEAD` on the way back).
    pub(crate) fn reacquire(&self, depth: u32) -> Result<bool> {
        let first = self.acquire_until(None)?.ok_or(Error::WouldDeadlock)?;
        let owner_died = first.owner_died;
        std::mem::forget(first);
        for _ in 1..depth {
            // The lock is recursive (only an `RLock` has more than one level) and ours.
            let again = self.try_acquire()?.ok_or(Error::WouldDeadlock)?;
            std::mem::forget(again);
        }
        Ok(owner_died)
    }

    /// Whether this process holds the lock.
    pub(crate) fn held_by_this_process(&self) -> bool {
        self.shm.owner.load(Ordering::Relaxed) == current_pid()
    }

    /// `(owner pid or 0, depth)`, for `Debug`.
    fn state(&self) -> (i32, u32) {
        (self.shm.owner.load(Ordering::Relaxed), self.shm.depth.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for RawLock {
    /// As the [`Lock`] or [`RLock`] it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.recursive, self.state()) {
            (false, (0, _)) => write!(f, "<Lock(owner=None)>"),
            (false, (pid, _)) => write!(f, "<Lock(owner={pid})>"),
            (true, (0, _)) => write!(f, "<RLock(None, 0)>"),
            (true, (pid, depth)) => write!(f, "<RLock({pid}, {depth})>"),
        }
    }
}

impl RawGuard<'_> {
    /// Releases this level, reporting a failure. A copy made by `fork` releases nothing: it
    /// holds nothing in this process (module docs).
    pub(crate) fn release(self) -> Result<()> {
        let lock = self.lock;
        let copied = !self.taken_in_this_process();
        std::mem::forget(self);
        if copied {
            return Err(Error::NotLockOwner);
        }
        lock.release_level()
    }

    /// Whether this process took the level: false for a copy of the guard made by `fork`.
    pub(crate) fn taken_in_this_process(&self) -> bool {
        self.generation == generation()
    }

    /// The previous holder died holding the lock.
    pub(crate) fn owner_died(&self) -> bool {
        self.owner_died
    }
}

impl Drop for RawGuard<'_> {
    fn drop(&mut self) {
        // A copy made by `fork` holds nothing here: dropping it changes nothing, whoever holds
        // the lock now (module docs).
        if self.taken_in_this_process() {
            // Fails only if this thread no longer held the level, which a guard rules out.
            let _ = self.lock.release_level();
        }
    }
}

/// A lock shared by processes: one holder at a time.
///
/// Equivalent to Python's `multiprocessing.Lock`. Create it before starting the processes that
/// use it, and give each a clone (clones are the same lock). `acquire` returns a guard that
/// releases the lock when dropped: Python's `with lock:`.
///
/// ```rust,no_run
/// use multiprocessing::{Lock, Process};
///
/// let lock = Lock::new()?;
/// let l = lock.clone();
/// let mut p = Process::new(move || {
///     let _guard = l.acquire().expect("acquire"); // with lock:
///     println!("Lock acquired via with");
/// });
/// p.start()?;
/// let guard = lock.acquire()?; // lock.acquire()
/// println!("Lock acquired directly");
/// guard.release()?; // lock.release()
/// p.join()?;
/// # Ok::<(), multiprocessing::Error>(())
/// ```
///
/// If a holder dies (is killed) while holding it, the next `acquire` gets the lock and learns
/// of the death: see [`LockGuard::previous_holder_died`]. Only the thread that took it can
/// release it, through its guard (CPython's lets any process release it).
#[derive(Clone)]
pub struct Lock {
    raw: RawLock,
}

/// Holds a [`Lock`] until dropped, or until [`release`](LockGuard::release).
///
/// Not `Send`: the thread that took the lock releases it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    raw: RawGuard<'a>,
}

impl Lock {
    /// A new lock, free. Equivalent to Python's `multiprocessing.Lock()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shared page cannot be mapped or the mutex set up.
    pub fn new() -> Result<Lock> {
        Ok(Lock { raw: RawLock::new(false)? })
    }

    /// Waits until the lock is free and takes it. Equivalent to Python's `lock.acquire()`.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] when this thread already holds the lock (Python would hang).
    pub fn acquire(&self) -> Result<LockGuard<'_>> {
        let raw = self.raw.acquire_until(None)?.ok_or(Error::WouldDeadlock)?;
        Ok(LockGuard { raw })
    }

    /// Takes the lock if it is free; `None` if it is held. Equivalent to Python's
    /// `lock.acquire(block=False)`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] only if the system refuses the mutex (it does not for a valid lock).
    pub fn try_acquire(&self) -> Result<Option<LockGuard<'_>>> {
        Ok(self.raw.try_acquire()?.map(|raw| LockGuard { raw }))
    }

    /// Waits at most `timeout` for the lock; `None` if it was still held by then. Equivalent
    /// to Python's `lock.acquire(timeout=t)`. A timeout too large to add to the clock
    /// (`Duration::MAX`) waits without limit.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] when this thread already holds the lock.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockGuard<'_>>> {
        let deadline = Instant::now().checked_add(timeout);
        Ok(self.raw.acquire_until(deadline)?.map(|raw| LockGuard { raw }))
    }
}

impl std::fmt::Debug for Lock {
    /// CPython's `repr` with a pid for a name: `<Lock(owner=None)>` when free,
    /// `<Lock(owner=1234)>` when process 1234 holds it. (CPython prints the holder's process
    /// name when it is the caller, `<Lock(owner=MainProcess)>`, and `SomeOtherThread` or
    /// `SomeOtherProcess` otherwise: a pid names every holder the same way, and another
    /// process's name is not known here.)
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.raw.fmt(f)
    }
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LockGuard({:?})", self.raw.lock)
    }
}

impl LockGuard<'_> {
    /// Releases the lock. Equivalent to Python's `lock.release()`; dropping the guard does the
    /// same, without a result to look at.
    ///
    /// # Errors
    ///
    /// [`Error::NotLockOwner`] for a guard copied into a child by `fork`: the copy holds
    /// nothing there, and the lock is left as it is, whoever holds it.
    pub fn release(self) -> Result<()> {
        self.raw.release()
    }

    /// Whether the process that held the lock before died holding it (it was killed, or it
    /// exited, in the middle of its work). The lock is yours all the same; what it protected
    /// may be half-updated. A warning naming that process is logged too.
    pub fn previous_holder_died(&self) -> bool {
        self.raw.owner_died
    }

    /// Whether this process took the lock: false for a copy of the guard made by `fork`.
    pub(crate) fn taken_in_this_process(&self) -> bool {
        self.raw.taken_in_this_process()
    }
}

/// A lock that its holder may take again: it is free once every guard is dropped.
///
/// Equivalent to Python's `multiprocessing.RLock`. Shared between processes like a [`Lock`],
/// robust like it; between the threads of one process too.
///
/// ```rust
/// use multiprocessing::RLock;
///
/// let lock = RLock::new()?;
/// let outer = lock.acquire()?;
/// let inner = lock.acquire()?; // the holder takes it again: no deadlock
/// assert_eq!(format!("{lock:?}"), format!("<RLock({}, 2)>", std::process::id()));
/// drop(inner);
/// outer.release()?; // free again
/// assert_eq!(format!("{lock:?}"), "<RLock(None, 0)>");
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct RLock {
    raw: RawLock,
}

/// Holds one level of an [`RLock`] until dropped, or until [`release`](RLockGuard::release).
///
/// Not `Send`: the thread that took the lock releases it.
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    raw: RawGuard<'a>,
}

impl RLock {
    /// A new recursive lock, free. Equivalent to Python's `multiprocessing.RLock()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shared page cannot be mapped or the mutex set up.
    pub fn new() -> Result<RLock> {
        Ok(RLock { raw: RawLock::new(true)? })
    }

    /// Takes the lock, waiting while another thread holds it; at once if this thread holds it.
    /// Equivalent to Python's `rlock.acquire()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] only if the system refuses the mutex (more than 2^32 levels).
    pub fn acquire(&self) -> Result<RLockGuard<'_>> {
        let raw = self.raw.acquire_until(None)?.ok_or(Error::WouldDeadlock)?;
        Ok(RLockGuard { raw })
    }

    /// Takes the lock if it is free or this thread holds it; `None` otherwise. Equivalent to
    /// Python's `rlock.acquire(block=False)`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](RLock::acquire).
    pub fn try_acquire(&self) -> Result<Option<RLockGuard<'_>>> {
        Ok(self.raw.try_acquire()?.map(|raw| RLockGuard { raw }))
    }

    /// Waits at most `timeout` for the lock; `None` if another thread still held it by then.
    /// Equivalent to Python's `rlock.acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](RLock::acquire).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<RLockGuard<'_>>> {
        let deadline = Instant::now().checked_add(timeout);
        Ok(self.raw.acquire_until(deadline)?.map(|raw| RLockGuard { raw }))
    }
}

impl std::fmt::Debug for RLock {
    /// CPython's `repr` with a pid for a name: `<RLock(None, 0)>` when free, `<RLock(1234, 2)>`
    /// when process 1234 holds it twice. (CPython prints the holder's process name and depth
    /// when it is the caller, `<RLock(MainProcess, 2)>`, and `<RLock(SomeOtherThread,
    /// nonzero)>` or `<RLock(SomeOtherProcess, nonzero)>` otherwise.)
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.raw.fmt(f)
    }
}

impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RLockGuard({:?})", self.raw.lock)
    }
}

impl RLockGuard<'_> {
    /// Releases this level of the lock. Equivalent to Python's `rlock.release()`; dropping the
    /// guard does the same.
    ///
    /// # Errors
    ///
    /// [`Error::NotLockOwner`] for a guard copied into a child by `fork`, as for
    /// [`LockGuard::release`].
    pub fn release(self) -> Result<()> {
        self.raw.release()
    }

    /// Whether the previous holder died holding the lock; see
    /// [`LockGuard::previous_holder_died`].
    pub fn previous_holder_died(&self) -> bool {
        self.raw.owner_died
    }
}

/// The locks a [`Condition`](crate::Condition) can be built over: [`Lock`] and [`RLock`].
pub trait ConditionLock: sealed::Sealed {}

impl ConditionLock for Lock {}
impl ConditionLock for RLock {}

pub(crate) mod sealed {
    /// Only the crate's locks are condition locks: a `Condition` must know how to release and
    /// take back every level of its lock.
    pub trait Sealed {
        /// The lock underneath.
        fn into_raw(self) -> super::RawLock;
    }

    impl Sealed for super::Lock {
        fn into_raw(self) -> super::RawLock {
            self.raw
        }
    }

    impl Sealed for super::RLock {
        fn into_raw(self) -> super::RawLock {
            self.raw
        }
    }
}
