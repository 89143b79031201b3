//! The crate's one error type.
//!
//! Python raises a different exception for each failure (`queue.Empty`, `queue.Full`,
//! `ValueError("Queue is closed")`, `AssertionError`...). Here they are the variants of one enum,
//! so that a student can read every failure the crate can report in one place, and `?` works
//! everywhere.

use std::fmt;
use std::io;

/// Everything that can go wrong in this crate.
///
/// `Debug` prints the same sentence as `Display`, so that `fn main() -> multiprocessing::Result<()>`
/// ends with `Error: queue is empty and ...` rather than a Rust struct.
#[non_exhaustive]
pub enum Error {
    /// A system call failed (fork, mmap, a pipe read or write...).
    Io(io::Error),
    /// A value could not be encoded with bincode; nothing was sent.
    Encode(String),
    /// A message arrived whole but could not be decoded into the queue's type.
    Decode(String),
    /// A message is larger than [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE); nothing was sent.
    MessageTooLarge {
        /// The encoded size of the refused message, in bytes.
        size: usize,
        /// The largest size the queue accepts.
        limit: usize,
    },
    /// A message's bytes are not a valid frame (a peer wrote garbage into the queue), or the
    /// queue's shared memory is damaged. The message is taken; the next one still arrives.
    CorruptFrame(String),
    /// Every process that could put into this queue is gone and it is empty: a `get` would
    /// wait forever.
    Disconnected,
    /// Equivalent to Python's `queue.Empty`: nothing arrived in time.
    Empty,
    /// Equivalent to Python's `queue.Full`: a bounded queue had no room in time.
    Full,
    /// Equivalent to Python's `ValueError: Queue ... is closed`: this process called `close()`.
    Closed,
    /// Equivalent to Python's `ValueError: task_done() called too many times`.
    TaskDoneTooManyTimes,
    /// `JoinableQueue::join`: tasks are unfinished, nothing is left in the queue, and no other
    /// process that holds it is alive to mark them done (usually a consumer that forgot
    /// `task_done`). CPython's `join` would wait forever.
    TasksNeverDone {
        /// How many tasks are unfinished.
        unfinished: u32,
    },
    /// `JoinableQueue::join`: a process took tasks from the queue and ended (was killed, or
    /// exited) before it marked them done. They are written off (counted as done), so a later
    /// `join` waits only for the others; CPython's `join` would wait forever.
    TasksLost {
        /// The process that ended.
        pid: u32,
        /// How many tasks it held.
        tasks: u32,
    },
    /// `recv` on a [`Connection`](crate::Connection) whose other end is closed in every process,
    /// after the last message: nothing more can arrive. Equivalent to Python's `EOFError`.
    EndOfFile,
    /// `send` on a [`Connection`](crate::Connection) whose other end is closed in every process.
    /// Equivalent to Python's `BrokenPipeError`.
    BrokenPipe,
    /// A method was called in a state where Python raises (`start` twice, `join` before
    /// `start`, `join_thread` before `close`...). The text says which.
    InvalidState(&'static str),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "system call failed: {e}"),
            Error::Encode(e) => write!(f, "cannot encode message: {e}"),
            Error::Decode(e) => write!(f, "cannot decode message: {e}"),
            Error::MessageTooLarge { size, limit } => {
                write!(f, "message of {size} bytes is over the limit of {limit} bytes")
            }
            Error::CorruptFrame(why) => write!(f, "corrupt message in queue: {why}"),
            Error::Disconnected => {
                write!(f, "queue is empty and every process that could put into it is gone")
            }
            Error::Empty => write!(f, "queue is empty: nothing arrived in time (Python: queue.Empty)"),
            Error::Full => write!(f, "queue is full: no room came in time (Python: queue.Full)"),
            Error::Closed => write!(f, "Queue is closed: this process called close() (Python: ValueError)"),
            Error::TaskDoneTooManyTimes => {
                write!(f, "task_done() called too many times: more than items were put (Python: ValueError)")
            }
            Error::TasksNeverDone { unfinished } => {
                let s = if *unfinished == 1 { " was" } else { "s were" };
                write!(
                    f,
                    "{unfinished} task{s} put and never marked done, and every other process of the \
                     queue has exited: did a consumer forget task_done()?"
                )
            }
            Error::TasksLost { pid, tasks } => {
                let s = if *tasks == 1 { "" } else { "s" };
                write!(
                    f,
                    "process {pid} ended holding {tasks} unfinished task{s} (it was killed, or it \
                     forgot task_done()); they are written off"
                )
            }
            Error::EndOfFile => write!(
                f,
                "recv on a Pipe whose other end is closed in every process: nothing more can \
                 arrive (Python: EOFError)"
            ),
            Error::BrokenPipe => write!(
                f,
                "send on a Pipe whose other end is closed in every process: nobody can read it \
                 (Python: BrokenPipeError)"
            ),
            Error::InvalidState(why) => f.write_str(why),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error::Io(io::Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_the_sentence_so_main_returning_err_prints_words() {
        let errors = [
            Error::Disconnected,
            Error::InvalidState("cannot start a process twice"),
            Error::TasksLost { pid: 42, tasks: 2 },
            Error::TasksNeverDone { unfinished: 2 },
            Error::Empty,
            Error::Io(io::Error::from_raw_os_error(libc::EAGAIN)),
            Error::MessageTooLarge { size: 2, limit: 1 },
        ];
        for error in errors {
            let debug = format!("{error:?}");
            assert_eq!(debug, error.to_string());
            // A derived Debug would print `Disconnected`, `TasksLost { pid: 42, .. }`, `Io(..)`.
            assert!(debug.contains(' ') && !debug.contains(" { ") && !debug.starts_with("Io("), "{debug}");
        }
        // Where Python has a name for the failure, the sentence gives it.
        for (error, python) in
            [(Error::Empty, "queue.Empty"), (Error::Full, "queue.Full"), (Error::Closed, "ValueError"),
             (Error::EndOfFile, "EOFError"), (Error::BrokenPipe, "BrokenPipeError")]
        {
            assert!(error.to_string().contains(python), "{error}");
        }
    }
}
