//! How busy the machine was: a verdict measured while other programs took the CPU can differ
//! from one measured on a quiet machine (false-sharing read `1.08 tie` in one run and
//! `4.61 processes` in the next on a shared 2-core VM). The report measures that, and marks such
//! verdicts instead of letting them flip silently.
//!
//! Two measurements decide, both from Linux's `/proc`:
//!
//! - **before and after**: a calibration, the same CPU loop on one thread and then on one thread
//!   per CPU. On a quiet machine both take the same time; when other programs hold CPUs, the
//!   threads share what is left and take longer. The ratio is the *slowdown*. Whatever other
//!   programs took during the calibration (next item) counts too;
//! - **during each scenario, and each calibration**: the CPU time the whole machine spent busy
//!   (`/proc/stat`, steal included: time a hypervisor gave to other guests) minus the CPU time of
//!   this program and its children (`/proc/self/stat`), as a share of the machine's capacity
//!   (wall time x CPUs). That is what other programs took while the scenario was being timed.
//!   Both counters tick at 100 Hz, so a short scenario's share is judged by its lower bound (a
//!   few ticks of slack).
//!
//! The 1-minute load average (`/proc/loadavg`) is reported too, against the CPU count, but it
//! does not decide: it decays over minutes, so right after a run of this program it still counts
//! that run's workers, and a quiet machine would read busy.

use std::time::Instant;

use serde::Serialize;

use crate::scenarios::spin;

/// Busy during a measurement: other programs used at least this share of the machine's CPU
/// time (10%, the same as the verdict's margin: a competitor that size can make or unmake one).
pub const BUSY_SHARE: f64 = 0.10;
/// Busy before or after: one-thread-per-CPU calibration at least 20% slower than one thread.
pub const BUSY_SLOWDOWN: f64 = 1.2;

/// Ticks of slack per CPU, and for this program's own counters, when judging a short window.
const SLACK_TICKS_PER_CPU: f64 = 1.0;
const SLACK_TICKS_OURS: f64 = 2.0;

/// Spin steps of one calibration run: about 7 ms on a 2-vCPU AMD EPYC guest (release build).
const CALIBRATION_STEPS: u64 = 4_000_000;
const CALIBRATION_ROUNDS: usize = 5;

/// The 1-minute load average from the text of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Busy ticks of all CPUs from the text of `/proc/stat`: everything but idle and iowait.
/// (`guest` time is already counted in `user`, so it is not added again.)
pub fn parse_stat_busy(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = fields[..] else {
        return None;
    };
    Some(user + nice + system + irq + softirq + steal)
}

/// This process's CPU ticks, its own and its waited-for children's (utime, stime, cutime,
/// cstime), from the text of `/proc/self/stat`.
pub fn parse_self_ticks(text: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime..cstime are fields 14..17.
    fields.get(11..15)?.iter().map(|f| f.parse::<u64>().ok()).sum()
}

/// A reading of the CPU counters.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    machine_busy: u64,
    ours: u64,
}

/// Reads the counters now; `None` where `/proc` does not have them.
pub fn sample() -> Option<CpuSample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(CpuSample {
        at: Instant::now(),
        machine_busy: parse_stat_busy(&stat)?,
        ours: parse_self_ticks(&own)?,
    })
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |t| t as f64)
}

/// What other programs took between two readings, as a share of the machine's capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// The best estimate (0 and up).
    pub estimate: f64,
    /// The least it can have been, given the counters' resolution: what decides "busy".
    pub lower_bound: f64,
}

/// The share of `cpus` CPUs over `seconds` that others used, given both counters' deltas in ticks.
pub fn share_from_ticks(machine_busy: u64, ours: u64, seconds: f64, cpus: usize, hz: f64) -> Share {
    let capacity = (seconds * hz * cpus as f64).max(1.0);
    let others = machine_busy as f64 - ours as f64;
    let slack = SLACK_TICKS_PER_CPU * cpus as f64 + SLACK_TICKS_OURS;
    Share {
        estimate: (others / capacity).clamp(0.0, 1.0),
        lower_bound: ((others - slack) / capacity).clamp(0.0, 1.0),
    }
}

