//! Tests for `Process`: names, exit codes, join, exit-time behaviour. Each runs in a fresh
//! process (see harness/mod.rs), so each starts counting processes from 1.

mod harness;

use std::time::{Duration, Instant};

use multiprocessing::{Error, Event, Process, Queue, Run, Semaphore, active_children, current_process};

use harness::{join_all, start_all};

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            ("main_process_is_named_mainprocess", main_process_is_named_mainprocess),
            ("names_count_from_one_across_kinds", names_count_from_one_across_kinds),
            ("given_name_still_advances_the_counter", given_name_still_advances_the_counter),
            ("nested_processes_have_nested_names", nested_processes_have_nested_names),
            ("exitcode_0_when_target_returns", exitcode_0_when_target_returns),
            ("exitcode_1_when_target_panics", exitcode_1_when_target_panics),
            ("exitcode_1_when_target_returns_err", exitcode_1_when_target_returns_err),
            ("exitcode_from_process_exit", exitcode_from_process_exit),
            ("exitcode_minus_9_after_kill", exitcode_minus_9_after_kill),
            ("exitcode_minus_15_after_terminate", exitcode_minus_15_after_terminate),
            ("join_timeout_returns_none_while_running", join_timeout_returns_none_while_running),
            ("is_alive_follows_the_child", is_alive_follows_the_child),
            ("no_zombie_after_join", no_zombie_after_join),
            ("start_twice_and_join_unstarted_are_errors", start_twice_and_join_unstarted_are_errors),
            ("many_processes", many_processes),
            ("main_that_never_joins_waits_at_exit", main_that_never_joins_waits_at_exit),
            ("daemon_is_terminated_at_exit", daemon_is_terminated_at_exit),
            ("daemon_cannot_have_children", daemon_cannot_have_children),
            ("fork_while_another_thread_prints", fork_while_another_thread_prints),
            ("finished_children_are_reaped_by_start", finished_children_are_reaped_by_start),
            ("process_exit_in_main_still_joins_children", process_exit_in_main_still_joins_children),
            ("cpython_test_recursion", cpython_test_recursion),
            ("output_buffered_before_start_is_printed_once", output_buffered_before_start_is_printed_once),
            ("exitcode_looks_without_a_join", exitcode_looks_without_a_join),
            ("child_stdin_is_dev_null", child_stdin_is_dev_null),
            ("join_timeout_duration_max", join_timeout_duration_max),
            ("fork_not_made_by_the_crate", fork_not_made_by_the_crate),
            ("repr_follows_the_process_through_its_states", repr_follows_the_process_through_its_states),
            ("repr_names_the_exit_code_and_the_daemon_flag", repr_names_the_exit_code_and_the_daemon_flag),
            ("repr_of_a_run_type_and_a_quoted_name", repr_of_a_run_type_and_a_quoted_name),
            ("repr_in_another_process_is_unknown", repr_in_another_process_is_unknown),
            ("join_in_another_process_is_refused", join_in_another_process_is_refused),
            ("process_exit_in_a_child_runs_its_exit_steps", process_exit_in_a_child_runs_its_exit_steps),
            ("a_forked_child_is_not_its_parent", a_forked_child_is_not_its_parent),
        ],
        &[
            ("never_joins", scenario_never_joins),
            ("exits_with_process_exit", scenario_exits_with_process_exit),
            ("buffered_before_fork", scenario_buffered_before_fork),
            ("daemon_left_running", scenario_daemon_left_running),
            ("panics", scenario_panics),
            ("foreign_fork", scenario_foreign_fork),
            ("child_exits_with_process_exit", scenario_child_exits_with_process_exit),
        ],
    );
}

/// Runs `f` in a child and returns what it sent back.
fn in_child<T: serde::Serialize + serde::de::DeserializeOwned + 'static>(
    f: impl FnOnce() -> T + 'static,
) -> T {
    let queue = Queue::new().unwrap();
    let q = queue.clone();
    let mut p = Process::new(move || q.put(f()));
    p.start().unwrap();
    let value = queue.get_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(p.join().unwrap(), 0);
    value
}

