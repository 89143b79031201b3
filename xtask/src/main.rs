//! The project's tasks, in the cargo-xtask convention (<https://github.com/matklad/cargo-xtask>):
//! `cargo xtask <task>` runs this binary through the alias in `.cargo/config.toml`.
//!
//! - `cargo xtask verify [PACKAGE...] [--runs N] [--exported]`: build every lecture example, run
//!   it as a user would, and compare its output with the transcript in its `expected/` folder
//!   (`verify.rs`, matcher in `transcript.rs`). `--exported` does it to exported copies instead.
//! - `cargo xtask export EXAMPLE DIR`: a copy of an example that builds on its own, outside the
//!   workspace, with the `multiprocessing` library vendored beside it (`export.rs`; the manifests
//!   are resolved by `manifest.rs`, read and written by `toml.rs`).
//! - `cargo xtask new NAME`: a program crate of one's own in the workspace, with a transcript
//!   that `verify` checks (`new.rs`, templates in `templates/new/`).
//! - `cargo xtask bench [--json] [--quick] [--reps N] [--curves] [--plot DIR] [--instructions]`:
//!   the crate against the OS's limits and against CPython, as points, curves or instruction
//!   counts (see `bench/`).

mod bench;
mod export;
mod manifest;
mod new;
mod rules;
mod toml;
mod transcript;
mod verify;
mod wordcount;

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
        Some("export") => export::run(&args[1..]),
        Some("new") => new::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        None | Some("help" | "--help" | "-h") => {
            print_help();
            Ok(())
        }
        Some(other) => {
            print_help();
            Err(format!("there is no task called {other}: the tasks are verify, export, new and bench")
                .into())
        }
    }
}

fn print_help() {
    eprintln!(
        "Tasks (cargo xtask TASK):
  verify [PACKAGE...] [--runs N]    build the lecture's examples, run them and check their output
                                    against their expected/ transcripts (all of them, or the
                                    packages or binaries named; N times each)
  verify --exported [PACKAGE...]    the same, to copies made by `export` and built there with
                                    `cargo build --offline`; with no package named, also a crate
                                    made by `new` (CI runs this)
  export EXAMPLE DIR                copy an example package to DIR (new, outside the workspace)
                                    so that it builds on its own: resolved Cargo.toml, the
                                    multiprocessing library in DIR/multiprocessing, Cargo.lock
  new NAME                          make a program crate NAME/ in the workspace: a Queue, a
                                    Process, start, get, join, and a transcript for verify
  bench [--json] [--quick] [--reps N] [--curves] [--plot DIR] [--instructions]
                                    the crate against the OS's limits and CPython"
    );
}

/// The workspace root, found from this crate's manifest directory.
fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}
