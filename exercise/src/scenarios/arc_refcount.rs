//! One shared `Arc`, cloned and dropped for every unit of work: a common Rust pattern (a shared
//! configuration, a shared cache handle) that looks free and is not.
//!
//! Every clone and drop is an atomic add on the reference count, and with threads that count is
//! one cache line written by every core. After `fork` each process has its own copy of the
//! allocation, so its clones touch only its own memory.

use std::sync::Arc;

use harness::{Error, Result};

use super::{Size, on_processes, on_threads, spin};

fn units(size: &Size) -> u64 {
    size.pick(15_000_000, 5_000_000)
}

fn work(shared: &Arc<Vec<u64>>, units: u64) -> Result<()> {
    let mut sum = 0u64;
    for i in 0..units {
        let handle = Arc::clone(shared);
        sum = sum.wrapping_add(handle[(i % 16) as usize]);
        drop(handle);
    }
    spin(1, sum);
    if sum != units {
        return Err(Error::Wrong(format!("summed {sum} ones, expected {units}")));
    }
    Ok(())
}

pub fn threads(size: &Size) -> Result<()> {
    let shared = Arc::new(vec![1u64; 16]);
    let units = units(size);
    on_threads(size.workers, |_| work(&shared, units))
}

pub fn processes(size: &Size) -> Result<()> {
    let shared = Arc::new(vec![1u64; 16]);
    let units = units(size);
    on_processes(size.workers, move |_| work(&shared, units))
}
