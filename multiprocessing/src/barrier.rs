//! `Barrier`: a meeting point where a fixed number of processes wait for each other.
//!
//! # How it works underneath
//!
//! ## CPython's design, kept
//!
//! Python's `threading.Barrier` (which `multiprocessing.Barrier` runs over shared memory) is a
//! small state machine under one lock. `wait` *enters* (waiting while the previous cycle still
//! drains or a reset completes), takes the arrival index `count` and adds one; the last of the
//! `parties` to arrive runs the `action` and *releases* the cycle; the others sleep until the
//! state changes. Each waiter then *leaves*, and the last to leave makes the barrier ready for
//! the next cycle. The *draining* step is what makes reuse safe: a fast process that comes back
//! for the next cycle waits until every party of this cycle has seen that it was released, so no
//! party can mistake the next cycle for its own. The same machine is kept here, with the lock a
//! robust process-shared mutex and the condition a futex word:
//!
//! ```text
//!   phase      FILLING      parties arrive; the last one ends the cycle
//!              ACTING       all arrived; the last one runs the action (outside the mutex)
//!              DRAINING     released: each party leaves with its index; new ones wait to enter
//!              RESETTING    reset() while parties waited: they leave with BrokenBarrier
//!              BROKEN       every wait fails with BrokenBarrier until reset()
//!              DRAINING_THEN_BROKEN   abort() while a released cycle drains: its parties still
//!                                     leave with their index, then the barrier is BROKEN
//!   word       futex word, +1 at every change of phase: everyone who waits sleeps on it
//!   inside[]   one slot per party inside wait(): its pid, and a robust mutex it holds
//!   acting     the pid and thread id of the party running the action, during ACTING
//! ```
//!
//! `count` (CPython's `_count`) is not stored: it is the number of taken slots in `inside`.
//! Every change of phase adds one to `word` and wakes all its sleepers; a waiter wakes, takes the
//! mutex, reads the phase, and either returns or sleeps again.
//!
//! ## The action
//!
//! The action is a closure given to [`Barrier::with_action`] before the processes are forked, so
//! every process has its own copy, and the last party to arrive runs its copy, as in CPython.
//! Unlike CPython, it runs without the mutex: a user closure may be slow, and the others must
//! still be able to look at the state. The phase is `ACTING` meanwhile: a party of the cycle
//! whose timeout passes then does not break the barrier (in CPython it could not either: it
//! waits for the lock the action runs under, and then finds the cycle released). An action
//! that panics breaks the barrier; the party that ran it gets
//! [`Error::BarrierActionPanicked`], the others [`Error::BrokenBarrier`].
//!
//! The action may call the barrier: `n_waiting`, `broken`, `abort` (which breaks the cycle it
//! runs for), `reset`. But not `wait`: the cycle it would wait for cannot end before the action
//! returns, so that `wait` would never end (CPython's waits forever, or, with a timeout, breaks
//! the barrier when it runs out). The acting party writes its pid and thread id in the shared
//! page before it runs the action, and a `wait` from that thread during `ACTING` fails at once
//! with [`Error::InvalidState`]. A `wait` from any other thread or process during `ACTING` is a
//! caller for the next cycle: it waits for this one to end, with its timeout counting (if it
//! runs out, the barrier breaks, as a timeout breaks it anywhere).
//!
//! ## Dead parties: a robust mutex as a sign of life
//!
//! A party killed while it waits would leave the others waiting forever in CPython (unless they
//! gave a timeout). Here each slot of `inside` has a robust mutex of its own, which the party
//! locks when it takes the slot and unlocks when it leaves: while the party is inside `wait`,
//! its thread holds the slot's mutex. Robust mutexes are the kernel's own obituary service: a
//! thread keeps a list of the robust mutexes it holds (`set_robust_list(2)`), and when it dies,
//! however it dies, the kernel marks each of them "owner died". So *is the party in slot i
//! alive?* is answered by a `pthread_mutex_trylock` on the slot's mutex, without a system call:
//! `EBUSY`, its party holds it and lives; `EOWNERDEAD`, its party died. No `/proc`, no pid that
//! could be reused by another process, no zombie mistaken for a live process.
//!
//! The check is cheap (one compare-and-swap per slot), so it is made often: by every party when
//! it arrives, before it takes its own slot (the last party thus never releases a cycle in which
//! a party died waiting), after every slice a waiter sleeps (100 ms at most, so that the others
//! learn of a death that happened while they slept), and by whoever takes the barrier's mutex
//! after a process died holding it. A dead party in a cycle that has not been released breaks
//! the barrier. A dead party in a released cycle (it died after the release, before it left)
//! only has its slot freed, so that the draining ends.
//!
//! A process can also die in the middle of a change, holding the barrier's mutex. The state is
//! the phase word and one slot per party, and every change is a store to one of them, so the
//! next locker (told by `EOWNERDEAD`) finds a readable state, and runs the check above. A party
//! takes its slot's mutex before it writes its pid into the slot, and leaves in the other order,
//! so a slot with a pid always has its mutex held, by its party or by the dead.
//!
//! What cannot be noticed: a party that died *before* it arrived is, to the others, a party that
//! is late. Only a timeout tells them ([`Barrier::with_timeout`], [`Barrier::wait_timeout`]), as
//! in CPython.
//!
//! ## Fork and exit
//!
//! All the state is in the shared page. A party's thread holds its slot's mutex only inside
//! `wait`, and a fork by another thread meanwhile gives the child no claim on it (the mutex
//! names the waiting thread, which the child does not have). So the crate needs no fork hook and
//! no exit step for a barrier.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use log::debug;

