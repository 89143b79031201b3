//! Daemon and non-daemon processes: at exit, the main process waits for the non-daemon one and
//! terminates the daemon, which never prints its `Exiting` line.
//!
//! Reproduces PyMOTW's `multiprocessing_daemon.py`. Run it with
//! `cargo run -p examples-basics --bin daemon`.

use std::thread;
use std::time::Duration;

use multiprocessing::{Process, current_process};

// Python calls `sys.stdout.flush()` after each print, so that the line is out before the process
// may be killed. Rust's `println!` writes each whole line at once: there is nothing to flush.
fn daemon() {
    let p = current_process();
    println!("Starting: {} {}", p.name, p.pid);
    thread::sleep(Duration::from_secs(2));
    println!("Exiting : {} {}", p.name, p.pid);
}

fn non_daemon() {
    let p = current_process();
    println!("Starting: {} {}", p.name, p.pid);
    println!("Exiting : {} {}", p.name, p.pid);
}

fn main() -> multiprocessing::Result<()> {
    let mut d = Process::new(daemon).with_name("daemon").with_daemon(true);

    let mut n = Process::new(non_daemon).with_name("non-daemon").with_daemon(false);

    d.start()?;
    thread::sleep(Duration::from_secs(1));
    n.start()?;
    Ok(())
}