fn smoke() {
    let parent = std::process::id();
    let (pid, name) = in_child(|| (std::process::id(), current_process().name));
    assert_ne!(pid, parent, "the target must run in another process");
    assert_eq!(name, "Process-1");
}

fn main_process_is_named_mainprocess() {
    let me = current_process();
    assert_eq!(me.name, "MainProcess");
    assert_eq!(me.pid, std::process::id());
    assert!(me.identity.is_empty());
    assert!(!me.daemon);
}

struct Worker {
    queue: Queue<String>,
}

impl Run for Worker {
    fn run(&mut self) -> multiprocessing::Result<()> {
        self.queue.put(current_process().name)
    }
}

fn names_count_from_one_across_kinds() {
    let queue = Queue::new().unwrap();
    let mut w1 = Process::from(Worker { queue: queue.clone() });
    let mut w2 = Process::from(Worker { queue: queue.clone() });
    let q = queue.clone();
    let mut p3 = Process::new(move || q.put(current_process().name));
    assert_eq!((w1.name(), w2.name(), p3.name()), ("Worker-1", "Worker-2", "Process-3"));
    for p in [&mut w1, &mut w2, &mut p3] {
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
    }
    let names: Vec<String> = (0..3).map(|_| queue.get().unwrap()).collect();
    assert_eq!(names, ["Worker-1", "Worker-2", "Process-3"], "each child must see its own name");
}

fn given_name_still_advances_the_counter() {
    let block = Process::new(|| ()).with_name("block");
    let next = Process::new(|| ());
    assert_eq!(block.name(), "block");
    assert_eq!(next.name(), "Process-2");
}

fn nested_processes_have_nested_names() {
    let queue: Queue<(String, Vec<u32>)> = Queue::new().unwrap();
    let _first = Process::new(|| ());
    let q = queue.clone();
    let mut second = Process::new(move || {
        let info = current_process();
        q.put((info.name, info.identity))?;
        let q2 = q.clone();
        let mut grandchild = Process::new(move || {
            let info = current_process();
            q2.put((info.name, info.identity))
        });
        grandchild.start()?;
        grandchild.join().map(|_| ())
    });
    second.start().unwrap();
    assert_eq!(second.join().unwrap(), 0);
    assert_eq!(queue.get().unwrap(), ("Process-2".to_string(), vec![2]));
    assert_eq!(queue.get().unwrap(), ("Process-2:1".to_string(), vec![2, 1]));
}

fn exitcode_0_when_target_returns() {
    let mut p = Process::new(|| ());
    assert_eq!(p.exitcode(), None);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(p.exitcode(), Some(0));
}

fn exitcode_1_when_target_panics() {
    let (status, output) = harness::scenario("panics");
    assert!(status.success(), "{output}");
    assert!(output.contains("Process Process-1:\n"), "CPython's header is missing:\n{output}");
    assert!(output.contains("the worker gave up"), "the panic message is missing:\n{output}");
    assert!(output.contains("exitcode 1\n"), "{output}");
}

fn scenario_panics() {
    multiprocessing::log_to_stderr(log::LevelFilter::Info);
    let mut p = Process::new(|| -> () { panic!("the worker gave up") });
    p.start().unwrap();
    let code = p.join().unwrap();
    println!("exitcode {code}");
}

fn exitcode_1_when_target_returns_err() {
    let mut p = Process::new(|| Err::<(), _>("no luck"));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 1);
}

fn exitcode_from_process_exit() {
    let mut p = Process::new(|| -> () { std::process::exit(7) });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 7);
}

fn sleeper() -> Process {
    Process::new(|| std::thread::sleep(Duration::from_secs(60)))
}

fn exitcode_minus_9_after_kill() {
    let mut p = sleeper();
    p.start().unwrap();
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -9);
    assert!(!p.is_alive());
}

fn exitcode_minus_15_after_terminate() {
    let mut p = sleeper();
    p.start().unwrap();
    // CPython's test_terminate: join(0) returns at once while the child runs.
    assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), None);
    p.terminate().unwrap();
    assert_eq!(p.join().unwrap(), -15);
    assert_eq!(p.exitcode(), Some(-15));
}

