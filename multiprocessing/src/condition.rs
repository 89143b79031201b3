//! `Condition`: processes wait, under a lock, until another process notifies them.
//!
//! # How it works underneath
//!
//! ## A lock, and a table of waiters beside it
//!
//! A condition is a lock (an [`RLock`] of its own, as CPython's default, or the
//! [`Lock`](crate::Lock) or `RLock` it was given) and a table in shared memory with a slot for
//! each waiter, `CAPACITY` slots in all. The table is read and changed only by whoever holds
//! the lock, except for one word per slot that its waiter watches while it sleeps:
//!
//! ```text
//!   slot: state  (FREE, WAITING or NOTIFIED: the futex word the waiter sleeps on)
//!         pid, start time   (who waits: the start time tells a reused pid from the waiter)
//!         ticket            (when it began to wait: 0, 1, 2... in order, for FIFO)
//!         bound             (once NOTIFIED: the first ticket the notify did not cover)
//! ```
//!
//! - **`wait`**, lock held: take a free slot, mark it WAITING with the next ticket; release
//!   the lock, every level of it (an `RLock` may be held several times, and Python's
//!   `Condition.wait` releases them all); sleep until the slot says NOTIFIED or the timeout
//!   passes; take the lock back, as many levels as before; read the slot one last time and free
//!   it. A waiter that finds its slot NOTIFIED once it has the lock back returns `true`, even
//!   when its timeout had passed: the notification was given to it, and only it can use it.
//! - **`notify(n)`**, lock held: mark the `n` oldest WAITING slots NOTIFIED and wake each with a
//!   futex wake-up on its word. Exactly `n` at most, oldest first, as Python's
//!   `threading.Condition` does (CPython's `multiprocessing.Condition` wakes in no fixed
//!   order).
//! - **`notify_all`**, lock held: store the next ticket as `all_bound` ("everyone who waits
//!   with a smaller ticket is notified"), then mark and wake each slot.
//!
//! No wake-up is lost: a waiter takes its slot *before* it releases the lock, and a notifier
//! holds the lock, so a notify either comes before the `wait` (and is not for it, as in
//! Python) or finds the slot. A waiter sleeps with "only while my word still says WAITING"
//! (`futex(2)`, see `shm.rs`), so a NOTIFIED written just before it sleeps stops the sleep.
//!
//! Why not a process-shared `pthread_cond_t` over the robust mutex? Because a condition
//! variable is not robust: a process killed inside `pthread_cond_wait` leaves glibc's counts of
//! waiters wrong for good, and later waits or broadcasts may never return. The table above is
//! a few atomic words per waiter that a survivor can repair, as the next section shows.
//!
//! ## Processes that die: no lost notification, no unbounded sleep
//!
//! Every change to the table is a few stores under the lock, ordered so that a process killed
//! between any two of them leaves the table usable; the next holder of the lock learns of the
//! death (see the `lock` module). What remains is what dead processes leave in the slots:
//!
//! - **A waiter killed while WAITING.** `notify` skips a waiter whose process has ended and
//!   been reaped (one `kill(pid, 0)`, half a microsecond), frees its slot, and notifies the
//!   next oldest instead. A waiter that ended and was not reaped yet (a zombie), or whose pid
//!   was given to a new process, passes that cheap test and is notified: the next point then
//!   applies. (Telling those apart needs a read of `/proc/<pid>/stat`, about 10 us; on every
//!   `notify` it made a wait-and-notify round trip between two processes ten times slower.)
//! - **A waiter killed after it was NOTIFIED, before it returned.** The notification was owed
//!   to some waiter and nobody will use it. Every waiter, each time it has slept a whole
//!   `SLICE` (100 ms, the crate's liveness tick), looks for such a slot among those that
//!   were notified while it waited, and asks `/proc` whether their processes still run, with
//!   the start time they waited with; if it finds a dead one, it takes the lock and passes the
//!   notification on to the oldest live waiter that was already waiting when it was given. So
//!   a wake that a dead process owed costs at most a slice or so, never a hang; and a
//!   notification never goes to a waiter that came later, which Python would not have woken
//!   either.
//! - **A notifier killed between marking a slot and waking it.** The waiter sees the mark when
//!   its slice ends, at most 100 ms later.
//! - **A notifier killed in the middle of `notify_all`.** Its first store, `all_bound`, already
//!   notified everyone: the waiters it had not marked yet see it when their slice ends. A
//!   `notify(n)` killed half-way has notified the waiters it marked, as `k < n` separate
//!   `notify()` calls would have.
//!
//! A dead waiter's slot is freed when a `notify` or a survivor's look meets it, or when the
//! table is full. A slot names its waiter by pid and start time, a `ProcessIdentity`: the start
//! time keeps a later process given a dead waiter's pid from passing for the waiter. Both
//! questions, the cheap "surely gone?" and the `/proc` one, are `lifecycle.rs`'s (see "Is that
//! process still running, and is it the same one?" there).
//!
//! ## Spinning before sleeping
//!
//! As an [`Event`](crate::Event)'s waiter does, a waiter first re-reads its word for 20 us where
//! that can pay (`spin.rs`): when the notifier runs on another core and releases the lock soon,
//! that saves a sleep and a wake-up through the kernel.
//!
//! ## Fork
//!
//! Nothing to do at fork or at exit: the table lives in shared memory, and a process that ends
//! while waiting is handled as a dead waiter above.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::lifecycle::{IdentitySlot, ProcessIdentity};
use crate::lock::{ConditionLock, RLock, RawGuard, RawLock};
use crate::shm::{ProcessShared, SharedMemory, futex_wait, futex_wake_all};
use crate::spin;

