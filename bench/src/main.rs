//! `cargo xtask bench`: the `multiprocessing` crate against the OS's limits and against CPython,
//! in one run.
//!
//! For every metric, each round runs the crate's version, the limit (the same workload written
//! directly on the OS) and CPython's `multiprocessing` (when `python3` is there), in an order that
//! rotates from round to round; one warm-up round, then `--reps` timed ones. Every workload checks
//! that what arrived is what was sent, so a fast wrong queue cannot score.

mod raw;
mod workloads;

use std::process::Command;

use clap::Parser;
use serde::Serialize;

/// The crate against the OS's limits and CPython.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Small sizes and 2 rounds: checks that everything runs, measures little.
    #[arg(long)]
    quick: bool,
    /// Timed rounds per metric [default: 5, or 2 with --quick].
    #[arg(long)]
    reps: Option<usize>,
    /// Print the results as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Skip CPython even if python3 is present.
    #[arg(long)]
    no_python: bool,
    /// Measure only these metrics (repeatable): start-join, queue-small, queue-1mib,
    /// joinable-20k, event-ping-pong, lock-handoff, value-increment, pool-map-tiny,
    /// pool-map-cpu.
    #[arg(long = "metric", value_name = "NAME")]
    metrics: Vec<String>,
}

type Workload = fn(u64) -> Result<f64, String>;

/// One thing to measure, three ways.
struct Metric {
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    ours: Workload,
    limit: Option<Workload>,
    /// What the limit is, for the reader of the output.
    limit_name: &'static str,
    /// Sizes: (full, quick) for the crate and the limit, and for CPython (slower, so smaller).
    size: (u64, u64),
    python_size: (u64, u64),
    /// The goals: the crate's speed over the limit's, and over CPython's, at least.
    goal_vs_limit: Option<f64>,
    goal_vs_cpython: f64,
}

const METRICS: [Metric; 9] = [
    Metric {
        name: "start-join",
        unit: "us/process",
        higher_is_better: false,
        ours: workloads::start_join,
        limit: Some(raw::start_join),
        limit_name: "raw fork + _exit + waitpid",
        size: (300, 20),
        python_size: (100, 10),
        goal_vs_limit: Some(1.0 / 1.2),
        goal_vs_cpython: 8.0,
    },
    Metric {
        name: "queue-small",
        unit: "msgs/s",
        higher_is_better: true,
        ours: workloads::queue_small,
        limit: Some(raw::queue_small),
        limit_name: "the same struct bincode-encoded through a pipe, 64 KiB buffered writes and reads",
        size: (1_000_000, 20_000),
        python_size: (100_000, 5_000),
        goal_vs_limit: Some(0.5),
        goal_vs_cpython: 10.0,
    },
    Metric {
        name: "queue-1mib",
        unit: "MB/s",
        higher_is_better: true,
        ours: workloads::queue_1mib,
        limit: Some(raw::queue_1mib),
        limit_name: "write_all/read_exact through a pipe enlarged to 1 MiB",
        size: (512, 16),
        python_size: (128, 8),
        goal_vs_limit: Some(0.9),
        goal_vs_cpython: 3.0,
    },
    Metric {
        name: "joinable-20k",
        unit: "tasks/s",
        higher_is_better: true,
        ours: workloads::joinable,
        limit: None,
        limit_name: "none",
        size: (20_000, 2_000),
        python_size: (20_000, 2_000),
        goal_vs_limit: None,
        goal_vs_cpython: 5.0,
    },
    Metric {
        name: "event-ping-pong",
        unit: "us/round trip",
        higher_is_better: false,
        ours: workloads::event_ping_pong,
        limit: Some(raw::event_ping_pong),
        limit_name: "a futex word per side, spinning 20 us before sleeping, waking only sleepers",
        size: (5_000, 200),
        python_size: (1_000, 100),
        goal_vs_limit: Some(1.0 / 1.2),
        goal_vs_cpython: 5.0,
    },
    Metric {
        name: "lock-handoff",
        unit: "us/round trip",
        higher_is_better: false,
        ours: workloads::lock_handoff,
        limit: Some(raw::lock_handoff),
        limit_name: "a futex lock (Drepper's mutex 3) spinning 20 us before sleeping",
        size: (20_000, 500),
        python_size: (2_000, 100),
        goal_vs_limit: Some(0.5),
        goal_vs_cpython: 10.0,
    },
    Metric {
        name: "value-increment",
        unit: "ns/increment",
        higher_is_better: false,
        ours: workloads::value_increment,
        limit: Some(raw::value_increment),
        limit_name: "an atomic fetch_add in shared memory",
        size: (1_000_000, 20_000),
        python_size: (50_000, 2_000),
        goal_vs_limit: Some(0.5),
        goal_vs_cpython: 10.0,
    },
    Metric {
        name: "pool-map-tiny",
        unit: "tasks/s",
        higher_is_better: true,
        ours: workloads::pool_map_tiny,
        limit: Some(workloads::threads_map_tiny),
        limit_name: "the same map on cpu_count() scoped threads (no encoding, no copies: not a goal)",
        size: (100_000, 10_000),
        python_size: (100_000, 10_000),
        goal_vs_limit: None,
        goal_vs_cpython: 10.0,
    },
    Metric {
        name: "pool-map-cpu",
        unit: "ms/map",
        higher_is_better: false,
        ours: workloads::pool_map_cpu,
        limit: Some(workloads::threads_map_cpu),
        limit_name: "the same 2M-step tasks on cpu_count() scoped threads",
        size: (100, 10),
        python_size: (100, 10),
        goal_vs_limit: Some(0.9),
        goal_vs_cpython: 1.0,
    },
];