fn join_timeout_returns_none_while_running() {
    let mut p = sleeper();
    p.start().unwrap();
    let started = Instant::now();
    assert_eq!(p.join_timeout(Duration::from_millis(300)).unwrap(), None);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(10), "returned far too late: {waited:?}");
    assert!(p.is_alive());
    p.kill().unwrap();
    assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), Some(-9));
}

fn is_alive_follows_the_child() {
    // The child runs until told to end, not for a set time: however slow the machine, it is
    // still running when asked.
    let end = Event::new().unwrap();
    let e = end.clone();
    let mut p = Process::new(move || assert!(e.wait_timeout(Duration::from_secs(60))));
    assert!(!p.is_alive());
    p.start().unwrap();
    assert!(p.is_alive());
    assert_eq!(active_children(), ["Process-1"]);
    end.set();
    assert_eq!(p.join().unwrap(), 0);
    assert!(!p.is_alive());
    assert!(active_children().is_empty());
}

fn no_zombie_after_join() {
    let mut p = Process::new(|| ());
    p.start().unwrap();
    let pid = p.pid().unwrap();
    p.join().unwrap();
    assert!(!harness::pid_exists(pid), "pid {pid} still exists (a zombie) after join");
}

fn start_twice_and_join_unstarted_are_errors() {
    let mut p = Process::new(|| ()).with_name("Twice");
    let message = |result: Result<(), Error>| match result {
        Err(e @ Error::ProcessState { .. }) => e.to_string(),
        other => panic!("expected a ProcessState error, got {other:?}"),
    };
    let join = message(p.join().map(|_| ()));
    assert!(join.starts_with("join() of Twice: the process was not started"), "{join}");
    let terminate = message(p.terminate());
    assert!(terminate.starts_with("terminate() of Twice: the process was not started"), "{terminate}");
    p.start().unwrap();
    let start = message(p.start());
    assert!(start.starts_with("start() of Twice: it was already started"), "{start}");
    assert_eq!(p.join().unwrap(), 0);
}

fn many_processes() {
    // CPython's test_many_processes: N children exit 0, N terminated ones exit -SIGTERM.
    let mut fine: Vec<Process> = (0..50).map(|_| Process::new(|| ())).collect();
    start_all(&mut fine);
    join_all(&mut fine);
    let mut doomed: Vec<Process> = (0..50).map(|_| sleeper()).collect();
    start_all(&mut doomed);
    for p in &mut doomed {
        p.terminate().unwrap();
    }
    for p in &mut doomed {
        assert_eq!(p.join().unwrap(), -15);
    }
}

fn scenario_never_joins() {
    multiprocessing::log_to_stderr(log::LevelFilter::Info);
    let mut p = Process::new(|| {
        println!("child pid {}", std::process::id());
        std::thread::sleep(Duration::from_millis(500));
        println!("child done");
    });
    p.start().unwrap();
    println!("main done");
}

fn main_that_never_joins_waits_at_exit() {
    let (status, output) = harness::scenario("never_joins");
    assert!(status.success(), "{output}");
    let lines: Vec<&str> = output.lines().collect();
    let pos = |text: &str| {
        lines.iter().position(|l| *l == text).unwrap_or_else(|| panic!("no {text:?} in:\n{output}"))
    };
    assert!(pos("main done") < pos("[INFO/MainProcess] calling join() for process Process-1"));
    assert!(pos("child done") < pos("[INFO/Process-1] process exiting with exitcode 0"));
    let pid: u32 = lines.iter().find_map(|l| l.strip_prefix("child pid ")).unwrap().parse().unwrap();
    assert!(!harness::pid_exists(pid), "the child outlived the main process: it was not joined");
}

fn scenario_daemon_left_running() {
    multiprocessing::log_to_stderr(log::LevelFilter::Info);
    let mut p = sleeper().with_daemon(true);
    p.start().unwrap();
    println!("daemon pid {}", p.pid().unwrap());
}

