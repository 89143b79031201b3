//! Starting, joining and checking child processes, the same way everywhere: a measurement whose
//! child failed its own check (or crashed) must fail, never post a time.

use multiprocessing::Process;

use crate::error::{Error, Result};

/// Joins `process`; [`Error::Child`] unless it exited with 0.
pub fn join_ok(process: &mut Process) -> Result<()> {
    match process.join()? {
        0 => Ok(()),
        code => Err(Error::Child { name: process.name().to_string(), code }),
    }
}

/// Starts every process (in order), then joins every one; each must exit with 0.
pub fn run_all(processes: &mut [Process]) -> Result<()> {
    for p in processes.iter_mut() {
        p.start()?;
    }
    processes.iter_mut().try_for_each(join_ok)
}

/// One process of the crate that does nothing: `Process::new`, `start`, `join`, checked.
pub fn start_join_trivial() -> Result<()> {
    let mut p = Process::new(|| ());
    p.start()?;
    join_ok(&mut p)
}