/// How many processes (or threads) can wait on one condition at once.
pub(crate) const CAPACITY: usize = 1024;

/// The longest a waiter sleeps before it looks, on its own, for notifications that dead
/// processes hold (module docs).
const SLICE: Duration = Duration::from_millis(100);

/// A slot's `state`: nobody uses it.
const FREE: u32 = 0;
/// A slot's `state`: its waiter sleeps, not notified yet.
const WAITING: u32 = 1;
/// A slot's `state`: its waiter was notified and has not returned from `wait` yet.
const NOTIFIED: u32 = 2;

/// One waiter (module docs).
#[repr(C)]
struct Slot {
    /// `FREE`, `WAITING` or `NOTIFIED`; the futex word the waiter sleeps on. Written last when
    /// the slot is taken, so a process killed half-way through leaves it `FREE`.
    state: AtomicU32,
    /// The waiting process: its pid and when it started, so that another process given the
    /// same pid later is not taken for the waiter.
    who: IdentitySlot,
    /// The order of the waits: smaller is older.
    ticket: AtomicU64,
    /// For a `NOTIFIED` slot: the `next_ticket` of the notify, so every waiter with a smaller
    /// ticket was already waiting when this notification was given.
    bound: AtomicU64,
}

#[repr(C)]
struct WaiterTable {
    /// The ticket the next waiter gets.
    next_ticket: AtomicU64,
    /// Every waiter with a smaller ticket was notified by a `notify_all` (module docs).
    all_bound: AtomicU64,
    /// Slots from this index on have never been used: scans stop here.
    used: AtomicU32,
    slots: [Slot; CAPACITY],
}

// SAFETY: all-zero bytes are a valid empty table (every slot FREE, tickets from 0), and every
// field is an atomic, which works across processes.
unsafe impl ProcessShared for WaiterTable {}

/// A condition variable shared by processes: wait under a lock until another process notifies.
///
/// Equivalent to Python's `multiprocessing.Condition`. Create it before starting the processes
/// that use it, and give each a clone (clones are the same condition). [`acquire`] takes the
/// lock and returns a guard (Python's `with cond:`), on which `wait`, `notify` and
/// `notify_all` are called.
///
/// ```rust,no_run
/// use multiprocessing::{Condition, Process};
///
/// let cond = Condition::new()?;
/// let c = cond.clone();
/// let mut waiter = Process::new(move || -> multiprocessing::Result<()> {
///     let mut guard = c.acquire()?; // with cond:
///     guard.wait()?; //                   cond.wait()
///     println!("notified");
///     Ok(())
/// });
/// waiter.start()?;
/// std::thread::sleep(std::time::Duration::from_secs(1)); // let it start waiting
/// cond.acquire()?.notify_all()?; // with cond: cond.notify_all()
/// waiter.join()?;
/// # Ok::<(), multiprocessing::Error>(())
/// ```
///
/// As in Python, a notify reaches only the processes already waiting: a `wait` that starts
/// after it waits for the next one. Use [`ConditionGuard::wait_for`] with a predicate on
/// shared state to wait for something that may already have happened.
///
/// [`acquire`]: Condition::acquire
#[derive(Clone)]
pub struct Condition {
    lock: RawLock,
    table: Arc<SharedMemory<WaiterTable>>,
}

