//! Passing arguments to processes: each worker prints the number it was given.
//!
//! Reproduces PyMOTW's `multiprocessing_simpleargs.py`. Run it with
//! `cargo run -p examples-basics --bin simpleargs`.

use multiprocessing::Process;

/// thread worker function
fn worker(num: u32) {
    println!("Worker: {num}");
}

fn main() -> multiprocessing::Result<()> {
    let mut jobs = Vec::new();
    for i in 0..5 {
        // Python passes `args=(i,)`; a Rust closure captures `i`, and the forked child has it.
        let mut p = Process::new(move || worker(i));
        p.start()?;
        jobs.push(p);
    }
    Ok(())
}
