//! `cargo xtask verify`: run every example and compare its output with its transcript.
//!
//! An example is a workspace member with an `expected/` folder: each `expected/BIN.txt` there is
//! the transcript of the package's binary `BIN` (so a crate made by `cargo xtask new` is one).
//! The examples are built once, then each is run directly (as `cargo run` would, without
//! cargo's own lines), with stdout and stderr in one pipe as a terminal shows them. Every line is
//! stamped with the time it arrived, for the transcripts that check timing.
//!
//! `--exported` checks the examples as a student gets them instead: `export.rs` says how.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::manifest::Workspace;
use crate::transcript::{OutputLine, Transcript};
use crate::{DynError, project_root};

/// One runnable example and the transcript it must print.
#[derive(Debug, Clone)]
pub struct Example {
    pub package: String,
    /// The package's directory.
    pub dir: PathBuf,
    pub bin: String,
    /// `cargo run` runs it without `--bin`.
    pub default: bool,
}

impl Example {
    /// How a user runs it: in the workspace (`cargo run -p PACKAGE`), or in an exported copy.
    pub fn command(&self, in_workspace: bool) -> String {
        let mut command = String::from("cargo run");
        if in_workspace {
            command += &format!(" -p {}", self.package);
        }
        if !self.default {
            command += &format!(" --bin {}", self.bin);
        }
        command
    }

    pub fn transcript_path(&self) -> PathBuf {
        self.dir.join("expected").join(format!("{}.txt", self.bin))
    }
}

/// The workspace's examples: the members with an `expected/` folder, one per transcript, in the
/// order of the members list (a package's default binary first).
pub fn examples(workspace: &Workspace) -> Result<Vec<Example>, String> {
    let mut examples = Vec::new();
    for package in workspace.packages()? {
        let expected = package.dir.join("expected");
        let Ok(entries) = std::fs::read_dir(&expected) else { continue };
        let mut transcripts = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| format!("cannot list {}: {e}", expected.display()))?.path();
            if path.extension().is_some_and(|e| e == "txt") {
                let bin = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                if !package.bins.contains(&bin) {
                    return Err(format!(
                        "{} is the transcript of a binary {bin}, but {} has no such binary (it has {})",
                        path.display(),
                        package.name,
                        package.bins.join(", ")
                    ));
                }
                transcripts.push(bin);
            }
        }
        for bin in &package.bins {
            if transcripts.contains(bin) {
                examples.push(Example {
                    package: package.name.clone(),
                    dir: package.dir.clone(),
                    bin: bin.clone(),
                    default: package.default_bin.as_ref() == Some(bin),
                });
            }
        }
    }
    Ok(examples)
}

/// The examples that `wanted` names (packages or binaries); all of them when it is empty.
pub fn select<'a>(
    examples: &'a [Example],
    wanted: &[String],
    workspace: &Workspace,
) -> Result<Vec<&'a Example>, String> {
    let unknown: Vec<&String> =
        wanted.iter().filter(|w| !examples.iter().any(|e| &e.package == *w || &e.bin == *w)).collect();
    if let Some(first) = unknown.first() {
        let packages = workspace.packages().unwrap_or_default();
        let without_transcript = packages.iter().find(|p| &&p.name == first);
        let why = match without_transcript {
            Some(p) => format!(
                "{} is a package of the workspace, but it has no expected/ folder, so there is nothing to check it against",
                p.name
            ),
            None => format!(
                "there is no example package or binary called {}",
                unknown.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(" or ")
            ),
        };
        return Err(format!("{why}. {}", known_examples(examples)));
    }
    Ok(examples
        .iter()
        .filter(|e| wanted.is_empty() || wanted.iter().any(|w| w == &e.package || w == &e.bin))
        .collect())
}

/// One sentence naming the examples: each package once, with its binaries when it has several.
pub fn known_examples(examples: &[Example]) -> String {
    let mut packages: Vec<(&str, Vec<&str>)> = Vec::new();
    for example in examples {
        match packages.iter_mut().find(|(p, _)| *p == example.package) {
            Some((_, bins)) => bins.push(&example.bin),
            None => packages.push((&example.package, vec![&example.bin])),
        }
    }
    let described: Vec<String> = packages
        .iter()
        .map(|(package, bins)| {
            if bins.len() == 1 && bins[0] == *package {
                package.to_string()
            } else {
                format!("{package} (binaries {})", join_and(bins))
            }
        })
        .collect();
    match described.len() {
        0 => "The workspace has no examples (packages with an expected/ folder).".to_string(),
        _ => format!("The examples are {}.", join_and(&described)),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            format!(
                "{} and {}",
                rest.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(", "),
                last.as_ref()
            )
        }
    }
}