const PYTHON_SCRIPT: &str = include_str!("../python/bench.py");

#[derive(Serialize, Clone, Copy, Debug)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn from(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
        Some(Stats { median, min: s[0], max: s[n - 1] })
    }
}

#[derive(Serialize, Debug)]
struct MetricResult {
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    ours: Stats,
    limit: Option<Stats>,
    limit_name: &'static str,
    cpython: Option<Stats>,
    /// How many times faster (or slower, below 1) the crate is than the limit / CPython.
    speed_vs_limit: Option<f64>,
    speed_vs_cpython: Option<f64>,
    goal_vs_limit: Option<f64>,
    goal_vs_cpython: f64,
}

#[derive(Serialize, Debug)]
struct Report {
    machine: String,
    rustc_profile: &'static str,
    cpython: Option<String>,
    reps: usize,
    metrics: Vec<MetricResult>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let reps = args.reps.unwrap_or(if args.quick { 2 } else { 5 }).max(1);
    let python_version = if args.no_python { None } else { python_version() };
    for name in &args.metrics {
        if !METRICS.iter().any(|m| m.name == name) {
            let known: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
            return Err(format!("no metric {name:?}; the metrics are {}", known.join(", ")));
        }
    }
    let mut results = Vec::new();
    for metric in
        METRICS.iter().filter(|m| args.metrics.is_empty() || args.metrics.iter().any(|n| n == m.name))
    {
        let pick = |(full, quick): (u64, u64)| if args.quick { quick } else { full };
        let mut samples: [Vec<f64>; 3] = Default::default();
        for round in 0..=reps {
            // Rotate who goes first, so that drift does not always favour the same one.
            for k in 0..3 {
                let which = (round + k) % 3;
                let value = match which {
                    0 => Some((metric.ours)(pick(metric.size))),
                    1 => metric.limit.map(|limit| limit(pick(metric.size))),
                    _ => python_version.as_ref().map(|_| cpython(metric.name, pick(metric.python_size))),
                };
                if let Some(value) = value {
                    let value = value.map_err(|e| {
                        format!("{} ({}): {e}", metric.name, ["ours", "limit", "cpython"][which])
                    })?;
                    if round > 0 {
                        samples[which].push(value);
                    }
                }
            }
            eprint!(".");
        }
        let ours = Stats::from(&samples[0]).expect("ours always runs");
        let (limit, cpython) = (Stats::from(&samples[1]), Stats::from(&samples[2]));
        let speed = |other: Option<Stats>| {
            other.map(
                |o| if metric.higher_is_better { ours.median / o.median } else { o.median / ours.median },
            )
        };
        results.push(MetricResult {
            name: metric.name,
            unit: metric.unit,
            higher_is_better: metric.higher_is_better,
            ours,
            limit,
            limit_name: metric.limit_name,
            cpython,
            speed_vs_limit: speed(limit),
            speed_vs_cpython: speed(cpython),
            goal_vs_limit: metric.goal_vs_limit,
            goal_vs_cpython: metric.goal_vs_cpython,
        });
    }
    eprintln!();
    let report = Report {
        machine: machine(),
        rustc_profile: if cfg!(debug_assertions) { "debug" } else { "release" },
        cpython: python_version,
        reps,
        metrics: results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

fn python_version() -> Option<String> {
    let output = Command::new("python3").arg("--version").output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs one CPython measurement; the script checks its own results.
fn cpython(metric: &str, size: u64) -> Result<f64, String> {
    let output = Command::new("python3")
        .args(["-c", PYTHON_SCRIPT, metric, &size.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    value["value"].as_f64().ok_or_else(|| "no value in python's output".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|i| {
            i.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let kernel =
        nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    format!("{cpu} ({} CPUs), Linux {kernel}", multiprocessing::cpu_count())
}

fn number(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0} k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn cell(stats: Option<Stats>) -> String {
    stats.map_or("-".into(), |s| format!("{} [{}-{}]", number(s.median), number(s.min), number(s.max)))
}

fn verdict(speed: Option<f64>, goal: Option<f64>) -> String {
    match (speed, goal) {
        (Some(s), Some(g)) => format!("{s:.2}x {}", if s >= g { "(goal met)" } else { "(goal NOT met)" }),
        (Some(s), None) => format!("{s:.2}x"),
        _ => "-".into(),
    }
}

fn table(report: &Report) -> String {
    let mut out = format!(
        "multiprocessing crate vs the OS's limit vs CPython: median [min-max] of {} rounds, {} build\n\
         machine: {}\ncpython: {}\n\n",
        report.reps,
        report.rustc_profile,
        report.machine,
        report.cpython.as_deref().unwrap_or("not found (python3 missing): CPython columns are empty")
    );
    out += &format!(
        "{:<17}{:<15}{:<30}{:<30}{:<30}{:<22}{}\n",
        "metric", "unit", "ours", "limit", "cpython", "speed vs limit", "speed vs cpython"
    );
    for m in &report.metrics {
        out += &format!(
            "{:<17}{:<15}{:<30}{:<30}{:<30}{:<22}{}\n",
            m.name,
            m.unit,
            cell(Some(m.ours)),
            cell(m.limit),
            cell(m.cpython),
            verdict(m.speed_vs_limit, m.goal_vs_limit),
            verdict(m.speed_vs_cpython, Some(m.goal_vs_cpython)),
        );
    }
    out += "\nlimits:\n";
    for m in report.metrics.iter().filter(|m| m.limit.is_some()) {
        out += &format!("  {:<17}{}\n", m.name, m.limit_name);
    }
    out +=
        "\nspeed = how many times faster the crate is (below 1: slower); goals from the project's issue.\n";
    out
}
