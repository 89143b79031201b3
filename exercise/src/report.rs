//! Printing the results: a fixed-width table for people and JSON for machines (the SVG plot is
//! in `plot.rs`).

use harness::{Machine, Stats};
use serde::Serialize;

use crate::crash::CrashReport;
use crate::fork_cost::Point;
use crate::load::{BUSY_SHARE, Load};
use crate::measure::{MARGIN, STARTUP_SHARE, Verdict};
use crate::python::PythonResult;

/// One scenario's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub workers: usize,
    pub serial: Option<Stats>,
    pub threads: Stats,
    pub processes: Stats,
    /// threads / processes, medians: above 1, processes were faster.
    pub ratio: f64,
    pub verdict: Verdict,
    pub predicted: Verdict,
    /// Share of the machine's CPU time that other programs used while this scenario was timed.
    pub others_cpu_share: Option<f64>,
    /// Measured on a busy machine (during it, or before or after the run: see `load`): the
    /// verdict may not repeat on a quiet machine.
    pub busy: bool,
    /// Starting and joining the processes (`startup`), as a share of the process variant's
    /// median; absent where starting workers is the scenario's work.
    pub startup_share: Option<f64>,
    pub what: String,
    pub why: String,
}

/// The fixed cost of using workers at all: start and join N that do nothing.
#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    pub workers: usize,
    pub threads: Stats,
    pub processes: Stats,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub warmup: usize,
    pub reps: usize,
    /// How busy the machine was, before, during and after.
    pub load: Load,
    pub startup: Option<Startup>,
    pub scenarios: Vec<ScenarioResult>,
    pub fork_cost: Vec<Point>,
    /// The heap sizes the machine could not hold, when some were skipped.
    pub fork_cost_skipped: Option<String>,
    pub crash: Option<CrashReport>,
    pub python: Option<PythonResult>,
    /// Why `python` is missing, when it was asked for.
    pub python_error: Option<String>,
}

/// The unit a duration reads best in: (scale, suffix, decimals).
fn unit(seconds: f64) -> (f64, &'static str, usize) {
    if seconds >= 1.0 {
        (1.0, "s", 2)
    } else if seconds >= 1e-3 {
        (1e3, "ms", 1)
    } else {
        (1e6, "us", 0)
    }
}

fn time(seconds: f64) -> String {
    let (scale, suffix, decimals) = unit(seconds);
    format!("{:.*} {suffix}", decimals, seconds * scale)
}

/// `median [min-max]`, all three in the median's unit.
fn spread(stats: &Stats) -> String {
    let (scale, suffix, d) = unit(stats.median);
    format!(
        "{:.*} {suffix} [{:.*}-{:.*}]",
        d,
        stats.median * scale,
        d,
        stats.min * scale,
        d,
        stats.max * scale
    )
}

