//! The verdict, computed from the spread of the runs, never written in; and the comparison of
//! one scenario's variants, timed by the harness (a warm-up, then rounds in rotating order:
//! `harness::rounds`).

use harness::{Result, Rounds, Stats, Variant, timed};
use serde::Serialize;

/// Which one won, judged from the runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Threads,
    Processes,
    Tie,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Threads => "threads",
            Verdict::Processes => "processes",
            Verdict::Tie => "tie",
        })
    }
}

/// How far apart the medians must be for a win: 10%. Smaller differences are within what a
/// shared 2-core VM drifts by between runs.
pub const MARGIN: f64 = 1.10;

/// Starting and joining the processes should stay under this share of a process variant's
/// time; above it, the report says that the verdict is about starting processes.
pub const STARTUP_SHARE: f64 = 0.05;

/// A winner only when the runs clearly separate: every run of the winner was faster than every
/// run of the loser, *and* the medians differ by at least [`MARGIN`]. Anything else is a tie.
pub fn verdict(threads: &Stats, processes: &Stats) -> Verdict {
    let ratio = threads.median / processes.median;
    if processes.max < threads.min && ratio >= MARGIN {
        Verdict::Processes
    } else if threads.max < processes.min && ratio <= 1.0 / MARGIN {
        Verdict::Threads
    } else {
        Verdict::Tie
    }
}

/// A variant to time: returns an error if the work went wrong (a child failed, a check failed).
pub type Work<'a> = &'a dyn Fn() -> Result<()>;

/// The measured runs of one scenario.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub serial: Option<Stats>,
    pub threads: Stats,
    pub processes: Stats,
}

/// Runs `warmup` untimed rounds and `reps` timed ones of the serial baseline (if any), threads
/// and processes, each timed from outside, in an order that rotates every round, so that drift
/// in the machine (another tenant, the CPU clock) hits them alike. `tick` is called after every
/// run.
pub fn compare(
    warmup: usize,
    reps: usize,
    serial: Option<Work<'_>>,
    threads: Work<'_>,
    processes: Work<'_>,
    tick: &mut dyn FnMut(),
) -> Result<Comparison> {
    let (mut run_threads, mut run_processes) = (|| timed(threads), || timed(processes));
    let mut run_serial = serial.map(|serial| move || timed(serial));
    let mut variants = vec![
        Variant { name: "threads", run: &mut run_threads },
        Variant { name: "processes", run: &mut run_processes },
    ];
    if let Some(serial) = run_serial.as_mut() {
        variants.insert(0, Variant { name: "serial", run: serial });
    }
    let mut stats = Rounds { warmup, reps }.run(&mut variants, tick)?;
    let processes = stats.pop().expect("processes ran");
    let threads = stats.pop().expect("threads ran");
    Ok(Comparison { serial: stats.pop(), threads, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(samples: &[f64]) -> Stats {
        Stats::of(samples).unwrap()
    }

    #[test]
    fn clear_win_for_processes() {
        let threads = stats(&[2.0, 2.1, 2.2, 2.05, 2.15]);
        let processes = stats(&[1.0, 1.1, 0.95, 1.05, 1.0]);
        assert_eq!(verdict(&threads, &processes), Verdict::Processes);
    }

    #[test]
    fn clear_win_for_threads() {
        let threads = stats(&[0.3, 0.31, 0.29]);
        let processes = stats(&[1.0, 1.1, 0.95]);
        assert_eq!(verdict(&threads, &processes), Verdict::Threads);
    }

    #[test]
    fn overlapping_spread_is_a_tie() {
        // Processes are faster at the median, but one thread run beat one process run.
        let threads = stats(&[1.5, 1.6, 0.9, 1.55, 1.7]);
        let processes = stats(&[1.0, 1.1, 0.95, 1.05, 1.0]);
        assert_eq!(verdict(&threads, &processes), Verdict::Tie);
    }

    #[test]
    fn separated_but_close_is_a_tie() {
        // Every run separates, but by 3%: not a win.
        let threads = stats(&[1.03, 1.031, 1.032]);
        let processes = stats(&[1.0, 1.001, 1.002]);
        assert_eq!(verdict(&threads, &processes), Verdict::Tie);
    }

    #[test]
    fn compare_alternates_and_counts() {
        use std::cell::RefCell;
        let log = RefCell::new(Vec::new());
        let threads = || {
            log.borrow_mut().push('t');
            Ok(())
        };
        let processes = || {
            log.borrow_mut().push('p');
            Ok(())
        };
        let mut ticks = 0;
        let result = compare(1, 3, None, &threads, &processes, &mut || ticks += 1).unwrap();
        assert_eq!(log.into_inner().iter().collect::<String>(), "tppttppt");
        assert_eq!(ticks, 8);
        assert!(result.serial.is_none());
        assert!(result.threads.min >= 0.0 && result.threads.max >= result.threads.min);
    }

    #[test]
    fn compare_stops_at_the_first_error() {
        let threads = || Ok(());
        let processes = || Err(harness::Error::Wrong("a child failed".into()));
        let outcome = compare(0, 3, None, &threads, &processes, &mut || ());
        assert_eq!(outcome.unwrap_err().to_string(), "processes: a child failed");
    }
}
