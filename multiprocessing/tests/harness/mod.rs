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
//!
//! Below the runner are the small tools the test files share: a random number generator, memory
//! shared with forked children, and helpers to start, join and watch processes.
#![allow(dead_code)]

use std::ffi::c_void;
use std::io::Read;
use std::num::NonZeroUsize;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use multiprocessing::Process;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};

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

/// Whether `pid` runs: it exists and is not a zombie waiting to be reaped.
pub fn running(pid: impl Into<i64>) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.into())) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// Starts every process of `processes`, in order.
#[track_caller]
pub fn start_all(processes: &mut [Process]) {
    for p in processes.iter_mut() {
        p.start().unwrap();
    }
}

/// Joins every process of `processes`, in order, and asserts that each exited with code 0.
#[track_caller]
pub fn join_all(processes: &mut [Process]) {
    for p in processes.iter_mut() {
        assert_eq!(p.join().unwrap(), 0);
    }
}

/// Runs each case in a child of its own, in turn; returns `name: exit code N` for each not ending 0.
#[track_caller]
pub fn failures_in_children(cases: &[(&str, fn())]) -> Vec<String> {
    let mut failed = Vec::new();
    for &(name, case) in cases {
        let mut child = Process::new(case);
        child.start().unwrap();
        let code = child.join().unwrap();
        if code != 0 {
            failed.push(format!("{name}: exit code {code}"));
        }
    }
    failed
}

/// SIGKILLs `process` from a new thread after `delay`; joining the thread gives the kill's instant.
#[track_caller]
pub fn kill_after(process: &Process, delay: Duration) -> JoinHandle<Instant> {
    let pid = nix::unistd::Pid::from_raw(process.pid().unwrap() as i32);
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let killed_at = Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        killed_at
    })
}

/// Waits until `condition` holds, failing after 30 s with `what`.
#[track_caller]
pub fn eventually(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: not within 30 s");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Keeps the CPU busy for `d` without sleeping (a sleep would give the scheduler a say).
pub fn spin_for(d: Duration) {
    let started = Instant::now();
    while started.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A seed from the clock (nanoseconds since 1970, made odd): a new random run each time.
pub fn clock_seed() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
}

/// A tiny xorshift generator (state: `.0`, never 0): random instants without a dependency.
pub struct Rng(pub u64);

impl Rng {
    /// A generator seeded by [`clock_seed`]; prints `seed N` so a failed run can be replayed.
    pub fn from_clock() -> Rng {
        let seed = clock_seed();
        println!("seed {seed}");
        Rng(seed)
    }

    /// The next number, from 0 to `n - 1`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Maps `bytes` of zero-filled memory that this process shares with the children it forks later.
fn map_shared(bytes: usize) -> NonNull<c_void> {
    let len = NonZeroUsize::new(bytes).expect("a mapping of at least one byte");
    // SAFETY: a fresh anonymous mapping aliases no Rust object; the callers say how they use it.
    unsafe { mmap_anonymous(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED) }
        .expect("mmap")
}

/// `len` atomic counters, all 0, shared with the children forked after: the tests' own instrument.
pub fn shared_counters(len: usize) -> &'static [AtomicI64] {
    assert!(len > 0, "at least one counter");
    let ptr = map_shared(len * size_of::<AtomicI64>());
    // SAFETY: the mapping is zero-filled, which is a valid `AtomicI64`, and page-aligned; it is
    // never unmapped (a test is one short process), so the slice lives as long as the process.
    unsafe { std::slice::from_raw_parts(ptr.as_ptr().cast::<AtomicI64>(), len) }
}

/// A few `u64` words shared with the children forked after, read and written plainly (flags, counters).
#[derive(Clone, Copy)]
pub struct Shared {
    words: NonNull<u64>,
    len: usize,
}

impl Shared {
    /// Maps `len` words, all 0.
    pub fn new(len: usize) -> Shared {
        Shared { words: map_shared(len * 8).cast(), len }
    }

    /// Word `i`, as it is now (a volatile read: at worst a stale value, which the tests poll).
    pub fn get(&self, i: usize) -> u64 {
        assert!(i < self.len);
        // SAFETY: `i` is inside the mapping, which is never unmapped; a volatile read of an
        // aligned u64 that another process may write is at worst a stale value, which is what
        // the tests look for.
        unsafe { self.words.as_ptr().add(i).read_volatile() }
    }

    /// Sets word `i` to `value` (a volatile write).
    pub fn set(&self, i: usize, value: u64) {
        assert!(i < self.len);
        // SAFETY: as in `get`.
        unsafe { self.words.as_ptr().add(i).write_volatile(value) }
    }

    /// Adds one to word `i` atomically (a start gate the workers count themselves through).
    pub fn add_one_atomically(&self, i: usize) {
        assert!(i < self.len);
        // SAFETY: `i` is inside the mapping, which is never unmapped, and 8-aligned (the mapping
        // is page-aligned), as an `AtomicU64` must be; every process that touches this word
        // does so through an atomic.
        let word = unsafe { &*self.words.as_ptr().add(i).cast::<AtomicU64>() };
        word.fetch_add(1, Ordering::SeqCst);
    }

    /// Adds one to word `i` by a read, a pause and a write: without a lock, increments get lost.
    pub fn slow_increment(&self, i: usize) {
        let value = self.get(i);
        std::thread::yield_now();
        self.set(i, value + 1);
    }
}