use crate::error::{Error, Result};
use crate::lifecycle::current_pid;
use crate::semaphore::{sleep_one_slice, spin_until_changed};
use crate::shm::{Locked, ProcessShared, RobustGuard, RobustMutex, SharedMemory, futex_wake_all};

/// The most parties a barrier can have: one slot each in the shared page.
pub(crate) const MAX_PARTIES: usize = 256;

/// Parties arrive (the all-zero state, so a new barrier starts here).
const FILLING: u32 = 0;
/// All parties arrived; the last one runs the action.
const ACTING: u32 = 1;
/// The cycle is released; its parties leave, new ones wait.
const DRAINING: u32 = 2;
/// `reset()` came while parties waited; they leave with `BrokenBarrier`.
const RESETTING: u32 = 3;
/// Every `wait` fails until `reset()`.
const BROKEN: u32 = 4;
/// `abort()` came while a released cycle drained: its parties leave with their index, and then
/// the barrier is broken.
const DRAINING_THEN_BROKEN: u32 = 5;

/// A place for one party inside `wait`.
#[repr(C)]
struct Slot {
    /// Held by the party's thread while it is inside `wait`; the kernel marks it "owner died" if
    /// that thread dies (module docs).
    alive: RobustMutex,
    /// The party's pid, or 0 when the slot is free.
    pid: AtomicI32,
}

#[repr(C)]
struct BarrierShm {
    mutex: RobustMutex,
    /// The futex word: +1 at every change of phase.
    word: AtomicU32,
    phase: AtomicU32,
    /// The pid and the thread id of the party running the action, written before the phase
    /// becomes ACTING (meaningful only then): a `wait` from that thread is the action's own.
    acting_pid: AtomicI32,
    acting_tid: AtomicI32,
    /// The parties inside `wait`; only the first `parties` slots are used.
    inside: [Slot; MAX_PARTIES],
}

// SAFETY: all-zero is a valid state (the mutexes are initialised by `Barrier::build` before the
// memory is shared; phase FILLING; every slot free), and every field is an atomic or a
// process-shared mutex, which work across processes.
unsafe impl ProcessShared for BarrierShm {}

/// The closure that the last party to arrive runs before the others are released.
type Action = Arc<dyn Fn() + Send + Sync>;

