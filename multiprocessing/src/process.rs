//! Processes: `Process`, the `Run` trait, `current_process()`, and what happens at exit.
//!
//! # How a process starts
//!
//! [`Process::start`] calls `fork(2)`, the Linux default start method of CPython up to 3.13. The
//! child is a copy of the parent at that instant (memory, open pipes, shared mappings), so the
//! target closure and everything it captured are simply there; nothing is serialized. The child
//! then runs the target, runs its own exit steps, and leaves with `_exit(2)`: it never returns
//! into the parent's stack, never runs the parent's destructors or `atexit` handlers, and never
//! flushes a buffer the parent will flush too (stdout is flushed *before* the fork).
//!
//! One difference from CPython: a child does not wait for threads its target started and did
//! not join. Rust has no "non-daemon" threads; as when `main` returns, the end of the process
//! ends them. Join the threads you start.
//!
//! # Names
//!
//! Each process keeps a counter, starting at 1, shared by every kind of process it creates. A
//! child's *identity* is its parent's identity plus the counter's next value, and its default name
//! is the type name and the identity: `Process-1`, `Worker-2`, `Process-2:1` for the first child of
//! `Process-2`. The first process is `MainProcess`.
//!
//! # Forking while other threads run
//!
//! After `fork`, only the forking thread exists in the child. A lock that another thread held at
//! that instant stays locked forever in the child. CPython 3.12 warns about it; this crate makes
//! its own locks safe instead: `start` forks through the lifecycle module (`lifecycle.rs`), which
//! takes, in one fixed order, the stdout and stderr locks and the lock of every kind of shared
//! object (this process table, the queues' state...), forks, and releases them on both sides. So
//! no thread of this crate and no `println!` in another thread can be half-way through a locked
//! section when the child is made. Locks of *your* other threads are yours to mind, and so is the
//! standard library's own thread start-up lock: fork while your threads hold nothing the child
//! needs, and do not start or end threads at the instant another thread forks (start them before
//! the processes, or join them first).
//!
//! # Exit
//!
//! When the main process ends (`main` returns, or `std::process::exit`), an `atexit` hook does
//! what CPython's `util._exit_function` does: run the queues' exit steps (flush what was put),
//! terminate daemonic children, join the others, with the same log lines. That is why a `main`
//! that never joins still sees its children's output before the program ends. A child runs the
//! same steps when its target returns, then leaves with `_exit`.
//!
//! Standard input of a child is `/dev/null`, as in CPython: only the parent reads the terminal.
//!
//! # Printing a process
//!
//! `println!("{p}")` (and `{p:?}`) writes what Python's `print(p)` writes, CPython 3.11's
//! `repr`: `<Process name='Process-1' parent=1233 initial>` before `start`, then with
//! `pid=1234` and `started`, and once the child has ended `stopped exitcode=0` (or
//! `exitcode=-SIGTERM` when a signal ended it); ` daemon` at the end for a daemonic process. Like
//! `exitcode()`, printing looks at the child, so a process that has ended shows `stopped`.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use log::info;
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::{Pid, getpid};

use crate::error::{Error, Result};
use linkme::distributed_slice;

use crate::lifecycle::{self, ExitStep, ForkHooks, Forked, lock};

/// The body of a process defined as a type: Python's `class Worker(multiprocessing.Process)`
/// with its `run` method.
///
/// Turn a value into a [`Process`] with `Process::from(worker)`; its default name is the type's
/// name and a number (`Worker-1`).
pub trait Run {
    /// What the process does. Runs in the child, after `start`. An `Err` ends the process with
    /// exit code 1 and the error on stderr, as an uncaught exception does in Python.
    fn run(&mut self) -> Result<()>;
}

/// What a process's target closure may return: nothing, or a `Result` whose error ends the
/// process with exit code 1 and `Process <name>:` and the error on stderr (CPython's report of
/// an uncaught exception).
pub trait TargetResult {
    /// `Err` with the text to report when the target failed.
    fn into_report(self) -> std::result::Result<(), String>;
}

