//! `Semaphore` and `BoundedSemaphore`: a count of units that processes take and give back.
//!
//! # How it works underneath
//!
//! ## What CPython does, and what a killed process does to it
//!
//! CPython's `multiprocessing.Semaphore` is a POSIX semaphore (`sem_open`): one counter in shared
//! memory; `acquire` takes a unit (`sem_wait`), `release` gives one (`sem_post`). Nobody owns a
//! unit: any process may release what another took. So a process killed inside `with s:` takes
//! its unit to the grave: a `Semaphore(3)` has become a `Semaphore(2)`, and after three such
//! deaths every `acquire` waits forever.
//!
//! Here [`Semaphore::acquire`] returns a guard, [`SemaphoreGuard`], that gives the unit back when
//! it is dropped (Python's `with s:`), and the unit is written down in shared memory as *held by
//! this process*. When a holder dies, the processes waiting for a unit notice it and take its units
//! back (see "Dead holders" below), so "at most 3 at once" stays true and no unit is lost.
//! [`Semaphore::release`] stays as Python has it, for the other use of a semaphore, signalling: a
//! producer releases units that a consumer acquires and keeps ([`SemaphoreGuard::forget`]). Those
//! units belong to nobody, as in CPython.
//!
//! ## The shared page
//!
//! ```text
//!   mutex          robust, process-shared pthread mutex: every change is made under it
//!   released       initial value + units given by release()           \
//!   holders[256]   { pid, start time, held | consumed }               /  the truth
//!   value          released - sum(held + consumed): the count, a cache kept beside the truth
//!   wakeups        futex word, +1 each time a unit comes back: waiters sleep on it
//!   sleepers       how many waiters are (about to be) asleep on `wakeups`
//!   sweep clock    when someone last looked for dead holders
//! ```
//!
//! A holder slot counts two things for its process: `held`, the units it has through guards
//! (they come back if it dies), and `consumed`, the units its guards kept for good with `forget`
//! (they never come back). Both are halves of one 64-bit word, for the reason below.
//!
//! ## Surviving a kill at any instant
//!
//! A process can be `SIGKILL`ed between any two instructions, also while it holds the mutex in
//! the middle of a change. The robust mutex then hands the lock to the next process with
//! `EOWNERDEAD` (see `shm.rs`), and that process must find the state usable. So every change of
//! the *truth* is **one store**, and everything else is derived from it:
//!
//! ```text
//!   operation              stores to the truth (in this order)         then, derived
//!   acquire                slot.pid (if the slot is new); held + 1     value - 1
//!   drop of a guard        held - 1; slot.pid = 0 if held is now 0     value + 1, wakeups + 1
//!   release()              released + 1                                value + 1, wakeups + 1
//!   guard.forget()         held - 1 and consumed + 1: ONE 64-bit store
//!   a dead holder's units  held = 0; slot.pid = 0                      value + held, wakeups + 1
//! ```
//!
//! A kill between two stores of the truth leaves at worst a slot that names a dead process and
//! holds nothing, which the next sweep frees. A kill between the truth and `value` leaves the
//! cache wrong, but the killed process held the mutex then, so the next locker gets
//! `EOWNERDEAD` and recomputes `value` from the truth (`recount`). That is why `forget` needs
//! `held` and `consumed` in one word: moving a unit from one counter to another in two stores
//! would lose it, or invent one, if the process died in between.
//!
//! ## Dead holders
//!
//! A process that finds no free unit, before it sleeps and before it answers "none" (to
//! `try_acquire`, or a timed `acquire` at its deadline), looks at the pids in the table: one
//! process at a time, at most every `SLICE` (100 ms), for all processes together (the sweep
//! clock), since each look reads `/proc` once per holder. A holder that is no longer
//! running (gone, or a zombie not yet reaped) has its `held` units put back. A pid alone is not
//! enough to say who holds, since Linux gives the pid of a reaped process to a later one: a slot
//! records the holder's pid and start time, a `ProcessIdentity` (why, and how it is read from
//! `/proc`: `lifecycle.rs`, "Is that process still running, and is it the same one?"). A process
//! killed between `acquire` and the drop of its guard thus costs the others at most about two
//! slices; killed elsewhere, it costs nothing.
//!
//! Why not the barrier's way of telling the dead (`barrier.rs`: each party holds a robust mutex of
//! its own while it waits, and the kernel marks it when the party dies, so a `trylock` answers
//! at once): a pthread mutex must be unlocked by the thread that locked it, and a unit is held
//! across any code the program likes, by a guard it may move to another thread. A pid and a
//! start time belong to the process, which is what holds a unit.
//!
//! ## Waiting
//!
//! A waiter reads `wakeups` while it holds the mutex and finds no unit, lets the mutex go, spins
//! for 20 us where that can pay (`spin.rs`), re-reading the word (a unit given back on another
//! core often comes that fast, and sleeping costs ten times more), then sleeps on it with a futex for at most one
//! `SLICE`, and tries again. Whoever gives a unit back adds one to `wakeups` under the mutex
//! and, when `sleepers` says someone sleeps, wakes them all (see `event.rs` for why counting
//! sleepers loses no wake-up). The slices bound what a wake-up that a killed process owed can
//! cost, and give the waiters their turns at looking for dead holders.
//!
//! A caller's timeout applies to that sleep only, never to taking the mutex: the mutex is held
//! for a few stores at a time, and a holder that dies hands it over at once (`EOWNERDEAD`), so
//! waiting for it is short and cannot hang. With the deadline on the mutex too,
//! `acquire_timeout(ZERO)` would answer "none" whenever another process happened to be giving a
//! unit back, with units free; CPython's `acquire(timeout=0)` answers `True` whenever one is.
//!
//! ## Fork, exit, and the limits
//!
//! All the state is in the shared page, so the crate needs no fork hook and no exit step for a
//! semaphore. A child forked while its parent holds a guard has a copy of the guard in its
//! memory, but not the unit: the unit is the parent's, and the child's copy does nothing when
//! dropped (the guard remembers the fork generation of the process that took the unit). A
//! process that exits with units held (`std::process::exit` inside a guard's scope) is a dead
//! holder like any other. The table has `MAX_HOLDERS` slots; a unit taken while every slot
//! names another live process is not tracked (it is counted as consumed, and its guard gives it
//! back as `release` would): if its holder dies, it is lost, as every unit is in CPython.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::debug;

