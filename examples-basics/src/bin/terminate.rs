//! Terminating a process: its state before `start`, while it runs, right after `terminate`
//! (still alive: the signal takes a moment), and after `join` (stopped by SIGTERM).
//!
//! Reproduces PyMOTW's `multiprocessing_terminate.py`. Run it with
//! `cargo run -p examples-basics --bin terminate`.

use std::io::{self, BufWriter, Write};
use std::thread;
use std::time::Duration;

use multiprocessing::Process;

// Python's `print` into a pipe or a file keeps the text in a buffer until the process exits, so a
// worker terminated while it sleeps prints nothing. Rust's `println!` writes each line at once;
// the worker buffers its lines itself to behave the same.
fn slow_worker() -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout());
    writeln!(out, "Starting worker")?;
    thread::sleep(Duration::from_millis(100));
    writeln!(out, "Finished worker")?;
    out.flush()
}

// Python prints its booleans as `True` and `False`.
fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

fn main() -> multiprocessing::Result<()> {
    // Python's `print(p)` shows `repr(p)`; a `Process` displays the same text.
    let mut p = Process::new(slow_worker);
    println!("BEFORE: {p} {}", py_bool(p.is_alive()));

    p.start()?;
    println!("DURING: {p} {}", py_bool(p.is_alive()));

    p.terminate()?;
    println!("TERMINATED: {p} {}", py_bool(p.is_alive()));

    p.join()?;
    println!("JOINED: {p} {}", py_bool(p.is_alive()));
    Ok(())
}
