//! Each worker increments its own counter, but the counters sit side by side in one 64-byte
//! cache line ("false sharing": nothing is shared, yet the hardware shares the line).
//!
//! With threads, every increment needs the line in exclusive state on its core, so it bounces
//! between cores. After `fork` the page holding the counters is copied on the first write, so
//! each process increments its own copy and no line moves. Padding each counter to a line of
//! its own (`padded_*`) removes the effect for threads too.

use std::sync::atomic::{AtomicU64, Ordering};

use harness::{Error, Result};

use super::{Size, on_processes, on_threads};

/// Eight counters in one cache line.
#[repr(C, align(64))]
struct Packed([AtomicU64; 8]);

/// One counter per 128 bytes: a line each, and not the neighbour the prefetcher pulls in.
#[repr(C, align(128))]
struct Padded(AtomicU64);

static PACKED: Packed = Packed([const { AtomicU64::new(0) }; 8]);
static PADDED: [Padded; 8] = [const { Padded(AtomicU64::new(0)) }; 8];

fn increments(size: &Size) -> u64 {
    size.pick(40_000_000, 8_000_000)
}

fn bump(counter: &AtomicU64, times: u64) -> Result<()> {
    let before = counter.load(Ordering::Relaxed);
    for _ in 0..times {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    let after = counter.load(Ordering::Relaxed);
    if after - before != times {
        return Err(Error::Wrong(format!("counter moved by {} instead of {times}", after - before)));
    }
    Ok(())
}

fn packed(i: usize) -> &'static AtomicU64 {
    &PACKED.0[i % 8]
}

fn padded(i: usize) -> &'static AtomicU64 {
    &PADDED[i % 8].0
}

pub fn threads(size: &Size) -> Result<()> {
    let n = increments(size);
    on_threads(size.workers, |i| bump(packed(i), n))
}

pub fn processes(size: &Size) -> Result<()> {
    let n = increments(size);
    on_processes(size.workers, move |i| bump(packed(i), n))
}

pub fn padded_threads(size: &Size) -> Result<()> {
    let n = increments(size);
    on_threads(size.workers, |i| bump(padded(i), n))
}

pub fn padded_processes(size: &Size) -> Result<()> {
    let n = increments(size);
    on_processes(size.workers, move |i| bump(padded(i), n))
}