use crate::error::{Error, Result};
use crate::lifecycle::{IdentitySlot, ProcessIdentity, generation};
use crate::shm::{Locked, ProcessShared, RobustGuard, RobustMutex, SharedMemory, futex_wait, futex_wake_all};
use crate::spin;

/// The longest a waiter sleeps before it looks again on its own, and the shortest time between two
/// looks for dead processes (module docs). The crate's liveness tick, as in `event.rs`.
const SLICE: Duration = Duration::from_millis(100);

/// Slots in a semaphore's table of holders: processes holding units at the same time.
const MAX_HOLDERS: usize = 256;

/// The largest value a semaphore can reach: Linux's `SEM_VALUE_MAX`, as in CPython.
const MAX_VALUE: u32 = i32::MAX as u32;

// ---------------------------------------------------------------------------------------------
// Looking for the dead, sleeping in slices (both shared with `barrier.rs`). Telling processes
// apart is `lifecycle.rs`'s: `ProcessIdentity`, `IdentitySlot`.
// ---------------------------------------------------------------------------------------------

/// When someone last looked for dead processes, so that one process looks every [`SLICE`] however
/// many wait: each look reads `/proc` once per process in the table.
#[repr(C)]
struct SweepClock {
    /// `CLOCK_MONOTONIC` in milliseconds: one clock for every process of the machine.
    last_ms: AtomicU64,
}

impl SweepClock {
    /// Whether a look is due; if so, it is the caller's (no other process gets it for a slice).
    fn claim(&self) -> bool {
        let now = monotonic_ms();
        let last = self.last_ms.load(Ordering::SeqCst);
        now.saturating_sub(last) >= SLICE.as_millis() as u64
            && self.last_ms.compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }
}

fn monotonic_ms() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec for clock_gettime to fill; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64).saturating_mul(1000).saturating_add(now.tv_nsec as u64 / 1_000_000)
}

