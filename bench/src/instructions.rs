//! `--instructions`: the crate's per-message paths counted in instructions by valgrind's
//! callgrind, which gives the same count on a busy machine as on a quiet one (see
//! `harness::instructions`). Each path runs in one process, where nothing waits (a wait that
//! spins would count its spins, which depend on timing), and next to the least work the same
//! message needs without the crate (its floor), so a regression shows as a ratio that moved.
//!
//! The bench runs itself under valgrind with the hidden `--count-path NAME --count N`, at two
//! counts, and divides the difference.

use serde::Serialize;

use harness::{Error, Result};
use multiprocessing::{Event, Queue, Value};

use crate::raw;
use crate::workloads::Small;

/// A path and its floor: (name, what it does, the floor's name, what the floor does).
pub const PATHS: [(&str, &str, &str, &str); 3] = [
    (
        "queue-put-get",
        "Queue<Small>: put 64 messages, then get them, and again",
        "bincode-frame",
        "bincode-encode the same Small into a reused buffer behind a length, and decode it (what the buffered pipe does per message, without its system calls)",
    ),
    (
        "event-set-wait",
        "Event: set, wait (it is set: no sleep), clear",
        "futex-word",
        "a raw futex word: store and wake only sleepers, wait for the value (there at once)",
    ),
    (
        "value-increment",
        "Value<u64>: lock, add 1, unlock (a robust process-shared mutex)",
        "futex-lock",
        "a raw futex lock (Drepper's mutex 3, not robust): lock, add 1, unlock",
    ),
];

/// The two counts each path runs at: the instructions per message are the difference over
/// `LARGE - SMALL`, so starting the program and making the objects do not count.
const SMALL: u64 = 2_000;
const LARGE: u64 = 12_000;

/// One path's count.
#[derive(Debug, Serialize)]
pub struct PathCount {
    /// The crate's path.
    pub name: &'static str,
    /// What it does per message.
    pub what: &'static str,
    /// Instructions per message, the crate's path.
    pub ours: f64,
    /// The floor's name.
    pub floor_name: &'static str,
    /// What the floor does.
    pub floor_what: &'static str,
    /// Instructions per message, the floor.
    pub floor: f64,
}

/// The `--instructions` report.
#[derive(Debug, Serialize)]
pub struct Counts {
    /// `valgrind-3.19.0`.
    pub valgrind: String,
    /// The two counts each path runs at.
    pub counts: (u64, u64),
    /// One per path.
    pub paths: Vec<PathCount>,
}

/// Counts every path under valgrind. [`Error::Missing`] when valgrind is not installed.
pub fn measure(tick: &mut dyn FnMut()) -> Result<Counts> {
    let valgrind = harness::instructions::valgrind_version().ok_or_else(|| {
        Error::Missing("valgrind is not installed: --instructions needs it (apt-get install valgrind)".into())
    })?;
    let exe = std::env::current_exe()?;
    let per = |path: &str| {
        let args =
            |n: u64| vec!["--count-path".to_string(), path.to_string(), "--count".to_string(), n.to_string()];
        harness::instructions::per_unit(&exe, args, SMALL, LARGE)
    };
    let mut paths = Vec::new();
    for (name, what, floor_name, floor_what) in PATHS {
        let ours = per(name)?;
        tick();
        let floor = per(floor_name)?;
        tick();
        paths.push(PathCount { name, what, ours, floor_name, floor_what, floor });
    }
    Ok(Counts { valgrind, counts: (SMALL, LARGE), paths })
}

/// The table for people.
pub fn table(counts: &Counts) -> String {
    let mut out = format!(
        "Instructions per message (valgrind's callgrind, {}; the difference between {} and {} messages, one process)\n",
        counts.valgrind, counts.counts.0, counts.counts.1
    );
    out += &format!("{:<18}{:>10}  {:<16}{:>10}  {:>10}\n", "path", "ours", "floor", "floor's", "ours/floor");
    for p in &counts.paths {
        out += &format!(
            "{:<18}{:>10.0}  {:<16}{:>10.0}  {:>9.1}x\n",
            p.name,
            p.ours,
            p.floor_name,
            p.floor,
            p.ours / p.floor.max(1.0)
        );
    }
    out += "\n";
    for p in &counts.paths {
        out += &format!("  {:<16}{}\n  {:<16}{}\n", p.name, p.what, p.floor_name, p.floor_what);
    }
    out
}

/// The hidden `--count-path NAME --count N`: runs one path `n` times in this process (under
/// valgrind, by [`measure`]).
pub fn run_path(name: &str, n: u64) -> Result<()> {
    match name {
        "queue-put-get" => {
            let queue: Queue<Small> = Queue::new()?;
            let mut sent = 0;
            while sent < n {
                let batch = (n - sent).min(64);
                (sent..sent + batch).try_for_each(|i| queue.put(Small::new(i)))?;
                for i in sent..sent + batch {
                    if queue.get()? != Small::new(i) {
                        return Err(Error::Wrong(format!("message {i} is wrong")));
                    }
                }
                sent += batch;
            }
        }
        "bincode-frame" => {
            let config = bincode::config::standard();
            let mut frame = Vec::with_capacity(64);
            for i in 0..n {
                frame.clear();
                frame.extend_from_slice(&[0; 4]);
                bincode::serde::encode_into_std_write(Small::new(i), &mut frame, config)?;
                let len = (frame.len() - 4) as u32;
                frame[..4].copy_from_slice(&len.to_le_bytes());
                let body = std::hint::black_box(&frame[4..4 + len as usize]);
                let (got, _): (Small, usize) = bincode::serde::decode_from_slice(body, config)?;
                if got != Small::new(i) {
                    return Err(Error::Wrong(format!("message {i} is wrong")));
                }
            }
        }
        "event-set-wait" => {
            let event = Event::new()?;
            for _ in 0..n {
                event.set();
                if !event.wait() {
                    return Err(Error::Wrong("a set event's wait returned false".into()));
                }
                event.clear();
            }
        }
        "futex-word" => {
            let word = raw::SharedWord::new()?;
            for i in 1..=n {
                word.store_and_wake(i);
                word.wait_for(i);
            }
        }
        "value-increment" => {
            let value = Value::new(0_u64)?;
            for _ in 0..n {
                *value.lock()? += 1;
            }
            if value.get()? != n {
                return Err(Error::Wrong("the value is not the count".into()));
            }
        }
        "futex-lock" => {
            let (lock, counter) = (raw::FutexLock::new()?, raw::SharedWord::new()?);
            for _ in 0..n {
                lock.lock();
                counter.add_one();
                lock.unlock();
            }
            if counter.value() != n as u32 {
                return Err(Error::Wrong("the counter is not the count".into()));
            }
        }
        other => return Err(Error::Usage(format!("no path {other:?} to count"))),
    }
    Ok(())
}
