//! `--python`: the lecture's own situation in CPython, measured in the same run.
//!
//! The same CPU-bound loop with N `threading.Thread`s and N `multiprocessing.Process`es: the GIL
//! lets one thread run Python code at a time, so processes win by about N. Next to Rust's
//! `independent-cpu` tie, it shows what the lecture's lesson depends on.

use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::measure::{Stats, Verdict, verdict};

const SCRIPT: &str = include_str!("../python/gil.py");

#[derive(Deserialize)]
struct Samples {
    serial: Vec<f64>,
    threads: Vec<f64>,
    processes: Vec<f64>,
    version: String,
}

/// CPython's result.
#[derive(Debug, Clone, Serialize)]
pub struct PythonResult {
    pub version: String,
    pub workers: usize,
    pub serial: Stats,
    pub threads: Stats,
    pub processes: Stats,
    pub ratio: f64,
    pub verdict: Verdict,
    /// Share of the machine's CPU time other programs used while it ran (see `load.rs`).
    pub others_cpu_share: Option<f64>,
    /// Measured on a busy machine: the verdict may not repeat on a quiet one.
    pub busy: bool,
}

/// Runs the script with `python3`; `Err` with a clear message when it cannot.
pub fn measure(workers: usize, quick: bool, reps: usize) -> Result<PythonResult, String> {
    let iterations = if quick { 200_000 } else { 3_000_000 };
    let output = Command::new("python3")
        .args(["-c", SCRIPT, &workers.to_string(), &iterations.to_string(), &reps.to_string()])
        .output()
        .map_err(|e| format!("python3 could not be run ({e}): install CPython 3 to compare"))?;
    if !output.status.success() {
        return Err(format!("python3 failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let samples: Samples =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cannot read python3's results: {e}"))?;
    let threads = Stats::from_samples(&samples.threads);
    let processes = Stats::from_samples(&samples.processes);
    Ok(PythonResult {
        version: samples.version,
        workers,
        serial: Stats::from_samples(&samples.serial),
        threads,
        processes,
        ratio: threads.median / processes.median,
        verdict: verdict(&threads, &processes),
        others_cpu_share: None,
        busy: false,
    })
}
