//! Tests for `Process`: names, exit codes, join, exit-time behaviour. Each runs in a fresh
//! process (see harness/mod.rs), so each starts counting processes from 1.

mod harness;

use std::time::{Duration, Instant};

use multiprocessing::{Error, Process, Queue, Run, active_children, current_process};

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
        ],
        &[
            ("never_joins", scenario_never_joins),
            ("exits_with_process_exit", scenario_exits_with_process_exit),
            ("buffered_before_fork", scenario_buffered_before_fork),
            ("daemon_left_running", scenario_daemon_left_running),
            ("panics", scenario_panics),
            ("foreign_fork", scenario_foreign_fork),
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
    let mut p = Process::new(|| std::thread::sleep(Duration::from_millis(300)));
    assert!(!p.is_alive());
    p.start().unwrap();
    assert!(p.is_alive());
    assert_eq!(active_children(), ["Process-1"]);
    p.join().unwrap();
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
    let mut p = Process::new(|| ());
    assert!(matches!(p.join(), Err(Error::InvalidState(_))));
    p.start().unwrap();
    assert!(matches!(p.start(), Err(Error::InvalidState(_))));
    assert_eq!(p.join().unwrap(), 0);
}

fn many_processes() {
    // CPython's test_many_processes: N children exit 0, N terminated ones exit -SIGTERM.
    let mut fine: Vec<Process> = (0..50).map(|_| Process::new(|| ())).collect();
    for p in &mut fine {
        p.start().unwrap();
    }
    for p in &mut fine {
        assert_eq!(p.join().unwrap(), 0);
    }
    let mut doomed: Vec<Process> = (0..50).map(|_| sleeper()).collect();
    for p in &mut doomed {
        p.start().unwrap();
    }
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
                Err(Error::InvalidState(why)) if why.contains("daemonic") => Ok(()),
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
    for p in &mut children {
        p.start().unwrap();
    }
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
    std::thread::sleep(Duration::from_millis(300));
    // The handle is dropped without join: CPython's `_cleanup` in the next start reaps it.
    drop(first);
    let mut second = Process::new(|| ());
    second.start().unwrap();
    assert!(!harness::pid_exists(pid), "the finished child was left a zombie");
    second.join().unwrap();
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
