//! `cargo xtask bench`: the `multiprocessing` crate against the OS's limits and against CPython,
//! in one run.
//!
//! For every metric, each round runs the crate's version, the limit (the same workload written
//! directly on the OS) and CPython's `multiprocessing` (when `python3` is there), in an order that
//! rotates from round to round; one warm-up round, then `--reps` timed ones. Every workload checks
//! that what arrived is what was sent, so a fast wrong queue cannot score.
//!
//! `--curves` measures how costs grow instead (`curves.rs`), `--instructions` counts the
//! per-message paths in instructions (`instructions.rs`). How to measure (rounds, statistics,
//! the machine, CPython, plots) is the `harness` crate's, shared with the exercise.

mod curves;
mod instructions;
mod raw;
mod workloads;

use std::path::PathBuf;

use clap::Parser;
use harness::curve::cell;
use harness::{Context, Curve, Error, Machine, Mode, Result, Rounds, Stats, Variant};
use serde::{Deserialize, Serialize};

/// The crate against the OS's limits and CPython.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Small sizes and 2 rounds: checks that everything runs, measures little.
    #[arg(long)]
    quick: bool,
    /// Timed rounds per metric, or per point of a curve [default: 5 (curves: 3), or 2 with --quick].
    #[arg(long)]
    reps: Option<usize>,
    /// Print the results as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Skip CPython even if python3 is present.
    #[arg(long)]
    no_python: bool,
    /// Measure only these metrics (repeatable): start-join, queue-small, queue-1mib,
    /// joinable-20k, event-ping-pong, event-flags, lock-handoff, value-increment,
    /// pool-map-tiny, pool-map-cpu, manager-set-get.
    #[arg(long = "metric", value_name = "NAME")]
    metrics: Vec<String>,
    /// Measure the curves (queue throughput against message size and against producers x
    /// consumers, process start against the parent's heap) instead of the metrics; the metrics
    /// too if --metric names some.
    #[arg(long)]
    curves: bool,
    /// Measure only these curves (repeatable; implies --curves): message-size,
    /// producers-consumers, fork-heap.
    #[arg(long = "curve", value_name = "NAME")]
    curve_names: Vec<String>,
    /// Write each curve as DIR/NAME.svg (implies --curves).
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Count instructions per message under valgrind instead of timing (the metrics too if
    /// --metric names some).
    #[arg(long)]
    instructions: bool,
    /// Internal: run one path of --instructions, under valgrind.
    #[arg(long, hide = true, value_name = "PATH")]
    count_path: Option<String>,
    /// Internal: how many messages for --count-path.
    #[arg(long, hide = true, default_value_t = 0)]
    count: u64,
}

type Workload = fn(u64) -> Result<f64>;

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

const METRICS: [Metric; 11] = [
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
        limit_name: "one futex word both sides store to in turn, spinning 20 us before sleeping, waking only sleepers",
        size: (5_000, 200),
        python_size: (1_000, 100),
        goal_vs_limit: Some(1.0 / 1.2),
        goal_vs_cpython: 5.0,
    },
    Metric {
        // The same program as event-ping-pong, against a limit that does what it does.
        name: "event-flags",
        unit: "us/round trip",
        higher_is_better: false,
        ours: workloads::event_ping_pong,
        limit: Some(raw::event_ping_pong_flags),
        limit_name: "the same set/wait/clear on two raw futex flags, spinning 20 us (not a goal: how much of event-ping-pong's gap is the protocol)",
        size: (5_000, 200),
        python_size: (1_000, 100),
        goal_vs_limit: None,
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
    Metric {
        name: "manager-set-get",
        unit: "us/set+get",
        higher_is_better: false,
        ours: workloads::manager_set_get,
        limit: Some(raw::socket_request_response),
        limit_name: "two request/response round trips over a Unix socket pair to an echo process",
        size: (20_000, 500),
        python_size: (5_000, 200),
        goal_vs_limit: Some(0.5),
        goal_vs_cpython: 10.0,
    },
];

const PYTHON_SCRIPT: &str = include_str!("../python/bench.py");

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
    machine: Machine,
    cpython: Option<String>,
    reps: usize,
    metrics: Vec<MetricResult>,
    /// Timed rounds per point of a curve (each after one warm-up round).
    curve_reps: usize,
    curves: Vec<Curve>,
    instructions: Option<instructions::Counts>,
    /// Why `instructions` is missing when it was asked for (valgrind not installed).
    instructions_skipped: Option<String>,
}

