//! An advantage of processes that is not speed: a crash takes down only the process it
//! happens in.
//!
//! Three workers: one panics, one aborts (`SIGABRT`, as a failed `assert` in C code or a double
//! free does), one does honest work. As processes, the parent sees exit codes 1 and -6 and the
//! healthy one finishes. As threads, Rust contains the panic (`join` returns it as an error), but
//! an abort ends the whole program, healthy thread and all. To show that without dying itself,
//! the report runs the thread version in a separate copy of this program
//! (`exercise --crash-in-threads`) and reads how it ended.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use multiprocessing::Process;
use serde::Serialize;

/// What happened to each worker, for both kinds.
#[derive(Debug, Clone, Serialize)]
pub struct CrashReport {
    /// `(worker, exit code)` for the process version.
    pub processes: Vec<(String, i32)>,
    /// Whether the healthy worker finished in the process version.
    pub process_healthy_finished: bool,
    /// How the program running the thread version ended (`signal 6`, `exit code 0`).
    pub thread_program_ended: String,
    /// Whether the healthy thread finished in the thread version.
    pub thread_healthy_finished: bool,
}

/// Honest work; says when it is done (the thread version's parent reads that line).
fn healthy() {
    std::thread::sleep(Duration::from_millis(300));
}

fn panics() {
    std::thread::sleep(Duration::from_millis(20));
    panic!("worker panicked");
}

fn aborts() {
    std::thread::sleep(Duration::from_millis(40));
    std::process::abort();
}

/// Runs both versions and reports.
pub fn demonstrate() -> Result<CrashReport, String> {
    let mut workers = [
        Process::new(panics).with_name("panics"),
        Process::new(aborts).with_name("aborts"),
        Process::new(healthy).with_name("healthy"),
    ];
    for p in &mut workers {
        p.start().map_err(|e| e.to_string())?;
    }
    let mut processes = Vec::new();
    for p in &mut workers {
        processes.push((p.name().to_string(), p.join().map_err(|e| e.to_string())?));
    }
    let process_healthy_finished = processes.iter().any(|(name, code)| name == "healthy" && *code == 0);

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .arg("--crash-in-threads")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the thread version: {e}"))?;
    let thread_program_ended = match (output.status.code(), output.status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "unknown".into(),
    };
    let thread_healthy_finished = String::from_utf8_lossy(&output.stdout).contains("healthy worker finished");
    Ok(CrashReport { processes, process_healthy_finished, thread_program_ended, thread_healthy_finished })
}

/// The thread version, run as its own program by [`demonstrate`].
pub fn thread_program() {
    let healthy = std::thread::spawn(|| {
        healthy();
        println!("healthy worker finished");
    });
    let panicking = std::thread::spawn(panics);
    let aborting = std::thread::spawn(aborts);
    let contained = panicking.join().is_err();
    println!("the panic was contained: {contained}");
    let _ = aborting.join();
    let _ = healthy.join();
    println!("all threads finished");
}