/// The table, as printed to stdout.
pub fn table(report: &Report) -> String {
    let m = &report.machine;
    let mut out = String::new();
    out += &format!(
        "Threads vs processes in Rust: {} runs of each after {} warm-up, alternating\n",
        report.reps, report.warmup
    );
    out += &format!(
        "machine: {} ({} CPUs), {}\nbuild:   {}, {} profile\n",
        m.cpu, m.cpus, m.kernel, m.rustc, m.profile
    );
    if m.profile != "release" {
        out += "warning: a debug build measures the compiler's checks, not threads and processes: use --release\n";
    }
    out += &load_lines(&report.load);
    if let Some(st) = &report.startup {
        out += &format!(
            "startup: starting and joining {} workers that do nothing takes {} as threads, {} as processes\n",
            st.workers,
            time(st.threads.median),
            time(st.processes.median)
        );
    }
    if !report.scenarios.is_empty() {
        out += &format!(
            "\n{:<22}{:>3}  {:>10}  {:<28}{:<28}{:>8}  {}\n",
            "scenario",
            "N",
            "serial",
            "threads: median [min-max]",
            "processes: median [min-max]",
            "thr/proc",
            "verdict"
        );
        for s in &report.scenarios {
            let serial = s.serial.map_or("-".to_string(), |st| time(st.median));
            let surprise = if s.verdict != s.predicted {
                format!("  (the mechanism predicts {})", s.predicted)
            } else {
                String::new()
            };
            let busy = if s.busy { " (busy)" } else { "" };
            out += &format!(
                "{:<22}{:>3}  {:>10}  {:<28}{:<28}{:>8.2}  {}{}{}\n",
                s.name,
                s.workers,
                serial,
                spread(&s.threads),
                spread(&s.processes),
                s.ratio,
                s.verdict,
                busy,
                surprise
            );
            out += &format!("    what: {}\n    why:  {}\n", s.what, s.why);
            if s.busy {
                out += &format!("    busy: {}\n", busy_why(s.others_cpu_share));
            }
            if let Some(share) = s.startup_share.filter(|&x| x > STARTUP_SHARE) {
                out += &format!(
                    "    note: starting and joining the processes is {:.0}% of their time: the verdict is partly about that\n",
                    share * 100.0
                );
            }
        }
        out += &format!(
            "A winner needs every run faster than every run of the other and medians {:.0}% apart; else a tie.\n",
            (MARGIN - 1.0) * 100.0
        );
        let worst_startup = report.scenarios.iter().filter_map(|s| s.startup_share).fold(0.0f64, f64::max);
        if worst_startup > 0.0 {
            out += &format!(
                "Starting the processes is at most {:.1}% of a process variant's time (spawn-many aside, where it is the work).\n",
                worst_startup * 100.0
            );
        }
        if report.scenarios.iter().any(|s| s.busy) {
            out += "(busy): measured while other programs were using the CPUs. Such a verdict can differ from one \
                    run to the next (false-sharing has read 1.08 and 4.61 on a busy 2-core VM): run again on a \
                    quiet machine before trusting it.\n";
        }
    }
    if let Some(py) = &report.python {
        out += &format!(
            "\nThe lecture's case in CPython {} (the same loop, {} workers): threads {}, processes {}, \
             ratio {:.2}: {}{}\n    why: the GIL lets one thread run Python code at a time; Rust has none \
             (see independent-cpu)\n",
            py.version,
            py.workers,
            spread(&py.threads),
            spread(&py.processes),
            py.ratio,
            py.verdict,
            if py.busy { " (busy)" } else { "" }
        );
        if py.busy {
            out += &format!("    busy: {}\n", busy_why(py.others_cpu_share));
        }
    }
    if let Some(why) = &report.python_error {
        out += &format!("\n--python: {why}\n");
    }
    if !report.fork_cost.is_empty() {
        out += "\nStarting one worker (start + join), by the parent's touched heap:\n";
        out += &format!("{:>10}  {:>14}  {:>14}  {:>8}\n", "heap", "process", "thread", "ratio");
        for p in &report.fork_cost {
            out += &format!(
                "{:>6} MiB  {:>14}  {:>14}  {:>8.1}\n",
                p.heap_mib,
                time(p.process.median),
                time(p.thread.median),
                p.process.median / p.thread.median
            );
        }
        out += "    why: fork copies the page tables of every touched page; a thread copies nothing\n";
        if let Some(skipped) = &report.fork_cost_skipped {
            out += &format!("    note: {skipped}\n");
        }
    }
    if let Some(c) = &report.crash {
        out += "\nA crashing worker (one panics, one aborts, one is healthy):\n";
        let codes: Vec<String> = c.processes.iter().map(|(n, code)| format!("{n} exitcode {code}")).collect();
        out += &format!(
            "  as processes: {}; the healthy one {}\n",
            codes.join(", "),
            if c.process_healthy_finished { "finished" } else { "did NOT finish" }
        );
        out += &format!(
            "  as threads:   the whole program ended with {}; the healthy thread {}\n",
            c.thread_program_ended,
            if c.thread_healthy_finished { "finished" } else { "was lost with it" }
        );
        out += "    why: a process has its own address space; an abort (or a segfault) ends every thread of its process\n";
    }
    out
}

/// Why a measurement is marked busy.
fn busy_why(others_cpu_share: Option<f64>) -> String {
    match others_cpu_share {
        Some(share) if share >= BUSY_SHARE => {
            format!("other programs used {:.0}% of the CPU time while it ran", share * 100.0)
        }
        _ => "the machine was busy before or after the measurements (see \"load\" above)".into(),
    }
}

/// The "load:" lines: how busy the machine was before, during and after, and a warning if busy.
fn load_lines(load: &Load) -> String {
    let pct = |share: Option<f64>| share.map_or("?".to_string(), |s| format!("{:.0}%", s * 100.0));
    let mut out = String::new();
    if let (Some(before), Some(after)) = (load.slowdown_before, load.slowdown_after) {
        out += &format!(
            "load:    {n} threads take {before:.2}x the time of 1 before the measurements, {after:.2}x after; \
             other programs used {} of the CPU time before, {} during, {} after\n",
            pct(load.others_share_before),
            pct(load.others_share),
            pct(load.others_share_after),
            n = load.cpus,
        );
    }
    if let Some(l) = load.load_before {
        if load.simulated_load.is_some() {
            out += &format!(
                "         simulated load {l:.2} (--simulate-load): every measurement counts as busy\n"
            );
        } else {
            out += &format!(
                "         1-min load average {l:.2} on {} CPUs before (a decaying average: it still counts the last minutes, this program included)\n",
                load.cpus
            );
        }
    }
    if load.busy {
        out += "warning: the machine was busy; verdicts marked (busy) may not repeat on a quiet machine:\n";
        for reason in &load.reasons {
            out += &format!("         - {reason}\n");
        }
    }
    out
}
