//! Tests for the `[LEVEL/ProcessName] message` log lines, checked against what CPython 3.11
//! printed for the lecture's two logging programs. Each runs in a fresh process, and each looks
//! at a whole program's output (a scenario): stdout and stderr in one stream.

mod harness;

use log::LevelFilter;
use multiprocessing::{Process, Queue, get_logger, log_to_stderr};

use harness::start_all;

fn main() {
    harness::main(
        &[
            ("log_to_stderr_matches_cpython", log_to_stderr_matches_cpython),
            ("get_logger_matches_cpython", get_logger_matches_cpython),
            ("queue_finalizers_log_at_the_steps_they_run", queue_finalizers_log_at_the_steps_they_run),
            (
                "panic_report_comes_where_cpython_prints_the_traceback",
                panic_report_comes_where_cpython_prints_the_traceback,
            ),
            ("child_inherits_the_level", child_inherits_the_level),
            ("lines_from_many_processes_are_never_torn", lines_from_many_processes_are_never_torn),
            ("nothing_is_printed_before_log_to_stderr", nothing_is_printed_before_log_to_stderr),
            ("lines_longer_than_pipe_buf_are_never_torn", lines_longer_than_pipe_buf_are_never_torn),
        ],
        &[
            ("log_to_stderr", scenario_log_to_stderr),
            ("get_logger", scenario_get_logger),
            ("queue_debug", scenario_queue_debug),
            ("panic", scenario_panic),
            ("level", scenario_level),
            ("many_writers", scenario_many_writers),
            ("no_handler", scenario_no_handler),
            ("long_lines", scenario_long_lines),
        ],
    );
}

fn worker() {
    println!("Doing some work");
}

fn scenario_log_to_stderr() {
    log_to_stderr(LevelFilter::Debug);
    let mut p = Process::new(worker);
    p.start().unwrap();
    p.join().unwrap();
}

fn scenario_get_logger() {
    log_to_stderr(None);
    get_logger().set_level(LevelFilter::Info);
    let mut p = Process::new(worker);
    p.start().unwrap();
    p.join().unwrap();
}

fn log_to_stderr_matches_cpython() {
    let (status, output) = harness::scenario("log_to_stderr");
    assert!(status.success());
    assert_eq!(output, include_str!("cpython/log_to_stderr.txt"));
}

fn get_logger_matches_cpython() {
    let (status, output) = harness::scenario("get_logger");
    assert!(status.success());
    assert_eq!(output, include_str!("cpython/get_logger.txt"));
}

fn scenario_queue_debug() {
    log_to_stderr(LevelFilter::Debug);
    // 4 MiB does not fit the queue's ring at once: the child's service thread writes the rest
    // while the parent reads, and the child's exit waits for it.
    let queue: Queue<Vec<u8>> = Queue::new().unwrap();
    let q = queue.clone();
    let mut p = Process::new(move || q.put(vec![7; 4 << 20]));
    p.start().unwrap();
    assert_eq!(queue.get().unwrap(), vec![7; 4 << 20]);
    p.join().unwrap();
}

/// The positions of `lines` in `output`, which must all be there, in this order.
fn assert_in_order(output: &str, lines: &[&str]) {
    let all: Vec<&str> = output.lines().collect();
    let mut from = 0;
    for line in lines {
        match all[from..].iter().position(|l| l == line) {
            Some(i) => from += i + 1,
            None => panic!("{line:?} missing or out of order in:\n{output}"),
        }
    }
}

fn queue_finalizers_log_at_the_steps_they_run() {
    let (status, output) = harness::scenario("queue_debug");
    assert!(status.success(), "{output}");
    assert_in_order(
        &output,
        &[
            "[DEBUG/Process-1] Queue._after_fork()",
            "[INFO/Process-1] child process calling self.run()",
            "[DEBUG/Process-1] Queue._start_thread()",
            "[DEBUG/Process-1] doing self._thread.start()",
            "[INFO/Process-1] process shutting down",
            "[DEBUG/Process-1] running all \"atexit\" finalizers with priority >= 0",
            "[DEBUG/Process-1] telling queue thread to quit",
            "[DEBUG/Process-1] running the remaining \"atexit\" finalizers",
            "[DEBUG/Process-1] joining queue thread",
            "[DEBUG/Process-1] ... queue thread joined",
            "[INFO/Process-1] process exiting with exitcode 0",
            "[INFO/MainProcess] process shutting down",
        ],
    );
    assert!(output.contains("[DEBUG/Process-1] starting thread to feed data to pipe"), "{output}");
    // The main process never put anything: it has no feeder to stop.
    assert!(!output.contains("[DEBUG/MainProcess] telling queue thread to quit"), "{output}");
}