/// Holds a [`Condition`]'s lock until dropped; `wait` and `notify` are called on it.
///
/// Not `Send`: the thread that took the lock releases it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    condition: &'a Condition,
    raw: RawGuard<'a>,
    previous_holder_died: bool,
}

impl Condition {
    /// A new condition over a new [`RLock`]. Equivalent to Python's
    /// `multiprocessing.Condition()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shared memory cannot be mapped.
    pub fn new() -> Result<Condition> {
        Condition::with_lock(RLock::new()?)
    }

    /// A new condition over `lock`, a [`Lock`](crate::Lock) or an [`RLock`]. Equivalent to
    /// Python's `multiprocessing.Condition(lock)`. Taking `lock` directly and taking the
    /// condition are then the same.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shared memory cannot be mapped.
    pub fn with_lock(lock: impl ConditionLock) -> Result<Condition> {
        Ok(Condition {
            lock: lock.into_raw(),
            table: Arc::new(SharedMemory::new().map_err(Error::os("mmap (a Condition's table of waiters)"))?),
        })
    }

    /// Takes the condition's lock, waiting as long as it takes. Equivalent to Python's
    /// `cond.acquire()`, or `with cond:`.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] when the lock is a [`Lock`](crate::Lock) this thread already
    /// holds.
    pub fn acquire(&self) -> Result<ConditionGuard<'_>> {
        let raw = self.lock.acquire_until(None)?.ok_or(Error::WouldDeadlock)?;
        Ok(self.guard(raw))
    }

    /// Takes the lock if it is free; `None` if it is held. Equivalent to Python's
    /// `cond.acquire(block=False)`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] only if the system refuses the mutex.
    pub fn try_acquire(&self) -> Result<Option<ConditionGuard<'_>>> {
        Ok(self.lock.try_acquire()?.map(|raw| self.guard(raw)))
    }

    /// Waits at most `timeout` for the lock; `None` if it was still held by then. Equivalent
    /// to Python's `cond.acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Condition::acquire).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<ConditionGuard<'_>>> {
        let deadline = Instant::now().checked_add(timeout);
        Ok(self.lock.acquire_until(deadline)?.map(|raw| self.guard(raw)))
    }

    fn guard<'a>(&'a self, raw: RawGuard<'a>) -> ConditionGuard<'a> {
        let previous_holder_died = raw.owner_died();
        ConditionGuard { condition: self, raw, previous_holder_died }
    }
}

impl std::fmt::Debug for Condition {
    /// CPython's `repr`: `<Condition(<RLock(None, 0)>, 0)>`, the lock and how many processes
    /// wait and are not notified yet.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = &*self.table;
        let all_bound = table.all_bound.load(Ordering::SeqCst);
        let waiting = table.slots[..table.used().min(CAPACITY)]
            .iter()
            .filter(|s| {
                s.state.load(Ordering::SeqCst) == WAITING && s.ticket.load(Ordering::SeqCst) >= all_bound
            })
            .count();
        write!(f, "<Condition({:?}, {waiting})>", self.lock)
    }
}

impl<'a> ConditionGuard<'a> {
    /// Releases the lock, waits until another process notifies this one, and takes the lock
    /// back. Equivalent to Python's `cond.wait()`.
    ///
    /// Every level of an `RLock` is released while waiting, and taken back after.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyWaiters`] when 1,024 waiters already wait;
    /// [`Error::NotLockOwner`] for a guard copied into a child by `fork`.
    pub fn wait(&mut self) -> Result<()> {
        self.wait_until(None).map(|_| ())
    }

