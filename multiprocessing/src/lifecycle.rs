//! The life of a process around `fork` and at exit, and whether another process still runs: the
//! crate's `multiprocessing.util`.
//!
//! Every shared object of the crate needs two moments handled for it, and this module is the one
//! place that handles them, so that `Process::start` knows nothing of queues (or locks, pools...):
//!
//! - **Fork.** Only the forking thread exists in the child. Any lock another thread held at that
//!   instant stays held forever in the child, and any per-process state (a queue's frames waiting
//!   to be written by this process, the list of this process's children) describes the parent. So
//!   each object registers `ForkHooks`: `prepare` runs in the forking thread just before `fork`
//!   and takes the object's in-process lock (so no other thread is inside it), then `parent` or
//!   `child` runs after `fork` and releases it; `child` first resets the state to "a new process".
//! - **Exit.** `exit_function` is CPython's `util._exit_function`: it runs the registered exit
//!   steps in priority order (flush queues, terminate daemonic children, join the others), once,
//!   when `main` returns, when the program calls `std::process::exit`, and at the end of every
//!   child.
//!
//! # Forks the crate did not make
//!
//! The hooks are installed with `pthread_atfork(3)`, so they run for *every* fork of the program:
//! `Process::start`, but also `nix::unistd::fork` or `libc::fork` called by the user. The crate's
//! own fork (`fork`) additionally tells the parent-side hooks the child's pid (or that the fork
//! failed) before any lock is released.
//!
//! # Threads that start or end while another thread forks
//!
//! Rust's standard library takes an internal lock when a thread starts and when it ends. A fork
//! at that instant leaves that lock held in the child, and the child then hangs the first time it
//! starts a thread or exits through `std::process::exit`. The crate never lets that happen with
//! its own threads: each process has at most one service thread (the queues' writer, see
//! `queue/service.rs`), it is started by `spawn_service_thread` while the fork lock is held (so
//! no fork can overlap its start-up), and it never ends before the process does. Threads of *your*
//! program are yours to mind: do not start or end threads at the instant another thread forks
//! (start your threads before the processes, or join them before you fork).
//!
//! # Is that process still running, and is it the same one?
//!
//! A killed process cannot say that it is leaving, so every shared object that must not wait
//! for the dead writes down which processes use it (a queue's holders, a lock's owner, a
//! semaphore's holders, a condition's waiters), and a process that waits asks whether those
//! still run. This module gives the one answer they all use. Three easy answers are wrong:
//!
//! - **`kill(pid, 0)` alone.** It succeeds for a *zombie*, a process that has ended and that its
//!   parent has not reaped yet (`wait`ed for), which may take as long as the parent likes. So
//!   `process_is_running` also reads the state letter in `/proc/<pid>/stat`: `Z` (zombie) or
//!   `X` (being removed) is dead.
//! - **The pid alone.** Linux gives a pid again once its process is reaped, counting up to
//!   `pid_max` and starting over: 32768 on many systems (this one too), so a program that forks
//!   a few thousand processes, or a busy machine in a few minutes, goes round. A process given a
//!   dead holder's pid would make that holder look alive for as long as it runs. So a
//!   `ProcessIdentity` is the pid *and* the time the process started (field 22 of
//!   `/proc/<pid>/stat`, in clock ticks since boot), which a later process with the same pid
//!   does not share: a pid with another start time is another process.
//! - **A `/proc` read on every operation.** Reading `/proc/<pid>/stat` costs about 10 us,
//!   `kill(pid, 0)` half a microsecond. A path that runs on every operation (a condition's
//!   `notify`) asks only the cheap question, `ProcessIdentity::surely_gone` ("no process has
//!   this pid at all"), and leaves zombies and reused pids to a slower path that runs rarely.
//!
//! An identity in shared memory is an `IdentitySlot`: two words, the start time stored before
//! the pid, so that a slot whose pid is visible always has its start time. `/proc/<pid>/stat`
//! is one line, `pid (name) state ppid ...`, where the name is the program's, up to 15 bytes of
//! anything, spaces and parentheses included: `parse_stat` counts the fields from the *last*
//! `)`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use linkme::distributed_slice;