/// A meeting point for a fixed number of processes: each `wait` returns once `parties` processes
/// have called it.
///
/// Equivalent to Python's `multiprocessing.Barrier` (a `threading.Barrier` across processes).
/// Create it before starting the processes that use it, and give each a clone. `wait` returns
/// the party's arrival index, from 0 for the first to `parties - 1` for the last, unique within a
/// cycle; the barrier can then be used again.
///
/// ```rust,no_run
/// use multiprocessing::{Barrier, Process};
///
/// let barrier = Barrier::with_action(3, || println!("all three are here"))?;
/// let mut workers = Vec::new();
/// for _ in 0..2 {
///     let b = barrier.clone();
///     let mut p = Process::new(move || b.wait().map(|index| println!("worker passed as {index}")));
///     p.start()?;
///     workers.push(p);
/// }
/// barrier.wait()?; // the third party
/// for mut p in workers {
///     p.join()?;
/// }
/// # Ok::<(), multiprocessing::Error>(())
/// ```
///
/// A party that is killed while it waits breaks the barrier: the others get
/// [`Error::BrokenBarrier`] within a fraction of a second. A party that dies before it arrives
/// looks like a late one; give a timeout if that can happen.
#[derive(Clone)]
pub struct Barrier {
    shm: Arc<SharedMemory<BarrierShm>>,
    parties: usize,
    action: Option<Action>,
    /// The default timeout of `wait` (Python's `timeout=` argument of `Barrier`).
    timeout: Option<Duration>,
}

impl Barrier {
    /// A barrier for `parties` processes. Equivalent to Python's `multiprocessing.Barrier(parties)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] when `parties` is 0 or more than 256; [`Error::Io`]
    /// when the shared page cannot be mapped.
    pub fn new(parties: usize) -> Result<Barrier> {
        Barrier::build(parties, None)
    }

    /// A barrier whose last party to arrive runs `action` before the others are released.
    /// Equivalent to Python's `Barrier(parties, action=f)`.
    ///
    /// The closure is copied into every process forked after this call, and each process runs
    /// its own copy when it is the last to arrive. If it panics, the barrier breaks: that party's
    /// `wait` returns [`Error::BarrierActionPanicked`], the others' [`Error::BrokenBarrier`].
    /// It may call the barrier's other methods, but a `wait` from it fails with
    /// [`Error::InvalidState`]: the cycle it would wait for ends only when the action returns.
    ///
    /// # Errors
    ///
    /// As [`Barrier::new`].
    pub fn with_action(parties: usize, action: impl Fn() + Send + Sync + 'static) -> Result<Barrier> {
        Barrier::build(parties, Some(Arc::new(action)))
    }

    /// The same barrier, with `timeout` as the limit of every [`wait`](Barrier::wait) made
    /// through this handle and its clones made after. Equivalent to Python's
    /// `Barrier(parties, timeout=t)`.
    pub fn with_timeout(mut self, timeout: Duration) -> Barrier {
        self.timeout = Some(timeout);
        self
    }

