//! The harness's one error type, for the harness and for the two programs that use it.
//!
//! An enum rather than `Box<dyn Error>` or a `String`, because the programs act on what went
//! wrong, not only print it: a workload that delivered something other than what was sent
//! ([`Error::Wrong`], [`Error::Child`]) must fail the run, while a missing `python3` or
//! `valgrind` ([`Error::Missing`]) only empties a column. The `From` conversions let `?` carry the
//! crate's, the OS's and bincode's errors as they are, and [`Context`] says which measurement
//! they came from, so a failure reads `queue-small: limit: a child exited with 1`.

use std::fmt;

/// Everything that can stop a measurement.
pub enum Error {
    /// The `multiprocessing` crate returned an error.
    Crate(multiprocessing::Error),
    /// A system call or a file failed.
    Os(std::io::Error),
    /// bincode could not encode or decode a message (the raw limits encode as the crate does).
    Encoding(String),
    /// A workload's check failed: what arrived is not what was sent, or a count is off.
    Wrong(String),
    /// A child process ended with a non-zero exit code (negative: killed by that signal); its
    /// own check failed, or it crashed.
    Child {
        /// The process's name.
        name: String,
        /// Its exit code, as `Process::join` returns it.
        code: i32,
    },
    /// A tool the measurement needs is not on this machine (`python3`, `valgrind`): the part
    /// that needs it is skipped, and the report says so.
    Missing(String),
    /// A tool ran but failed (CPython's script, valgrind): what it said.
    Tool(String),
    /// Drawing a plot failed.
    Plot(String),
    /// The command line asked for something that does not exist.
    Usage(String),
    /// What was being measured when `source` happened.
    Context {
        /// The measurement: `queue-small`, `limit`, `python3 bench.py`...
        what: String,
        /// What went wrong in it.
        source: Box<Error>,
    },
}

/// `Result` with the harness's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error without its context: what really went wrong.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            other => other,
        }
    }

    /// Whether it only says that a tool is missing (the measurement is skipped, not failed).
    pub fn is_missing(&self) -> bool {
        matches!(self.root(), Error::Missing(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Crate(e) => write!(f, "{e}"),
            Error::Os(e) => write!(f, "{e}"),
            Error::Encoding(e) => write!(f, "bincode: {e}"),
            Error::Wrong(what) => write!(f, "{what}"),
            Error::Child { name, code } if *code < 0 => {
                write!(f, "{name} was killed by signal {}", -code)
            }
            Error::Child { name, code } => {
                write!(f, "{name} exited with {code}: what it received was not what was sent, or it failed")
            }
            Error::Missing(what) | Error::Tool(what) | Error::Plot(what) | Error::Usage(what) => {
                write!(f, "{what}")
            }
            Error::Context { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

/// The same sentence as `Display`, so that an error returned from `main` reads as one.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Crate(e) => Some(e),
            Error::Os(e) => Some(e),
            Error::Context { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<multiprocessing::Error> for Error {
    fn from(e: multiprocessing::Error) -> Error {
        Error::Crate(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Os(e)
    }
}

impl From<nix::errno::Errno> for Error {
    fn from(e: nix::errno::Errno) -> Error {
        Error::Os(e.into())
    }
}

impl From<bincode::error::EncodeError> for Error {
    fn from(e: bincode::error::EncodeError) -> Error {
        Error::Encoding(e.to_string())
    }
}

impl From<bincode::error::DecodeError> for Error {
    fn from(e: bincode::error::DecodeError) -> Error {
        Error::Encoding(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Tool(format!("JSON: {e}"))
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>> for Error {
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Error {
        Error::Plot(e.to_string())
    }
}

/// Says what was being measured when an error happened.
pub trait Context<T> {
    /// Wraps the error, if any, in [`Error::Context`] with `what`.
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::Context { what: what.to_string(), source: Box::new(e.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences() {
        let child = Error::Child { name: "Process-3".into(), code: 1 };
        assert_eq!(
            child.to_string(),
            "Process-3 exited with 1: what it received was not what was sent, or it failed"
        );
        let killed = Error::Child { name: "Process-4".into(), code: -9 };
        assert_eq!(killed.to_string(), "Process-4 was killed by signal 9");
        let wrapped: Result<()> = Err(Error::Wrong("message 3 is wrong".into())).context("limit");
        let wrapped = wrapped.context("queue-small").unwrap_err();
        assert_eq!(wrapped.to_string(), "queue-small: limit: message 3 is wrong");
        assert_eq!(format!("{wrapped:?}"), wrapped.to_string());
        assert!(matches!(wrapped.root(), Error::Wrong(_)));
        assert!(!wrapped.is_missing());
        let missing: Result<()> = Err(Error::Missing("valgrind is not installed".into()));
        assert!(missing.context("instructions").unwrap_err().is_missing());
    }
}