use log::{debug, info};

/// Locks a mutex, ignoring poisoning: a panic elsewhere must not stop a process from forking or
/// exiting cleanly, and no state of the crate is left half-updated by a panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one kind of object does around a fork. All run in the forking thread; `prepare`
/// returns whatever it holds (usually a `MutexGuard<'static, _>`), and exactly one of `parent`
/// and `child` gets it back.
///
/// A kind of object declares its hooks with `#[distributed_slice(FORK_HOOKS)]` (the `linkme`
/// crate gathers them at link time): no registration at run time, so no one-time set-up that a
/// fork in another thread could copy half-done, and this module knows no other module.
pub(crate) struct ForkHooks {
    /// Locks are taken in increasing `order` (the process table 10, the queues 20).
    pub(crate) order: u8,
    /// Before `fork`: take the object's in-process lock.
    pub(crate) prepare: fn() -> Box<dyn Any>,
    /// In the parent, after `fork`: how it went. Releases what `prepare` took.
    pub(crate) parent: fn(Box<dyn Any>, Fork),
    /// In the child: reset the per-process state, then release what `prepare` took.
    pub(crate) child: fn(Box<dyn Any>),
    /// In the child, once every lock is released: what may take locks again (logging does).
    pub(crate) child_unlocked: fn(),
}

/// How a fork went, as the parent-side hooks learn it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fork {
    /// The crate made it; the child's pid.
    Made(i32),
    /// The crate made it, and `fork` failed: there is no child.
    Failed,
    /// Someone else made it (`libc::fork`...): the pid is not known here (nor, if it failed,
    /// that it failed: glibc runs the same handler).
    Foreign,
}

/// Every kind of object's fork hooks.
#[distributed_slice]
pub(crate) static FORK_HOOKS: [ForkHooks];

/// Held while the crate starts a thread or does a one-time set-up, and by every fork: so no
/// fork copies either half-done (see the module docs).
static FORK_LOCK: Mutex<()> = Mutex::new(());

/// Runs `set_up` with the fork lock held, so that a fork in another thread cannot copy it
/// half-done (a `Once` copied "running" would block the child forever).
pub(crate) fn without_forks<T>(set_up: impl FnOnce() -> T) -> T {
    let _fork_lock = lock(&FORK_LOCK);
    set_up()
}