impl TargetResult for () {
    fn into_report(self) -> std::result::Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Display> TargetResult for std::result::Result<(), E> {
    fn into_report(self) -> std::result::Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

type Target = Box<dyn FnOnce() -> std::result::Result<(), String>>;

/// What [`current_process`] knows about the process that calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `MainProcess`, `Process-1`, `Worker-3`, `Process-2:1`, or the name given to the process.
    pub name: String,
    /// The operating system's process id.
    pub pid: u32,
    /// The path of counters from the main process: empty for the main process, `[2, 1]` for
    /// `Process-2:1`.
    pub identity: Vec<u32>,
    /// Whether this process is daemonic.
    pub daemon: bool,
}

/// Returns the name, pid and identity of the calling process.
///
/// Equivalent to Python's `multiprocessing.current_process()`.
pub fn current_process() -> ProcessInfo {
    let state = lock(&STATE);
    ProcessInfo {
        name: state.name.to_string(),
        pid: getpid().as_raw() as u32,
        identity: state.identity.clone(),
        daemon: state.daemon,
    }
}

/// Returns the children of this process that are still running, reaping those that ended.
///
/// Equivalent to Python's `multiprocessing.active_children()`.
pub fn active_children() -> Vec<String> {
    reap_finished_children();
    lock(&STATE).children.iter().map(|c| c.name.clone()).collect()
}

/// The number of CPUs online, as Python's `multiprocessing.cpu_count()` counts them
/// (`sysconf(_SC_NPROCESSORS_ONLN)`, not the affinity mask).
pub fn cpu_count() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .map_or(1, |n| n.max(1) as usize)
}

/// A process to run a closure or a [`Run`] type, started with [`start`](Process::start).
///
/// Equivalent to Python's `multiprocessing.Process`.
///
/// ```rust,no_run
/// use multiprocessing::Process;
///
/// let mut p = Process::new(|| println!("Doing some work"));
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct Process {
    /// The type name Python's `repr` starts with: `Process`, or the [`Run`] type's (`Worker`).
    kind: &'static str,
    name: String,
    daemon: bool,
    target: Option<Target>,
    child: Option<Arc<Child>>,
    identity: Vec<u32>,
    /// The process that made this handle (CPython's `_parent_pid`): only there can it be started
    /// and its child be asked about.
    parent_pid: u32,
}

/// Python's `repr(p)` (and so `print(p)`), as CPython 3.11 writes it; see the module docs.
///
/// ```rust,no_run
/// use multiprocessing::Process;
///
/// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_secs(5)));
/// println!("{p}"); // <Process name='Process-1' parent=1233 initial>
/// p.start()?;
/// println!("{p}"); // <Process name='Process-1' pid=1234 parent=1233 started>
/// p.terminate()?;
/// p.join()?;
/// println!("{p}"); // <Process name='Process-1' pid=1234 parent=1233 stopped exitcode=-SIGTERM>
/// # Ok::<(), multiprocessing::Error>(())
/// ```
impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // CPython's `BaseProcess.__repr__`: the same questions, in the same order.
        let mut exitcode = None;
        let status = if self.parent_pid != getpid().as_raw() as u32 {
            // A copy of the handle in another process (a child forked with it in memory): the
            // child it names is not this process's child, so nothing can be known about it.
            "unknown"
        } else if self.child.is_none() {
            "initial"
        } else {
            exitcode = self.exitcode();
            if exitcode.is_some() { "stopped" } else { "started" }
        };
        write!(f, "<{} name={}", self.kind, python_repr(&self.name))?;
        if let Some(pid) = self.pid() {
            write!(f, " pid={pid}")?;
        }
        write!(f, " parent={} {status}", self.parent_pid)?;
        if let Some(code) = exitcode {
            write!(f, " exitcode={}", exitcode_name(code))?;
        }
        if self.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