/// How long one run may take before it is killed and failed.
const RUN_TIME_LIMIT: Duration = Duration::from_secs(60);

pub fn run(args: &[String]) -> Result<(), DynError> {
    let mut runs = 1;
    let mut exported = false;
    let mut wanted = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--runs takes a number of runs, 1 or more")?
            }
            "--exported" => exported = true,
            flag if flag.starts_with('-') => {
                return Err(format!("verify knows --runs N and --exported, not {flag}").into());
            }
            name => wanted.push(name.to_string()),
        }
    }
    let workspace = Workspace::load(&project_root())?;
    let examples = examples(&workspace)?;
    let selected = select(&examples, &wanted, &workspace)?;
    if exported {
        return crate::export::verify_exported(&workspace, &selected, runs, wanted.is_empty());
    }

    println!("building the examples (the first time takes a minute)...");
    let started = Instant::now();
    build(&workspace.root, &selected)?;
    println!("built in {:.1}s; running each one:", started.elapsed().as_secs_f64());
    let target = target_dir(&workspace.root);
    let mut tally = Tally::default();
    for example in &selected {
        let transcript = load_transcript(example)?;
        let executable = target.join("debug").join(&example.bin);
        tally.check_runs(
            &example.command(true),
            &executable,
            &workspace.root,
            &transcript,
            runs,
            &example.transcript_path(),
        );
    }
    tally.finish()
}

/// Counts the runs and prints each as it goes.
#[derive(Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

impl Tally {
    /// Runs `executable` `runs` times in `cwd`, checking each run against `transcript`.
    pub fn check_runs(
        &mut self,
        label: &str,
        executable: &Path,
        cwd: &Path,
        transcript: &Transcript,
        runs: usize,
        expected_path: &Path,
    ) {
        for run in 1..=runs {
            let this = if runs > 1 { format!("{label} (run {run}/{runs})") } else { label.to_string() };
            print!("{this} ... ");
            let _ = std::io::stdout().flush();
            match check_once(executable, cwd, transcript) {
                Ok(elapsed) => {
                    self.passed += 1;
                    println!("ok [{:.2}s]", elapsed.as_secs_f64());
                }
                Err(report) => {
                    self.failed += 1;
                    println!("FAILED\n{report}");
                    println!("    expected: {}\n    reproduce: {label}\n", expected_path.display());
                }
            }
        }
    }

    /// Counts `runs` runs that could not happen (their program did not build).
    pub fn fail_unrun(&mut self, label: &str, runs: usize, why: &str) {
        self.failed += runs;
        println!("{label} ... FAILED\n    {why}\n");
    }

    /// Prints the closing line (`N passed, N failed`, which CI reads) and fails if any failed.
    pub fn finish(&self) -> Result<(), DynError> {
        println!("\n{} passed, {} failed", self.passed, self.failed);
        if self.failed > 0 {
            let total = self.passed + self.failed;
            return Err(format!("{} of {total} example runs failed", self.failed).into());
        }
        Ok(())
    }
}