/// Everything held across one fork.
struct Prepared {
    held: Vec<(&'static ForkHooks, Box<dyn Any>)>,
    _fork_lock: MutexGuard<'static, ()>,
    _stderr: std::io::StderrLock<'static>,
    _stdout: std::io::StdoutLock<'static>,
}

thread_local! {
    /// What `prepare_fork` took, until the fork is over. The same thread runs `prepare` and
    /// then `parent` or `child`, so a thread-local carries it across.
    static PREPARED: RefCell<Option<Prepared>> = const { RefCell::new(None) };
    /// True while [`fork`] runs: its parent side is finished by [`fork`] itself, with the pid.
    static OWN_FORK: Cell<bool> = const { Cell::new(false) };
    /// The `child_unlocked` steps left for [`run_after_forkers`].
    static AFTER_FORKERS: RefCell<Vec<&'static ForkHooks>> = const { RefCell::new(Vec::new()) };
}

fn prepare_fork() {
    // The order of the locks is fixed, and it matters: a program may hold stdout while it calls
    // the crate (a `put` that starts the service thread takes the fork lock), so stdout and
    // stderr come first and the fork lock after them, never the other way round.
    //
    // Buffered output would be written twice, by the parent and by the child: flush it first,
    // under the lock, so no other thread can add to it before the fork.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.flush();
    let stderr = std::io::stderr().lock();
    let fork_lock = lock(&FORK_LOCK);
    let mut hooks: Vec<&'static ForkHooks> = FORK_HOOKS.iter().collect();
    hooks.sort_by_key(|hooks| hooks.order);
    let held = hooks.into_iter().map(|hooks| (hooks, (hooks.prepare)())).collect();
    let prepared = Prepared { held, _fork_lock: fork_lock, _stderr: stderr, _stdout: stdout };
    PREPARED.with(|p| *p.borrow_mut() = Some(prepared));
}

fn finish_parent(child: Fork) {
    let Some(prepared) = PREPARED.with(|p| p.borrow_mut().take()) else { return };
    // Released in the reverse order of taking.
    let Prepared { held, _fork_lock, _stderr, _stdout } = prepared;
    for (hooks, guard) in held.into_iter().rev() {
        (hooks.parent)(guard, child);
    }
}

fn finish_child() {
    let Some(prepared) = PREPARED.with(|p| p.borrow_mut().take()) else { return };
    EXITING.store(false, Ordering::SeqCst);
    GENERATION.fetch_add(1, Ordering::SeqCst);
    SERVICE_THREADS.store(0, Ordering::SeqCst);
    START_TIME.store(START_NOT_READ, Ordering::SeqCst);
    let Prepared { held, _fork_lock, _stderr, _stdout } = prepared;
    let hooks: Vec<&'static ForkHooks> = held.iter().map(|(hooks, _)| *hooks).collect();
    for (hooks, guard) in held.into_iter().rev() {
        (hooks.child)(guard);
    }
    drop((_fork_lock, _stderr, _stdout));
    if OWN_FORK.get() {
        // `Process::start` names the child first, then calls `run_after_forkers`, as CPython's
        // `_bootstrap` does: the child's first log lines carry its own name.
        AFTER_FORKERS.with(|a| *a.borrow_mut() = hooks);
    } else {
        for hooks in hooks {
            (hooks.child_unlocked)();
        }
    }
}

/// In a child made by [`fork`], once it knows who it is: each object's `child_unlocked` step
/// (CPython's `util._run_after_forkers`).
pub(crate) fn run_after_forkers() {
    for hooks in AFTER_FORKERS.with(|a| std::mem::take(&mut *a.borrow_mut())) {
        (hooks.child_unlocked)();
    }
}

extern "C" fn atfork_prepare() {
    // No panic may cross into C; none is expected here, and aborting is the least bad outcome.
    if panic::catch_unwind(prepare_fork).is_err() {
        std::process::abort();
    }
}

extern "C" fn atfork_parent() {
    if !OWN_FORK.get() && panic::catch_unwind(|| finish_parent(Fork::Foreign)).is_err() {
        std::process::abort();
    }
}

extern "C" fn atfork_child() {
    if panic::catch_unwind(finish_child).is_err() {
        std::process::abort();
    }
}

/// Installs the fork handlers and the exit hook, when the program is loaded: before `main`, so
/// before any thread exists that could fork while they are being installed (a fork at that
/// instant would copy glibc's half-registered state, and a child that then used the crate would
/// hang). [`install`] does it later if the loader did not (it always does on Linux).
#[used]
#[unsafe(link_section = ".init_array")]
static INSTALL_AT_LOAD: extern "C" fn() = install_at_load;

extern "C" fn install_at_load() {
    install();
}

/// Installs the fork handlers and the exit hook, once per program.
pub(crate) fn install() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    // Naming the load-time constructor keeps it in the program whenever the crate is used.
    std::hint::black_box(&INSTALL_AT_LOAD);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    // SAFETY: the three handlers are plain `extern "C" fn()`s that live as long as the program
    // and never unwind (each catches panics); `exit_hook` likewise. Both functions only record
    // the pointers; `on_exit`'s argument is unused (null).
    unsafe {
        libc::pthread_atfork(Some(atfork_prepare), Some(atfork_parent), Some(atfork_child));
        // `on_exit` rather than `atexit`: the same list of handlers, but it passes the status
        // given to `exit` (`std::process::exit(3)` in a child: its exit code, for the log).
        on_exit(exit_hook, std::ptr::null_mut());
    }
}

/// Counts the forks between the first process and this one: a value cached with it (a queue's
/// slot in a table of processes) is this process's only while the number is unchanged.
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// This process's fork generation (see [`GENERATION`]); cheaper than `getpid(2)`.
pub(crate) fn generation() -> u32 {
    GENERATION.load(Ordering::SeqCst)
}