/// The same text as `Display`: Python has one `repr` of a process, and `{:?}` is Rust's repr.
impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Process {
    /// A process that will run `target`, named `Process-N`.
    ///
    /// Equivalent to Python's `multiprocessing.Process(target=..., args=...)`: capture the
    /// arguments in the closure.
    pub fn new<R: TargetResult>(target: impl FnOnce() -> R + 'static) -> Process {
        Process::with_prefix("Process", Box::new(move || target().into_report()))
    }

    fn with_prefix(prefix: &'static str, target: Target) -> Process {
        lifecycle::install();
        let mut state = lock(&STATE);
        state.counter += 1;
        let mut identity = state.identity.clone();
        identity.push(state.counter);
        let daemon = state.daemon;
        drop(state);
        let numbers: Vec<String> = identity.iter().map(u32::to_string).collect();
        Process {
            kind: prefix,
            name: format!("{prefix}-{}", numbers.join(":")),
            daemon,
            target: Some(target),
            child: None,
            identity,
            parent_pid: getpid().as_raw() as u32,
        }
    }

    /// Gives the process a name of its own, as Python's `Process(name='block', ...)`. The
    /// counter still advances, as in CPython.
    pub fn with_name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Makes the process daemonic (or not) before it starts. A daemonic process is terminated
    /// when its parent exits, and may not have children. Defaults to the parent's flag.
    ///
    /// Equivalent to Python's `p.daemon = True`.
    pub fn with_daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the process is daemonic.
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// The child's process id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid.as_raw() as u32)
    }

    /// Starts the process: forks, and runs the target in the child.
    ///
    /// Equivalent to Python's `p.start()`.
    ///
    /// # Errors
    ///
    /// [`Error::ProcessState`] when the process was already started or the caller is daemonic,
    /// [`Error::Io`] when `fork` fails (out of processes or memory).
    pub fn start(&mut self) -> Result<()> {
        let Some(target) = self.target.take() else {
            return Err(self.state_error(
                "start",
                "it was already started; a process can be started once (Python: AssertionError)",
            ));
        };
        if lock(&STATE).daemon {
            self.target = Some(target);
            return Err(self.state_error(
                "start",
                "daemonic processes are not allowed to have children (Python: AssertionError)",
            ));
        }
        install_panic_hook();
        // Like CPython's `_cleanup()`: reap children that ended, so none stays a zombie.
        reap_finished_children();

        // SAFETY: in the child, only this thread exists. The lifecycle module holds every lock
        // of the crate (and stdout's and stderr's) across the fork and resets the per-process
        // state in the child, so the child finds no crate lock held; glibc makes malloc usable
        // in the child. The child never returns into the caller's stack: `run_child` ends in
        // `_exit`. Other threads of the program are the caller's to mind (module docs).
        match unsafe { lifecycle::fork() } {
            Err(error) => {
                self.target = Some(target);
                Err(Error::os("fork (start of a Process)")(error))
            }
            Ok(Forked::Child) => {
                let mut state = lock(&STATE);
                state.identity = self.identity.clone();
                state.name = Cow::Owned(self.name.clone());
                state.daemon = self.daemon;
                drop(state);
                lifecycle::run_after_forkers();
                run_child(target)
            }
            Ok(Forked::Parent(child)) => {
                let record = Arc::new(Child {
                    pid: Pid::from_raw(child),
                    name: self.name.clone(),
                    daemon: self.daemon,
                    exitcode: Mutex::new(None),
                });
                lock(&STATE).children.push(Arc::clone(&record));
                // The target's captures (queue handles...) belong to the child now.
                drop(target);
                self.child = Some(record);
                Ok(())
            }
        }
    }

    /// Waits for the process to end and returns its exit code: 0 when the target returned, 1
    /// when it panicked, `-N` when signal N killed it.
    ///
    /// Equivalent to Python's `p.join()` followed by `p.exitcode`.
    ///
    /// # Errors
    ///
    /// [`Error::ProcessState`] when the process was never started, or when called in another
    /// process than the one that made the handle (a copy that `fork` gave a child).
    pub fn join(&mut self) -> Result<i32> {
        self.in_parent("join")?;
        let child = self.started("join")?;
        let code = child.wait()?;
        forget_child(child);
        Ok(code)
    }

    /// Waits at most `timeout` for the process to end; `None` if it is still running.
    ///
    /// Equivalent to Python's `p.join(timeout)`.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<i32>> {
        self.in_parent("join_timeout")?;
        let child = self.started("join_timeout")?;
        // A timeout too large to add to now (Duration::MAX) means no deadline.
        let deadline = Instant::now().checked_add(timeout);
        // Polling with a growing sleep: waitpid has no timeout, and a pidfd is not worth its
        // extra machinery for a join that is allowed to be late by a few milliseconds.
        let mut pause = Duration::from_micros(50);
        loop {
            if let Some(code) = child.try_reap()? {
                forget_child(child);
                return Ok(Some(code));
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return Ok(None);
            }
            let left = deadline.map_or(pause, |deadline| deadline - now);
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Whether the process has started and not yet ended.
    ///
    /// Equivalent to Python's `p.is_alive()`.
    pub fn is_alive(&self) -> bool {
        // Only the parent can ask (CPython asserts it): elsewhere `waitpid` would fail and
        // record a made-up exit code.
        if self.in_parent("is_alive").is_err() {
            return false;
        }
        match &self.child {
            Some(child) => matches!(child.try_reap(), Ok(None)),
            None => false,
        }
    }

    /// The exit code once the process has ended, else `None`. Like CPython's, it looks: a
    /// child that has ended is reaped here, so `while p.exitcode().is_none()` ends.
    ///
    /// Equivalent to Python's `p.exitcode`.
    pub fn exitcode(&self) -> Option<i32> {
        self.in_parent("exitcode").ok()?;
        self.child.as_ref()?.try_reap().ok().flatten()
    }

    /// `Ok` in the process that made this handle; the error for `method` in any other (a child
    /// that fork gave a copy of the handle): only the parent can wait for a process.
    fn in_parent(&self, method: &'static str) -> Result<()> {
        if self.parent_pid == getpid().as_raw() as u32 {
            Ok(())
        } else {
            Err(self.state_error(
                method,
                "can only join a child process: this handle is a copy that fork made in another \
                 process (Python: AssertionError)",
            ))
        }
    }

    /// Sends `SIGTERM`. Equivalent to Python's `p.terminate()`; the exit code becomes -15.
    pub fn terminate(&self) -> Result<()> {
        self.signal("terminate", Signal::SIGTERM)
    }

    /// Sends `SIGKILL`. Equivalent to Python's `p.kill()`; the exit code becomes -9.
    pub fn kill(&self) -> Result<()> {
        self.signal("kill", Signal::SIGKILL)
    }

    /// `method` (`terminate` or `kill`): sends `signal` to the started child.
    fn signal(&self, method: &'static str, signal: Signal) -> Result<()> {
        let child = self.child.as_ref();
        let why = "the process was not started; there is nothing to stop";
        child.ok_or_else(|| self.state_error(method, why))?.signal(signal)
    }

    /// The child to wait for, or the error for `method` (`join`...) called before `start`.
    fn started(&self, method: &'static str) -> Result<&Arc<Child>> {
        let why = "the process was not started; call start() first (Python: AssertionError)";
        self.child.as_ref().ok_or_else(|| self.state_error(method, why))
    }

    /// The error for `method` called in a state where it cannot run: it names this process.
    fn state_error(&self, method: &'static str, why: &'static str) -> Error {
        Error::ProcessState { method, process: self.name.clone(), why }
    }
}