/// Re-reads `word` while the crate's waits spin (`spin.rs`), less if `deadline` comes first;
/// whether it changed from `seen`.
pub(crate) fn spin_until_changed(word: &AtomicU32, seen: u32, deadline: Option<Instant>) -> bool {
    spin::until_true(deadline, || word.load(Ordering::SeqCst) != seen)
}

/// Sleeps while `word` holds `seen`, at most one [`SLICE`] and not past `deadline`; whether it
/// changed. A wake-up that a killed process owed costs at most this one slice.
pub(crate) fn sleep_one_slice(word: &AtomicU32, seen: u32, deadline: Option<Instant>) -> bool {
    let mut slice = SLICE;
    if let Some(deadline) = deadline {
        slice = slice.min(deadline.saturating_duration_since(Instant::now()));
    }
    if !slice.is_zero() {
        futex_wait(word, seen, Some(slice));
    }
    word.load(Ordering::SeqCst) != seen
}

// ---------------------------------------------------------------------------------------------
// The semaphore.
// ---------------------------------------------------------------------------------------------

/// One process's units (module docs).
#[repr(C)]
struct Holder {
    who: IdentitySlot,
    /// `held` in the low 32 bits, `consumed` in the high 32 bits: one word, so that `forget`
    /// moves a unit from one to the other in one store.
    units: AtomicU64,
}

const HELD_ONE: u64 = 1;
const CONSUMED_ONE: u64 = 1 << 32;

fn held(units: u64) -> u32 {
    units as u32
}

fn consumed(units: u64) -> u32 {
    (units >> 32) as u32
}

#[repr(C)]
struct SemaphoreShm {
    mutex: RobustMutex,
    /// The initial value plus the units given by `release()` (and by guards of untracked units),
    /// minus the untracked units taken. Wraps around: only differences matter.
    released: AtomicU32,
    /// `released - sum(held + consumed)`, kept up to date under the mutex; recomputed after a
    /// process died holding the mutex.
    value: AtomicU32,
    /// The futex word: +1 each time units come back.
    wakeups: AtomicU32,
    /// How many waiters are (about to be) asleep on `wakeups`.
    sleepers: AtomicU32,
    sweeps: SweepClock,
    /// How many times a process found the mutex left by a dead holder (for the tests' figures).
    recounts: AtomicU32,
    holders: [Holder; MAX_HOLDERS],
}

// SAFETY: all-zero is a valid state (the mutex is initialised by `Core::new` before the memory is
// shared with anyone; zero counts; free slots), and every field is an atomic or a process-shared
// mutex, which work across processes.
unsafe impl ProcessShared for SemaphoreShm {}

/// What [`Semaphore`] and [`BoundedSemaphore`] share: the mapping, and the bound if any.
#[derive(Clone)]
struct Core {
    shm: Arc<SharedMemory<SemaphoreShm>>,
    /// A `BoundedSemaphore`'s initial value, which `release` may not take the count past.
    max_value: Option<u32>,
}

impl Core {
    fn new(value: u32, max_value: Option<u32>) -> Result<Core> {
        if value > MAX_VALUE {
            return Err(Error::InvalidState(
                "a semaphore's value cannot exceed 2147483647 (SEM_VALUE_MAX; Python: OverflowError)",
            ));
        }
        crate::lifecycle::install();
        let shm =
            SharedMemory::<SemaphoreShm>::new().map_err(Error::os("mmap (a Semaphore's shared memory)"))?;
        // SAFETY: the mapping was just made and no other process or thread can see it yet.
        unsafe { shm.mutex.init() }.map_err(Error::os("pthread_mutex_init (a Semaphore's lock)"))?;
        shm.released.store(value, Ordering::SeqCst);
        shm.value.store(value, Ordering::SeqCst);
        Ok(Core { shm: Arc::new(shm), max_value })
    }

    // What `Semaphore` and `BoundedSemaphore` share, their methods of the same names.