fn daemon_is_terminated_at_exit() {
    let started = Instant::now();
    let (status, output) = harness::scenario("daemon_left_running");
    assert!(status.success(), "{output}");
    assert!(started.elapsed() < Duration::from_secs(30), "the main process waited for its daemon");
    assert!(output.contains("[INFO/MainProcess] calling terminate() for daemon Process-1\n"), "{output}");
    assert!(output.contains("[INFO/MainProcess] calling join() for process Process-1\n"), "{output}");
    let pid: u32 = output.lines().find_map(|l| l.strip_prefix("daemon pid ")).unwrap().parse().unwrap();
    assert!(!harness::pid_exists(pid), "the daemon survived its parent");
}

fn daemon_cannot_have_children() {
    let code = in_child(|| {
        let mut daemon = Process::new(|| {
            let mut grandchild = Process::new(|| ());
            match grandchild.start() {
                Err(e @ Error::ProcessState { .. }) if e.to_string().contains("daemonic") => Ok(()),
                other => Err(format!("expected a refusal, got {other:?}")),
            }
        })
        .with_daemon(true);
        daemon.start().unwrap();
        daemon.join().unwrap()
    });
    assert_eq!(code, 0);
}

fn fork_while_another_thread_prints() {
    // A thread that is almost always inside `println!` (holding the stdout lock) while the main
    // thread forks: without the fork protocol, some child would inherit a locked stdout and hang
    // at its first print.
    use std::io::Write;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let printer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = std::io::sink();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(sink, "busy");
                let _ = out.write_all(b"");
            }
        })
    };
    let mut children: Vec<Process> =
        (0..40).map(|i| Process::new(move || println!("child {i} prints"))).collect();
    start_all(&mut children);
    for p in &mut children {
        assert_eq!(p.join_timeout(Duration::from_secs(30)).unwrap(), Some(0), "a child hung");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    printer.join().unwrap();
}

fn finished_children_are_reaped_by_start() {
    let mut first = Process::new(|| ());
    first.start().unwrap();
    let pid = first.pid().unwrap();
    // Until it has ended (a zombie, not reaped: that is for `start` to do below).
    let started = Instant::now();
    while !is_zombie(pid) {
        assert!(started.elapsed() < Duration::from_secs(30), "the first child never ended");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The handle is dropped without join: CPython's `_cleanup` in the next start reaps it.
    drop(first);
    let mut second = Process::new(|| ());
    second.start().unwrap();
    assert!(!harness::pid_exists(pid), "the finished child was left a zombie");
    second.join().unwrap();
}

/// Whether `pid` has ended and waits to be reaped (state `Z` in `/proc/PID/stat`).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()) == Some('Z')
    })
}

fn scenario_exits_with_process_exit() {
    let mut p = Process::new(|| {
        std::thread::sleep(Duration::from_millis(300));
        println!("child done");
    });
    p.start().unwrap();
    println!("child pid {}", p.pid().unwrap());
    std::process::exit(3);
}

fn process_exit_in_main_still_joins_children() {
    let (status, output) = harness::scenario("exits_with_process_exit");
    assert_eq!(status.code(), Some(3), "{output}");
    assert!(output.contains("child done\n"), "the child was cut short:\n{output}");
    let pid: u32 = output.lines().find_map(|l| l.strip_prefix("child pid ")).unwrap().parse().unwrap();
    assert!(!harness::pid_exists(pid), "the child outlived the main process");
}

fn scenario_buffered_before_fork() {
    use std::io::Write;
    // No newline: this stays in stdout's buffer until something flushes it.
    print!("written once, ");
    let mut p = Process::new(|| {
        println!("by the parent");
    });
    p.start().unwrap();
    p.join().unwrap();
    std::io::stdout().flush().unwrap();
}

fn output_buffered_before_start_is_printed_once() {
    let (status, output) = harness::scenario("buffered_before_fork");
    assert!(status.success());
    // Without the flush before fork, the child would print the parent's buffered text again.
    assert_eq!(output, "written once, by the parent\n");
}

/// Puts this process's identity, then starts and joins two children that do the same, down to
/// `depth` levels.
fn recurse(queue: Queue<Vec<u32>>, depth: u32) -> multiprocessing::Result<()> {
    queue.put(current_process().identity)?;
    if depth > 0 {
        for _ in 0..2 {
            let q = queue.clone();
            let mut child = Process::new(move || recurse(q, depth - 1));
            child.start()?;
            child.join()?;
        }
    }
    Ok(())
}

