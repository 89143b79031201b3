//! Logging from processes, at DEBUG: every step of a child's life and of the main process's exit.
//!
//! Reproduces PyMOTW's `multiprocessing_log_to_stderr.py` (the lecture's "Logging" slide).
//! Run it with `cargo run -p examples-logging`.

use std::io::Write;

use log::LevelFilter;
use multiprocessing::{Process, log_to_stderr};

fn worker() -> std::io::Result<()> {
    println!("Doing some work");
    std::io::stdout().flush()
}

fn main() -> multiprocessing::Result<()> {
    log_to_stderr(LevelFilter::Debug);
    let mut p = Process::new(worker);
    p.start()?;
    p.join()?;
    Ok(())
}
