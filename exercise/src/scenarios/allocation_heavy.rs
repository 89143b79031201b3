//! Many small allocations and frees in each worker.
//!
//! A common worry is that threads share one heap and so one allocator lock. glibc's malloc gives
//! each thread an arena of its own (up to 8 per core), so threads allocate as independently as
//! processes do: a tie.

use harness::{Error, Result};

use super::{Size, on_processes, on_threads};

fn rounds(size: &Size) -> u64 {
    size.pick(4_000_000, 1_000_000)
}

fn work(rounds: u64) -> Result<()> {
    let mut live: Vec<Vec<u8>> = Vec::with_capacity(64);
    let mut total = 0usize;
    for i in 0..rounds {
        let len = 16 + (i as usize * 37) % 496;
        let block = vec![i as u8; len];
        total += block.len();
        if live.len() == 64 {
            live.swap_remove((i % 64) as usize);
        }
        live.push(block);
    }
    std::hint::black_box(&live);
    if total == 0 {
        return Err(Error::Wrong("nothing was allocated".into()));
    }
    Ok(())
}

pub fn threads(size: &Size) -> Result<()> {
    let rounds = rounds(size);
    on_threads(size.workers, |_| work(rounds))
}

pub fn processes(size: &Size) -> Result<()> {
    let rounds = rounds(size);
    on_processes(size.workers, move |_| work(rounds))
}