/// The calling process's pid, without a system call each time (a lock's path asks for it on
/// every `acquire` and `release`): cached with the fork generation, which changes in every
/// child, in one word, so that no thread can read one process's pid with another's generation.
pub(crate) fn current_pid() -> i32 {
    static CACHE: AtomicU64 = AtomicU64::new(0);
    let tag = u64::from(generation()) + 1;
    let cached = CACHE.load(Ordering::SeqCst);
    if cached >> 32 == tag {
        return cached as u32 as i32;
    }
    let pid = nix::unistd::getpid().as_raw();
    CACHE.store((tag << 32) | u64::from(pid as u32), Ordering::SeqCst);
    pid
}

/// Which side of a [`fork`] the caller is on.
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The process that called `fork`; the child's pid.
    Parent(i32),
}

/// Forks the process, with every registered object's lock held across the fork and the
/// parent-side hooks told the child's pid.
///
/// # Safety
///
/// In the child, the caller may only rely on what no other thread could have held: the crate's
/// state (made safe by the hooks) and glibc's `malloc` (which resets its own locks). The child
/// must end with `_exit` and never return into the parent's stack frames.
pub(crate) unsafe fn fork() -> std::io::Result<Forked> {
    install();
    OWN_FORK.set(true);
    // SAFETY: the caller upholds the contract above; the atfork handlers run inside `fork`.
    let pid = unsafe { libc::fork() };
    OWN_FORK.set(false);
    match pid {
        -1 => {
            let error = std::io::Error::last_os_error();
            finish_parent(Fork::Failed);
            Err(error)
        }
        0 => Ok(Forked::Child),
        pid => {
            finish_parent(Fork::Made(pid));
            Ok(Forked::Parent(pid))
        }
    }
}

/// Starts the process's service thread with the fork lock held until the thread runs `body`,
/// so that no fork can copy the standard library's thread-start lock while it is taken.
pub(crate) fn spawn_service_thread(name: &str, body: Box<dyn FnOnce() + Send>) -> std::io::Result<()> {
    let _fork_lock = lock(&FORK_LOCK);
    let started = std::sync::Arc::new((Mutex::new(false), Condvar::new()));
    let signal = std::sync::Arc::clone(&started);
    let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
        // Past this point the standard library's start-up is over.
        *lock(&signal.0) = true;
        signal.1.notify_one();
        drop(signal);
        body();
    });
    spawned?;
    SERVICE_THREADS.fetch_add(1, Ordering::SeqCst);
    let mut running = lock(&started.0);
    while !*running {
        running = started.1.wait(running).unwrap_or_else(PoisonError::into_inner);
    }
    Ok(())
}

/// Threads this process started with [`spawn_service_thread`] (none survive a fork).
static SERVICE_THREADS: AtomicU32 = AtomicU32::new(0);

/// Whether a thread of the program other than the caller and the crate's service thread runs in
/// this process, as `/proc/self/stat` counts them. Such a thread might still put into a queue,
/// so a `get` must not conclude that nothing can arrive. (True when it cannot be told.)
pub(crate) fn other_threads_running() -> bool {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let threads = stat.as_deref().and_then(parse_stat).map(|stat| stat.threads);
    threads.is_none_or(|n| n > 1 + SERVICE_THREADS.load(Ordering::SeqCst))
}

/// One step of [`exit_function`], declared with `#[distributed_slice(EXIT_STEPS)]`.
pub(crate) struct ExitStep {
    /// CPython's `Finalize(exitpriority=...)`: steps of priority >= 0 run first, highest first
    /// (the queues' flush at 10, the children at 0), then the others, highest first.
    pub(crate) priority: i32,
    pub(crate) run: fn(),
}

/// Every kind of object's exit steps.
#[distributed_slice]
pub(crate) static EXIT_STEPS: [ExitStep];

/// Set while the exit steps run; reset in a forked child, which has its own exit to run.
static EXITING: AtomicBool = AtomicBool::new(false);

