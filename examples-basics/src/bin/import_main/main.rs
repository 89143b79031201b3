//! A target function that lives in another module: five workers run `import_worker::worker`.
//!
//! Reproduces PyMOTW's `multiprocessing_import_main.py`, with `import_worker.rs` beside this file
//! for `multiprocessing_import_worker.py`. Run it with
//! `cargo run -p examples-basics --bin import_main`.

// Python imports the target from a module of its own so that a child which re-imports the main
// script (the spawn start method) does not start processes again. A forked Rust child re-imports
// nothing, so the other module is only a `mod`, compiled into the same program.
mod import_worker;

use multiprocessing::Process;

fn main() -> multiprocessing::Result<()> {
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let mut p = Process::new(import_worker::worker);
        p.start()?;
        jobs.push(p);
    }
    Ok(())
}
