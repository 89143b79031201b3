//! Measuring honestly: warm-up, repetitions, threads and processes alternating, and a verdict
//! computed from the spread of the runs, never written in.

use std::time::Instant;

use serde::Serialize;

/// The summary of one variant's runs, in seconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// Summarises a non-empty list of durations in seconds.
    pub fn from_samples(samples: &[f64]) -> Stats {
        assert!(!samples.is_empty(), "at least one sample");
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Stats { median, min: sorted[0], max: sorted[n - 1] }
    }
}

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
pub type Variant<'a> = &'a dyn Fn() -> Result<(), String>;

/// The measured runs of one scenario.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub serial: Option<Stats>,
    pub threads: Stats,
    pub processes: Stats,
}

/// Runs `warmup` untimed rounds and `reps` timed ones. Within each round threads and processes
/// both run, in alternating order (threads first in even rounds), so that drift in the machine
/// (another tenant, the CPU clock) hits both alike. `tick` is called after every run.
pub fn compare(
    warmup: usize,
    reps: usize,
    serial: Option<Variant<'_>>,
    threads: Variant<'_>,
    processes: Variant<'_>,
    tick: &mut dyn FnMut(),
) -> Result<Comparison, String> {
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..warmup + reps {
        let mut order: Vec<(usize, Variant<'_>)> = vec![(1, threads), (2, processes)];
        if round % 2 == 1 {
            order.reverse();
        }
        if let Some(serial) = serial {
            order.insert(0, (0, serial));
        }
        for (slot, variant) in order {
            let started = Instant::now();
            variant()?;
            let elapsed = started.elapsed().as_secs_f64();
            if round >= warmup {
                samples[slot].push(elapsed);
            }
            tick();
        }
    }
    Ok(Comparison {
        serial: serial.map(|_| Stats::from_samples(&samples[0])),
        threads: Stats::from_samples(&samples[1]),
        processes: Stats::from_samples(&samples[2]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(samples: &[f64]) -> Stats {
        Stats::from_samples(samples)
    }

    #[test]
    fn median_min_max() {
        assert_eq!(stats(&[3.0, 1.0, 2.0]), Stats { median: 2.0, min: 1.0, max: 3.0 });
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
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
        let processes = || Err("a child failed".to_string());
        let outcome = compare(0, 3, None, &threads, &processes, &mut || ());
        assert_eq!(outcome.unwrap_err(), "a child failed");
    }
}
