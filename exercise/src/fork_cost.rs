//! How the cost of starting a process grows with the parent's memory, next to a thread's.
//!
//! `fork` copies the parent's page tables (and marks every page copy-on-write), so its cost grows
//! with the memory the parent has touched: about 33 ms per GiB of 4 KiB pages on the machine in
//! `OS-FACTS`. Starting a thread copies nothing, whatever the heap holds. (`cargo xtask bench
//! --curve fork-heap` draws the same curve with huge pages too, and against a raw fork.)

use harness::heap::{Pages, TouchedHeap};
use harness::processes::start_join_trivial;
use harness::{Context, Error, Mode, Result, Rounds, Stats, Variant, timed};
use serde::Serialize;

/// One point of the curve: start-and-join times with this much touched heap in the parent.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub heap_mib: u64,
    pub process: Stats,
    pub thread: Stats,
}

/// The heap sizes measured, in MiB.
pub fn sizes(mode: Mode) -> Vec<u64> {
    mode.pick(vec![0, 256, 1024, 2048], vec![0, 64])
}

/// Measures every size the machine can hold (3/4 of its available memory at most): `reps`
/// starts of each kind per size, after one warm-up, alternating. Returns the points and, when
/// sizes were skipped, a sentence saying which.
pub fn measure(mode: Mode, reps: usize, tick: &mut dyn FnMut()) -> Result<(Vec<Point>, Option<String>)> {
    let available_mib = harness::machine::available_memory().map(|b| b >> 20);
    let (sizes, skipped): (Vec<u64>, Vec<u64>) =
        sizes(mode).into_iter().partition(|&mib| available_mib.is_none_or(|a| mib <= a * 3 / 4));
    let mut points = Vec::new();
    for heap_mib in sizes {
        // Every page written, in 4 KiB pages: what a `Vec` gets unless THP is `always`.
        let heap = TouchedHeap::new((heap_mib as usize) << 20, Pages::Small).context("fork-cost")?;
        let mut process = || timed(start_join_trivial);
        let mut thread = || {
            timed(|| {
                std::thread::spawn(|| ()).join().map_err(|_| Error::Wrong("a trivial thread panicked".into()))
            })
        };
        let stats = Rounds { warmup: 1, reps }
            .run(
                &mut [
                    Variant { name: "process", run: &mut process },
                    Variant { name: "thread", run: &mut thread },
                ],
                &mut || (),
            )
            .context(format!("fork-cost, {heap_mib} MiB"))?;
        tick();
        drop(heap);
        points.push(Point { heap_mib, process: stats[0], thread: stats[1] });
    }
    let note = (!skipped.is_empty()).then(|| {
        format!(
            "skipped {} MiB: more than 3/4 of the {} MiB this machine has available",
            skipped.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            available_mib.unwrap_or(0)
        )
    });
    Ok((points, note))
}