fn cpython_test_recursion() {
    // CPython's _TestProcess.test_recursion: nested processes report their identities in order
    // (CPython's ids count from 0, ours as in the names: Process-1, Process-1:1...).
    let queue: Queue<Vec<u32>> = Queue::new().unwrap();
    recurse(queue.clone(), 2).unwrap();
    let ids: Vec<Vec<u32>> = (0..7).map(|_| queue.get_timeout(Duration::from_secs(30)).unwrap()).collect();
    let expected: Vec<Vec<u32>> =
        vec![vec![], vec![1], vec![1, 1], vec![1, 2], vec![2], vec![2, 1], vec![2, 2]];
    assert_eq!(ids, expected);
}

fn exitcode_looks_without_a_join() {
    // CPython's `while p.exitcode is None: ...` ends: `exitcode` polls the child.
    let mut p = Process::new(|| -> () { std::process::exit(4) });
    p.start().unwrap();
    let started = Instant::now();
    while p.exitcode().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "exitcode never changed");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(p.exitcode(), Some(4));
    assert_eq!(p.join().unwrap(), 4);
}

fn child_stdin_is_dev_null() {
    // As in CPython, a child reads nothing from the terminal: its stdin is /dev/null.
    let (bytes, target) = in_child(|| {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line).unwrap_or(usize::MAX);
        (read, std::fs::read_link("/proc/self/fd/0").map(|p| p.display().to_string()).unwrap_or_default())
    });
    assert_eq!(bytes, 0, "stdin must be at end of file at once");
    assert_eq!(target, "/dev/null");
}

fn join_timeout_duration_max() {
    // A timeout too large to add to now means no deadline, not a panic.
    let mut p = Process::new(|| std::thread::sleep(Duration::from_millis(200)));
    p.start().unwrap();
    assert_eq!(p.join_timeout(Duration::MAX).unwrap(), Some(0));
}

fn scenario_foreign_fork() {
    // A fork the crate did not make, with a queue whose service thread is running (an item that
    // waits for room). The child uses the queue and leaves through `exit`: the after-fork steps
    // must have run (no thread of the parent to wait for, the child known to the queue).
    let queue: Queue<Vec<u8>> = Queue::new().unwrap();
    queue.put(vec![1; 3 << 20]).unwrap(); // more than the ring holds: the service thread runs
    // SAFETY: the child only uses the crate (made fork-safe by its atfork hooks) and exits.
    match unsafe { libc::fork() } {
        0 => {
            queue.put(vec![2; 10]).unwrap();
            std::process::exit(0);
        }
        -1 => panic!("fork failed"),
        child => {
            // The two processes' messages may come in either order: compare what came, by kind.
            let mut got: Vec<(usize, bool)> = (0..2)
                .map(|_| queue.get_timeout(Duration::from_secs(20)).unwrap())
                .map(|m| (m.len(), m.iter().all(|&b| b == m[0])))
                .collect();
            got.sort();
            assert_eq!(got, [(10, true), (3 << 20, true)]);
            let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(child), 0));
            println!("foreign fork ok");
        }
    }
}

fn fork_not_made_by_the_crate() {
    let (status, output) = harness::scenario("foreign_fork");
    assert!(status.success(), "{output}");
    assert!(output.contains("foreign fork ok"), "{output}");
}

// The texts below are CPython 3.11's `repr` of a process, as multiprocessing_terminate.py prints
// it (reference runs: `<Process name='Process-1' pid=30199 parent=30158 started>`...) and as
// CPython's `BaseProcess.__repr__` builds it for the other states.

