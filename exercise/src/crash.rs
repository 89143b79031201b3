//! An advantage of processes that is not speed: a crash takes down only the process it
//! happens in.
//!
//! Three workers: one panics, one aborts (`SIGABRT`, as a failed `assert` in C code or a double
//! free does), one does honest work. As processes, the parent sees exit codes 1 and -6 and the
//! healthy one finishes. As threads, Rust contains the panic (`join` returns it as an error), but
//! an abort ends the whole program, healthy thread and all. To show that without dying itself,
//! the report runs the thread version in a separate copy of this program
//! (`exercise --crash-in-threads`) and reads how it ended.
//!
//! The crashes print what crashes print (`Process panics:`, `panicked at ...`). So that nobody
//! takes that for the exercise failing, the demo first says on stderr what it is about to do,
//! then shows what the workers wrote to stderr, each line behind a [`PREFIX`], and says when it
//! is over. It all goes to stderr, so that `--json` keeps stdout valid JSON.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{Context, Result};
use multiprocessing::Process;
use nix::fcntl::OFlag;
use serde::Serialize;

/// What starts every line the demo writes, and every line its crashing workers wrote.
pub const PREFIX: &str = "crash-isolation demo |";

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
    panic!("a deliberate panic: this worker of the crash-isolation demo crashes on purpose");
}

fn aborts() {
    std::thread::sleep(Duration::from_millis(40));
    std::process::abort();
}

/// A worker whose stderr goes into `pipe` (the parent shows it behind the demo's prefix).
fn worker(name: &str, pipe: &OwnedFd, work: fn()) -> Result<Process> {
    let pipe = pipe.try_clone()?;
    Ok(Process::new(move || {
        let _ = nix::unistd::dup2_stderr(&pipe);
        drop(pipe);
        work();
    })
    .with_name(name))
}

/// Writes `text` to stderr, every line behind the prefix and an indent.
fn show(heading: &str, text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{PREFIX} {heading}");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(err, "{PREFIX}     {line}");
    }
}

/// Runs both versions and reports. Announces itself on stderr first.
pub fn demonstrate() -> Result<CrashReport> {
    eprintln!(
        "{PREFIX} The crash-isolation demo: of three workers, one panics and one aborts ON PURPOSE,\n\
         {PREFIX} one does honest work; first as processes, then as threads (in a copy of this program).\n\
         {PREFIX} What the crashing workers print below is expected, not a failure of the exercise."
    );
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut workers = [
        worker("panics", &write, panics)?,
        worker("aborts", &write, aborts)?,
        worker("healthy", &write, healthy)?,
    ];
    for p in &mut workers {
        p.start()?;
    }
    // The children hold the only write ends now: the pipe ends when the last of them does.
    drop(write);
    let mut processes = Vec::new();
    for p in &mut workers {
        processes.push((p.name().to_string(), p.join()?));
    }
    let mut written = String::new();
    std::fs::File::from(read).read_to_string(&mut written)?;
    show("as processes, the workers wrote on stderr:", &written);
    let process_healthy_finished = processes.iter().any(|(name, code)| name == "healthy" && *code == 0);

    let exe = std::env::current_exe()?;
    let output = Command::new(exe)
        .arg("--crash-in-threads")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .context("cannot run the thread version")?;
    let thread_program_ended = match (output.status.code(), output.status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "unknown".into(),
    };
    show(
        &format!("as threads, the program wrote on stderr (then ended with {thread_program_ended}):"),
        &String::from_utf8_lossy(&output.stderr),
    );
    eprintln!("{PREFIX} end of the demo: its results are in the report.");
    let thread_healthy_finished = String::from_utf8_lossy(&output.stdout).contains("healthy worker finished");
    Ok(CrashReport { processes, process_healthy_finished, thread_program_ended, thread_healthy_finished })
}

/// The thread version, run as its own program by [`demonstrate`].
pub fn thread_program() {
    let spawn = |name: &str, work: fn()| std::thread::Builder::new().name(name.into()).spawn(work);
    let healthy = std::thread::Builder::new().name("healthy".into()).spawn(|| {
        healthy();
        println!("healthy worker finished");
    });
    let panicking = spawn("panics", panics);
    let aborting = spawn("aborts", aborts);
    let contained = panicking.map(|h| h.join().is_err());
    println!("the panic was contained: {contained:?}");
    let _ = aborting.map(|h| h.join());
    let _ = healthy.map(|h| h.join());
    println!("all threads finished");
}