    fn build(parties: usize, action: Option<Action>) -> Result<Barrier> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(Error::InvalidState("a Barrier needs between 1 and 256 parties"));
        }
        crate::lifecycle::install();
        let shm = SharedMemory::<BarrierShm>::new().map_err(Error::os("mmap (a Barrier's shared memory)"))?;
        // SAFETY: the mapping was just made and no other process or thread can see it yet.
        unsafe { shm.mutex.init() }.map_err(Error::os("pthread_mutex_init (a Barrier's lock)"))?;
        for slot in &shm.inside[..parties] {
            // SAFETY: as above.
            unsafe { slot.alive.init() }.map_err(Error::os("pthread_mutex_init (a Barrier's lock)"))?;
        }
        Ok(Barrier { shm: Arc::new(shm), parties, action, timeout: None })
    }

    /// Waits until all parties have called `wait`; returns this party's arrival index, in
    /// `0..parties`. Equivalent to Python's `wait()`.
    ///
    /// With a timeout given by [`with_timeout`](Barrier::with_timeout), as
    /// [`wait_timeout`](Barrier::wait_timeout) with it.
    ///
    /// # Errors
    ///
    /// [`Error::BrokenBarrier`] when the barrier is broken, or breaks while this party waits (a
    /// party timed out or died, or `abort()` or `reset()` was called);
    /// [`Error::BarrierActionPanicked`] when this party ran the action and it panicked;
    /// [`Error::InvalidState`] when called by the barrier's action itself (module docs: it
    /// could never end).
    pub fn wait(&self) -> Result<usize> {
        self.wait_until(self.timeout.and_then(|timeout| Instant::now().checked_add(timeout)))
    }

    /// As [`wait`](Barrier::wait), for at most `timeout`: if the other parties have not all
    /// arrived by then, the barrier breaks, for them too. Equivalent to Python's
    /// `wait(timeout=t)`.
    ///
    /// The timeout stops counting once every party has arrived (the last one may be running the
    /// action), as in CPython. It counts while this party waits to enter, before it arrives: a
    /// previous cycle still draining, or its action running. A timeout too large to be added to
    /// the clock waits without limit.
    ///
    /// # Errors
    ///
    /// As [`wait`](Barrier::wait); [`Error::BrokenBarrier`] when the time runs out.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Puts the barrier back to its empty state; parties waiting now get
    /// [`Error::BrokenBarrier`]. Equivalent to Python's `reset()`.
    ///
    /// A released cycle whose parties are still leaving, or a cycle whose action runs, is left
    /// alone, as CPython does.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the barrier's lock fails (it does not in practice).
    pub fn reset(&self) -> Result<()> {
        let _locked = self.lock()?;
        // The dead inside would keep a reset from ending.
        self.remove_dead(None);
        match self.phase() {
            FILLING | BROKEN => self.set_phase(if self.count() > 0 { RESETTING } else { FILLING }),
            DRAINING_THEN_BROKEN => self.set_phase(DRAINING),
            _ => {} // ACTING, DRAINING, RESETTING: already on their way to FILLING.
        }
        Ok(())
    }

    /// Breaks the barrier: parties waiting now, and every `wait` until [`reset`](Barrier::reset),
    /// get [`Error::BrokenBarrier`]. Equivalent to Python's `abort()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the barrier's lock fails (it does not in practice).
    pub fn abort(&self) -> Result<()> {
        let _locked = self.lock()?;
        self.break_now();
        Ok(())
    }

    /// Breaks the barrier, with the mutex held: at once, or once a released cycle has drained
    /// (its parties still leave with their index).
    fn break_now(&self) {
        match self.phase() {
            DRAINING => self.set_phase(DRAINING_THEN_BROKEN),
            BROKEN | DRAINING_THEN_BROKEN => {}
            _ => self.set_phase(BROKEN),
        }
    }

    /// Whether the calling thread is the one running the action, with the mutex held.
    fn called_by_the_action(&self) -> bool {
        self.phase() == ACTING
            && self.shm.acting_pid.load(Ordering::SeqCst) == current_pid()
            && self.shm.acting_tid.load(Ordering::SeqCst) == this_thread()
    }

    /// How many parties must call `wait` for it to return. Equivalent to Python's `parties`.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many parties are waiting in the current cycle. Equivalent to Python's `n_waiting`.
    pub fn n_waiting(&self) -> usize {
        match self.phase() {
            FILLING | ACTING => self.count(),
            _ => 0,
        }
    }

    /// Whether the barrier is broken. Equivalent to Python's `broken`.
    pub fn broken(&self) -> bool {
        matches!(self.phase(), BROKEN | DRAINING_THEN_BROKEN)
    }

    fn phase(&self) -> u32 {
        self.shm.phase.load(Ordering::SeqCst)
    }

    fn slots(&self) -> &[Slot] {
        &self.shm.inside[..self.parties]
    }

    /// Parties inside `wait` (CPython's `_count`).
    fn count(&self) -> usize {
        self.slots().iter().filter(|slot| slot.pid.load(Ordering::SeqCst) != 0).count()
    }

    /// Changes the phase and wakes everyone who waits for a change (with the mutex held).
    fn set_phase(&self, phase: u32) {
        self.shm.phase.store(phase, Ordering::SeqCst);
        self.shm.word.fetch_add(1, Ordering::SeqCst);
        futex_wake_all(&self.shm.word);
    }

    /// Takes the mutex. After a process died holding it, looks for dead parties at once: the
    /// process that died may have been one, in the middle of `wait`.
    fn lock(&self) -> Result<RobustGuard<'_>> {
        match self.shm.mutex.lock(None).map_err(Error::os("pthread_mutex_lock (a Barrier's lock)"))? {
            Locked::Acquired(locked) => {
                if locked.owner_died {
                    self.remove_dead(None);
                }
                Ok(locked)
            }
            Locked::TimedOut => {
                Err(Error::os("pthread_mutex_lock (a Barrier's lock)")(std::io::ErrorKind::TimedOut))
            }
        }
    }

    /// Frees the slots of parties that died inside `wait` (all but `mine`), with the mutex
    /// held; a dead party in a cycle not yet released breaks the barrier (module docs).
    fn remove_dead(&self, mine: Option<usize>) {
        let mut removed = false;
        for (index, slot) in self.slots().iter().enumerate() {
            let pid = slot.pid.load(Ordering::SeqCst);
            if pid == 0 || Some(index) == mine {
                continue;
            }
            // Held (`TimedOut`): its party lives. Taken: its party died (`owner_died`), or, if
            // the shared page was damaged, nobody held it; either way nobody is there.
            if let Ok(Locked::Acquired(_taken)) = slot.alive.try_lock() {
                debug!("process {pid} died waiting at a barrier");
                slot.pid.store(0, Ordering::SeqCst);
                removed = true;
            }
        }
        if removed && matches!(self.phase(), FILLING | ACTING) {
            self.set_phase(BROKEN);
        }
        self.end_draining();
    }

    /// If the last party has left, ends the draining or the reset (CPython's `_exit`).
    fn end_draining(&self) {
        if self.count() > 0 {
            return;
        }
        match self.phase() {
            DRAINING | RESETTING => self.set_phase(FILLING),
            DRAINING_THEN_BROKEN => self.set_phase(BROKEN),
            _ => {}
        }
    }

    /// Takes a free slot for the calling thread, with the mutex held: its sign of life first,
    /// then its pid. `None` if no slot is free (cannot happen while filling).
    fn take_slot(&self) -> Option<usize> {
        for (index, slot) in self.slots().iter().enumerate() {
            if slot.pid.load(Ordering::SeqCst) != 0 {
                continue;
            }
            // Free slots' mutexes are free, or held by a process that died leaving the slot
            // (`owner_died`, which makes it ours all the same).
            if let Ok(Locked::Acquired(taken)) = slot.alive.try_lock() {
                // Held until `leave`, by this thread: that is the sign of life.
                taken.keep();
                slot.pid.store(std::process::id() as i32, Ordering::SeqCst);
                return Some(index);
            }
        }
        None
    }

    /// This party leaves `wait`, with the mutex held: its pid goes, then its sign of life.
    fn leave(&self, index: usize) {
        let slot = &self.slots()[index];
        slot.pid.store(0, Ordering::SeqCst);
        // SAFETY: this thread took the slot's mutex in `take_slot`, during this same `wait`, kept
        // it, and has not let it go; nobody else can (a `try_lock` of a held mutex fails).
        unsafe { slot.alive.unlock() };
        self.end_draining();
    }

    /// Lets the mutex go, waits for a change of phase (spinning the first time, then one slice at
    /// most, not past `deadline`), and takes the mutex back; then looks for parties that died
    /// meanwhile (all but `mine`).
    fn sleep<'a>(
        &'a self,
        locked: RobustGuard<'a>,
        deadline: Option<Instant>,
        spun: &mut bool,
        mine: Option<usize>,
    ) -> Result<RobustGuard<'a>> {
        let word = &self.shm.word;
        let seen = word.load(Ordering::SeqCst);
        drop(locked);
        let changed = !*spun && spin_until_changed(word, seen, deadline);
        *spun = true;
        if !changed {
            sleep_one_slice(word, seen, deadline);
        }
        let locked = self.lock()?;
        self.remove_dead(mine);
        Ok(locked)
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize> {
        let mut spun = false;
        let mut locked = self.lock()?;
        // Anyone dead inside? (Checked again after every sleep, so it is fresh at arrival too: the
        // last party never releases a cycle in which a party died waiting.)
        self.remove_dead(None);
        if self.called_by_the_action() {
            return Err(Error::InvalidState(
                "wait() called on a Barrier from its own action: the action runs before the cycle \
                 is released, so that wait could never end (CPython's hangs, or breaks the \
                 barrier when its timeout runs out)",
            ));
        }
        // Enter (CPython's `_enter`): wait while the previous cycle drains, its action runs, or a
        // reset completes. Unlike CPython, the timeout counts here too: a wait that comes while
        // the action runs may be one the action itself waits for (from another thread), which
        // would otherwise never end. When it runs out, the barrier breaks, as for any timeout.
        loop {
            match self.phase() {
                FILLING => break,
                BROKEN => return Err(Error::BrokenBarrier),
                _ if deadline.is_some_and(|deadline| Instant::now() >= deadline) => {
                    self.break_now();
                    return Err(Error::BrokenBarrier);
                }
                _ => locked = self.sleep(locked, deadline, &mut spun, None)?,
            }
        }
        // Arrive.
        let index = self.count();
        let Some(slot) = self.take_slot() else {
            // Cannot happen: while FILLING fewer than `parties` are inside.
            return Err(Error::InvalidState(
                "a barrier has no free slot while filling (shared memory damaged)",
            ));
        };
        if index + 1 == self.parties {
            return self.end_cycle(locked, slot, index);
        }
        // Wait for the cycle to end.
        loop {
            match self.phase() {
                DRAINING | DRAINING_THEN_BROKEN => {
                    self.leave(slot);
                    return Ok(index);
                }
                FILLING if deadline.is_some_and(|deadline| Instant::now() >= deadline) => {
                    // CPython: a timeout breaks the barrier for every party.
                    self.set_phase(BROKEN);
                    self.leave(slot);
                    return Err(Error::BrokenBarrier);
                }
                FILLING => locked = self.sleep(locked, deadline, &mut spun, Some(slot))?,
                // Everyone has arrived: the timeout no longer counts (module docs).
                ACTING => locked = self.sleep(locked, None, &mut spun, Some(slot))?,
                _ => {
                    // BROKEN or RESETTING.
                    self.leave(slot);
                    return Err(Error::BrokenBarrier);
                }
            }
        }
    }

    /// The last party: runs the action if any, then releases the cycle (CPython's `_release`).
    fn end_cycle<'a>(&'a self, locked: RobustGuard<'a>, slot: usize, index: usize) -> Result<usize> {
        let locked = match &self.action {
            None => locked,
            Some(action) => {
                // Who runs the action, for a `wait` it might make (module docs); then ACTING.
                self.shm.acting_pid.store(current_pid(), Ordering::SeqCst);
                self.shm.acting_tid.store(this_thread(), Ordering::SeqCst);
                self.set_phase(ACTING);
                drop(locked);
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| action()));
                let locked = self.lock()?;
                if self.phase() != ACTING {
                    // Aborted, or a party died, while the action ran.
                    self.leave(slot);
                    return Err(Error::BrokenBarrier);
                }
                if let Err(panic) = outcome {
                    self.set_phase(BROKEN);
                    self.leave(slot);
                    return Err(Error::BarrierActionPanicked(panic_message(panic.as_ref())));
                }
                locked
            }
        };
        self.set_phase(DRAINING);
        self.leave(slot);
        drop(locked);
        Ok(index)
    }
}

/// The calling thread's id (`gettid(2)`), unique among the running threads of the machine.
fn this_thread() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// The text of a panic's payload, as the panic message printed it.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a payload that is not text".to_owned()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.broken() {
            write!(f, "<Barrier broken, parties={}>", self.parties)
        } else {
            write!(f, "<Barrier waiters={}/{}>", self.n_waiting(), self.parties)
        }
    }
}
