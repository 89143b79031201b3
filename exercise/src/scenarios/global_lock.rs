//! CPU work where each unit holds one process-wide lock: CPython's GIL, or a C library that is
//! not thread-safe and sits behind a global mutex.
//!
//! Threads share the one `static` lock, so only one of them works at a time. A forked process has
//! its own copy of the lock (it is ordinary memory, copied on write), so processes work in
//! parallel: the exact reason the lecture's Python processes beat its threads.

use std::sync::Mutex;

use harness::{Error, Result};

use super::{Size, on_processes, on_threads, spin};

static GLOBAL: Mutex<()> = Mutex::new(());

/// Spin steps per unit (about 10 us): the time the lock is held.
const UNIT: u64 = 10_000;

fn units(size: &Size) -> u64 {
    size.pick(20_000, 2_000)
}

fn work(units: u64, seed: u64) -> Result<()> {
    for i in 0..units {
        let _held = GLOBAL.lock().map_err(|_| Error::Wrong("the lock is poisoned".into()))?;
        spin(UNIT, seed ^ i);
    }
    Ok(())
}

pub fn serial(size: &Size) -> Result<()> {
    work(units(size) * size.workers as u64, 1)
}

pub fn threads(size: &Size) -> Result<()> {
    let units = units(size);
    on_threads(size.workers, |i| work(units, i as u64))
}

pub fn processes(size: &Size) -> Result<()> {
    let units = units(size);
    on_processes(size.workers, move |i| work(units, i as u64))
}