/// CPython's `util._exit_function`: run at the end of every process, once.
pub(crate) fn exit_function() {
    if EXITING.swap(true, Ordering::SeqCst) {
        return;
    }
    info!("process shutting down");
    debug!("running all \"atexit\" finalizers with priority >= 0");
    let mut steps: Vec<&ExitStep> = EXIT_STEPS.iter().collect();
    steps.sort_by_key(|step| std::cmp::Reverse(step.priority));
    for step in steps.iter().filter(|step| step.priority >= 0) {
        (step.run)();
    }
    debug!("running the remaining \"atexit\" finalizers");
    for step in steps.iter().filter(|step| step.priority < 0) {
        (step.run)();
    }
}

/// The status given to `exit(3)`, while the exit hook runs; [`NOT_EXITING`] otherwise.
static EXIT_STATUS: AtomicI32 = AtomicI32::new(NOT_EXITING);
const NOT_EXITING: i32 = i32::MIN;

/// The status the process is exiting with, when it is exiting through `exit(3)` (a return from
/// `main`, or `std::process::exit`), for the exit steps that report it. `None` in a child that
/// ends the crate's way (its target returned: the child reports its exit code itself).
pub(crate) fn exit_status() -> Option<i32> {
    Some(EXIT_STATUS.load(Ordering::SeqCst)).filter(|&status| status != NOT_EXITING)
}

extern "C" fn exit_hook(status: libc::c_int, _arg: *mut libc::c_void) {
    EXIT_STATUS.store(status, Ordering::SeqCst);
    // A panic must not cross into C; `exit_function` does not panic on any path we know of,
    // and if it did, ending the exit early is the least bad outcome.
    let _ = panic::catch_unwind(exit_function);
    let _ = std::io::stdout().flush();
}

unsafe extern "C" {
    /// glibc's `on_exit(3)` (the `libc` crate lacks it): `atexit` with the exit status.
    fn on_exit(
        function: extern "C" fn(libc::c_int, *mut libc::c_void),
        arg: *mut libc::c_void,
    ) -> libc::c_int;
}

// ---------------------------------------------------------------------------------------------
// Telling processes apart (module docs: "Is that process still running, and is it the same one?").
// ---------------------------------------------------------------------------------------------

/// What the crate reads in `/proc/<pid>/stat` (see proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 3: `R` running, `S` sleeping, ..., `Z` zombie, `X` dead.
    pub(crate) state: char,
    /// Field 20: how many threads the process has.
    pub(crate) threads: u32,
    /// Field 22: when the process started, in clock ticks since boot.
    pub(crate) start: u64,
}

impl ProcStat {
    /// Whether the process has ended: a zombie waiting to be reaped, or being removed.
    pub(crate) fn has_ended(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Reads the fields the crate needs from one `/proc/<pid>/stat` line; `None` if it is not one.
///
/// The name (field 2) is in parentheses and may itself hold spaces and parentheses, but nothing
/// after it can hold a `)`: so the fields are counted from the last `)`.
pub(crate) fn parse_stat(line: &str) -> Option<ProcStat> {
    let (_, after_name) = line.rsplit_once(')')?;
    // `fields` starts at field 3.
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let threads = fields.nth(16)?.parse().ok()?; // field 20
    let start = fields.nth(1)?.parse().ok()?; // field 22
    Some(ProcStat { state, threads, start })
}

/// `/proc/<pid>/stat`, read and parsed; `None` when there is no such process, or `/proc` does
/// not show it.
fn read_stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// This process's start time as [`ProcessIdentity::current`] read it, or [`START_NOT_READ`]. A
/// forked child inherits its parent's: `finish_child` puts it back to "not read". One word, not
/// a lock: a lock held by another thread at a fork would stay held in the child.
static START_TIME: AtomicU64 = AtomicU64::new(START_NOT_READ);

/// [`START_TIME`] before the first read (no process starts at this tick).
const START_NOT_READ: u64 = u64::MAX;

/// A process, told apart from a later one that is given the same pid: its pid and when it
/// started (module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ProcessIdentity {
    pub(crate) pid: i32,
    /// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot. 0
    /// when it could not be read; then only the pid is compared.
    pub(crate) start: u64,
}

impl ProcessIdentity {
    /// The calling process. Reads `/proc` once per process (and again in each forked child),
    /// not on every call, and every thread of the process gets the same answer: the first one
    /// read. If `/proc/self/stat` could not be read then (no file descriptor left, `/proc` not
    /// mounted), the start time is 0 for the life of the process, and other processes compare
    /// this one by pid only.
    pub(crate) fn current() -> ProcessIdentity {
        let pid = current_pid();
        let mut start = START_TIME.load(Ordering::SeqCst);
        if start == START_NOT_READ {
            let read = read_stat(pid).map_or(0, |stat| stat.start);
            // The first thread to store wins, and every thread returns what it stored: one
            // identity per process, even if one thread's read fails and another's succeeds.
            start =
                match START_TIME.compare_exchange(START_NOT_READ, read, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => read,
                    Err(first) => first,
                };
        }
        ProcessIdentity { pid, start }
    }