    fn acquire(&self) -> Result<SemaphoreGuard<'_>> {
        let taken = self.acquire_until(None, true)?;
        let taken = taken.ok_or(Error::InvalidState("a semaphore wait without a limit gave up"))?;
        Ok(SemaphoreGuard { core: self, taken })
    }

    fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>> {
        let taken = self.acquire_until(None, false)?;
        Ok(taken.map(|taken| SemaphoreGuard { core: self, taken }))
    }

    fn acquire_timeout(&self, timeout: Duration) -> Result<Option<SemaphoreGuard<'_>>> {
        let taken = self.acquire_until(Instant::now().checked_add(timeout), true)?;
        Ok(taken.map(|taken| SemaphoreGuard { core: self, taken }))
    }

    /// Takes the mutex, with no deadline, even for a caller that has one: it is only ever held
    /// for a few stores, and a holder that dies hands it over at once (`EOWNERDEAD`), so the
    /// wait is short and cannot hang. A deadline here would make a caller whose time is up (a
    /// zero timeout) answer "no unit" because another process was giving one back, while units
    /// are free: the deadline applies to the sleep for a unit, never to this. After a process
    /// died holding the mutex, the count is recomputed from the truth.
    fn lock_now(&self) -> Result<RobustGuard<'_>> {
        match self.shm.mutex.lock(None).map_err(Error::os("pthread_mutex_lock (a Semaphore's lock)"))? {
            Locked::Acquired(locked) => {
                if locked.owner_died {
                    self.recount();
                }
                Ok(locked)
            }
            Locked::TimedOut => {
                Err(Error::os("pthread_mutex_lock (a Semaphore's lock)")(std::io::ErrorKind::TimedOut))
            }
        }
    }

    /// Recomputes `value` from the truth, with the mutex held; wakes the waiters, since the
    /// process that died may have given a unit back without waking anyone.
    fn recount(&self) {
        let shm = &*self.shm;
        let taken = shm.holders.iter().fold(0u32, |sum, holder| {
            let units = holder.units.load(Ordering::SeqCst);
            sum.wrapping_add(held(units)).wrapping_add(consumed(units))
        });
        shm.value.store(shm.released.load(Ordering::SeqCst).wrapping_sub(taken), Ordering::SeqCst);
        shm.recounts.fetch_add(1, Ordering::SeqCst);
        shm.wakeups.fetch_add(1, Ordering::SeqCst);
        futex_wake_all(&shm.wakeups);
    }

    /// Units held through guards by every process in the table, with the mutex held.
    fn held_total(&self) -> u64 {
        self.shm.holders.iter().map(|holder| u64::from(held(holder.units.load(Ordering::SeqCst)))).sum()
    }

    /// Takes a unit for `me`, with the mutex held and `value > 0`. Returns the holder slot that
    /// records it, or `None` when the table is full (the unit is then untracked).
    fn take_unit(&self, me: ProcessIdentity) -> Option<usize> {
        let shm = &*self.shm;
        let (mut mine, mut free) = (None, None);
        for (index, holder) in shm.holders.iter().enumerate() {
            match holder.who.load() {
                Some(who) if who == me => {
                    mine = Some(index);
                    break;
                }
                None if free.is_none() => free = Some(index),
                _ => {}
            }
        }
        let slot = match (mine, free) {
            (Some(index), _) => index,
            (None, Some(index)) => {
                shm.holders[index].who.store(me);
                index
            }
            (None, None) => {
                // Counted as consumed; the guard gives it back as `release` would.
                shm.released.fetch_sub(1, Ordering::SeqCst);
                shm.value.fetch_sub(1, Ordering::SeqCst);
                return None;
            }
        };
        shm.holders[slot].units.fetch_add(HELD_ONE, Ordering::SeqCst);
        shm.value.fetch_sub(1, Ordering::SeqCst);
        Some(slot)
    }

    /// Waits for a unit until `deadline` (`None`: no limit), or not at all when `block` is false.
    /// `Ok(None)` when none came in time.
    fn acquire_until(&self, deadline: Option<Instant>, block: bool) -> Result<Option<Taken>> {
        let shm = &*self.shm;
        let me = ProcessIdentity::current();
        let mut spun = false;
        loop {
            let locked = self.lock_now()?;
            if shm.value.load(Ordering::SeqCst) > 0 {
                let slot = self.take_unit(me);
                drop(locked);
                return Ok(Some(Taken { slot, generation: generation() }));
            }
            // Read under the mutex: any unit given back from now on changes it.
            let seen = shm.wakeups.load(Ordering::SeqCst);
            drop(locked);
            // Before waiting, or saying there is none: are units held by the dead?
            if self.reclaim_dead_holders()? {
                continue;
            }
            if !block || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(None);
            }
            if !spun {
                spun = true;
                if spin_until_changed(&shm.wakeups, seen, deadline) {
                    continue;
                }
            }
            shm.sleepers.fetch_add(1, Ordering::SeqCst);
            sleep_one_slice(&shm.wakeups, seen, deadline);
            shm.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Gives back the unit of a guard dropped in the process that took it.
    fn give_back(&self, slot: Option<usize>) -> Result<()> {
        let shm = &*self.shm;
        let locked = self.lock_now()?;
        match slot {
            Some(index) => {
                let holder = &shm.holders[index];
                // Always true for a running process: no sweep frees the slot of a live one. The
                // pid only: the slot may hold this process without its start time (see
                // `ProcessIdentity::current`).
                if !holder.who.load().is_some_and(ProcessIdentity::is_this_process)
                    || held(holder.units.load(Ordering::SeqCst)) == 0
                {
                    return Ok(());
                }
                let before = holder.units.fetch_sub(HELD_ONE, Ordering::SeqCst);
                if held(before) == 1 {
                    holder.who.clear();
                }
            }
            None => {
                // An untracked unit: as `release`, but never past a bound (module docs).
                let value = shm.value.load(Ordering::SeqCst);
                if self.max_value.is_some_and(|max| u64::from(value) + self.held_total() >= u64::from(max)) {
                    return Ok(());
                }
                shm.released.fetch_add(1, Ordering::SeqCst);
            }
        }
        shm.value.fetch_add(1, Ordering::SeqCst);
        shm.wakeups.fetch_add(1, Ordering::SeqCst);
        drop(locked);
        self.wake_sleepers();
        Ok(())
    }

    /// Keeps a guard's unit for good: it moves from `held` to `consumed` in one store.
    fn consume(&self, slot: Option<usize>) -> Result<()> {
        let Some(index) = slot else { return Ok(()) }; // An untracked unit is consumed already.
        let _locked = self.lock_now()?;
        let holder = &self.shm.holders[index];
        if !holder.who.load().is_some_and(ProcessIdentity::is_this_process)
            || held(holder.units.load(Ordering::SeqCst)) == 0
        {
            return Ok(());
        }
        let before = holder.units.fetch_add(CONSUMED_ONE - HELD_ONE, Ordering::SeqCst);
        if held(before) == 1 {
            holder.who.clear();
        }
        Ok(())
    }

    /// Python's `release()`: one more unit, owned by nobody.
    fn release(&self) -> Result<()> {
        let shm = &*self.shm;
        let locked = self.lock_now()?;
        let value = shm.value.load(Ordering::SeqCst);
        // Units held through guards will come back by themselves: counting them here makes the
        // over-release the `release()` call that leaves no room for them.
        if let Some(max) = self.max_value {
            if u64::from(value) + self.held_total() >= u64::from(max) {
                return Err(Error::SemaphoreReleasedTooManyTimes);
            }
        }
        if value >= MAX_VALUE {
            return Err(Error::InvalidState(
                "a semaphore's value cannot exceed 2147483647 (SEM_VALUE_MAX; Python: OSError)",
            ));
        }
        shm.released.fetch_add(1, Ordering::SeqCst);
        shm.value.fetch_add(1, Ordering::SeqCst);
        shm.wakeups.fetch_add(1, Ordering::SeqCst);
        drop(locked);
        self.wake_sleepers();
        Ok(())
    }

    fn get_value(&self) -> u32 {
        // The lock makes the count exact even just after a holder of the mutex died.
        let _locked = self.lock_now();
        self.shm.value.load(Ordering::SeqCst)
    }

    fn wake_sleepers(&self) {
        if self.shm.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake_all(&self.shm.wakeups);
        }
    }

    /// If a look for dead holders is due, gives back the units of those no longer running.
    /// Whether any unit came back.
    fn reclaim_dead_holders(&self) -> Result<bool> {
        let shm = &*self.shm;
        if !shm.sweeps.claim() {
            return Ok(false);
        }
        // Looked at without the mutex (reading /proc is slow); checked again under it below.
        let dead: Vec<(usize, ProcessIdentity)> = shm
            .holders
            .iter()
            .enumerate()
            .filter_map(|(index, holder)| {
                let who = holder.who.load()?;
                (!who.is_this_process() && !who.is_running()).then_some((index, who))
            })
            .collect();
        if dead.is_empty() {
            return Ok(false);
        }
        let locked = self.lock_now()?;
        let mut returned = 0u32;
        for (index, who) in dead {
            let holder = &shm.holders[index];
            // A process that is not running never runs again: if the slot still names it, its
            // held units are free. Its consumed units stay consumed.
            if holder.who.load() != Some(who) {
                continue;
            }
            let units = holder.units.load(Ordering::SeqCst);
            holder.units.store(units & !u64::from(u32::MAX), Ordering::SeqCst);
            holder.who.clear();
            if held(units) > 0 {
                debug!("process {} died holding {} unit(s) of a semaphore: given back", who.pid, held(units));
            }
            returned = returned.wrapping_add(held(units));
        }
        if returned > 0 {
            shm.value.fetch_add(returned, Ordering::SeqCst);
            shm.wakeups.fetch_add(1, Ordering::SeqCst);
        }
        drop(locked);
        if returned > 0 {
            futex_wake_all(&shm.wakeups);
        }
        Ok(returned > 0)
    }
}