fn main() {
    let args = Args::parse();
    let outcome = match &args.count_path {
        Some(path) => instructions::run_path(path, args.count),
        None => run(&args),
    };
    if let Err(e) = outcome {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let mode = Mode::from_quick(args.quick);
    let curves_wanted = args.curves || !args.curve_names.is_empty() || args.plot.is_some();
    let points_wanted = (!curves_wanted && !args.instructions) || !args.metrics.is_empty();
    check_names("metric", &args.metrics, &METRICS.map(|m| m.name))?;
    check_names("curve", &args.curve_names, &curves::NAMES)?;
    let reps = args.reps.unwrap_or(mode.pick(5, 2)).max(1);
    let python_version = if args.no_python || !points_wanted { None } else { harness::python::version() };
    let mut tick = || eprint!(".");

    let mut metrics = Vec::new();
    if points_wanted {
        for metric in
            METRICS.iter().filter(|m| args.metrics.is_empty() || args.metrics.iter().any(|n| n == m.name))
        {
            metrics.push(
                measure_metric(metric, mode, reps, python_version.is_some(), &mut tick)
                    .context(metric.name)?,
            );
        }
    }
    let curve_rounds = Rounds { warmup: 1, reps: args.reps.unwrap_or(mode.pick(3, 2)).max(1) };
    let curves = if curves_wanted {
        curves::measure(&args.curve_names, mode, curve_rounds, &mut tick)?
    } else {
        Vec::new()
    };
    let (instructions, instructions_skipped) = if args.instructions {
        match instructions::measure(&mut tick) {
            Ok(counts) => (Some(counts), None),
            Err(e) if e.is_missing() => (None, Some(e.to_string())),
            Err(e) => return Err(e).context("instructions"),
        }
    } else {
        (None, None)
    };
    eprintln!();
    let report = Report {
        machine: Machine::describe(),
        cpython: python_version,
        reps,
        metrics,
        curve_reps: curve_rounds.reps,
        curves,
        instructions,
        instructions_skipped,
    };
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).context(dir.display())?;
        let footnote = format!(
            "{}, {} build; median of the rounds, bars from min to max",
            report.machine, report.machine.profile
        );
        for curve in &report.curves {
            let path = dir.join(format!("{}.svg", curve.name));
            harness::plot::write_svg(&path, curve, &footnote).context(path.display())?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
        if let Some(dir) = &args.plot {
            println!("\nplots written to {}/", dir.display());
        }
    }
    Ok(())
}

/// `Err` naming the known ones when a name is not among them.
fn check_names(what: &str, asked: &[String], known: &[&str]) -> Result<()> {
    match asked.iter().find(|name| !known.contains(&name.as_str())) {
        Some(name) => Err(Error::Usage(format!("no {what} {name:?}; the {what}s are {}", known.join(", ")))),
        None => Ok(()),
    }
}

/// CPython's answer: the metric's value, in its unit.
#[derive(Deserialize)]
struct PythonValue {
    value: f64,
}

/// One metric: ours, the limit and CPython (those there are), rotating, one warm-up round.
fn measure_metric(
    metric: &Metric,
    mode: Mode,
    reps: usize,
    python: bool,
    tick: &mut dyn FnMut(),
) -> Result<MetricResult> {
    let size = mode.pick(metric.size.0, metric.size.1);
    let python_size = mode.pick(metric.python_size.0, metric.python_size.1);
    let mut ours = || (metric.ours)(size);
    let mut limit = metric.limit.map(|limit| move || limit(size));
    let mut cpython = || {
        let args = [metric.name.to_string(), python_size.to_string()];
        harness::python::run::<PythonValue>(PYTHON_SCRIPT, &args).map(|v| v.value)
    };
    let mut variants = vec![Variant { name: "ours", run: &mut ours }];
    if let Some(limit) = limit.as_mut() {
        variants.push(Variant { name: "limit", run: limit });
    }
    if python {
        variants.push(Variant { name: "cpython", run: &mut cpython });
    }
    let mut stats = Rounds { warmup: 1, reps }.run(&mut variants, tick)?.into_iter();
    let ours = stats.next().expect("ours always runs");
    let limit = metric.limit.and_then(|_| stats.next());
    let cpython = stats.next();
    let speed = |other: Option<Stats>| {
        other.map(|o| if metric.higher_is_better { ours.median / o.median } else { o.median / ours.median })
    };
    Ok(MetricResult {
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
    })
}

fn table(report: &Report) -> String {
    let mut out = String::new();
    if !report.metrics.is_empty() {
        out += &points_table(report);
    }
    if !report.curves.is_empty() {
        out += &format!(
            "\nCurves: each point the median [min-max] of {} rounds after a warm-up, the crate and its limit alternating\n",
            report.curve_reps
        );
    }
    for curve in &report.curves {
        out += &format!("\n{}", curve.table());
    }
    if let Some(counts) = &report.instructions {
        out += &format!("\n{}", instructions::table(counts));
    }
    if let Some(why) = &report.instructions_skipped {
        out += &format!("\n--instructions skipped: {why}\n");
    }
    if report.metrics.is_empty() {
        out = format!(
            "machine: {}, {}, {} build\n{out}",
            report.machine, report.machine.rustc, report.machine.profile
        );
    }
    out
}

fn verdict(speed: Option<f64>, goal: Option<f64>) -> String {
    match (speed, goal) {
        (Some(s), Some(g)) => format!("{s:.2}x {}", if s >= g { "(goal met)" } else { "(goal NOT met)" }),
        (Some(s), None) => format!("{s:.2}x"),
        _ => "-".into(),
    }
}

fn points_table(report: &Report) -> String {
    let mut out = format!(
        "multiprocessing crate vs the OS's limit vs CPython: median [min-max] of {} rounds, {} build\n\
         machine: {}, {}\ncpython: {}\n\n",
        report.reps,
        report.machine.profile,
        report.machine,
        report.machine.rustc,
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
            cell(m.ours),
            m.limit.map_or("-".into(), cell),
            m.cpython.map_or("-".into(), cell),
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
