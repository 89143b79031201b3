//! A process defined as a type: five `Worker`s, each printing its own name.
//!
//! Reproduces PyMOTW's `multiprocessing_subclass.py` (the lecture's "Subclasse de processo").
//! Run it with `cargo run -p examples-subclass`.

use multiprocessing::{Process, Run, current_process};

// Python subclasses `multiprocessing.Process`; Rust has no inheritance, so `Worker` implements
// the `Run` trait and `Process::from(Worker)` makes the process (named `Worker-N` after the type).
struct Worker;

impl Run for Worker {
    fn run(&mut self) -> multiprocessing::Result<()> {
        // Python's `self.name`: the name lives with the process, so ask for the current one.
        println!("In {}", current_process().name);
        Ok(())
    }
}

fn main() -> multiprocessing::Result<()> {
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let mut p = Process::from(Worker);
        p.start()?;
        jobs.push(p);
    }
    for mut j in jobs {
        j.join()?;
    }
    Ok(())
}
