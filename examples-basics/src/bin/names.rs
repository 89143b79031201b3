//! Naming processes: two given names and one default name, `Process-3`.
//!
//! Reproduces PyMOTW's `multiprocessing_names.py`. Run it with
//! `cargo run -p examples-basics --bin names`.

use std::thread;
use std::time::Duration;

use multiprocessing::{Process, current_process};

fn worker() {
    let name = current_process().name;
    println!("{name} Starting");
    thread::sleep(Duration::from_secs(2));
    println!("{name} Exiting");
}

fn my_service() {
    let name = current_process().name;
    println!("{name} Starting");
    thread::sleep(Duration::from_secs(3));
    println!("{name} Exiting");
}

fn main() -> multiprocessing::Result<()> {
    let mut service = Process::new(my_service).with_name("my_service");
    let mut worker_1 = Process::new(worker).with_name("worker 1");
    // The default name counts every process made so far, named or not: the third is Process-3.
    let mut worker_2 = Process::new(worker);

    worker_1.start()?;
    worker_2.start()?;
    service.start()?;
    Ok(())
}
