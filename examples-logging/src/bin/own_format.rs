//! Not a slide: the logging example with a format of your own (times, a file), through
//! simplelog, instead of `log_to_stderr`.
//!
//! `log_to_stderr` prints CPython's `[INFO/Process-1] message`, the lines the slides show, so the
//! crate implements that one format itself (a small `log::Log`). Any other logger of the `log`
//! crate works as well: the crate's own lines ("child process calling self.run()") and yours go
//! to whichever logger is installed. Run it with `cargo run -p examples-logging --bin own_format`:
//! INFO and above on the terminal, everything down to DEBUG in `processes.log`.

use multiprocessing::prelude::*;
use simplelog::{ColorChoice, CombinedLogger, Config, TermLogger, TerminalMode, WriteLogger};

fn worker() {
    log::info!("Doing some work in {}", current_process().name);
}

fn main() -> multiprocessing::Result<()> {
    let file = std::fs::File::create("processes.log")?;
    CombinedLogger::init(vec![
        TermLogger::new(LevelFilter::Info, Config::default(), TerminalMode::Stderr, ColorChoice::Auto),
        WriteLogger::new(LevelFilter::Debug, Config::default(), file),
    ])
    .expect("no other logger was installed before");
    let mut p = Process::new(worker);
    p.start()?;
    p.join()?;
    Ok(())
}
