//! Logging from processes: `log_to_stderr` and `get_logger`, in CPython's format.
//!
//! CPython's `multiprocessing` logger prints `[LEVEL/ProcessName] message` on stderr. Here the
//! crate is a [`log::Log`] implementation (the `log` facade's "Implementing a Logger" recipe): the
//! crate's own lifecycle messages, and any `log::info!` of the program, go through it.
//!
//! Two details make the lines come out whole and right:
//!
//! - Each record is formatted into one buffer and written with one `write(2)`. Rust's stderr is
//!   unbuffered, so `eprintln!("[{}/{}] {}", ..)` could reach the kernel in pieces, and another
//!   process's output could land between them.
//! - Lines longer than a pipe writes atomically (`PIPE_BUF`, 4096 bytes) could still be cut by
//!   another process's line, so every line is written under a lock that all the processes share:
//!   a robust mutex in shared memory, made by `log_to_stderr` (so processes started after it
//!   share it; a process killed while writing does not leave it held).
//! - The process name is looked up when the record is written, so a child forked with the
//!   logger installed logs under its own name (`Process-1`) and not its parent's.
//!
//! Like CPython's, the logger's level starts unset: until a level is given, only warnings and
//! errors pass, and nothing is printed at all before [`log_to_stderr`] installs the handler.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::shm::{ProcessShared, RobustMutex, SharedMemory};

/// The lock every process takes to write a line (see the module docs).
#[repr(C)]
struct LineLock {
    mutex: RobustMutex,
}

// SAFETY: all-zero bytes are a mapping in which `mutex` is initialised in place by
// `line_lock` before it is shared; a process-shared mutex works across processes.
unsafe impl ProcessShared for LineLock {}

static LINE_LOCK: OnceLock<Option<SharedMemory<LineLock>>> = OnceLock::new();

/// The shared line lock, made on first use (`None` if no shared memory could be had: lines
/// are then written unlocked, whole up to `PIPE_BUF`). Made with the fork lock held, so that a
/// fork in another thread cannot copy the `OnceLock` half-made.
fn line_lock() -> Option<&'static SharedMemory<LineLock>> {
    if let Some(made) = LINE_LOCK.get() {
        return made.as_ref();
    }
    crate::lifecycle::without_forks(|| {
        LINE_LOCK.get_or_init(|| {
            let shm = SharedMemory::<LineLock>::new().ok()?;
            // SAFETY: the mapping was just made; no other thread or process can see it yet.
            unsafe { shm.mutex.init() }.ok()?;
            Some(shm)
        })
    })
    .as_ref()
}

/// The `multiprocessing` logger. Get it with [`get_logger`] or [`log_to_stderr`].
#[derive(Debug)]
pub struct Logger {
    level: AtomicUsize,
    installed: AtomicBool,
}

static LOGGER: Logger = Logger {
    // CPython leaves the level NOTSET, which falls back to the root logger's WARNING.
    level: AtomicUsize::new(LevelFilter::Warn as usize),
    installed: AtomicBool::new(false),
};

/// Returns the crate's logger, without installing it.
///
/// Equivalent to Python's `multiprocessing.get_logger()`.
pub fn get_logger() -> &'static Logger {
    &LOGGER
}

/// Sends the crate's log records to stderr as `[LEVEL/ProcessName] message`, and sets the level
/// if one is given (`None` keeps the current one).
///
/// Equivalent to Python's `multiprocessing.log_to_stderr(level=None)`. Calling it twice is
/// harmless (CPython would add a second handler and print every line twice). If another `log`
/// logger was installed first, that one stays and this one cannot be.
pub fn log_to_stderr(level: impl Into<Option<LevelFilter>>) -> &'static Logger {
    crate::lifecycle::install();
    line_lock();
    if !LOGGER.installed.swap(true, Ordering::SeqCst) {
        // Under the fork lock: a fork in the middle of it would leave the child's `log` facade
        // half set up, and the child would log nothing.
        crate::lifecycle::without_forks(|| {
            let _ = log::set_logger(&LOGGER);
        });
    }
    if let Some(level) = level.into() {
        LOGGER.set_level(level);
    }
    // The `log` facade's maximum level defaults to Off: without this nothing is ever printed.
    log::set_max_level(LOGGER.level());
    &LOGGER
}

impl Logger {
    /// Sets the lowest level that is printed.
    ///
    /// Equivalent to Python's `logger.setLevel(level)`.
    pub fn set_level(&self, level: LevelFilter) {
        self.level.store(level as usize, Ordering::SeqCst);
        if self.installed.load(Ordering::SeqCst) {
            log::set_max_level(level);
        }
    }

    /// The lowest level that is printed.
    pub fn level(&self) -> LevelFilter {
        match self.level.load(Ordering::SeqCst) {
            0 => LevelFilter::Off,
            1 => LevelFilter::Error,
            2 => LevelFilter::Warn,
            3 => LevelFilter::Info,
            4 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        }
    }
}

/// The level names CPython prints. `log`'s `Trace` stands for CPython's `SUBDEBUG` (5), which
/// CPython never registers a name for and so prints as `Level 5`.
pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "Level 5",
    }
}

/// Formats one record the way CPython's `DEFAULT_LOGGING_FORMAT` does.
pub(crate) fn format_record(level: Level, process_name: &str, message: &std::fmt::Arguments<'_>) -> String {
    format!("[{}/{}] {}\n", level_name(level), process_name, message)
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_record(record.level(), &crate::process::current_process().name, record.args());
        // One write for the whole line, under the shared line lock (see the module docs). Errors
        // on stderr have nowhere to go.
        let guard = line_lock().and_then(|lock| lock.mutex.lock(None).ok());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        drop(guard);
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_matches_cpython() {
        let line = format_record(Level::Info, "Process-1", &format_args!("child process calling self.run()"));
        assert_eq!(line, "[INFO/Process-1] child process calling self.run()\n");
        assert_eq!(
            format_record(Level::Warn, "MainProcess", &format_args!("x")),
            "[WARNING/MainProcess] x\n"
        );
        assert_eq!(
            format_record(Level::Trace, "MainProcess", &format_args!("x")),
            "[Level 5/MainProcess] x\n"
        );
    }
}
