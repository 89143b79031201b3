//! Counting instructions instead of timing: valgrind's callgrind runs the program on a simulated
//! CPU and counts every instruction it executes, so the count is the same from run to run on a
//! quiet machine or a busy one, where a time can move by 2x. A change that adds work to a
//! per-message path shows as more instructions per message, even when the time cannot tell.
//!
//! The fixed costs (starting the program, making the queue) are taken out by difference: the
//! same program runs with `small` and with `large` units of work, and the instructions per unit
//! are `(count(large) - count(small)) / (large - small)`. Children the program forks are
//! counted too (valgrind follows `fork`; each process writes its own file).
//!
//! What it cannot see: time spent waiting, cache misses, system calls' work in the kernel. A
//! wait that spins counts its spins, which depend on timing: so the measured paths run in one
//! process, where nothing waits.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Context, Error, Result};

/// `valgrind-3.19.0`, or `None` when valgrind cannot be run.
pub fn valgrind_version() -> Option<String> {
    let output = Command::new("valgrind").arg("--version").output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs `program args` under callgrind and returns the instructions executed (callgrind's `Ir`),
/// in the program and every process it forked. [`Error::Missing`] when valgrind is not there.
pub fn count(program: &Path, args: &[String]) -> Result<u64> {
    let dir = scratch_dir()?;
    let outcome = (|| {
        let output = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg("--quiet")
            .arg(format!("--callgrind-out-file={}/callgrind.%p", dir.display()))
            .arg(program)
            .args(args)
            .output()
            .map_err(|e| {
                Error::Missing(format!(
                    "valgrind could not be run ({e}): install valgrind to count instructions"
                ))
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            return Err(Error::Tool(format!(
                "valgrind {} failed: {}",
                program.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            )));
        }
        let mut total = 0;
        for entry in std::fs::read_dir(&dir).context("callgrind's output")? {
            let text = std::fs::read_to_string(entry?.path())?;
            total += totals(&text)
                .ok_or_else(|| Error::Tool("a callgrind file has no totals or summary line".into()))?;
        }
        Ok(total)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Instructions per unit of work: the program run with `small` and with `large` units
/// (`args(n)` makes its arguments), the difference divided by `large - small`.
pub fn per_unit(program: &Path, args: impl Fn(u64) -> Vec<String>, small: u64, large: u64) -> Result<f64> {
    let few = count(program, &args(small))?;
    let many = count(program, &args(large))?;
    Ok((many as f64 - few as f64) / (large - small) as f64)
}

/// The total of a callgrind output file: its `totals:` line, or its `summary:` line.
pub fn totals(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("totals:"))
        .or_else(|| text.lines().find(|l| l.starts_with("summary:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn scratch_dir() -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "harness-callgrind-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).context(dir.display())?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_totals() {
        assert_eq!(totals("events: Ir\nfl=x\n1 2\nsummary: 1234\n"), Some(1234));
        assert_eq!(totals("events: Ir\ntotals: 99\nsummary: 1234\n"), Some(99));
        assert_eq!(totals("events: Ir\n"), None);
    }

    #[test]
    fn counts_a_program_or_says_valgrind_is_missing() {
        let true_program = Path::new("/bin/true");
        match count(true_program, &[]) {
            Ok(n) => assert!(n > 1000, "{n} instructions for /bin/true"),
            Err(e) => assert!(e.is_missing() && valgrind_version().is_none(), "{e}"),
        }
    }
}
