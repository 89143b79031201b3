//! `cargo xtask bench`: builds the `bench` package in release mode and runs it.
//!
//! The measurements live in their own package (`bench/`) so that they run optimised, while this
//! xtask stays a quick debug build. Arguments are passed through: `--json`, `--quick`, `--reps N`,
//! `--metric NAME`, `--curves` (or `--curve NAME`) and `--plot DIR` for how costs grow,
//! `--instructions` for instruction counts under valgrind (`cargo xtask bench --help` lists
//! them all).

use std::process::Command;

use crate::{DynError, project_root};

pub fn run(args: &[String]) -> Result<(), DynError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(project_root())
        .args(["run", "--quiet", "--release", "-p", "bench", "--"])
        .args(args)
        .status()?;
    if !status.success() {
        return Err("the benchmark failed".into());
    }
    Ok(())
}