impl<T: Run + 'static> From<T> for Process {
    /// A process that runs `worker.run()`, named after the type: `Worker-1`.
    fn from(mut worker: T) -> Process {
        let full = std::any::type_name::<T>();
        let base = full.split('<').next().unwrap_or(full);
        let short = base.rsplit("::").next().unwrap_or(base);
        Process::with_prefix(short, Box::new(move || worker.run().map_err(|e| e.to_string())))
    }
}

/// The parent's record of one child, shared by the `Process` handle and the process table.
struct Child {
    pid: Pid,
    name: String,
    daemon: bool,
    exitcode: Mutex<Option<i32>>,
}

impl Child {
    /// Reaps the child if it has ended, without blocking.
    fn try_reap(&self) -> Result<Option<i32>> {
        let mut exitcode = lock(&self.exitcode);
        if exitcode.is_none() {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => *exitcode = exit_code(status),
                // ECHILD: someone else reaped it (a `waitpid(-1)` in the program): unknown code.
                Err(Errno::ECHILD) => *exitcode = Some(255),
                Err(e) => return Err(Error::os("waitpid (a Process's exit code)")(e)),
            }
        }
        Ok(*exitcode)
    }

    /// Blocks until the child ends, then reaps it.
    fn wait(&self) -> Result<i32> {
        loop {
            if let Some(code) = self.try_reap()? {
                return Ok(code);
            }
            // Wait for the end without reaping (WNOWAIT) and without holding the lock, so that
            // other threads can still ask `is_alive`; then reap under the lock above.
            match waitid(Id::Pid(self.pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
                Ok(_) | Err(Errno::EINTR) | Err(Errno::ECHILD) => {}
                Err(e) => return Err(Error::os("waitid (join of a Process)")(e)),
            }
        }
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        // Never signal a pid we have reaped: the number may belong to another process by now.
        let exitcode = lock(&self.exitcode);
        if exitcode.is_none() {
            match signal::kill(self.pid, signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(Error::os("kill (a signal to a Process)")(e)),
            }
        }
        Ok(())
    }
}

