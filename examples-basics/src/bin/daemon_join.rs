//! Waiting for a daemon process with `join`: the main process waits for both children, so the
//! daemon prints its `Exiting` line 2 s after it starts.
//!
//! Reproduces PyMOTW's `multiprocessing_daemon_join.py`. Run it with
//! `cargo run -p examples-basics --bin daemon_join`.

use std::thread;
use std::time::Duration;

use multiprocessing::{Process, current_process};

fn daemon() {
    let name = current_process().name;
    println!("Starting: {name}");
    thread::sleep(Duration::from_secs(2));
    println!("Exiting : {name}");
}

fn non_daemon() {
    let name = current_process().name;
    println!("Starting: {name}");
    println!("Exiting : {name}");
}

fn main() -> multiprocessing::Result<()> {
    let mut d = Process::new(daemon).with_name("daemon").with_daemon(true);

    let mut n = Process::new(non_daemon).with_name("non-daemon").with_daemon(false);

    d.start()?;
    thread::sleep(Duration::from_secs(1));
    n.start()?;

    d.join()?;
    n.join()?;
    Ok(())
}