    /// As [`wait`](ConditionGuard::wait), for at most `timeout`; whether it was notified.
    /// Equivalent to Python's `cond.wait(timeout)`. The lock is held again when it returns,
    /// either way.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `predicate` returns true; returns at once if it already does. Equivalent to
    /// Python's `cond.wait_for(predicate)`.
    ///
    /// The predicate is called with the lock held, before each wait and after each wake-up:
    /// it should read state shared by the processes (a [`Value`](crate::Value), an
    /// [`Event`](crate::Event)...) that the notifier changes before it notifies.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_for(&mut self, mut predicate: impl FnMut() -> bool) -> Result<()> {
        while !predicate() {
            self.wait_until(None)?;
        }
        Ok(())
    }

    /// As [`wait_for`](ConditionGuard::wait_for), for at most `timeout` in all; the
    /// predicate's last value. Equivalent to Python's `cond.wait_for(predicate, timeout)`.
    ///
    /// # Errors
    ///
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_for_timeout(
        &mut self,
        mut predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool> {
        let deadline = Instant::now().checked_add(timeout);
        let mut result = predicate();
        while !result {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
            self.wait_until(deadline)?;
            result = predicate();
        }
        Ok(result)
    }

    /// Wakes the process that has waited longest, if any. Equivalent to Python's
    /// `cond.notify()`.
    ///
    /// # Errors
    ///
    /// [`Error::NotLockOwner`] for a guard copied into a child by `fork` (Python:
    /// `RuntimeError: cannot notify on un-acquired lock`).
    pub fn notify(&self) -> Result<()> {
        self.notify_n(1)
    }

    /// Wakes the `n` processes that have waited longest (fewer if fewer wait). Equivalent to
    /// Python's `cond.notify(n)`.
    ///
    /// # Errors
    ///
    /// As [`notify`](ConditionGuard::notify).
    pub fn notify_n(&self, n: usize) -> Result<()> {
        self.check_held()?;
        let table = &*self.condition.table;
        table.notify_oldest(n, table.next_ticket.load(Ordering::SeqCst));
        Ok(())
    }

    /// Wakes every waiting process. Equivalent to Python's `cond.notify_all()`.
    ///
    /// # Errors
    ///
    /// As [`notify`](ConditionGuard::notify).
    pub fn notify_all(&self) -> Result<()> {
        self.check_held()?;
        self.condition.table.notify_everyone();
        Ok(())
    }

    /// Releases the lock. Equivalent to Python's `cond.release()`; dropping the guard does the
    /// same.
    ///
    /// # Errors
    ///
    /// [`Error::NotLockOwner`] for a guard copied into a child by `fork`.
    pub fn release(self) -> Result<()> {
        self.raw.release()
    }

    /// Whether a process died holding the lock before this one took it, or took it back in a
    /// `wait`. See [`LockGuard::previous_holder_died`](crate::LockGuard::previous_holder_died).
    pub fn previous_holder_died(&self) -> bool {
        self.previous_holder_died
    }

    /// The guard holds the lock in this process: always, except for a copy of the guard made
    /// by `fork`, which holds nothing in the child, even when the child holds the lock itself
    /// through a guard of its own.
    fn check_held(&self) -> Result<()> {
        if self.raw.taken_in_this_process() && self.condition.lock.held_by_this_process() {
            Ok(())
        } else {
            Err(Error::NotLockOwner)
        }
    }

    /// Waits until notified (`true`) or until `deadline` (`false`); `None` waits without limit.
    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<bool> {
        self.check_held()?;
        let condition = self.condition;
        let table = &*condition.table;
        let index = table.register(ProcessIdentity::current())?;
        let slot = &table.slots[index];
        let ticket = slot.ticket.load(Ordering::SeqCst);
        // The slot is taken before the lock is released: a notify from now on finds it.
        let depth = condition.lock.release_all()?;
        let others_died = self.sleep(index, ticket, deadline);
        // An error here (the system refusing a valid mutex) leaves the slot taken: harmless
        // but for one notification, and it does not happen with a mutex made by this crate.
        let died = condition.lock.reacquire(depth)?;
        let notified = table.is_notified(slot, ticket);
        slot.state.store(FREE, Ordering::SeqCst);
        self.previous_holder_died |= died || others_died;
        Ok(notified)
    }

    /// Sleeps, the lock released, until slot `index` is notified or `deadline` passes. Returns
    /// whether a holder of the lock died, learnt when passing on a dead waiter's notification.
    fn sleep(&self, index: usize, ticket: u64, deadline: Option<Instant>) -> bool {
        let table = &*self.condition.table;
        let slot = &table.slots[index];
        let mut died = false;
        if spin::until_true(deadline, || table.is_notified(slot, ticket)) {
            return died;
        }
        let mut slept_since = Instant::now();
        loop {
            if table.is_notified(slot, ticket) {
                return died;
            }
            let now = Instant::now();
            let slice = match deadline {
                Some(deadline) if now >= deadline => return died,
                Some(deadline) => (deadline - now).min(SLICE),
                None => SLICE,
            };
            // Sleeps only while the word still says WAITING.
            futex_wait(&slot.state, WAITING, Some(slice));
            if slept_since.elapsed() >= SLICE && !table.is_notified(slot, ticket) {
                slept_since = Instant::now();
                if table.dead_hold_my_notification(index, ticket) {
                    died |= self.pass_on_notifications(deadline);
                }
            }
        }
    }

    /// Takes the lock (until `deadline` at most) to pass on the notifications of dead waiters;
    /// whether the lock's holder had died.
    fn pass_on_notifications(&self, deadline: Option<Instant>) -> bool {
        match self.condition.lock.acquire_until(deadline) {
            Ok(Some(guard)) => {
                self.condition.table.pass_on_dead_notifications();
                guard.owner_died()
            }
            // Out of time, or the mutex refused: the wait ends or goes on, and the next slice
            // tries again.
            Ok(None) | Err(_) => false,
        }
    }
}