/// The transcript of an example, with the machine's values substituted.
pub fn load_transcript(example: &Example) -> Result<Transcript, String> {
    let path = example.transcript_path();
    let source =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let source = check_word_counts(example, &source).map_err(|e| format!("{}: {e}", path.display()))?;
    Transcript::parse(&source, &transcript_vars()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Handles `@wordcount DIR` (see `wordcount.rs`): the transcript's top 20 must be what a plain
/// count of the example's `DIR/*.rst` gives. Returns the transcript without the directive.
fn check_word_counts(example: &Example, source: &str) -> Result<String, String> {
    let mut rest = String::new();
    for line in source.lines() {
        match line.strip_prefix("@wordcount ") {
            Some(dir) => {
                let counted = crate::wordcount::top20_lines(&example.dir.join(dir.trim()))?;
                let transcribed = crate::wordcount::transcript_top20(source);
                if counted != transcribed {
                    return Err(format!(
                        "the top 20 under {:?} is not what a plain count of {} gives:\n{}",
                        crate::wordcount::HEADER,
                        dir.trim(),
                        counted.join("\n")
                    ));
                }
            }
            None => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    Ok(rest)
}

/// The transcripts' machine-dependent values: the consumer example starts 2 x cpu_count()
/// consumers, as the pools of the pool examples start 2 x cpu_count() workers; with
/// `maxtasksperchild=2`, the 10 tasks of `pool_maxtasksperchild` need 5 workers at least, so it
/// starts max(2 x cpu_count(), 5) in all.
fn transcript_vars() -> HashMap<&'static str, i64> {
    let doubled = 2 * multiprocessing::cpu_count() as i64;
    HashMap::from([("CONSUMERS", doubled), ("MAXTASKS_WORKERS", doubled.max(5))])
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn build(root: &Path, selected: &[&Example]) -> Result<(), DynError> {
    let mut command = cargo();
    command.current_dir(root).args(["build", "--quiet"]);
    for example in selected {
        command.args(["-p", &example.package, "--bin", &example.bin]);
    }
    if !command.status()?.success() {
        return Err("building the examples failed".into());
    }
    Ok(())
}

/// The workspace's target directory.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Runs the example once; on a mismatch returns a readable report.
fn check_once(executable: &Path, cwd: &Path, transcript: &Transcript) -> Result<Duration, String> {
    let (status, lines, elapsed) = run_example(executable, cwd)
        .map_err(|e| format!("    could not run {}: {e}", executable.display()))?;
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
fn run_example(executable: &Path, cwd: &Path) -> std::io::Result<RunResult> {
    let (reader, writer) = os_pipe::pipe()?;
    let started = Instant::now();
    let mut child = Command::new(executable)
        .current_dir(cwd)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Workspace {
        Workspace::load(&project_root()).unwrap()
    }

    #[test]
    fn the_examples_are_found_with_their_binaries() {
        let found = examples(&workspace()).unwrap();
        let pairs: Vec<(&str, &str, bool)> =
            found.iter().map(|e| (e.package.as_str(), e.bin.as_str(), e.default)).collect();
        for expected in [
            ("examples-logging", "log_to_stderr", true),
            ("examples-logging", "get_logger", false),
            ("examples-subclass", "examples-subclass", true),
            ("examples-queue", "examples-queue", true),
            ("examples-consumers", "examples-consumers", true),
            ("examples-event", "examples-event", true),
        ] {
            assert!(pairs.contains(&expected), "{expected:?} is not among {pairs:?}");
        }
        let logging = found.iter().find(|e| e.bin == "get_logger").unwrap();
        assert_eq!(logging.command(true), "cargo run -p examples-logging --bin get_logger");
        assert_eq!(logging.command(false), "cargo run --bin get_logger");
        assert_eq!(found[0].command(true), "cargo run -p examples-logging");
    }

    #[test]
    fn an_unknown_name_lists_each_package_once_with_its_binaries() {
        let ws = workspace();
        let found = examples(&ws).unwrap();
        let err = select(&found, &["tarefa".to_string()], &ws).unwrap_err();
        assert!(
            err.starts_with("there is no example package or binary called tarefa. The examples are "),
            "{err}"
        );
        assert_eq!(err.matches("examples-logging").count(), 1, "{err}");
        assert!(err.contains("examples-logging (binaries log_to_stderr and get_logger)"), "{err}");
        for package in ["examples-subclass", "examples-queue", "examples-consumers", "examples-event"] {
            assert_eq!(err.matches(package).count(), 1, "{err}");
        }
        // One known name does not hide an unknown one.
        assert!(select(&found, &["examples-queue".to_string(), "tarefa".to_string()], &ws).is_err());
        // A package that is not an example is told apart.
        let err = select(&found, &["xtask".to_string()], &ws).unwrap_err();
        assert!(err.contains("xtask is a package of the workspace, but it has no expected/ folder"), "{err}");
        // Packages and binaries both select.
        let by_bin = select(&found, &["get_logger".to_string()], &ws).unwrap();
        assert_eq!(by_bin.iter().map(|e| e.bin.as_str()).collect::<Vec<_>>(), ["get_logger"]);
        let by_package = select(&found, &["examples-logging".to_string()], &ws).unwrap();
        assert_eq!(by_package.len(), 2);
    }

    #[test]
    fn known_examples_sentence() {
        let example = |package: &str, bin: &str| Example {
            package: package.into(),
            dir: PathBuf::new(),
            bin: bin.into(),
            default: package == bin,
        };
        let list = [example("a", "x"), example("a", "y"), example("b", "b"), example("c", "c")];
        assert_eq!(known_examples(&list), "The examples are a (binaries x and y), b and c.");
        assert_eq!(known_examples(&list[2..3]), "The examples are b.");
    }
}
