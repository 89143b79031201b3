//! Runs the exercise as a user would (the debug build, with `--quick`) and checks what it
//! reports. Speed itself is not judged here: that is what running the program is for.

use std::process::Command;

use serde_json::Value;

const SCENARIOS: [&str; 8] = [
    "global-lock",
    "false-sharing",
    "false-sharing-padded",
    "arc-refcount",
    "spawn-many",
    "bulk-transfer",
    "independent-cpu",
    "allocation-heavy",
];

fn exercise(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_exercise")).args(args).output().expect("run the exercise")
}

fn finite_positive(stats: &Value, what: &str) -> f64 {
    for field in ["median", "min", "max"] {
        let v = stats[field].as_f64().unwrap_or_else(|| panic!("{what}.{field} is missing"));
        assert!(v.is_finite() && v > 0.0, "{what}.{field} = {v}");
    }
    let (min, median, max) =
        (stats["min"].as_f64().unwrap(), stats["median"].as_f64().unwrap(), stats["max"].as_f64().unwrap());
    assert!(min <= median && median <= max, "{what}: min {min}, median {median}, max {max}");
    median
}

#[test]
fn quick_json_reports_every_scenario() {
    let output = exercise(&["--quick", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("valid JSON on stdout");
    let scenarios = report["scenarios"].as_array().expect("a scenarios array");
    let names: Vec<&str> = scenarios.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, SCENARIOS);
    for s in scenarios {
        let name = s["name"].as_str().unwrap();
        assert!(s["workers"].as_u64().unwrap() >= 1);
        let threads = finite_positive(&s["threads"], &format!("{name}.threads"));
        let processes = finite_positive(&s["processes"], &format!("{name}.processes"));
        let ratio = s["ratio"].as_f64().unwrap();
        assert!((ratio - threads / processes).abs() < 1e-9 * ratio.max(1.0), "{name}: ratio {ratio}");
        assert!(["threads", "processes", "tie"].contains(&s["verdict"].as_str().unwrap()), "{name}");
    }
    let fork_cost = report["fork_cost"].as_array().unwrap();
    assert_eq!(fork_cost.len(), 2);
    for point in fork_cost {
        finite_positive(&point["process"], "fork_cost.process");
        finite_positive(&point["thread"], "fork_cost.thread");
    }
}

#[test]
fn quick_json_says_how_busy_and_what_starting_costs() {
    let output =
        exercise(&["--quick", "--json", "--scenario", "independent-cpu", "--scenario", "spawn-many"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("valid JSON on stdout");
    let load = &report["load"];
    assert!(load["busy"].is_boolean(), "{load}");
    for field in ["slowdown_before", "slowdown_after"] {
        let slowdown = load[field].as_f64().unwrap_or_else(|| panic!("load.{field} is missing: {load}"));
        assert!(slowdown.is_finite() && slowdown > 0.0, "load.{field} = {slowdown}");
    }
    assert_eq!(load["busy"].as_bool().unwrap(), !load["reasons"].as_array().unwrap().is_empty(), "{load}");
    finite_positive(&report["startup"]["threads"], "startup.threads");
    finite_positive(&report["startup"]["processes"], "startup.processes");
    for s in report["scenarios"].as_array().unwrap() {
        assert!(s["busy"].is_boolean(), "{s}");
        let share = &s["startup_share"];
        if s["name"] == "spawn-many" {
            assert!(share.is_null(), "starting is spawn-many's work, not a distortion: {share}");
        } else {
            assert!(share.as_f64().is_some_and(|x| x > 0.0), "{share}");
        }
    }
}

#[test]
fn a_busy_machine_marks_the_verdicts() {
    // A pretended load of 8 tasks on the CPUs: every measurement must be marked busy.
    let args = ["--quick", "--reps", "1", "--scenario", "independent-cpu", "--simulate-load", "8"];
    let output = exercise(&[&args[..], &["--json"]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("valid JSON on stdout");
    assert_eq!(report["load"]["busy"], true, "{}", report["load"]);
    assert_eq!(report["load"]["simulated_load"], 8.0);
    let scenario = &report["scenarios"][0];
    assert_eq!(scenario["busy"], true, "{scenario}");
    assert_eq!(scenario["others_cpu_share"], 1.0, "{scenario}");

    let output = exercise(&args);
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    let row = table.lines().find(|l| l.starts_with("independent-cpu")).expect("a row for the scenario");
    assert!(row.contains("(busy)"), "{row}");
    assert!(table.contains("warning: the machine was busy"), "{table}");
    assert!(table.contains("run again on a quiet machine"), "{table}");
}

#[test]
fn crash_demo_announces_itself_before_anything_crashes() {
    let output = exercise(&["--json", "--scenario", "crash"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice::<Value>(&output.stdout).expect("stdout stays valid JSON");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    let position = |what: &str| {
        lines.iter().position(|l| l.contains(what)).unwrap_or_else(|| panic!("no {what:?} in:\n{stderr}"))
    };
    let announced = position("The crash-isolation demo");
    let process_panic = position("Process panics:");
    let thread_panic = position("thread 'panics'");
    let ended = position("end of the demo");
    assert!(announced < process_panic && process_panic < thread_panic && thread_panic < ended, "{stderr}");
    // Every line of it, the crashes' own included, is marked as the demo's.
    for line in &lines {
        assert!(line.starts_with("crash-isolation demo |"), "an unmarked line: {line:?}\n{stderr}");
    }
    assert!(stderr.contains("on purpose"), "{stderr}");
}

#[test]
fn crash_takes_down_one_process_but_the_whole_threaded_program() {
    let output = exercise(&["--quick", "--json", "--scenario", "crash"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let crash = &report["crash"];
    let codes: Vec<i64> =
        crash["processes"].as_array().unwrap().iter().map(|p| p[1].as_i64().unwrap()).collect();
    assert_eq!(codes, [1, -6, 0], "panic, abort, healthy");
    assert_eq!(crash["process_healthy_finished"], true);
    assert_eq!(crash["thread_program_ended"], "signal 6");
    assert_eq!(crash["thread_healthy_finished"], false);
}

/// The `<rect .../>` elements of an SVG file, as (fill, width, height).
fn rects(svg: &str) -> Vec<(String, f64, f64)> {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[start..start + tag[start..].find('"')?].to_string())
    };
    svg.split("<rect")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').unwrap()];
            let number = |name| attr(tag, name).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            (attr(tag, "fill").unwrap_or_default(), number("width"), number("height"))
        })
        .collect()
}

#[test]
fn plot_has_a_legend_and_one_visible_bar_per_value() {
    let path = std::env::temp_dir().join(format!("exercise-plot-{}.svg", std::process::id()));
    let output = exercise(&[
        "--quick",
        "--reps",
        "1",
        "--json",
        "--python",
        "--scenario",
        "independent-cpu",
        "--scenario",
        "spawn-many",
        "--scenario",
        "fork-cost",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("valid JSON on stdout");
    let svg = std::fs::read_to_string(&path).expect("the plot file");
    std::fs::remove_file(&path).ok();
    assert!(svg.starts_with("<svg"), "not an SVG file");

    // The values: each scenario, and CPython's row when python3 ran.
    let mut values: Vec<(String, f64)> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["ratio"].as_f64().unwrap()))
        .collect();
    if !report["python"].is_null() {
        values.push(("CPython".into(), report["python"]["ratio"].as_f64().unwrap()));
    }
    for (name, ratio) in &values {
        assert!(svg.contains(name.as_str()), "{name} is not labelled");
        let value = format!("{ratio:.2} ");
        assert!(
            svg.lines().any(|l| l.trim_start().starts_with(&value)),
            "{name}'s ratio {ratio:.2} is not written"
        );
    }
    // The legend: a swatch for each of the three bar colours, and what they mean.
    for words in ["processes faster", "threads faster", "tie", "within 10%"] {
        assert!(svg.contains(words), "the legend lacks {words:?}");
    }
    // The bar colours are used by bars and legend swatches only: one rectangle per value, plus
    // the three swatches, and every one of them big enough to see.
    let bar_colours = ["#0072B2", "#D55E00", "#888888"];
    let bars: Vec<_> =
        rects(&svg).into_iter().filter(|(fill, _, _)| bar_colours.contains(&fill.as_str())).collect();
    assert_eq!(bars.len(), values.len() + 3, "{bars:?}");
    for (fill, width, height) in &bars {
        assert!(*width >= 5.0 && *height >= 5.0, "a bar too small to see: {fill} {width}x{height}");
    }
}

#[test]
fn table_names_machine_and_verdicts() {
    let output = exercise(&["--quick", "--scenario", "independent-cpu"]);
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("machine: "), "{table}");
    assert!(table.contains("build:   rustc"), "{table}");
    let row = table.lines().find(|l| l.starts_with("independent-cpu")).expect("a row for the scenario");
    assert!(["threads", "processes", "tie"].iter().any(|v| row.contains(v)), "{row}");
}

#[test]
fn python_comparison_or_a_clear_message() {
    let output = exercise(&["--quick", "--json", "--python", "--scenario", "crash"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    if report["python"].is_null() {
        let why = report["python_error"].as_str().expect("a reason when python is missing");
        assert!(why.contains("python3"), "{why}");
    } else {
        finite_positive(&report["python"]["threads"], "python.threads");
        finite_positive(&report["python"]["processes"], "python.processes");
    }
}

#[test]
fn unknown_scenario_is_a_clear_error() {
    let output = exercise(&["--scenario", "teleportation"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("teleportation") && stderr.contains("global-lock"), "{stderr}");
}
