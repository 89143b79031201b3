//! `--python`: the lecture's own situation in CPython, measured in the same run.
//!
//! The same CPU-bound loop with N `threading.Thread`s and N `multiprocessing.Process`es: the GIL
//! lets one thread run Python code at a time, so processes win by about N. Next to Rust's
//! `independent-cpu` tie, it shows what the lecture's lesson depends on.

use harness::{Result, Stats};
use serde::{Deserialize, Serialize};

use crate::measure::{Verdict, verdict};

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
pub fn measure(workers: usize, quick: bool, reps: usize) -> Result<PythonResult> {
    let iterations = if quick { 200_000 } else { 3_000_000 };
    let args = [workers.to_string(), iterations.to_string(), reps.to_string()];
    let samples: Samples = harness::python::run(SCRIPT, &args)?;
    let stats = |samples: &[f64]| {
        Stats::of(samples).ok_or_else(|| harness::Error::Tool("python3 returned no runs".into()))
    };
    let threads = stats(&samples.threads)?;
    let processes = stats(&samples.processes)?;
    Ok(PythonResult {
        version: samples.version,
        workers,
        serial: stats(&samples.serial)?,
        threads,
        processes,
        ratio: threads.median / processes.median,
        verdict: verdict(&threads, &processes),
        others_cpu_share: None,
        busy: false,
    })
}
