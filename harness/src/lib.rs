//! The measuring harness of this workspace: how `bench` (the crate against the OS's limits and
//! CPython) and `exercise` (threads against processes) measure, in one place, so both measure the
//! same way and each keeps only its workloads and its report.
//!
//! - [`rounds`]: a warm-up, then timed rounds that rotate the variants' order, summarised as
//!   [`Stats`] (median, min, max); [`Mode`] picks the full or the `--quick` sizes;
//! - [`machine`]: what machine and build produced the numbers, its free memory and huge pages;
//! - [`python`]: CPython as `python3 -c SCRIPT`, answering in JSON;
//! - [`processes`]: start, join and check child processes (a failed child fails the measurement);
//! - [`heap`]: a touched heap in small or huge pages, what `fork` has to copy the page tables of;
//! - [`curve`] and [`plot`]: a cost along an axis, as a table, JSON and SVG;
//! - [`instructions`]: instructions counted by valgrind's callgrind, the same on a busy machine;
//! - [`error`]: the one error type, with the measurement it came from.

#![warn(missing_docs)]

pub mod curve;
pub mod error;
pub mod heap;
pub mod instructions;
pub mod machine;
pub mod plot;
pub mod processes;
pub mod python;
pub mod rounds;

pub use curve::{Curve, Point, Scale, Series};
pub use error::{Context, Error, Result};
pub use machine::Machine;
pub use rounds::{Mode, Rounds, Stats, Variant, timed};