    /// Whether this identity is the calling process's: the same pid. The start time is not
    /// compared: no other running process has this pid, so the pid is all a process needs to
    /// recognise its own slots, whatever it could read of `/proc` when it filled them.
    pub(crate) fn is_this_process(self) -> bool {
        self.pid == current_pid()
    }

    /// Whether no process has this pid at all: it has ended and been reaped. One system call
    /// (`kill(pid, 0)`, half a microsecond), for paths that run on every operation. False for a
    /// zombie, and for a later process given the same pid: [`is_running`](Self::is_running)
    /// tells those apart.
    pub(crate) fn surely_gone(self) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.pid);
        nix::sys::signal::kill(pid, None) == Err(nix::errno::Errno::ESRCH)
    }

    /// Whether this process still runs: its pid names a process that has not ended (not a
    /// zombie) and that started when this one did. One `kill(pid, 0)` and one read of
    /// `/proc/<pid>/stat` (about 10 us). When `/proc` does not show the process (mounted with
    /// `hidepid`), the pid's existence is the answer.
    pub(crate) fn is_running(self) -> bool {
        if self.surely_gone() {
            return false;
        }
        match read_stat(self.pid) {
            Some(stat) => !stat.has_ended() && (self.start == 0 || stat.start == self.start),
            None => true,
        }
    }
}

/// A [`ProcessIdentity`] in shared memory, or nobody. Every process reads it with atomics; one
/// writes it at a time (the owner of the object's lock, or of the slot).
#[repr(C)]
pub(crate) struct IdentitySlot {
    /// The process's pid, or 0 when the slot is empty.
    pid: AtomicI32,
    start: AtomicU64,
}

impl IdentitySlot {
    /// Who is in the slot; `None` when it is empty.
    pub(crate) fn load(&self) -> Option<ProcessIdentity> {
        let pid = self.pid.load(Ordering::SeqCst);
        (pid != 0).then(|| ProcessIdentity { pid, start: self.start.load(Ordering::SeqCst) })
    }

    /// Puts `who` in an empty slot (or in one that no other process reads meanwhile). The start
    /// time goes first, and the pid makes the slot taken: a process killed between the two
    /// stores leaves the slot empty, never a pid beside another process's start time.
    pub(crate) fn store(&self, who: ProcessIdentity) {
        self.start.store(who.start, Ordering::SeqCst);
        self.pid.store(who.pid, Ordering::SeqCst);
    }

    /// Empties the slot.
    pub(crate) fn clear(&self) {
        self.pid.store(0, Ordering::SeqCst);
    }
}