/// CPython's `exitcode`: the exit status, or minus the signal that killed the process.
fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(-(signal as i32)),
        _ => None,
    }
}

/// An exit code as CPython 3.11's `repr` of a process shows it: `0`, `1`, or `-SIGTERM` for the
/// signal that ended the process (`_exitcode_to_name`).
fn exitcode_name(code: i32) -> String {
    let Some(number) = code.checked_neg().filter(|&n| n > 0) else { return code.to_string() };
    // CPython builds its table from the names in the `signal` module: where two names share a
    // number the last one wins (SIGPOLL over SIGIO), and the real-time range has names for its
    // two ends only. nix names each number once, after the other alias.
    let name = match Signal::try_from(number) {
        Ok(Signal::SIGIO) => "SIGPOLL",
        Ok(signal) => signal.as_str(),
        Err(_) if number == libc::SIGRTMIN() => "SIGRTMIN",
        Err(_) if number == libc::SIGRTMAX() => "SIGRTMAX",
        Err(_) => return code.to_string(),
    };
    format!("-{name}")
}

/// Python's `repr` of a string: in single quotes (double quotes when it holds a `'` and no
/// `"`), with backslashes, that quote and unprintable characters escaped: `'worker 1'`. Also
/// what a Manager's proxies print for a string (`manager/repr.rs`).
pub(crate) fn python_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !python_printable(c) => {
                let code = c as u32;
                let escaped = match code {
                    0..=0xff => format!("\\x{code:02x}"),
                    0x100..=0xffff => format!("\\u{code:04x}"),
                    _ => format!("\\U{code:08x}"),
                };
                out.push_str(&escaped);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable` for one character, near enough for names: control characters,
/// the separators other than the space (Unicode Z*) and the common invisible format characters
/// (Cf) are not printable. (Python also escapes unassigned code points, which Rust's standard
/// library cannot tell apart.)
fn python_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{a0}'
                | '\u{ad}'
                | '\u{1680}'
                | '\u{2000}'..='\u{200f}'
                | '\u{2028}'..='\u{202f}'
                | '\u{205f}'..='\u{2064}'
                | '\u{3000}'
                | '\u{feff}'
        ))
}

/// This process's view of itself, and of the children it started and has not yet joined.
struct ProcessState {
    identity: Vec<u32>,
    name: Cow<'static, str>,
    counter: u32,
    daemon: bool,
    children: Vec<Arc<Child>>,
}

static STATE: Mutex<ProcessState> = Mutex::new(ProcessState {
    identity: Vec::new(),
    name: Cow::Borrowed("MainProcess"),
    counter: 0,
    daemon: false,
    children: Vec::new(),
});

/// The fork hooks of the process table (see `lifecycle.rs`): a child forgets its parent's
/// children (their records belong to the parent) and starts its own counter.
#[distributed_slice(lifecycle::FORK_HOOKS)]
static FORK_HOOKS: ForkHooks = ForkHooks {
    order: 10,
    prepare: || Box::new(lock(&STATE)),
    parent: |guard, _child| drop(guard),
    child: |guard| {
        let mut state = guard.downcast::<MutexGuard<'static, ProcessState>>().expect("the table's guard");
        state.counter = 0;
        std::mem::forget(std::mem::take(&mut state.children));
    },
    child_unlocked: || {},
};

/// At exit, after the queues were told to flush: the children (CPython's `_exit_function`).
#[distributed_slice(lifecycle::EXIT_STEPS)]
static EXIT_CHILDREN: ExitStep = ExitStep { priority: 0, run: exit_children };

/// Last of all, in a child that calls `std::process::exit(N)` (Python's `sys.exit(N)`): the line
/// CPython's child logs after its exit steps. A child whose target returns logs it in
/// `run_child` instead, and the main process does not log it (nor does CPython's).
#[distributed_slice(lifecycle::EXIT_STEPS)]
static LOG_EXIT_CODE: ExitStep = ExitStep {
    priority: i32::MIN,
    run: || {
        if let Some(exitcode) = lifecycle::exit_status() {
            if !lock(&STATE).identity.is_empty() {
                info!("process exiting with exitcode {exitcode}");
            }
        }
    },
};

fn forget_child(child: &Arc<Child>) {
    lock(&STATE).children.retain(|c| !Arc::ptr_eq(c, child));
}

fn reap_finished_children() {
    let children = lock(&STATE).children.clone();
    for child in children {
        if !matches!(child.try_reap(), Ok(None)) {
            forget_child(&child);
        }
    }
}

thread_local! {
    /// Set in a child while its target runs: a panic there is reported as CPython reports an
    /// uncaught exception, `Process <name>:` and the message.
    static RUNNING_TARGET: Cell<bool> = const { Cell::new(false) };
    /// The panic report of the target, printed after the exit steps, where CPython prints it.
    static PANIC_REPORT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    // Under the fork lock: `set_hook` takes the standard library's hook lock, which a fork in
    // another thread must not copy held.
    lifecycle::without_forks(|| {
        INSTALL.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if !RUNNING_TARGET.get() {
                    return previous(info);
                }
                let report = format!("Process {}:\n{info}\n", current_process().name);
                if cfg!(panic = "unwind") {
                    PANIC_REPORT.set(Some(report));
                } else {
                    // With panic=abort there is no "after": print now.
                    let _ = std::io::stderr().write_all(report.as_bytes());
                }
            }));
        })
    });
}

/// The child's whole life after `fork`: CPython's `BaseProcess._bootstrap`.
fn run_child(target: Target) -> ! {
    redirect_stdin_to_dev_null();
    info!("child process calling self.run()");
    RUNNING_TARGET.set(true);
    let outcome = panic::catch_unwind(AssertUnwindSafe(target));
    RUNNING_TARGET.set(false);
    let (exitcode, report) = match outcome {
        Ok(Ok(())) => (0, None),
        Ok(Err(error)) => (1, Some(format!("Process {}:\n{error}\n", current_process().name))),
        Err(_panic) => (1, PANIC_REPORT.take()),
    };
    lifecycle::exit_function();
    if let Some(report) = report {
        let _ = std::io::stderr().write_all(report.as_bytes());
    }
    info!("process exiting with exitcode {exitcode}");
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` ends the process at once. That is the point: the parent's atexit handlers
    // and the destructors on the stack we were forked from belong to the parent. Everything of
    // ours that needed flushing (stdout, the queues) was flushed above.
    unsafe { libc::_exit(exitcode) }
}

