//! A dict shared through a `Manager`: ten processes each set one key, then the main process
//! prints the whole dict.
//!
//! Reproduces PyMOTW's `multiprocessing_manager_dict.py`. Run it with
//! `cargo run -p examples-manager`.
//!
//! The dict lives in the manager's server process; `d` is a proxy, and `d.set` in a worker is a
//! request to that server. The keys come out in the order the workers' requests arrived, which
//! varies from run to run, as in Python.

use multiprocessing::{DictProxy, Manager, Process};

fn worker(d: DictProxy<i32, i32>, key: i32, value: i32) -> multiprocessing::Result<()> {
    // Python's `d[key] = value`.
    d.set(&key, &value)
}

fn main() -> multiprocessing::Result<()> {
    let mgr = Manager::new()?;
    let d = mgr.dict()?;
    let mut jobs: Vec<Process> = (0..10)
        .map(|i| {
            let d = d.clone();
            Process::new(move || worker(d, i, i * 2))
        })
        .collect();
    for j in &mut jobs {
        j.start()?;
    }
    for j in &mut jobs {
        j.join()?;
    }
    // Printing the proxy asks the server for the dict and writes it as Python does.
    println!("Results: {d}");
    Ok(())
}
