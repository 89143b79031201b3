//! Shared memory, and the two primitives that live in it: futex words and robust mutexes.
//!
//! Every cross-process object in this crate (a queue's locks and counters, an event's flag)
//! sits in a page mapped with `mmap(MAP_SHARED | MAP_ANONYMOUS)` *before* the fork. After
//! `fork` the parent and the child map the same physical page, so an atomic store by one is seen
//! by the other: this is the "real shared memory" under the crate.
//!
//! Two ways to wait on that memory:
//!
//! - **futex** (`futex(2)`): "sleep while this 32-bit word still holds this value", and "wake
//!   everyone sleeping on this word". Used by [`Event`](crate::Event) and by
//!   [`JoinableQueue::join`](crate::JoinableQueue::join). The futex must be used *without*
//!   `FUTEX_PRIVATE_FLAG`: a private futex is keyed by the virtual address in one process, so
//!   another process would never see the wake-up.
//! - **robust process-shared pthread mutex**: the queue's read lock and write lock. Chosen over a
//!   hand-written futex lock because of `PTHREAD_MUTEX_ROBUST`: when a process dies holding the
//!   lock (killed in the middle of a `get`, for instance), the next locker gets `EOWNERDEAD`
//!   instead of waiting forever. CPython's semaphores have no such thing.
//!
//! # A mapping that is not unmapped: a robust mutex still held by this process
//!
//! A thread that holds robust mutexes keeps them on a list (`set_robust_list(2)`), *linked
//! through the mutexes themselves*: each held mutex stores the address of the next. glibc walks
//! that list on every lock and unlock of a robust mutex, and the kernel walks it when the thread
//! dies. So a mutex this process still holds must stay mapped: if its page were unmapped, the
//! thread's next robust lock or unlock would read unmapped memory (a crash), or a page mapped
//! there since (worse). Safe Rust can get there: `std::mem::forget(lock.acquire()?)` and then
//! dropping the lock. So `SharedMemory`'s drop asks the memory whether a thread of this
//! process holds one of its mutexes (`ProcessShared::held_by_this_process`) and, if so,
//! leaves the page mapped for the rest of the process: a page is what the leak costs.

use std::cell::UnsafeCell;
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// Types that may live in a [`SharedMemory`] mapping.
///
/// # Safety
///
/// All-zero bytes must be a valid value of the type (the mapping starts zeroed), and the type
/// must keep working when the same bytes are used by several processes at once: atomics and
/// process-shared mutexes, no pointers, no heap.
pub(crate) unsafe trait ProcessShared: Sync {
    /// Whether a thread of this process holds a [`RobustMutex`] in this memory, so that it must
    /// not be unmapped (module docs). Types whose mutexes are held only while a borrow of the
    /// memory lives (inside one method call) keep the default: no handle of the memory can be
    /// dropped then. A type whose mutex can stay held past every borrow (a lock's guard leaked
    /// with `mem::forget`) must answer.
    fn held_by_this_process(&self) -> bool {
        false
    }
}

/// A `T` in an anonymous shared mapping, inherited by every process forked after it was made.
pub(crate) struct SharedMemory<T: ProcessShared> {
    ptr: NonNull<T>,
}

// SAFETY: the mapping is plain memory owned by this handle; `T: Sync` (required by
// `ProcessShared`) makes shared references to it safe from any thread.
unsafe impl<T: ProcessShared> Send for SharedMemory<T> {}
// SAFETY: as above; only `&T` is ever handed out.
unsafe impl<T: ProcessShared> Sync for SharedMemory<T> {}

impl<T: ProcessShared> SharedMemory<T> {
    /// Maps a zeroed `T` shared with all future children.
    pub(crate) fn new() -> io::Result<Self> {
        let len = std::num::NonZeroUsize::new(size_of::<T>().max(1)).expect("max(1) is non-zero");
        // SAFETY: a fresh anonymous mapping aliases no Rust object; the kernel zero-fills it,
        // which `ProcessShared` promises is a valid `T`, and mmap returns page-aligned memory,
        // which satisfies the alignment of every type we put there.
        let ptr = unsafe {
            mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED)
        }?;
        Ok(SharedMemory { ptr: ptr.cast() })
    }
}