/// As CPython does in a new process: standard input reads nothing (`/dev/null`), so that a
/// child never competes with its parent for the terminal's input.
fn redirect_stdin_to_dev_null() {
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
    }
}

/// The exit step of the process table (priority 0, after the queues were told to flush):
/// terminate daemonic children and join the others, as CPython's `_exit_function` does.
fn exit_children() {
    reap_finished_children();
    let children = lock(&STATE).children.clone();
    for child in children.iter().filter(|c| c.daemon) {
        info!("calling terminate() for daemon {}", child.name);
        let _ = child.signal(Signal::SIGTERM);
    }
    for child in &children {
        info!("calling join() for process {}", child.name);
        let _ = child.wait();
        forget_child(child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_named_as_cpython_3_11_names_them() {
        // CPython 3.11's `multiprocessing.process._exitcode_to_name` on Linux x86_64.
        for (code, name) in [
            (0, "0"),
            (1, "1"),
            (255, "255"),
            (-15, "-SIGTERM"),
            (-9, "-SIGKILL"),
            (-2, "-SIGINT"),
            (-6, "-SIGABRT"),
            (-17, "-SIGCHLD"),
            (-29, "-SIGPOLL"),
            (-34, "-SIGRTMIN"),
            (-40, "-40"),
            (-64, "-SIGRTMAX"),
            (-65, "-65"),
            (i32::MIN, "-2147483648"),
        ] {
            assert_eq!(exitcode_name(code), name, "exit code {code}");
        }
    }

    #[test]
    fn names_are_quoted_as_python_repr_quotes_them() {
        // Each right-hand side is what CPython 3.11's `repr()` printed for the left-hand side.
        for (name, repr) in [
            ("Process-1", "'Process-1'"),
            ("worker 1", "'worker 1'"),
            ("a'b", "\"a'b\""),
            ("a\"b'", "'a\"b\\''"),
            ("back\\slash", "'back\\\\slash'"),
            ("x\ty\u{1}\u{7f}\u{a0}é\u{2028}", "'x\\ty\\x01\\x7f\\xa0é\\u2028'"),
            ("", "''"),
        ] {
            assert_eq!(python_repr(name), repr, "repr of {name:?}");
        }
    }
}