impl std::fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConditionGuard({:?})", self.condition)
    }
}

impl WaiterTable {
    fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst) as usize
    }

    fn is_notified(&self, slot: &Slot, ticket: u64) -> bool {
        slot.state.load(Ordering::SeqCst) == NOTIFIED || ticket < self.all_bound.load(Ordering::SeqCst)
    }

    /// Takes a free slot for `me`, WAITING with the next ticket; its index. Lock held.
    fn register(&self, me: ProcessIdentity) -> Result<usize> {
        let index = match self.free_slot() {
            Some(index) => index,
            None => {
                // Full: make room from the dead, then look again.
                self.free_dead_slots();
                self.free_slot().ok_or(Error::TooManyWaiters { limit: CAPACITY })?
            }
        };
        let slot = &self.slots[index];
        slot.who.store(me);
        slot.ticket.store(self.next_ticket.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
        slot.bound.store(0, Ordering::SeqCst);
        // Last: until now the slot reads FREE, whoever looks, and whenever this process dies.
        slot.state.store(WAITING, Ordering::SeqCst);
        Ok(index)
    }

    /// A FREE slot, among those used before or the next unused one. Lock held.
    fn free_slot(&self) -> Option<usize> {
        let used = self.used().min(CAPACITY);
        if let Some(index) = self.slots[..used].iter().position(|s| s.state.load(Ordering::SeqCst) == FREE) {
            return Some(index);
        }
        if used < CAPACITY {
            self.used.store(used as u32 + 1, Ordering::SeqCst);
            return Some(used);
        }
        None
    }

    /// Frees the slots of dead waiters, passing on the notifications they held. Lock held.
    fn free_dead_slots(&self) {
        self.pass_on_dead_notifications();
        for slot in &self.slots[..self.used().min(CAPACITY)] {
            if slot.state.load(Ordering::SeqCst) != FREE && !is_alive(slot) {
                slot.state.store(FREE, Ordering::SeqCst);
            }
        }
    }

    /// Marks the oldest live WAITING slots with a ticket below `bound` NOTIFIED, `n` of them at
    /// most, and wakes each; frees the dead ones met on the way. Returns how many. Lock held.
    fn notify_oldest(&self, n: usize, bound: u64) -> usize {
        if n == 0 {
            return 0;
        }
        let all_bound = self.all_bound.load(Ordering::SeqCst);
        let used = self.used().min(CAPACITY);
        let mut candidates: Vec<(u64, usize)> = (0..used)
            .filter_map(|index| {
                let slot = &self.slots[index];
                let ticket = slot.ticket.load(Ordering::SeqCst);
                let waiting = slot.state.load(Ordering::SeqCst) == WAITING;
                (waiting && ticket >= all_bound && ticket < bound).then_some((ticket, index))
            })
            .collect();
        candidates.sort_unstable();
        let mut woken = 0;
        for (_, index) in candidates {
            if woken == n {
                break;
            }
            let slot = &self.slots[index];
            if surely_gone(slot) {
                slot.state.store(FREE, Ordering::SeqCst);
                continue;
            }
            slot.bound.store(bound, Ordering::SeqCst);
            slot.state.store(NOTIFIED, Ordering::SeqCst);
            futex_wake_all(&slot.state);
            woken += 1;
        }
        woken
    }

    /// Notifies every waiter. Lock held.
    fn notify_everyone(&self) {
        let bound = self.next_ticket.load(Ordering::SeqCst);
        // First, and in one store: every waiter so far is notified, whatever happens next.
        self.all_bound.store(bound, Ordering::SeqCst);
        for slot in &self.slots[..self.used().min(CAPACITY)] {
            if slot.state.load(Ordering::SeqCst) == WAITING {
                slot.bound.store(bound, Ordering::SeqCst);
                slot.state.store(NOTIFIED, Ordering::SeqCst);
                futex_wake_all(&slot.state);
            }
        }
    }

    /// Whether a dead process holds a notification that the waiter of slot `mine` (ticket
    /// `ticket`) might be owed: given by a `notify(n)` while it waited. Read without the lock,
    /// so only a hint, checked again under the lock.
    fn dead_hold_my_notification(&self, mine: usize, ticket: u64) -> bool {
        let all_bound = self.all_bound.load(Ordering::SeqCst);
        self.slots[..self.used().min(CAPACITY)].iter().enumerate().any(|(index, slot)| {
            index != mine
                && slot.state.load(Ordering::SeqCst) == NOTIFIED
                && slot.ticket.load(Ordering::SeqCst) >= all_bound
                && slot.bound.load(Ordering::SeqCst) > ticket
                && !is_alive(slot)
        })
    }

    /// Passes each notification held by a dead waiter to the oldest live waiter that was
    /// already waiting when it was given, then frees the dead slot. Lock held.
    fn pass_on_dead_notifications(&self) {
        let all_bound = self.all_bound.load(Ordering::SeqCst);
        for slot in &self.slots[..self.used().min(CAPACITY)] {
            let individually_notified = slot.state.load(Ordering::SeqCst) == NOTIFIED
                && slot.ticket.load(Ordering::SeqCst) >= all_bound;
            if individually_notified && !is_alive(slot) {
                // Pass on first, free after: a process killed between the two leaves one
                // notification too many (a waiter woken for nothing, which `wait_for` absorbs),
                // never one too few.
                self.notify_oldest(1, slot.bound.load(Ordering::SeqCst));
                slot.state.store(FREE, Ordering::SeqCst);
            }
        }
    }
}

/// Whether the waiter of `slot` has ended and been reaped: no process has its pid. One cheap
/// system call (`kill(pid, 0)`, half a microsecond), for `notify`'s path; a waiter that ended
/// and was not reaped yet, or whose pid was reused, passes, and is found by [`is_alive`] when a
/// survivor looks for notifications held by the dead.
fn surely_gone(slot: &Slot) -> bool {
    slot.who.load().is_some_and(ProcessIdentity::surely_gone)
}

/// Whether the waiter of `slot` is still running: its pid names a running process (not a
/// zombie) that started when the waiter did. Reads `/proc/<pid>/stat` (about 10 us).
fn is_alive(slot: &Slot) -> bool {
    slot.who.load().is_none_or(ProcessIdentity::is_running)
}
