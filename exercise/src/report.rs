//! Printing the results: a fixed-width table for people, JSON for machines, an SVG plot.

use plotters::prelude::*;
use serde::Serialize;

use crate::crash::CrashReport;
use crate::fork_cost::Point;
use crate::machine::Machine;
use crate::measure::{Stats, Verdict};
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
    pub what: String,
    pub why: String,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub warmup: usize,
    pub reps: usize,
    pub scenarios: Vec<ScenarioResult>,
    pub fork_cost: Vec<Point>,
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
            out += &format!(
                "{:<22}{:>3}  {:>10}  {:<28}{:<28}{:>8.2}  {}{}\n",
                s.name,
                s.workers,
                serial,
                spread(&s.threads),
                spread(&s.processes),
                s.ratio,
                s.verdict,
                surprise
            );
            out += &format!("    what: {}\n    why:  {}\n", s.what, s.why);
        }
        out += &format!(
            "A winner needs every run faster than every run of the other and medians {:.0}% apart; else a tie.\n",
            (crate::measure::MARGIN - 1.0) * 100.0
        );
    }
    if let Some(py) = &report.python {
        out += &format!(
            "\nThe lecture's case in CPython {} (the same loop, {} workers): threads {}, processes {}, \
             ratio {:.2}: {}\n    why: the GIL lets one thread run Python code at a time; Rust has none \
             (see independent-cpu)\n",
            py.version,
            py.workers,
            spread(&py.threads),
            spread(&py.processes),
            py.ratio,
            py.verdict
        );
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

/// Draws the ratios per scenario and the fork-cost curve into one SVG file.
pub fn plot(report: &Report, path: &std::path::Path) -> Result<(), String> {
    let root = SVGBackend::new(path, (1100, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(620);
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();

    let n = report.scenarios.len().max(1);
    let top = report.scenarios.iter().map(|s| s.ratio.max(1.0 / s.ratio)).fold(4.0f64, f64::max) * 1.5;
    let names: Vec<String> = report.scenarios.iter().map(|s| s.name.clone()).collect();
    let mut chart = ChartBuilder::on(&left)
        .caption("threads / processes (above 1: processes faster)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(110)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (1.0 / top..top).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| names.get(x.round() as usize).cloned().unwrap_or_default())
        .x_label_style(("sans-serif", 12).into_font().transform(FontTransform::Rotate90))
        .y_desc("ratio (log scale)")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(report.scenarios.iter().enumerate().map(|(i, s)| {
            let color = match s.verdict {
                Verdict::Processes => BLUE.mix(0.7),
                Verdict::Threads => RED.mix(0.7),
                Verdict::Tie => BLACK.mix(0.3),
            };
            let x = i as f64;
            Rectangle::new([(x - 0.3, 1.0), (x + 0.3, s.ratio)], color.filled())
        }))
        .map_err(err)?;
    chart.draw_series(LineSeries::new([(-0.5, 1.0), (n as f64 - 0.5, 1.0)], BLACK)).map_err(err)?;

    let max_heap = report.fork_cost.iter().map(|p| p.heap_mib).max().unwrap_or(1).max(1) as f64;
    let max_time =
        report.fork_cost.iter().map(|p| p.process.median.max(p.thread.median) * 1e3).fold(1.0f64, f64::max)
            * 1.2;
    let mut curve = ChartBuilder::on(&right)
        .caption("start + join one worker", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_heap * 1.05, 0f64..max_time)
        .map_err(err)?;
    curve
        .configure_mesh()
        .x_desc("parent's touched heap (MiB)")
        .y_desc("milliseconds")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(err)?;
    for (label, color, pick) in [
        ("process (fork)", BLUE, (|p: &Point| p.process.median) as fn(&Point) -> f64),
        ("thread", RED, |p: &Point| p.thread.median),
    ] {
        let points: Vec<(f64, f64)> =
            report.fork_cost.iter().map(|p| (p.heap_mib as f64, pick(p) * 1e3)).collect();
        curve
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
        curve.draw_series(points.into_iter().map(|pt| Circle::new(pt, 3, color.filled()))).map_err(err)?;
    }
    curve.configure_series_labels().background_style(WHITE).border_style(BLACK).draw().map_err(err)?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
