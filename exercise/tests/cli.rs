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

#[test]
fn plot_is_an_svg_file() {
    let path = std::env::temp_dir().join(format!("exercise-plot-{}.svg", std::process::id()));
    let output = exercise(&[
        "--quick",
        "--scenario",
        "independent-cpu",
        "--scenario",
        "fork-cost",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let svg = std::fs::read_to_string(&path).expect("the plot file");
    std::fs::remove_file(&path).ok();
    assert!(svg.starts_with("<svg"), "not an SVG file");
    assert!(svg.contains("independent-cpu"), "the scenario is not labelled");
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
