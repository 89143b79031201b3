//! The life of a process around `fork` and at exit: the crate's `multiprocessing.util`.
//!
//! Every shared object of the crate needs two moments handled for it, and this module is the one
//! place that handles them, so that `Process::start` knows nothing of queues (or locks, pools...):
//!
//! - **Fork.** Only the forking thread exists in the child. Any lock another thread held at that
//!   instant stays held forever in the child, and any per-process state (a queue's frames waiting
//!   to be written by this process, the list of this process's children) describes the parent. So
//!   each object registers [`ForkHooks`]: `prepare` runs in the forking thread just before `fork`
//!   and takes the object's in-process lock (so no other thread is inside it), then `parent` or
//!   `child` runs after `fork` and releases it; `child` first resets the state to "a new process".
//! - **Exit.** [`exit_function`] is CPython's `util._exit_function`: it runs the registered exit
//!   steps in priority order (flush queues, terminate daemonic children, join the others), once,
//!   when `main` returns, when the program calls `std::process::exit`, and at the end of every
//!   child.
//!
//! # Forks the crate did not make
//!
//! The hooks are installed with `pthread_atfork(3)`, so they run for *every* fork of the program:
//! `Process::start`, but also `nix::unistd::fork` or `libc::fork` called by the user. The crate's
//! own fork ([`fork`]) additionally tells the parent-side hooks the child's pid (or that the fork
//! failed) before any lock is released.
//!
//! # Threads that start or end while another thread forks
//!
//! Rust's standard library takes an internal lock when a thread starts and when it ends. A fork
//! at that instant leaves that lock held in the child, and the child then hangs the first time it
//! starts a thread or exits through `std::process::exit`. The crate never lets that happen with
//! its own threads: each process has at most one service thread (the queues' writer, see
//! `queue/service.rs`), it is started by [`spawn_service_thread`] while the fork lock is held (so
//! no fork can overlap its start-up), and it never ends before the process does. Threads of *your*
//! program are yours to mind: do not start or end threads at the instant another thread forks
//! (start your threads before the processes, or join them before you fork).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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
    // the pointers.
    unsafe {
        libc::pthread_atfork(Some(atfork_prepare), Some(atfork_parent), Some(atfork_child));
        libc::atexit(exit_hook);
    }
}

/// Counts the forks between the first process and this one: a value cached with it (a queue's
/// slot in a table of processes) is this process's only while the number is unchanged.
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// This process's fork generation (see [`GENERATION`]); cheaper than `getpid(2)`.
pub(crate) fn generation() -> u32 {
    GENERATION.load(Ordering::SeqCst)
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
    let threads = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
        // Field 20 is num_threads; fields from the 3rd on follow the last ')' (the name can
        // hold spaces and parentheses).
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(17)?.parse::<u32>().ok()
    });
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

extern "C" fn exit_hook() {
    // A panic must not cross into C; `exit_function` does not panic on any path we know of,
    // and if it did, ending the exit early is the least bad outcome.
    let _ = panic::catch_unwind(exit_function);
    let _ = std::io::stdout().flush();
}

/// Whether `pid` names a running process: it exists (`kill(pid, 0)`) and is not a zombie waiting
/// to be reaped (the state letter in `/proc/<pid>/stat`). Every shared object that must notice a
/// dead peer asks this: a queue's holders, a lock's holder, a semaphore's, a barrier's parties.
pub(crate) fn process_is_running(pid: i32) -> bool {
    let exists =
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) != Err(nix::errno::Errno::ESRCH);
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => true,
    }
}
