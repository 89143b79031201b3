//! Create and join many short-lived workers, N at a time: a server that starts a worker per
//! request, say.
//!
//! A thread needs a stack (reused by the allocator) and a `clone(2)`. A process needs `fork`,
//! which copies the parent's page tables and marks its memory copy-on-write, then `exit` and
//! `waitpid`, plus this crate's exit steps; and its first writes fault pages in. The work itself
//! is nothing, so creation is all that is measured.

use harness::Result;

use super::{Size, on_processes, on_threads};

fn total(size: &Size) -> u64 {
    size.pick(1000, 100)
}

/// Runs `wave(n)` for waves of at most `size.workers` until `total` workers have run.
fn in_waves(size: &Size, wave: impl Fn(usize) -> Result<()>) -> Result<()> {
    let mut left = total(size);
    while left > 0 {
        let n = left.min(size.workers as u64);
        wave(n as usize)?;
        left -= n;
    }
    Ok(())
}

fn nothing(i: usize) -> Result<()> {
    std::hint::black_box(i);
    Ok(())
}

pub fn threads(size: &Size) -> Result<()> {
    in_waves(size, |n| on_threads(n, nothing))
}

pub fn processes(size: &Size) -> Result<()> {
    in_waves(size, |n| on_processes(n, nothing))
}