/// A unit just taken: where it is recorded, and by which process.
struct Taken {
    slot: Option<usize>,
    generation: u32,
}

/// A unit of a [`Semaphore`] or [`BoundedSemaphore`], given back when dropped.
///
/// The `with s:` of Python: the unit is recorded as held by this process, so if the process is
/// killed before the guard is dropped, the unit comes back to the semaphore all the same.
#[must_use = "the unit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    core: &'a Core,
    taken: Taken,
}

impl SemaphoreGuard<'_> {
    /// Keeps the unit for good instead of giving it back: for a semaphore used to signal, where
    /// the consumer acquires what a producer [`release`](Semaphore::release)d.
    ///
    /// Equivalent to Python's `s.acquire()` with no `release()` after it. From here on the unit
    /// belongs to nobody, as in CPython, and does not come back if this process dies.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the semaphore's lock fails (it does not in practice); the unit is then
    /// still held, and given back when this process dies.
    pub fn forget(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        if this.taken.generation != generation() {
            return Ok(()); // A copy in a forked child: the unit is the parent's.
        }
        this.core.consume(this.taken.slot)
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // A copy of the guard in a forked child does not hold the unit (module docs).
        if self.taken.generation == generation() {
            // The lock does not fail in practice; if it did, the unit would come back when this
            // process exits, as a dead holder's.
            let _ = self.core.give_back(self.taken.slot);
        }
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<SemaphoreGuard>")
    }
}