/// Others' share between two readings.
pub fn share_between(before: &CpuSample, after: &CpuSample, cpus: usize) -> Share {
    share_from_ticks(
        after.machine_busy.saturating_sub(before.machine_busy),
        after.ours.saturating_sub(before.ours),
        after.at.duration_since(before.at).as_secs_f64(),
        cpus,
        ticks_per_second(),
    )
}

/// The calibration: the median time of one-thread-per-CPU runs over that of one-thread runs of
/// the same loop, alternating. About 1.0 on a quiet machine.
pub fn calibrate(cpus: usize) -> f64 {
    let timed = |threads: usize| {
        let started = Instant::now();
        std::thread::scope(|s| {
            for i in 0..threads {
                s.spawn(move || spin(CALIBRATION_STEPS, i as u64));
            }
        });
        started.elapsed().as_secs_f64()
    };
    timed(cpus); // warm-up: the CPU clocks, the thread stacks
    let mut one = Vec::new();
    let mut all = Vec::new();
    for _ in 0..CALIBRATION_ROUNDS {
        one.push(timed(1));
        all.push(timed(cpus));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    median(&mut all) / median(&mut one)
}

/// How busy the machine was around the whole run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Load {
    pub cpus: usize,
    /// The 1-minute load average before anything ran. Reported, but it does not decide "busy":
    /// it decays over minutes, so it still counts the previous run of this very program.
    pub load_before: Option<f64>,
    /// Calibration before the measurements: one-thread-per-CPU time over one-thread time.
    pub slowdown_before: Option<f64>,
    /// Share of the CPU time other programs used during that calibration.
    pub others_share_before: Option<f64>,
    /// Share of the CPU time other programs used during all the measurements.
    pub others_share: Option<f64>,
    /// Calibration after the measurements.
    pub slowdown_after: Option<f64>,
    /// Share of the CPU time other programs used during that calibration.
    pub others_share_after: Option<f64>,
    /// `--simulate-load`: a load that was pretended, not measured (tests use it).
    pub simulated_load: Option<f64>,
    /// Whether the machine was busy before, during or after; `reasons` says how.
    pub busy: bool,
    pub reasons: Vec<String>,
}

/// Watches the machine through one run of the program.
pub struct Monitor {
    cpus: usize,
    simulated: Option<f64>,
    load: Load,
    busy_before: bool,
    start: Option<CpuSample>,
}