fn repr_follows_the_process_through_its_states() {
    let parent = std::process::id();
    let mut p = sleeper();
    assert_eq!(p.to_string(), format!("<Process name='Process-1' parent={parent} initial>"));
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert_eq!(p.to_string(), format!("<Process name='Process-1' pid={pid} parent={parent} started>"));
    p.terminate().unwrap();
    assert_eq!(p.join().unwrap(), -15);
    let stopped = format!("<Process name='Process-1' pid={pid} parent={parent} stopped exitcode=-SIGTERM>");
    assert_eq!(p.to_string(), stopped);
    // `{:?}` is the same repr, not a Rust struct.
    assert_eq!(format!("{p:?}"), stopped);
}

fn repr_names_the_exit_code_and_the_daemon_flag() {
    let parent = std::process::id();
    let mut fine = Process::new(|| ());
    let mut failed = Process::new(|| Err::<(), _>("no luck"));
    let mut killed = sleeper().with_daemon(true);
    for p in [&mut fine, &mut failed, &mut killed] {
        p.start().unwrap();
    }
    killed.kill().unwrap();
    let (fine_pid, failed_pid, killed_pid) =
        (fine.pid().unwrap(), failed.pid().unwrap(), killed.pid().unwrap());
    // No join: like CPython's, the repr looks at the child, so an ended one shows `stopped`.
    let until_stopped = |p: &Process| {
        let started = Instant::now();
        while p.exitcode().is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "the child never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        p.to_string()
    };
    assert_eq!(
        until_stopped(&fine),
        format!("<Process name='Process-1' pid={fine_pid} parent={parent} stopped exitcode=0>")
    );
    assert_eq!(
        until_stopped(&failed),
        format!("<Process name='Process-2' pid={failed_pid} parent={parent} stopped exitcode=1>")
    );
    assert_eq!(
        until_stopped(&killed),
        format!(
            "<Process name='Process-3' pid={killed_pid} parent={parent} stopped exitcode=-SIGKILL daemon>"
        )
    );
    // Printing reaped them; join still reports their codes.
    assert_eq!((fine.join().unwrap(), failed.join().unwrap(), killed.join().unwrap()), (0, 1, -9));
    let daemon = sleeper().with_daemon(true);
    assert_eq!(daemon.to_string(), format!("<Process name='Process-4' parent={parent} initial daemon>"));
}

fn repr_of_a_run_type_and_a_quoted_name() {
    struct Worker;
    impl Run for Worker {
        fn run(&mut self) -> multiprocessing::Result<()> {
            Ok(())
        }
    }
    let parent = std::process::id();
    // Python: `<Worker name='Worker-1' parent=... initial>`, the class's name first.
    assert_eq!(
        Process::from(Worker).to_string(),
        format!("<Worker name='Worker-1' parent={parent} initial>")
    );
    // Python's repr of a str switches to double quotes around a single quote.
    let named = Process::new(|| ()).with_name("worker's");
    assert_eq!(named.to_string(), format!("<Process name=\"worker's\" parent={parent} initial>"));
}

/// A handle copied into a child by fork (here through an `Rc` the child's closure captured) is
/// not the child's to wait for: `join` says so (CPython's "can only join a child process"), and
/// `is_alive`/`exitcode` do not make up an exit code; the parent's handle still works.
fn join_in_another_process_is_refused() {
    let mut p = sleeper();
    p.start().unwrap();
    let shared = std::rc::Rc::new(std::cell::RefCell::new(p));
    let copy = shared.clone();
    let seen = in_child(move || {
        let mut p = copy.borrow_mut();
        let join = p.join().map_err(|e| e.to_string());
        let join_timeout = p.join_timeout(Duration::from_millis(10)).map_err(|e| e.to_string());
        (join.err(), join_timeout.err(), p.is_alive(), p.exitcode())
    });
    let (join, join_timeout, alive, exitcode) = seen;
    assert!(join.as_deref().is_some_and(|e| e.contains("can only join a child process")), "{join:?}");
    assert!(join_timeout.is_some(), "join_timeout in a copy must fail too");
    assert!(!alive);
    assert_eq!(exitcode, None, "a copy must not make up an exit code");
    let p = std::rc::Rc::try_unwrap(shared).unwrap_or_else(|_| panic!("the parent's copy was kept"));
    let mut p = p.into_inner();
    assert!(p.is_alive());
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -9);
}

