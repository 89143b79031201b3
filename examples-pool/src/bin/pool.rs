//! A `Pool` of worker processes running `map`: each worker announces itself from the pool's
//! initializer, and the results come back in input order.
//!
//! Reproduces PyMOTW's `multiprocessing_pool.py`. Run it with
//! `cargo run -p examples-pool --bin pool`.

use multiprocessing::{Pool, cpu_count, current_process};

// A task is a plain `fn`: the workers are forked when the pool starts, so the task must be code
// they already have (a closure that captured something could not be sent to them).
fn do_calculation(data: u64) -> u64 {
    data * 2
}

fn start_process() {
    println!("Starting {}", current_process().name);
}

fn main() -> multiprocessing::Result<()> {
    let inputs: Vec<u64> = (0..10).collect();
    println!("Input   : {inputs:?}");

    // Like Python 3's `map`, Rust's is lazy: printing it shows the iterator, not the values.
    let builtin_outputs = inputs.iter().copied().map(do_calculation);
    println!("Built-in: <map object at {:p}>", &builtin_outputs);

    let pool_size = cpu_count() * 2;
    let mut pool = Pool::builder().processes(pool_size).initializer(start_process).start()?;
    let pool_outputs = pool.map(do_calculation, inputs)?;
    pool.close(); // no more tasks
    pool.join()?; // wrap up current tasks

    println!("Pool    : {pool_outputs:?}");
    Ok(())
}