impl<T: ProcessShared> Deref for SharedMemory<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the mapping lives until `drop`, is valid as a `T` (see `new`) and is only ever
        // accessed through shared references.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ProcessShared> Drop for SharedMemory<T> {
    fn drop(&mut self) {
        if self.held_by_this_process() {
            // A thread of this process still holds a mutex in the mapping, and its list of
            // robust mutexes links through it: unmapping would leave that list pointing into
            // unmapped (or later reused) memory. Leaked instead (module docs).
            return;
        }
        // SAFETY: the mapping was made by `new` with this length and nothing borrows it any more
        // (`&self` borrows ended). No thread of this process holds a mutex in it (checked above),
        // so no robust list links through it. Other processes keep their own mapping.
        let _ = unsafe { munmap(self.ptr.cast(), size_of::<T>().max(1)) };
    }
}

/// Sleeps while `word` holds `expected`, at most `timeout`. Returns early on a wake-up, a
/// signal, or when the word has already changed; callers re-check their condition in a loop.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAIT only reads it. The timespec
    // pointer is null or points to `ts`, alive for the call. No PRIVATE flag: the word is in
    // shared memory and must be matched across processes. Errors (EAGAIN when the value
    // changed, ETIMEDOUT, EINTR) all mean "go and re-check", so the result is ignored.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, ts_ptr);
    }
}

/// Wakes every process and thread sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE does not access memory.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// A process-shared, robust pthread mutex, to be placed in [`SharedMemory`].
#[repr(C)]
pub(crate) struct RobustMutex {
    raw: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: a pthread mutex is made to be used from many threads (and, with PTHREAD_PROCESS_SHARED,
// many processes); every access goes through the pthread functions.
unsafe impl Sync for RobustMutex {}

/// The kinds of [`RobustMutex`]: what happens when the thread that holds it locks it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MutexKind {
    /// It waits for itself forever (the queue's locks, which never do it).
    Normal,
    /// The second lock fails with `EDEADLK` (a `try_lock` with `EBUSY`): a `Lock` reports the
    /// mistake instead of hanging.
    ErrorCheck,
    /// The second lock succeeds and counts; as many unlocks release it (an `RLock`).
    Recursive,
}

/// What happened when taking a [`RobustMutex`].
pub(crate) enum Locked<'a> {
    /// The lock is ours. `owner_died` is true when the previous holder died holding it.
    Acquired(RobustGuard<'a>),
    /// The deadline passed first.
    TimedOut,
}

/// Holds a [`RobustMutex`] until dropped.
pub(crate) struct RobustGuard<'a> {
    mutex: &'a RobustMutex,
    /// The previous holder died while holding the lock (it was killed, or it exited).
    pub(crate) owner_died: bool,
    /// A pthread mutex must be unlocked by the thread that locked it: the guard stays on it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl RobustMutex {
    /// Initialises the mutex in place as process-shared and robust.
    ///
    /// # Safety
    ///
    /// Call once, before any process or thread can lock it: right after the shared mapping is
    /// created, before the first fork.
    pub(crate) unsafe fn init(&self) -> io::Result<()> {
        // SAFETY: the caller's contract is this function's.
        unsafe { self.init_kind(MutexKind::Normal) }
    }

