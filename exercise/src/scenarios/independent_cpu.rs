//! Pure CPU work, nothing shared: the lecture's situation, without the GIL.
//!
//! In CPython, threads take turns on the interpreter lock, so processes win. Rust threads run
//! truly in parallel, so on N cores N threads do what N processes do: a tie.

use harness::Result;

use super::{Size, on_processes, on_threads, spin};

fn steps(size: &Size) -> u64 {
    size.pick(150_000_000, 15_000_000)
}

pub fn serial(size: &Size) -> Result<()> {
    for i in 0..size.workers {
        spin(steps(size), i as u64);
    }
    Ok(())
}

pub fn threads(size: &Size) -> Result<()> {
    let steps = steps(size);
    on_threads(size.workers, |i| {
        spin(steps, i as u64);
        Ok(())
    })
}

pub fn processes(size: &Size) -> Result<()> {
    let steps = steps(size);
    on_processes(size.workers, move |i| {
        spin(steps, i as u64);
        Ok(())
    })
}
