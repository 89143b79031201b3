//! `join` with a timeout: the main process waits 1 s for the daemon, finds it still alive, and
//! at exit terminates it before it prints its `Exiting` line.
//!
//! Reproduces PyMOTW's `multiprocessing_daemon_join_timeout.py`. Run it with
//! `cargo run -p examples-basics --bin daemon_join_timeout`.

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

// Python prints its booleans as `True` and `False`.
fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

fn main() -> multiprocessing::Result<()> {
    let mut d = Process::new(daemon).with_name("daemon").with_daemon(true);

    let mut n = Process::new(non_daemon).with_name("non-daemon").with_daemon(false);

    d.start()?;
    n.start()?;

    // Python's `d.join(1)`; `join_timeout` also tells whether it ended (here: `None`, not yet).
    d.join_timeout(Duration::from_secs(1))?;
    println!("d.is_alive() {}", py_bool(d.is_alive()));
    n.join()?;
    Ok(())
}
