//! Logging from processes through the logger object, at INFO: the DEBUG lines are gone.
//!
//! Reproduces PyMOTW's `multiprocessing_get_logger.py` (the lecture's second logging slide).
//! Run it with `cargo run -p examples-logging --bin get_logger`.

use std::io::Write;

use log::LevelFilter;
use multiprocessing::{Process, get_logger, log_to_stderr};

fn worker() -> std::io::Result<()> {
    println!("Doing some work");
    std::io::stdout().flush()
}

fn main() -> multiprocessing::Result<()> {
    // Python's `log_to_stderr()` with no level: `None` keeps the logger's level as it is.
    log_to_stderr(None);
    let logger = get_logger();
    logger.set_level(LevelFilter::Info);
    let mut p = Process::new(worker);
    p.start()?;
    p.join()?;
    Ok(())
}
