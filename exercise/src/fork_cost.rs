//! How the cost of starting a process grows with the parent's memory, next to a thread's.
//!
//! `fork` copies the parent's page tables (and marks every page copy-on-write), so its cost grows
//! with the memory the parent has touched: about 33 ms per GiB of 4 KiB pages on the machine in
//! `OS-FACTS`. Starting a thread copies nothing, whatever the heap holds.

use std::time::Instant;

use multiprocessing::Process;
use serde::Serialize;

use crate::measure::Stats;

/// One point of the curve: start-and-join times with this much touched heap in the parent.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub heap_mib: u64,
    pub process: Stats,
    pub thread: Stats,
}

/// The heap sizes measured, in MiB.
pub fn sizes(quick: bool) -> Vec<u64> {
    if quick { vec![0, 64] } else { vec![0, 256, 1024, 2048] }
}

/// Measures every size: `reps` starts of each kind per size, after one warm-up.
pub fn measure(quick: bool, reps: usize, tick: &mut dyn FnMut()) -> Result<Vec<Point>, String> {
    let mut points = Vec::new();
    for heap_mib in sizes(quick) {
        // `vec![1; n]` writes every byte, so every page is really there to be mapped.
        let heap = vec![1u8; (heap_mib as usize) << 20];
        std::hint::black_box(&heap);
        let mut process_times = Vec::new();
        let mut thread_times = Vec::new();
        for round in 0..=reps {
            let started = Instant::now();
            let mut p = Process::new(|| ());
            p.start().map_err(|e| e.to_string())?;
            let code = p.join().map_err(|e| e.to_string())?;
            let process_time = started.elapsed().as_secs_f64();
            if code != 0 {
                return Err(format!("a trivial process exited with {code}"));
            }
            let started = Instant::now();
            std::thread::spawn(|| ()).join().map_err(|_| "a trivial thread panicked")?;
            let thread_time = started.elapsed().as_secs_f64();
            if round > 0 {
                process_times.push(process_time);
                thread_times.push(thread_time);
            }
        }
        tick();
        drop(heap);
        points.push(Point {
            heap_mib,
            process: Stats::from_samples(&process_times),
            thread: Stats::from_samples(&thread_times),
        });
    }
    Ok(points)
}