/// A count of units shared by processes: `acquire` takes one, waiting while there are none, and
/// dropping the guard gives it back.
///
/// Equivalent to Python's `multiprocessing.Semaphore`. Create it before starting the processes
/// that use it, and give each a clone. Unlike CPython's, a unit held by a process that is killed
/// comes back (see [`SemaphoreGuard`]).
///
/// ```rust,no_run
/// use multiprocessing::{Process, Semaphore};
///
/// let s = Semaphore::new(3)?; // at most 3 workers at once
/// let mut jobs = Vec::new();
/// for _ in 0..10 {
///     let s = s.clone();
///     let mut p = Process::new(move || -> multiprocessing::Result<()> {
///         let _active = s.acquire()?; // Python: `with s:`
///         std::thread::sleep(std::time::Duration::from_millis(100));
///         Ok(())
///     });
///     p.start()?;
///     jobs.push(p);
/// }
/// for mut p in jobs {
///     p.join()?;
/// }
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct Semaphore {
    core: Core,
}

impl Semaphore {
    /// A semaphore with `value` units. Equivalent to Python's `multiprocessing.Semaphore(value)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when `value` is over 2147483647 (`SEM_VALUE_MAX`);
    /// [`Error::Io`] when the shared page cannot be mapped.
    pub fn new(value: u32) -> Result<Semaphore> {
        Ok(Semaphore { core: Core::new(value, None)? })
    }

