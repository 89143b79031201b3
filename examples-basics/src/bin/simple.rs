//! Creating processes: five workers, each printing `Worker`.
//!
//! Reproduces PyMOTW's `multiprocessing_simple.py`. Run it with `cargo run -p examples-basics`
//! (it is the package's default binary; `--bin simple` names it).

use multiprocessing::Process;

/// worker function
fn worker() {
    println!("Worker");
}

fn main() -> multiprocessing::Result<()> {
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let mut p = Process::new(worker);
        p.start()?;
        jobs.push(p);
    }
    // Like the Python, main never joins: at exit the crate joins the five, as Python does.
    Ok(())
}
