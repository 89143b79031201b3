//! Measuring honestly: a warm-up round, then timed rounds in which every variant runs once, in
//! an order that rotates from round to round, summarised by median, min and max.
//!
//! Rotating matters on a shared machine: whatever drifts during a run (another tenant's load,
//! the CPU's clock, the page cache) then hits every variant alike, instead of always favouring
//! the one that runs first. The median of the rounds is what the reports compare; min and max
//! show how far the rounds spread, so a reader can tell a difference from noise.

use std::time::Instant;

use serde::Serialize;

use crate::error::{Context, Result};

/// The summary of one variant's rounds, in the variant's unit.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Stats {
    /// The middle round (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The lowest.
    pub min: f64,
    /// The highest.
    pub max: f64,
}

impl Stats {
    /// Summarises the samples; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Some(Stats { median, min: sorted[0], max: sorted[n - 1] })
    }

    /// The same summary with every figure multiplied by `factor` (a change of unit).
    pub fn scaled(self, factor: f64) -> Stats {
        let (a, b) = (self.min * factor, self.max * factor);
        Stats { median: self.median * factor, min: a.min(b), max: a.max(b) }
    }
}

/// Full sizes, or the small ones of `--quick` (which checks that everything runs, in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The sizes a measurement is made with.
    Full,
    /// Small sizes: for CI, and for a first look.
    Quick,
}

impl Mode {
    /// `Quick` when `quick`, else `Full`.
    pub fn from_quick(quick: bool) -> Mode {
        if quick { Mode::Quick } else { Mode::Full }
    }

    /// `full` or `quick`, as the mode says.
    pub fn pick<T>(self, full: T, quick: T) -> T {
        match self {
            Mode::Full => full,
            Mode::Quick => quick,
        }
    }
}

/// How many rounds: `warmup` untimed ones, then `reps` timed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rounds {
    /// Rounds run and thrown away: they warm the caches, the allocator, the CPU clock.
    pub warmup: usize,
    /// Rounds that count (at least 1).
    pub reps: usize,
}

/// One variant of a measurement: its name (for errors) and a run that returns one sample.
pub struct Variant<'a> {
    /// What it is: `ours`, `limit`, `cpython`, `threads`...
    pub name: &'a str,
    /// One run; the sample is in the variant's unit (seconds, messages per second...).
    pub run: &'a mut dyn FnMut() -> Result<f64>,
}

impl Rounds {
    /// Runs every variant once per round, round `r` starting with variant `r % n` and going on
    /// in order (so with two, they alternate), and returns each variant's summary, in the order
    /// given. `tick` is called after every run (a progress display). The first error stops
    /// everything, named with the variant it came from.
    pub fn run(&self, variants: &mut [Variant<'_>], tick: &mut dyn FnMut()) -> Result<Vec<Stats>> {
        let n = variants.len();
        let mut samples = vec![Vec::with_capacity(self.reps); n];
        for round in 0..self.warmup + self.reps.max(1) {
            for k in 0..n {
                let which = (round + k) % n;
                let variant = &mut variants[which];
                let value = (variant.run)().context(variant.name)?;
                if round >= self.warmup {
                    samples[which].push(value);
                }
                tick();
            }
        }
        Ok(samples.iter().map(|s| Stats::of(s).expect("at least one timed round")).collect())
    }
}

/// Runs `work` and returns the seconds it took (the sample of a variant that is timed from
/// outside).
pub fn timed(work: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::Error;

    #[test]
    fn median_min_max() {
        assert_eq!(Stats::of(&[3.0, 1.0, 2.0]), Some(Stats { median: 2.0, min: 1.0, max: 3.0 }));
        assert_eq!(Stats::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(Stats::of(&[]), None);
        let inverted = Stats { median: 2.0, min: 1.0, max: 4.0 }.scaled(-1.0);
        assert_eq!(inverted, Stats { median: -2.0, min: -4.0, max: -1.0 });
    }

    #[test]
    fn sizes_by_mode() {
        assert_eq!(Mode::from_quick(true).pick(100, 10), 10);
        assert_eq!(Mode::from_quick(false).pick(100, 10), 100);
    }

    #[test]
    fn two_variants_alternate_three_rotate() {
        let mut ticks = 0;
        let log = RefCell::new(String::new());
        let mut threads = || {
            log.borrow_mut().push('t');
            Ok(1.0)
        };
        let mut processes = || {
            log.borrow_mut().push('p');
            Ok(2.0)
        };
        let stats = Rounds { warmup: 1, reps: 3 }
            .run(
                &mut [
                    Variant { name: "threads", run: &mut threads },
                    Variant { name: "processes", run: &mut processes },
                ],
                &mut || ticks += 1,
            )
            .unwrap();
        assert_eq!(log.into_inner(), "tppttppt");
        assert_eq!(ticks, 8);
        assert_eq!(stats[0].median, 1.0);
        assert_eq!(stats[1].median, 2.0);

        let order = RefCell::new(String::new());
        let mut a = || {
            order.borrow_mut().push('a');
            Ok(0.0)
        };
        let mut b = || {
            order.borrow_mut().push('b');
            Ok(0.0)
        };
        let mut c = || {
            order.borrow_mut().push('c');
            Ok(0.0)
        };
        Rounds { warmup: 0, reps: 3 }
            .run(
                &mut [
                    Variant { name: "a", run: &mut a },
                    Variant { name: "b", run: &mut b },
                    Variant { name: "c", run: &mut c },
                ],
                &mut || (),
            )
            .unwrap();
        assert_eq!(order.into_inner(), "abcbcacab");
    }

    #[test]
    fn the_first_error_stops_and_names_its_variant() {
        let mut fine = || Ok(1.0);
        let mut broken = || Err(Error::Wrong("a child failed".into()));
        let outcome = Rounds { warmup: 0, reps: 3 }.run(
            &mut [Variant { name: "ours", run: &mut fine }, Variant { name: "limit", run: &mut broken }],
            &mut || (),
        );
        assert_eq!(outcome.unwrap_err().to_string(), "limit: a child failed");
    }
}