fn scenario_panic() {
    log_to_stderr(LevelFilter::Info);
    let mut p = Process::new(|| -> () { panic!("division by zero") });
    p.start().unwrap();
    p.join().unwrap();
}

fn panic_report_comes_where_cpython_prints_the_traceback() {
    let (status, output) = harness::scenario("panic");
    assert!(status.success(), "{output}");
    assert_in_order(
        &output,
        &[
            "[INFO/Process-1] child process calling self.run()",
            "[INFO/Process-1] process shutting down",
            "Process Process-1:",
            "division by zero",
            "[INFO/Process-1] process exiting with exitcode 1",
        ],
    );
}

fn scenario_level() {
    log_to_stderr(LevelFilter::Warn);
    let mut p = Process::new(|| {
        log::info!("not shown");
        log::warn!("shown");
    });
    p.start().unwrap();
    p.join().unwrap();
}

fn child_inherits_the_level() {
    let (status, output) = harness::scenario("level");
    assert!(status.success(), "{output}");
    assert_eq!(output, "[WARNING/Process-1] shown\n");
}

fn scenario_many_writers() {
    log_to_stderr(LevelFilter::Info);
    let mut writers: Vec<Process> = (0..4)
        .map(|_| {
            Process::new(|| {
                for i in 0..500 {
                    log::info!("line {i} {}", "x".repeat(300));
                    println!("stdout {i} {}", "y".repeat(300));
                }
            })
        })
        .collect();
    start_all(&mut writers);
    for p in &mut writers {
        p.join().unwrap();
    }
}

fn lines_from_many_processes_are_never_torn() {
    let (status, output) = harness::scenario("many_writers");
    assert!(status.success());
    let mut records = 0;
    for line in output.lines() {
        let whole_record = line.starts_with("[INFO/Process-") && line.ends_with(&"x".repeat(300));
        let whole_print = line.starts_with("stdout ") && line.ends_with(&"y".repeat(300));
        let lifecycle = line.starts_with("[INFO/") && !line.contains("xxx");
        assert!(whole_record || whole_print || lifecycle, "torn line: {line:?}");
        records += usize::from(whole_record);
    }
    assert_eq!(records, 4 * 500, "log records are missing");
}

fn scenario_no_handler() {
    get_logger().set_level(LevelFilter::Debug);
    let mut p = Process::new(worker);
    p.start().unwrap();
    p.join().unwrap();
}

fn nothing_is_printed_before_log_to_stderr() {
    let (status, output) = harness::scenario("no_handler");
    assert!(status.success());
    assert_eq!(output, "Doing some work\n");
}

fn scenario_long_lines() {
    log_to_stderr(LevelFilter::Warn);
    let mut writers: Vec<Process> = (0..4)
        .map(|i| {
            Process::new(move || {
                for _ in 0..100 {
                    log::warn!("{}", char::from(b'a' + i).to_string().repeat(20_000));
                }
            })
        })
        .collect();
    start_all(&mut writers);
    for p in &mut writers {
        p.join().unwrap();
    }
}

fn lines_longer_than_pipe_buf_are_never_torn() {
    // 20,000-byte lines: five times what a pipe writes atomically.
    let (status, output) = harness::scenario("long_lines");
    assert!(status.success());
    let mut records = 0;
    for line in output.lines().filter(|l| l.starts_with("[WARNING/")) {
        let body = line.rsplit_once("] ").map_or("", |(_, body)| body);
        let first = body.chars().next().unwrap_or('?');
        assert!(
            body.len() == 20_000 && body.chars().all(|c| c == first),
            "torn line of {} bytes",
            line.len()
        );
        records += 1;
    }
    assert_eq!(records, 400, "log records are missing");
}