fn repr_in_another_process_is_unknown() {
    // A child forked with a copy of the handle in memory cannot ask about that process (it is
    // not its child): CPython says `unknown`, and so must this, without touching the process.
    let parent = std::process::id();
    let mut p = sleeper();
    p.start().unwrap();
    let pid = p.pid().unwrap();
    let shared = std::rc::Rc::new(p);
    let copy = shared.clone();
    let seen = in_child(move || copy.to_string());
    assert_eq!(seen, format!("<Process name='Process-1' pid={pid} parent={parent} unknown>"));
    let mut p = std::rc::Rc::try_unwrap(shared)
        .unwrap_or_else(|_| panic!("the parent's copy of the closure was kept"));
    assert_eq!(p.to_string(), format!("<Process name='Process-1' pid={pid} parent={parent} started>"));
    p.kill().unwrap();
    assert_eq!(p.join().unwrap(), -9);
}

fn scenario_child_exits_with_process_exit() {
    multiprocessing::log_to_stderr(log::LevelFilter::Info);
    let queue: Queue<Vec<u8>> = Queue::new().unwrap();
    let q = queue.clone();
    let mut p = Process::new(move || -> () {
        // No newline: only a flush at exit writes it.
        print!("no newline, ");
        // More than the ring holds: the service thread is still writing it when `exit` is called.
        q.put(vec![7; 3 << 20]).unwrap();
        std::process::exit(3);
    });
    p.start().unwrap();
    let got = queue.get_timeout(Duration::from_secs(30)).unwrap();
    let code = p.join().unwrap();
    println!("got {} bytes, exitcode {code}", got.len());
}

fn process_exit_in_a_child_runs_its_exit_steps() {
    // Python's `sys.exit(3)` in a target is `std::process::exit(3)` (examples-basics' exitcode
    // does it): the crate's `atexit` hook runs the child's own exit steps (CPython's
    // `_exit_function`), which flush the queue, and the standard library flushes stdout.
    let (status, output) = harness::scenario("child_exits_with_process_exit");
    assert!(status.success(), "{output}");
    assert!(
        output.contains("got 3145728 bytes, exitcode 3\n"),
        "the message or the code was lost:\n{output}"
    );
    assert!(output.contains("no newline, "), "the child's stdout was not flushed:\n{output}");
    assert!(
        output.contains("[INFO/Process-1] process shutting down\n"),
        "no exit steps in the child:\n{output}"
    );
    // As CPython's child logs after `sys.exit(3)`, after its exit steps; the main process, whose
    // `main` returned, logs no such line.
    let shutting = output.find("[INFO/Process-1] process shutting down").unwrap_or(0);
    let exiting = output.find("[INFO/Process-1] process exiting with exitcode 3\n");
    assert!(exiting.is_some_and(|at| at > shutting), "no exit code logged after the steps:\n{output}");
    assert!(!output.contains("[INFO/MainProcess] process exiting"), "{output}");
}

fn a_forked_child_is_not_its_parent() {
    // The crate caches "who am I" (pid and start time, `lifecycle::ProcessIdentity::current`)
    // per fork generation. A child that believed its parent's cache would record the unit it
    // takes as its parent's: killed, its unit would never come back, since the parent runs.
    let s = Semaphore::new(2).unwrap();
    let _parents = s.acquire().unwrap(); // the parent's identity is cached now
    let took = Event::new().unwrap();
    let (s2, took2) = (s.clone(), took.clone());
    let mut child = Process::new(move || {
        let _unit = s2.acquire().unwrap();
        took2.set();
        std::thread::sleep(Duration::from_secs(60));
    });
    child.start().unwrap();
    assert!(took.wait_timeout(Duration::from_secs(30)), "the child did not take its unit");
    assert_eq!(s.get_value(), 0);
    child.kill().unwrap();
    assert_eq!(child.join().unwrap(), -9);
    let started = Instant::now();
    let unit = s.acquire_timeout(Duration::from_secs(5)).unwrap();
    assert!(unit.is_some(), "the killed child's unit was recorded as its parent's: never given back");
    // Found at the next look for dead holders: about two 100 ms slices.
    assert!(started.elapsed() < Duration::from_secs(5));
}