    /// Takes a unit, waiting as long as it takes. Equivalent to Python's `acquire()`, or `with s:`
    /// with the guard as the block.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the semaphore's lock fails (it does not in practice).
    pub fn acquire(&self) -> Result<SemaphoreGuard<'_>> {
        self.core.acquire()
    }

    /// Takes a unit if one is free now; `None` if not. Equivalent to Python's
    /// `acquire(block=False)`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the semaphore's lock fails (it does not in practice).
    pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>> {
        self.core.try_acquire()
    }

    /// Takes a unit, waiting at most `timeout`; `None` if none came in time. Equivalent to
    /// Python's `acquire(timeout=t)`, which returns `False` then. A timeout too large to be added
    /// to the clock (`Duration::MAX`) waits without limit.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the semaphore's lock fails (it does not in practice).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<SemaphoreGuard<'_>>> {
        self.core.acquire_timeout(timeout)
    }

    /// Adds a unit that nobody holds, waking a waiting process. Equivalent to Python's
    /// `release()` on a semaphore used to signal (a guard gives its own unit back by itself).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when the value would exceed 2147483647 (`SEM_VALUE_MAX`).
    pub fn release(&self) -> Result<()> {
        self.core.release()
    }

    /// How many units are free now. Equivalent to Python's `get_value()`.
    pub fn get_value(&self) -> u32 {
        self.core.get_value()
    }

    /// How many times a process took the semaphore's mutex from a process that died holding it
    /// (and recomputed the count). For the crate's tests only: they report it.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn recounts_for_tests(&self) -> u32 {
        self.core.shm.recounts.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Semaphore(value={})>", self.get_value())
    }
}

/// A [`Semaphore`] whose count may not go above its initial value: a `release()` too many is an
/// error.
///
/// Equivalent to Python's `multiprocessing.BoundedSemaphore`. Units held through guards count as
/// on their way back: with `BoundedSemaphore::new(2)` and one guard held, one `release()` already
/// fills the semaphore, and a second one is the error (in CPython the error would come at the
/// guard's release instead, which here cannot fail).
///
/// ```rust
/// use multiprocessing::{BoundedSemaphore, Error};
///
/// let s = BoundedSemaphore::new(1)?;
/// s.acquire()?.forget()?; // taken for good: 0 left
/// s.release()?; // back to 1
/// assert!(matches!(s.release(), Err(Error::SemaphoreReleasedTooManyTimes)));
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    core: Core,
}

impl BoundedSemaphore {
    /// A semaphore with `value` units, never more. Equivalent to Python's
    /// `multiprocessing.BoundedSemaphore(value)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when `value` is over 2147483647 (`SEM_VALUE_MAX`);
    /// [`Error::Io`] when the shared page cannot be mapped.
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        Ok(BoundedSemaphore { core: Core::new(value, Some(value))? })
    }

    /// Takes a unit, waiting as long as it takes. Equivalent to Python's `acquire()`, or
    /// `with s:` with the guard as the block.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the semaphore's lock fails (it does not in practice).
    pub fn acquire(&self) -> Result<SemaphoreGuard<'_>> {
        self.core.acquire()
    }

    /// Takes a unit if one is free now; `None` if not. Equivalent to Python's
    /// `acquire(block=False)`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the semaphore's lock fails (it does not in practice).
    pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>> {
        self.core.try_acquire()
    }

    /// Takes a unit, waiting at most `timeout`; `None` if none came in time. Equivalent to
    /// Python's `acquire(timeout=t)`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the semaphore's lock fails (it does not in practice).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<SemaphoreGuard<'_>>> {
        self.core.acquire_timeout(timeout)
    }

    /// Adds a unit that nobody holds. Equivalent to Python's `release()`.
    ///
    /// # Errors
    ///
    /// [`Error::SemaphoreReleasedTooManyTimes`] when the free units plus those held through
    /// guards already make the initial value (Python's `ValueError: semaphore or lock released
    /// too many times`).
    pub fn release(&self) -> Result<()> {
        self.core.release()
    }

    /// How many units are free now. Equivalent to Python's `get_value()`.
    pub fn get_value(&self) -> u32 {
        self.core.get_value()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self.core.max_value.unwrap_or(0);
        write!(f, "<BoundedSemaphore(value={}, maxvalue={max})>", self.get_value())
    }
}