impl Monitor {
    /// Measures the "before" half. `simulated`, if given, stands for a load average and for the
    /// share of the CPUs that many other tasks would take, throughout the run. Without
    /// `measuring` (a run of the crash demo alone) there is nothing to judge: no calibration.
    pub fn before(cpus: usize, simulated: Option<f64>, measuring: bool) -> Monitor {
        let cpus = cpus.max(1);
        let load_before =
            simulated.or_else(|| parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?));
        let mut monitor = Monitor {
            cpus,
            simulated,
            load: Load { cpus, load_before, simulated_load: simulated, ..Load::default() },
            busy_before: false,
            start: None,
        };
        if measuring {
            let (slowdown, share, busy) = monitor.calibrate();
            monitor.load.slowdown_before = Some(slowdown);
            monitor.load.others_share_before = share;
            monitor.busy_before = busy;
            if busy {
                let why = monitor.calibration_why(slowdown, share);
                monitor.load.reasons.push(format!("before the measurements, {why}"));
            }
        }
        monitor.start = sample();
        monitor
    }

    /// A calibration, watched: (slowdown, others' share, busy).
    fn calibrate(&self) -> (f64, Option<f64>, bool) {
        let window = self.window();
        let slowdown = calibrate(self.cpus);
        let (share, busy) = self.judge(&window);
        (slowdown, share, busy || slowdown >= BUSY_SLOWDOWN)
    }

    fn calibration_why(&self, slowdown: f64, share: Option<f64>) -> String {
        let share = share
            .map_or(String::new(), |s| format!(", other programs used {:.0}% of the CPU time", s * 100.0));
        format!("{} threads took {slowdown:.2}x the time of one{share}", self.cpus)
    }

    /// Starts watching one measurement.
    pub fn window(&self) -> Window {
        Window { start: sample() }
    }

    /// Others' share during a window that just ended, and whether that is busy.
    pub fn judge(&self, window: &Window) -> (Option<f64>, bool) {
        let measured = window.start.zip(sample()).map(|(a, b)| share_between(&a, &b, self.cpus));
        let pretended = self.simulated.map(|l| (l / self.cpus as f64).min(1.0));
        let estimate = match (measured, pretended) {
            (Some(m), Some(p)) => Some(m.estimate.max(p)),
            (m, p) => m.map(|m| m.estimate).or(p),
        };
        let lower = measured.map_or(0.0, |m| m.lower_bound).max(pretended.unwrap_or(0.0));
        (estimate, lower >= BUSY_SHARE)
    }

    /// Whether the "before" half already found the machine busy.
    pub fn busy_before(&self) -> bool {
        self.busy_before
    }

    /// Measures the "after" half; `any_window_busy` says whether some measurement was busy.
    /// Returns the whole account, and whether the machine was busy *after* the measurements.
    pub fn after(mut self, any_window_busy: bool) -> (Load, bool) {
        let (others_share, overall_busy) = self.judge(&Window { start: self.start });
        self.load.others_share = others_share;
        if overall_busy || any_window_busy {
            let share = others_share.unwrap_or(0.0) * 100.0;
            self.load.reasons.push(format!(
                "during the measurements, other programs used {share:.0}% of the CPU time overall"
            ));
        }
        let mut busy_after = false;
        if self.load.slowdown_before.is_some() {
            let (slowdown, share, busy) = self.calibrate();
            self.load.slowdown_after = Some(slowdown);
            self.load.others_share_after = share;
            if busy {
                let why = self.calibration_why(slowdown, share);
                self.load.reasons.push(format!("after the measurements, {why}"));
                busy_after = true;
            }
        }
        self.load.busy = !self.load.reasons.is_empty();
        (self.load, busy_after)
    }
}

/// One measurement being watched.
pub struct Window {
    start: Option<CpuSample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_files() {
        assert_eq!(parse_loadavg("0.32 0.91 2.32 1/90 18459\n"), Some(0.32));
        let stat = "cpu  270758 0 162445 395004 1255 0 334 210 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(parse_stat_busy(stat), Some(270758 + 162445 + 334 + 210));
        let own = "4242 (a (weird) name) R 1 2 3 4 5 6 7 8 9 10 111 222 333 444 20 0 1 0";
        assert_eq!(parse_self_ticks(own), Some(111 + 222 + 333 + 444));
        assert_eq!(parse_self_ticks("garbage"), None);
    }

    #[test]
    fn share_of_the_others() {
        // 2 CPUs for 10 s at 100 Hz: 2000 ticks. We used 1000, the machine 1500: others 25%.
        let s = share_from_ticks(1500, 1000, 10.0, 2, 100.0);
        assert!((s.estimate - 0.25).abs() < 1e-9, "{s:?}");
        assert!(s.lower_bound < s.estimate && s.lower_bound > 0.24, "{s:?}");
        // A 50 ms window: 10 ticks of capacity; 2 ticks of others is within the counters' slack.
        let short = share_from_ticks(12, 10, 0.05, 2, 100.0);
        assert!(short.estimate > BUSY_SHARE && short.lower_bound < BUSY_SHARE, "{short:?}");
        // We can seem to use more than the machine did (counted differently): never negative.
        assert_eq!(share_from_ticks(10, 12, 1.0, 2, 100.0).estimate, 0.0);
    }

    #[test]
    fn a_simulated_load_makes_every_window_busy() {
        let monitor = Monitor {
            cpus: 2,
            simulated: Some(8.0),
            load: Load::default(),
            busy_before: false,
            start: sample(),
        };
        let (share, busy) = monitor.judge(&monitor.window());
        assert!(busy);
        assert_eq!(share, Some(1.0));
    }
}
