//! The project's tasks, in the cargo-xtask convention (<https://github.com/matklad/cargo-xtask>):
//! `cargo xtask <task>` runs this binary through the alias in `.cargo/config.toml`.
//!
//! - `cargo xtask verify [PACKAGE...] [--runs N]`: build every lecture example, run it as a user
//!   would, and compare its output with the transcript in its `expected/` folder.
//! - `cargo xtask bench [--json] [--quick] [--reps N]`: the crate against the OS's limits and
//!   against CPython (see `bench/`).

mod bench;
mod transcript;
mod verify;

use std::path::PathBuf;

type DynError = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = try_main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn try_main() -> Result<(), DynError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("verify") => verify::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            print_help();
            Ok(())
        }
    }
}

fn print_help() {
    eprintln!(
        "Tasks:
  verify [PACKAGE...] [--runs N]   run the lecture examples and check their output
                                    (all of them, or the packages named; N times each)
  bench [--json] [--quick] [--reps N]
                                    the crate against the OS's limits and CPython"
    );
}

/// The workspace root, found from this crate's manifest directory.
fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}
