//! Exit codes: 1 for `sys.exit(1)`, 0 for a target that returns (whatever it returns), 1 for an
//! uncaught exception (a panic), and -15 for a process stopped by SIGTERM.
//!
//! Reproduces PyMOTW's `multiprocessing_exitcode.py`. Run it with
//! `cargo run -p examples-basics --bin exitcode`.

use std::thread;
use std::time::Duration;

use multiprocessing::Process;

// Python's `sys.exit(1)` is Rust's `std::process::exit(1)`. In a child it still runs the crate's
// exit steps (its `atexit` hook), as CPython's child does before it leaves.
fn exit_error() {
    std::process::exit(1);
}

fn exit_ok() {}

fn return_value() -> i32 {
    1
}

// Python's uncaught exception is Rust's panic: the process prints `Process raises:` and the panic
// on stderr, and its exit code is 1.
fn raises() {
    panic!("There was an error!");
}

fn terminated() {
    thread::sleep(Duration::from_secs(3));
}

fn main() -> multiprocessing::Result<()> {
    let mut jobs = Vec::new();
    // Python reads each function's `__name__`; a Rust function has no name at run time.
    let funcs: [(&str, fn()); 5] = [
        ("exit_error", exit_error),
        ("exit_ok", exit_ok),
        // Python ignores what a target returns (`return 1` exits with 0). A Rust target returns
        // nothing, or a `Result`: the closure drops the value where Python drops it.
        ("return_value", || {
            return_value();
        }),
        ("raises", raises),
        ("terminated", terminated),
    ];
    for (name, f) in funcs {
        println!("Starting process for {name}");
        let mut j = Process::new(f).with_name(name);
        j.start()?;
        jobs.push(j);
    }

    // Python's `jobs[-1]`.
    jobs.last().expect("five processes were started").terminate()?;

    for mut j in jobs {
        let exitcode = j.join()?;
        println!("{:>15}.exitcode = {}", j.name(), exitcode);
    }
    Ok(())
}
