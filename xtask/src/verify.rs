//! `cargo xtask verify`: run every example and compare its output with its transcript.
//!
//! Each example is built once, then run directly (as `cargo run` would, without cargo's own
//! lines), with stdout and stderr in one pipe as a terminal shows them. Every line is stamped
//! with the time it arrived, for the transcripts that check timing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::transcript::{OutputLine, Transcript};
use crate::{DynError, project_root};

/// One runnable example and the transcript it must print.
struct Example {
    package: &'static str,
    bin: &'static str,
    /// How a user runs it (printed on a mismatch).
    command: &'static str,
}

const EXAMPLES: &[Example] = &[
    Example { package: "examples-logging", bin: "log_to_stderr", command: "cargo run -p examples-logging" },
    Example {
        package: "examples-logging",
        bin: "get_logger",
        command: "cargo run -p examples-logging --bin get_logger",
    },
    Example {
        package: "examples-subclass",
        bin: "examples-subclass",
        command: "cargo run -p examples-subclass",
    },
    Example { package: "examples-queue", bin: "examples-queue", command: "cargo run -p examples-queue" },
    Example {
        package: "examples-consumers",
        bin: "examples-consumers",
        command: "cargo run -p examples-consumers",
    },
    Example { package: "examples-event", bin: "examples-event", command: "cargo run -p examples-event" },
];

/// How long one run may take before it is killed and failed.
const RUN_TIME_LIMIT: Duration = Duration::from_secs(60);

pub fn run(args: &[String]) -> Result<(), DynError> {
    let mut runs = 1;
    let mut wanted = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--runs takes a number")?
            }
            name => wanted.push(name.to_string()),
        }
    }
    let selected: Vec<&Example> = EXAMPLES
        .iter()
        .filter(|e| wanted.is_empty() || wanted.iter().any(|w| w == e.package || w == e.bin))
        .collect();
    if selected.is_empty() {
        let known: Vec<&str> = EXAMPLES.iter().map(|e| e.package).collect();
        return Err(format!(
            "no example called {}; the examples are {}",
            wanted.join(", "),
            known.join(", ")
        )
        .into());
    }

    build(&selected)?;
    // The transcripts' machine-dependent value: the consumer example starts 2 x cpu_count().
    let vars = HashMap::from([("CONSUMERS", 2 * multiprocessing::cpu_count() as i64)]);
    let mut failures = 0;
    for example in &selected {
        let expected_path =
            project_root().join(example.package).join("expected").join(format!("{}.txt", example.bin));
        let source = std::fs::read_to_string(&expected_path)
            .map_err(|e| format!("cannot read {}: {e}", expected_path.display()))?;
        let transcript =
            Transcript::parse(&source, &vars).map_err(|e| format!("{}: {e}", expected_path.display()))?;
        for run in 1..=runs {
            let label = if runs > 1 {
                format!("{} (run {run}/{runs})", example.command)
            } else {
                example.command.to_string()
            };
            match check_once(example, &transcript) {
                Ok(elapsed) => println!("ok       {label}  [{:.2}s]", elapsed.as_secs_f64()),
                Err(report) => {
                    failures += 1;
                    println!("FAILED   {label}\n{report}");
                    println!(
                        "    expected: {}\n    reproduce: {}\n",
                        expected_path.display(),
                        example.command
                    );
                }
            }
        }
    }
    let total = selected.len() * runs;
    println!("\n{} passed, {failures} failed", total - failures);
    if failures > 0 {
        return Err(format!("{failures} of {total} example runs did not match their transcripts").into());
    }
    Ok(())
}

fn build(selected: &[&Example]) -> Result<(), DynError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(project_root()).args(["build", "--quiet"]);
    for example in selected {
        command.args(["-p", example.package, "--bin", example.bin]);
    }
    if !command.status()?.success() {
        return Err("building the examples failed".into());
    }
    Ok(())
}

fn executable(example: &Example) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| project_root().join("target"), PathBuf::from);
    target.join("debug").join(example.bin)
}

/// Runs the example once; on a mismatch returns a readable report.
fn check_once(example: &Example, transcript: &Transcript) -> Result<Duration, String> {
    let (status, lines, elapsed) = run_example(example).map_err(|e| format!("    could not run it: {e}"))?;
    let Some(status) = status else {
        return Err(format!(
            "    it ran past {}s and was killed\n{}",
            RUN_TIME_LIMIT.as_secs(),
            indent(&lines)
        ));
    };
    if !status.success() {
        return Err(format!("    it exited with {status}\n{}", indent(&lines)));
    }
    transcript.check(&lines).map_err(|mismatch| {
        let expected = transcript.expected_lines().join("\n") + "\n";
        let actual: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
        let diff = similar::TextDiff::from_lines(&expected, &actual);
        format!(
            "    {mismatch}\n    diff (- expected, + actual; blocks marked unordered in the transcript may differ in order):\n{}",
            diff.unified_diff().context_radius(3).header("expected", "actual")
        )
    })?;
    Ok(elapsed)
}

fn indent(lines: &[OutputLine]) -> String {
    lines.iter().map(|l| format!("    | {}\n", l.text)).collect()
}

type RunResult = (Option<std::process::ExitStatus>, Vec<OutputLine>, Duration);

/// Runs the built example with stdout and stderr in one pipe; stamps each line on arrival.
fn run_example(example: &Example) -> std::io::Result<RunResult> {
    let (reader, writer) = os_pipe::pipe()?;
    let started = Instant::now();
    let mut child = Command::new(executable(example))
        .current_dir(project_root())
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .spawn()?;
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut raw = Vec::new();
        // Read bytes, not `lines()`: a torn line must reach the matcher as it is, not as an error.
        while reader.read_until(b'\n', &mut raw).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&raw).trim_end_matches('\n').to_string();
            if sender.send(OutputLine { text, at: started.elapsed() }).is_err() {
                break;
            }
            raw.clear();
        }
    });
    let deadline = started + RUN_TIME_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    // Collect what the program (and any process it left behind, for a short while) printed.
    let mut lines = Vec::new();
    let grace = Instant::now() + Duration::from_secs(5);
    while let Ok(line) = received.recv_timeout(grace.saturating_duration_since(Instant::now())) {
        lines.push(line);
    }
    Ok((status, lines, elapsed))
}
