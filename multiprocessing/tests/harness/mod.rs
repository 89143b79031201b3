//! A tiny test harness that runs every test in a fresh process of its own.
//!
//! libtest runs tests on threads, and these tests fork: forking a multi-threaded process is the
//! hazard the crate is built around, and the crate's per-process state (the `Process-N` counter,
//! the exit hook) would leak from one test into the next. So each test binary declares
//! `harness = false`, and this module re-executes the binary once per test
//! (`<binary> --run-one NAME`), with a time limit so that a hang fails instead of stalling CI.
//! It shows the output of a failed test, and of every test the lines that start with `FIGURES `.
//! *Scenarios* are small programs a test runs as a whole process (`--scenario NAME`) to look at
//! what a real `main` prints and does at exit.
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A test: it passes when it returns, fails when it panics.
pub type Test = (&'static str, fn());

/// How long one test may take before it is killed and failed (unless `main_with_limit` says).
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Runs the tests (or, when re-executed, one test or one scenario).
pub fn main(tests: &[Test], scenarios: &[Test]) {
    main_with_limit(tests, scenarios, |_| TEST_TIME_LIMIT);
}

/// [`main`], with the time limit of each test given by `limit(name)`.
pub fn main_with_limit(tests: &[Test], scenarios: &[Test], limit: impl Fn(&str) -> Duration) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(name) = value_of(&args, "--run-one") {
        let test = tests.iter().find(|(n, _)| *n == name).expect("no such test");
        (test.1)();
        return;
    }
    if let Some(name) = value_of(&args, "--scenario") {
        let scenario = scenarios.iter().find(|(n, _)| *n == name).expect("no such scenario");
        (scenario.1)();
        return;
    }
    // Like libtest: the first argument that is not a flag filters tests by substring.
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned().unwrap_or_default();
    let selected: Vec<&Test> = tests.iter().filter(|(n, _)| n.contains(&filter)).collect();
    println!("\nrunning {} tests", selected.len());
    let started = Instant::now();
    let mut failed = Vec::new();
    for (name, _) in &selected {
        let limit = limit(name);
        let (status, output) = run_self(&["--run-one", name], limit);
        let ok = status.is_some_and(|s| s.success());
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        // Lines of figures (tests/faults.rs prints them) are worth seeing when a test passes too.
        for line in output.lines().filter(|l| l.starts_with("FIGURES ")) {
            println!("    {line}");
        }
        if !ok {
            failed.push((name, status, output, limit));
        }
    }
    for (name, status, output, limit) in &failed {
        let why = match status {
            Some(s) => s.to_string(),
            None => format!("killed after the {}s time limit", limit.as_secs()),
        };
        println!("\n---- {name} ({why}) ----\n{output}");
    }
    let passed = selected.len() - failed.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        tests.len() - selected.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// Runs this test binary with `args`, stdout and stderr in one pipe as a terminal shows them.
/// Returns the exit status (`None` if it ran past `limit` and was killed) and the output.
pub fn run_self(args: &[&str], limit: Duration) -> (Option<ExitStatus>, String) {
    let (mut reader, writer) = os_pipe::pipe().expect("pipe");
    // `/proc/self/exe`, not the path: this very binary, even when a build has replaced or removed
    // the file meanwhile (cargo relinks a test binary when the crate changes, and the path is
    // then missing or half-written for a moment; the old binary would fail to start its test).
    // The path stays the child's `argv[0]`, for `ps`.
    let mut child = Command::new("/proc/self/exe")
        .arg0(std::env::current_exe().expect("current_exe"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("dup"))
        .stderr(writer)
        .spawn()
        .expect("spawn the test binary");
    // The reader thread collects output until every writer (grandchildren too) is gone.
    let (sender, collected) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        let _ = sender.send(String::from_utf8_lossy(&out).into_owned());
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // A process the test left behind may hold the pipe open: do not wait for it forever.
    let output = collected
        .recv_timeout(Duration::from_secs(if status.is_some() { 20 } else { 1 }))
        .unwrap_or_else(|_| String::from("(output incomplete: a process still holds the pipe)"));
    (status, output)
}

/// Runs a scenario of this binary as a whole program; returns its exit status and output.
pub fn scenario(name: &str) -> (ExitStatus, String) {
    let (status, output) = run_self(&["--scenario", name], Duration::from_secs(60));
    (status.unwrap_or_else(|| panic!("scenario {name} hung")), output)
}

/// Whether `pid` still exists (running or zombie).
pub fn pid_exists(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}
