//! The scenarios: each one runs the same work with N threads and with N processes.
//!
//! A scenario module exposes `threads`, `processes` and, where a single worker doing all the work
//! makes sense as a baseline, `serial`. Each returns an error when the work went wrong (a check
//! failed, a child exited badly), so that a broken variant cannot post a fast time.

pub mod allocation_heavy;
pub mod arc_refcount;
pub mod bulk_transfer;
pub mod false_sharing;
pub mod global_lock;
pub mod independent_cpu;
pub mod spawn_many;

use harness::processes::run_all;
use harness::{Error, Mode, Result};
use multiprocessing::Process;

use crate::measure::Verdict;

/// How big to make the work.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// How many threads, or processes, run at once.
    pub workers: usize,
    /// Full sizes, or smaller ones for CI: the whole run in seconds, under a minute even in a
    /// debug build.
    pub mode: Mode,
}

impl Size {
    /// `full` normally, `quick` with `--quick`.
    ///
    /// Quick sizes are about a tenth of the full ones, no smaller, so that starting and joining
    /// the processes (about 0.5 ms for 2 of them here, measured in every run as `startup`) stays
    /// under a few percent of each process variant's time. We size rather than subtract that
    /// fixed cost: both modes then time the same thing (the whole variant, start to join, what a
    /// program pays), with no difference of two noisy medians; and the report still flags any
    /// scenario where the measured start cost exceeds [`crate::measure::STARTUP_SHARE`].
    /// (Starting workers *is* the work in spawn-many; there it is the point, not a distortion.)
    pub fn pick(&self, full: u64, quick: u64) -> u64 {
        self.mode.pick(full, quick)
    }
}

/// One way to do a scenario's work.
pub type Run = fn(&Size) -> Result<()>;

/// A situation where threads and processes may differ.
pub struct Scenario {
    pub name: &'static str,
    /// What the work is.
    pub what: &'static str,
    /// Why it turns out as it does (the mechanism, not the measured verdict).
    pub why: &'static str,
    /// What the mechanism predicts; the report flags a measured verdict that differs.
    pub predicted: Verdict,
    pub serial: Option<Run>,
    pub threads: Run,
    pub processes: Run,
    /// How many workers this scenario really uses, given `--workers`.
    pub workers: fn(usize) -> usize,
    /// Starting workers is what this scenario measures (no start-cost warning for it).
    pub startup_is_the_work: bool,
}

fn as_given(workers: usize) -> usize {
    workers
}

/// Every scenario, in the order the report shows them.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "global-lock",
            what: "CPU work where every unit holds one process-wide lock (like CPython's GIL)",
            why: "threads share the one lock and take turns; each process has its own copy of it",
            predicted: Verdict::Processes,
            serial: Some(global_lock::serial),
            threads: global_lock::threads,
            processes: global_lock::processes,
            workers: as_given,
            startup_is_the_work: false,
        },
        Scenario {
            name: "false-sharing",
            what: "each worker bumps its own counter; all counters share one cache line",
            why: "threads fight over one cache line; after fork each process writes its own copy of the page",
            predicted: Verdict::Processes,
            serial: None,
            threads: false_sharing::threads,
            processes: false_sharing::processes,
            workers: as_given,
            startup_is_the_work: false,
        },
        Scenario {
            name: "false-sharing-padded",
            what: "the same counters, each on a cache line of its own",
            why: "with no line shared, threads run as independently as processes",
            predicted: Verdict::Tie,
            serial: None,
            threads: false_sharing::padded_threads,
            processes: false_sharing::padded_processes,
            workers: as_given,
            startup_is_the_work: false,
        },
        Scenario {
            name: "arc-refcount",
            what: "one shared Arc cloned and dropped for every unit of work",
            why: "the reference count's cache line bounces between cores; each process counts its own copy",
            predicted: Verdict::Processes,
            serial: None,
            threads: arc_refcount::threads,
            processes: arc_refcount::processes,
            workers: as_given,
            startup_is_the_work: false,
        },
        Scenario {
            name: "spawn-many",
            what: "create and join 1000 short-lived workers, N at a time",
            why: "fork copies page tables and runs exit steps; a thread only needs a stack",
            predicted: Verdict::Threads,
            serial: None,
            threads: spawn_many::threads,
            processes: spawn_many::processes,
            workers: as_given,
            startup_is_the_work: true,
        },
        Scenario {
            name: "bulk-transfer",
            what: "move 256 MiB from a producer to a consumer in 1 MiB chunks",
            why: "a channel moves a pointer; a pipe copies every byte into the kernel and out again",
            predicted: Verdict::Threads,
            serial: None,
            threads: bulk_transfer::threads,
            processes: bulk_transfer::processes,
            workers: |_| 2,
            startup_is_the_work: false,
        },
        Scenario {
            name: "independent-cpu",
            what: "pure CPU work, nothing shared",
            why: "no shared state and no GIL: both run on all cores",
            predicted: Verdict::Tie,
            serial: Some(independent_cpu::serial),
            threads: independent_cpu::threads,
            processes: independent_cpu::processes,
            workers: as_given,
            startup_is_the_work: false,
        },
        Scenario {
            name: "allocation-heavy",
            what: "many small allocations and frees per worker",
            why: "glibc gives each thread its own malloc arena, so threads do not contend either",
            predicted: Verdict::Tie,
            serial: None,
            threads: allocation_heavy::threads,
            processes: allocation_heavy::processes,
            workers: as_given,
            startup_is_the_work: false,
        },
    ]
}

/// A worker thread that panicked, or ended before its partner was done.
pub fn thread_failed(which: &str) -> Error {
    Error::Wrong(format!("{which} thread panicked or ended early"))
}

/// Runs `work(i)` for i in 0..workers on scoped threads, all at once.
pub fn on_threads(workers: usize, work: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    std::thread::scope(|s| {
        let work = &work;
        let handles: Vec<_> = (0..workers).map(|i| s.spawn(move || work(i))).collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| thread_failed("a worker"))?)
    })
}

/// Runs `work(i)` for i in 0..workers in child processes, all at once; each must exit with 0.
///
/// Called only while the program is single-threaded (thread variants join all their threads
/// before returning), so every fork is of a one-thread process.
pub fn on_processes(workers: usize, work: impl Fn(usize) -> Result<()> + Clone + 'static) -> Result<()> {
    let mut processes: Vec<Process> = (0..workers)
        .map(|i| {
            let work = work.clone();
            Process::new(move || work(i))
        })
        .collect();
    run_all(&mut processes)
}

/// The fixed cost of using threads at all: start and join `workers` threads that do nothing.
pub fn empty_threads(workers: usize) -> Result<()> {
    on_threads(workers, |i| {
        std::hint::black_box(i);
        Ok(())
    })
}

/// The fixed cost of using processes at all: start and join `workers` processes that do
/// nothing (fork, exit, wait), in this program as it is when the scenarios run.
pub fn empty_processes(workers: usize) -> Result<()> {
    on_processes(workers, |i| {
        std::hint::black_box(i);
        Ok(())
    })
}

/// CPU work that the compiler cannot skip: `iterations` steps of xorshift.
pub fn spin(iterations: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x)
}