    /// Initialises the mutex in place as process-shared and robust, of the given kind.
    ///
    /// # Safety
    ///
    /// As [`init`](RobustMutex::init): once, before anyone can lock it.
    pub(crate) unsafe fn init_kind(&self, kind: MutexKind) -> io::Result<()> {
        let kind = match kind {
            MutexKind::Normal => libc::PTHREAD_MUTEX_NORMAL,
            MutexKind::ErrorCheck => libc::PTHREAD_MUTEX_ERRORCHECK,
            MutexKind::Recursive => libc::PTHREAD_MUTEX_RECURSIVE,
        };
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is initialised by pthread_mutexattr_init before it is used and destroyed
        // after; `self.raw` is ours to initialise (the caller guarantees no one uses it yet).
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let result =
                check(libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED))
                    .and_then(|()| {
                        check(libc::pthread_mutexattr_setrobust(
                            attr.as_mut_ptr(),
                            libc::PTHREAD_MUTEX_ROBUST,
                        ))
                    })
                    .and_then(|()| check(libc::pthread_mutexattr_settype(attr.as_mut_ptr(), kind)))
                    .and_then(|()| check(libc::pthread_mutex_init(self.raw.get(), attr.as_ptr())));
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            result
        }
    }

    /// Takes the lock if no one holds it; `Locked::TimedOut` if someone does.
    pub(crate) fn try_lock(&self) -> io::Result<Locked<'_>> {
        // SAFETY: the mutex was initialised by `init` and lives in memory that outlives `self`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.raw.get()) };
        self.outcome(if rc == libc::EBUSY { libc::ETIMEDOUT } else { rc })
    }

    /// Takes the lock, waiting at most until `deadline` (forever when `None`).
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> io::Result<Locked<'_>> {
        let rc = match deadline {
            // SAFETY: the mutex was initialised by `init` and lives in memory that outlives `self`.
            None => unsafe { libc::pthread_mutex_lock(self.raw.get()) },
            Some(deadline) => {
                // An absolute CLOCK_MONOTONIC time: the wall clock may jump (NTP, the user), the
                // monotonic clock never does. `Instant` is CLOCK_MONOTONIC on Linux.
                let remaining = deadline.saturating_duration_since(Instant::now());
                let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                // SAFETY: `now` is a valid timespec for clock_gettime to fill.
                unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
                let total_nanos = now.tv_nsec as u128 + remaining.subsec_nanos() as u128;
                let secs = (now.tv_sec as u64)
                    .saturating_add(remaining.as_secs())
                    .saturating_add((total_nanos / 1_000_000_000) as u64)
                    .min(i64::MAX as u64);
                let ts = libc::timespec {
                    tv_sec: secs as libc::time_t,
                    tv_nsec: (total_nanos % 1_000_000_000) as libc::c_long,
                };
                // SAFETY: as above; `ts` is alive for the call.
                unsafe { pthread_mutex_clocklock(self.raw.get(), libc::CLOCK_MONOTONIC, &ts) }
            }
        };
        self.outcome(rc)
    }

    /// Releases the mutex without a guard, for owners that keep the lock across calls (a queue's
    /// writer in the middle of a long message).
    ///
    /// # Safety
    ///
    /// The calling thread must hold the mutex, taken with `lock` or `try_lock` whose guard was
    /// forgotten with [`RobustGuard::keep`].
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: the caller holds the mutex (contract above).
        unsafe { libc::pthread_mutex_unlock(self.raw.get()) };
    }

    /// Releases the mutex without a guard, and says whether the calling thread held it: a robust
    /// mutex knows its owner, and refuses (`EPERM`) an unlock by any other thread.
    ///
    /// # Safety
    ///
    /// The calling thread should hold the mutex, as for [`unlock`](RobustMutex::unlock); if it
    /// does not, nothing is changed and `EPERM` comes back.
    pub(crate) unsafe fn unlock_checked(&self) -> io::Result<()> {
        // SAFETY: the mutex was initialised by `init_kind`; a robust mutex checks the owner
        // itself, so an unlock by a thread that does not hold it is refused, not obeyed.
        check(unsafe { libc::pthread_mutex_unlock(self.raw.get()) })
    }

    /// Whether a thread of this process holds the mutex. A robust mutex's lock word holds its
    /// owner's thread id (the kernel's robust-futex rules: `FUTEX_TID_MASK`, the low 30 bits,
    /// cleared by the kernel when the owner dies), and `tgkill(pid, tid, 0)` succeeds only
    /// when `tid` is a live thread of process `pid`.
    pub(crate) fn held_by_this_process(&self) -> bool {
        // SAFETY: glibc's `pthread_mutex_t` starts with its lock word, an `int` (`__data.__lock`,
        // first on every Linux architecture: the offset glibc gives the kernel for the robust
        // list is computed from it); the mutex is aligned for it, lives as long as `self`, and
        // every process changes that word only with atomic instructions, so an atomic load
        // reads a whole value.
        let word = unsafe { &*self.raw.get().cast::<AtomicU32>() };
        let owner = word.load(std::sync::atomic::Ordering::SeqCst) & libc::FUTEX_TID_MASK;
        if owner == 0 {
            return false;
        }
        // SAFETY: signal 0 sends nothing; tgkill only checks that `owner` is a thread of
        // this process's thread group.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), owner as libc::pid_t, 0) == 0 }
    }

    fn outcome(&self, rc: libc::c_int) -> io::Result<Locked<'_>> {
        match rc {
            0 => Ok(Locked::Acquired(RobustGuard {
                mutex: self,
                owner_died: false,
                _not_send: std::marker::PhantomData,
            })),
            libc::ETIMEDOUT => Ok(Locked::TimedOut),
            libc::EOWNERDEAD => {
                // We hold the lock now; mark it usable again. The caller decides whether the
                // data it protects survived (see `owner_died`).
                // SAFETY: we hold the mutex (EOWNERDEAD means it was handed to us).
                let consistent = unsafe { libc::pthread_mutex_consistent(self.raw.get()) };
                self.owner_died_outcome(consistent)
            }
            err => Err(io::Error::from_raw_os_error(err)),
        }
    }

    /// The mutex, just taken from a dead owner, with `consistent` the answer of
    /// `pthread_mutex_consistent`. If that failed, the mutex is unlocked before the error goes
    /// back: returned without a guard, it would stay held by this thread forever. (Unlocked while
    /// still inconsistent, it becomes unusable, and every later lock gets `ENOTRECOVERABLE`: an
    /// error for all, not a hang for all.)
    fn owner_died_outcome(&self, consistent: libc::c_int) -> io::Result<Locked<'_>> {
        let guard = RobustGuard { mutex: self, owner_died: true, _not_send: std::marker::PhantomData };
        match check(consistent) {
            Ok(()) => Ok(Locked::Acquired(guard)),
            Err(error) => {
                drop(guard);
                Err(error)
            }
        }
    }
}

