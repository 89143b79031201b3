//! A `Pool` whose workers each run at most 2 tasks: a worker that has done its share exits, and
//! a new one, with the next number, takes its place.
//!
//! Reproduces PyMOTW's `multiprocessing_pool_maxtasksperchild.py`. Run it with
//! `cargo run -p examples-pool --bin pool_maxtasksperchild`.

use multiprocessing::{Pool, cpu_count, current_process};

fn do_calculation(data: u64) -> u64 {
    data * 2
}

fn start_process() {
    println!("Starting {}", current_process().name);
}

fn main() -> multiprocessing::Result<()> {
    let inputs: Vec<u64> = (0..10).collect();
    println!("Input   : {inputs:?}");

    let builtin_outputs = inputs.iter().copied().map(do_calculation);
    println!("Built-in: <map object at {:p}>", &builtin_outputs);

    let pool_size = cpu_count() * 2;
    let mut pool =
        Pool::builder().processes(pool_size).initializer(start_process).maxtasksperchild(2).start()?;
    let pool_outputs = pool.map(do_calculation, inputs)?;
    pool.close(); // no more tasks
    pool.join()?; // wrap up current tasks

    println!("Pool    : {pool_outputs:?}");
    Ok(())
}
