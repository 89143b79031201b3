//! The lecture's exercise: "Write a program to compare the performance of threads and
//! processes. Create a situation where threads are more advantageous than processes, and vice
//! versa." Done in Rust, where there is no GIL: see README.md for what it finds and why.
//!
//! Run it with `cargo run --release -p exercise` (`--help` for the options).

mod crash;
mod fork_cost;
mod load;
mod measure;
mod plot;
mod python;
mod report;
mod scenarios;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Parser;
use harness::{Context, Error, Machine, Mode, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use measure::{Work, compare, verdict};
use report::{Report, ScenarioResult, Startup};
use scenarios::Size;

/// Threads against processes in Rust: which wins, when, and why.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Run only these scenarios (repeatable); `fork-cost` and `crash` name the two extra sections.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Threads or processes per scenario [default: the CPU count].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Small sizes and 3 runs: the whole program in seconds (for CI).
    #[arg(long)]
    quick: bool,
    /// Timed runs of each variant [default: 5, or 3 with --quick].
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Print the results as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Draw the ratios and the fork-cost curve into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Also run the same CPU-bound work in CPython (python3), threads against processes.
    #[arg(long)]
    python: bool,
    /// Internal: the thread half of the crash demonstration, run as its own program.
    #[arg(long, hide = true)]
    crash_in_threads: bool,
    /// Testing: pretend that LOAD other tasks kept the CPUs busy throughout (a load average of
    /// LOAD before the run, and their share of the CPUs in every measurement).
    #[arg(long, hide = true, value_name = "LOAD")]
    simulate_load: Option<f64>,
}

const EXTRA_SECTIONS: [&str; 2] = ["fork-cost", "crash"];
const WARMUP: usize = 1;

fn main() {
    let args = Args::parse();
    if args.crash_in_threads {
        crash::thread_program();
        return;
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let all = scenarios::all();
    for name in &args.scenarios {
        if !all.iter().any(|s| s.name == name) && !EXTRA_SECTIONS.contains(&name.as_str()) {
            let mut known: Vec<&str> = all.iter().map(|s| s.name).collect();
            known.extend(EXTRA_SECTIONS);
            return Err(Error::Usage(format!(
                "no scenario {name:?}; the scenarios are {}",
                known.join(", ")
            )));
        }
    }
    let wanted = |name: &str| args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == name);
    let workers = args.workers.unwrap_or_else(multiprocessing::cpu_count).max(1);
    let mode = Mode::from_quick(args.quick);
    let reps = args.reps.unwrap_or(mode.pick(5, 3)).max(1);
    let selected: Vec<&scenarios::Scenario> = all.iter().filter(|s| wanted(s.name)).collect();

    // A progress display on stderr, only when a person is watching.
    let runs_per_round: u64 = selected.iter().map(|s| 2 + u64::from(s.serial.is_some())).sum::<u64>()
        + if selected.is_empty() { 0 } else { 2 };
    let fork_steps = if wanted("fork-cost") { fork_cost::sizes(mode).len() as u64 } else { 0 };
    let progress = ProgressBar::with_draw_target(
        Some(runs_per_round * (WARMUP + reps) as u64 + fork_steps),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    // A constant template: should it ever be refused, the default bar does as well.
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    progress.set_message("how busy is the machine?");
    let measuring = !selected.is_empty() || wanted("fork-cost") || args.python;
    let monitor = load::Monitor::before(multiprocessing::cpu_count(), args.simulate_load, measuring);

    // The fixed cost of starting and joining N workers that do nothing, measured in the same
    // conditions as the scenarios, so that the report can say where it matters.
    let startup = if selected.is_empty() {
        None
    } else {
        progress.set_message("startup");
        let threads = || scenarios::empty_threads(workers);
        let processes = || scenarios::empty_processes(workers);
        let measured =
            compare(WARMUP, reps, None, &threads, &processes, &mut || progress.inc(1)).context("startup")?;
        Some(Startup { workers, threads: measured.threads, processes: measured.processes })
    };

    let mut results = Vec::new();
    for scenario in selected {
        progress.set_message(scenario.name);
        let size = Size { workers: (scenario.workers)(workers), mode };
        let serial_run = scenario.serial.map(|run| move || run(&size));
        let serial: Option<Work<'_>> = serial_run.as_ref().map(|f| f as Work<'_>);
        let threads = || (scenario.threads)(&size);
        let processes = || (scenario.processes)(&size);
        let window = monitor.window();
        let measured = compare(WARMUP, reps, serial, &threads, &processes, &mut || progress.inc(1))
            .context(scenario.name)?;
        let (others_cpu_share, busy) = monitor.judge(&window);
        let startup_share = startup
            .as_ref()
            .filter(|s| s.workers == size.workers && !scenario.startup_is_the_work)
            .map(|s| s.processes.median / measured.processes.median);
        results.push(ScenarioResult {
            name: scenario.name.to_string(),
            workers: size.workers,
            serial: measured.serial,
            threads: measured.threads,
            processes: measured.processes,
            ratio: measured.threads.median / measured.processes.median,
            verdict: verdict(&measured.threads, &measured.processes),
            predicted: scenario.predicted,
            others_cpu_share,
            busy,
            startup_share,
            what: scenario.what.to_string(),
            why: scenario.why.to_string(),
        });
    }
    let (fork_cost, fork_cost_skipped) = if wanted("fork-cost") {
        progress.set_message("fork-cost");
        fork_cost::measure(mode, reps, &mut || progress.inc(1))?
    } else {
        (Vec::new(), None)
    };
    let (mut python, python_error) = if args.python {
        progress.set_message("python");
        let window = monitor.window();
        match python::measure(workers, args.quick, reps) {
            Ok(mut result) => {
                (result.others_cpu_share, result.busy) = monitor.judge(&window);
                (Some(result), None)
            }
            Err(why) => (None, Some(why.to_string())),
        }
    } else {
        (None, None)
    };
    progress.set_message("how busy was the machine?");
    let busy_before = monitor.busy_before();
    let any_window_busy = results.iter().any(|s| s.busy) || python.as_ref().is_some_and(|p| p.busy);
    let (load, busy_after) = monitor.after(any_window_busy);
    // Busy before or after the measurements: none of its verdicts can be trusted to repeat.
    if busy_before || busy_after {
        results.iter_mut().for_each(|s| s.busy = true);
        if let Some(p) = python.as_mut() {
            p.busy = true;
        }
    }
    // Not a measurement: it runs last, and says on stderr what it is before anything crashes.
    let crash = if wanted("crash") { Some(progress.suspend(crash::demonstrate)?) } else { None };
    progress.finish_and_clear();

    let report = Report {
        machine: Machine::describe(),
        warmup: WARMUP,
        reps,
        load,
        startup,
        scenarios: results,
        fork_cost,
        fork_cost_skipped,
        crash,
        python,
        python_error,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report::table(&report));
    }
    if let Some(path) = &args.plot {
        plot::plot(&report, path)?;
        if !args.json {
            println!("\nplot written to {}", path.display());
        }
    }
    Ok(())
}