/// Whether `pid` names a running process: it exists (`kill(pid, 0)`) and is not a zombie waiting
/// to be reaped (the state letter in `/proc/<pid>/stat`). For a pid recorded without its start
/// time (a queue's holders, a lock's owner): a later process given the same pid passes. Shared
/// objects that keep the start time ask [`ProcessIdentity::is_running`] instead.
pub(crate) fn process_is_running(pid: i32) -> bool {
    ProcessIdentity { pid, start: 0 }.is_running()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A `/proc/<pid>/stat` line as Linux writes it (52 fields), for a process named `name`.
    fn stat_line(pid: i32, name: &str, state: char, threads: u32, start: u64) -> String {
        // Fields 3 to 52; the three the crate reads are set below.
        let mut fields: Vec<String> = (3..=52).map(|field| (field * 7).to_string()).collect();
        fields[0] = state.to_string();
        fields[20 - 3] = threads.to_string();
        fields[22 - 3] = start.to_string();
        format!("{pid} ({name}) {}\n", fields.join(" "))
    }

    #[test]
    fn parse_stat_counts_fields_from_the_last_parenthesis() {
        // Read from the first ')', this name would give state 'S', 9 threads...
        let name = "a) S 9 (b) c";
        let line = stat_line(4242, name, 'Z', 3, 123_456);
        let stat = parse_stat(&line).expect("a well-formed line");
        assert_eq!(stat, ProcStat { state: 'Z', threads: 3, start: 123_456 });
        assert!(stat.has_ended(), "a zombie has ended");
    }

    #[test]
    fn parse_stat_reads_plain_names_and_states() {
        for (name, state, ended) in [("cat", 'R', false), ("my prog", 'S', false), ("x", 'X', true)] {
            let stat = parse_stat(&stat_line(7, name, state, 1, 99)).expect("a well-formed line");
            assert_eq!(stat, ProcStat { state, threads: 1, start: 99 }, "name {name:?}");
            assert_eq!(stat.has_ended(), ended, "state {state}");
        }
    }

    #[test]
    fn parse_stat_refuses_what_is_not_a_stat_line() {
        for line in ["", "12 (x", "12 (x) R 1 2 3", "12 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 many"] {
            assert_eq!(parse_stat(line), None, "{line:?}");
        }
    }

    #[test]
    fn current_is_this_process_and_runs() {
        let me = ProcessIdentity::current();
        assert_eq!(me.pid, std::process::id() as i32);
        let stat = parse_stat(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        assert_eq!(me.start, stat.start);
        assert!(me.start > 0, "this process started after boot");
        assert_eq!(ProcessIdentity::current(), me, "cached, and the same");
        assert!(me.is_running());
        assert!(!me.surely_gone());
        assert!(process_is_running(me.pid));
    }

    #[test]
    fn every_thread_gets_the_process_identity_and_own_slots_match_by_pid() {
        let me = ProcessIdentity::current();
        let from_a_thread = std::thread::spawn(ProcessIdentity::current).join().unwrap();
        assert_eq!(from_a_thread, me, "one identity per process, whatever the thread");
        // A slot this process filled while /proc could not be read, or could: both are its own.
        assert!(ProcessIdentity { pid: me.pid, start: 0 }.is_this_process());
        assert!(ProcessIdentity { pid: me.pid, start: me.start + 1 }.is_this_process());
        assert!(!ProcessIdentity { pid: 1, start: me.start }.is_this_process() || me.pid == 1);
        assert_eq!(current_pid(), std::process::id() as i32);
    }

    #[test]
    fn another_start_time_is_another_process() {
        // What a dead process's identity looks like once a new process has its pid.
        let me = ProcessIdentity::current();
        let other = ProcessIdentity { pid: me.pid, start: me.start + 1 };
        assert!(!other.is_running(), "same pid, another start time: not the same process");
        assert!(!other.surely_gone(), "the cheap check cannot tell");
        let unknown = ProcessIdentity { pid: me.pid, start: 0 };
        assert!(unknown.is_running(), "start time unknown: the pid decides");
    }

    #[test]
    fn a_zombie_is_not_running_and_a_reaped_process_is_surely_gone() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn `true`");
        let pid = child.id() as i32;
        let started = Instant::now();
        let zombie = loop {
            match read_stat(pid) {
                Some(stat) if stat.state == 'Z' => break stat,
                _ if started.elapsed() > Duration::from_secs(10) => panic!("`true` did not end in 10 s"),
                _ => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        let child_identity = ProcessIdentity { pid, start: zombie.start };
        assert!(!child_identity.is_running(), "a zombie is not running");
        assert!(!process_is_running(pid), "a zombie is not running");
        assert!(!child_identity.surely_gone(), "a zombie still has its pid");
        assert!(child.wait().unwrap().success());
        assert!(child_identity.surely_gone(), "reaped: no process has its pid");
        assert!(!child_identity.is_running());
    }
}