impl RobustGuard<'_> {
    /// Keeps the lock held past the guard: the caller must later call [`RobustMutex::unlock`]
    /// from the same thread. Returns `owner_died`.
    pub(crate) fn keep(self) -> bool {
        let owner_died = self.owner_died;
        std::mem::forget(self);
        owner_died
    }
}

impl Drop for RobustGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while this thread holds the mutex.
        unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
    }
}

unsafe extern "C" {
    /// glibc 2.30+: `pthread_mutex_timedlock` with a chosen clock (the `libc` crate lacks it).
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A robust mutex of each kind, in shared memory, initialised.
    struct OneMutex(RobustMutex);
    // SAFETY: all-zero bytes are a valid place for a mutex to be initialised in; it is a
    // process-shared mutex.
    unsafe impl ProcessShared for OneMutex {}

    fn mutex() -> SharedMemory<OneMutex> {
        let shm = SharedMemory::<OneMutex>::new().unwrap();
        // SAFETY: just mapped, seen by no one else.
        unsafe { shm.0.init() }.unwrap();
        shm
    }

    #[test]
    fn a_failed_consistent_unlocks_before_the_error_goes_back() {
        let shm = mutex();
        // Held by this thread, as it is when `EOWNERDEAD` hands it over.
        let Ok(Locked::Acquired(guard)) = shm.0.lock(None) else { panic!("a free mutex") };
        guard.keep();
        let error = shm.0.owner_died_outcome(libc::EINVAL).err().expect("the failure is reported");
        assert_eq!(error.raw_os_error(), Some(libc::EINVAL));
        assert!(
            matches!(shm.0.try_lock(), Ok(Locked::Acquired(_))),
            "the mutex stayed held after the failed pthread_mutex_consistent"
        );
    }

    #[test]
    fn held_by_this_process_follows_the_owner_thread() {
        let shm = mutex();
        assert!(!shm.0.held_by_this_process(), "free");
        let Ok(Locked::Acquired(guard)) = shm.0.lock(None) else { panic!("a free mutex") };
        assert!(shm.0.held_by_this_process(), "held by this thread");
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(shm.0.held_by_this_process(), "held by another thread of the process"));
        });
        drop(guard);
        assert!(!shm.0.held_by_this_process(), "released");
    }
}
