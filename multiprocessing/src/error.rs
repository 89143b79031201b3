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
    /// A system call failed. `call` names it and what it was for (`fork (start of a Process)`,
    /// `mmap (a Queue's shared memory)`...); `source` is what the system said. `call` is empty
    /// for the program's own I/O turned into this error by `?`.
    Io {
        /// The call that failed, and what for.
        call: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// A value could not be encoded with bincode; nothing was sent. The text names the value's
    /// type and what bincode said.
    Encode(String),
    /// A message arrived whole but could not be decoded into the queue's type. The text names
    /// the type and what bincode said.
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
    Disconnected {
        /// The call that failed: `get on Queue<String>`.
        call: QueueCall,
    },
    /// Equivalent to Python's `queue.Empty`: nothing arrived in time. Match it with
    /// `Err(Error::Empty { .. })`.
    Empty {
        /// The call that failed: `get_timeout on Queue<String>`.
        call: QueueCall,
    },
    /// Equivalent to Python's `queue.Full`: a bounded queue had no room in time.
    Full {
        /// The call that failed: `put_nowait on Queue<u32>`.
        call: QueueCall,
    },
    /// Equivalent to Python's `ValueError: Queue ... is closed`: this process called `close()`.
    Closed {
        /// The call that failed: `put on Queue<u32>`.
        call: QueueCall,
    },
    /// Equivalent to Python's `ValueError: task_done() called too many times`.
    TaskDoneTooManyTimes {
        /// The call that failed: `task_done on JoinableQueue<u32>`.
        call: QueueCall,
    },
    /// `JoinableQueue::join`: tasks are unfinished, nothing is left in the queue, and no other
    /// process that holds it is alive to mark them done: the process that calls `join` took them
    /// (in this thread or another) and did not call `task_done`. A consumer process that ends
    /// holding tasks is [`TasksLost`](Error::TasksLost) instead. CPython's `join` would wait
    /// forever.
    TasksNeverDone {
        /// The call that failed: `join on JoinableQueue<u32>`.
        call: QueueCall,
        /// How many tasks are unfinished.
        unfinished: u32,
    },
    /// `JoinableQueue::join`: a process took tasks from the queue and ended (was killed, or
    /// exited) before it marked them done. They are written off (counted as done), so a later
    /// `join` waits only for the others; CPython's `join` would wait forever.
    TasksLost {
        /// The call that failed: `join on JoinableQueue<u32>`.
        call: QueueCall,
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
    /// An [`Array`](crate::Array) index past its end. Equivalent to Python's `IndexError`.
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// `acquire` of a [`Lock`](crate::Lock) that this thread already holds: it would wait for
    /// itself forever, as CPython's does. An [`RLock`](crate::RLock) may be taken again.
    WouldDeadlock,
    /// `release` of a lock this process does not hold: a guard copied into a child by `fork`.
    /// Equivalent to Python's `AssertionError: attempt to release recursive lock not owned by
    /// thread`.
    NotLockOwner,
    /// [`Condition`](crate::Condition) `wait`: as many waiters as the condition has room for
    /// are already waiting.
    TooManyWaiters {
        /// How many waiters a condition holds at once.
        limit: usize,
    },
    /// [`BoundedSemaphore::release`](crate::BoundedSemaphore::release) past the initial value.
    /// Equivalent to Python's `ValueError: semaphore or lock released too many times`.
    SemaphoreReleasedTooManyTimes,
    /// [`Barrier::wait`](crate::Barrier::wait) on a broken barrier, or a barrier that broke while
    /// this party waited: a party timed out or died while waiting, or someone called `abort()`
    /// or `reset()`. Equivalent to Python's `threading.BrokenBarrierError`.
    BrokenBarrier,
    /// The [`Barrier`](crate::Barrier)'s action panicked in this party (the last to arrive); the
    /// barrier is broken for the others. In Python the action's exception is raised here.
    BarrierActionPanicked(String),
    /// A [`Manager`](crate::Manager)'s server process is gone (shut down, or killed): a proxy's
    /// request cannot be answered, and the objects it held are lost. CPython raises `EOFError`,
    /// `BrokenPipeError` or `ConnectionRefusedError`, depending on the moment.
    ManagerGone {
        /// The server's pid.
        pid: u32,
    },
    /// [`Namespace::get`](crate::Namespace::get) of an attribute that was never set. Equivalent
    /// to Python's `AttributeError: 'Namespace' object has no attribute 'name'`.
    NoAttribute {
        /// The attribute asked for.
        name: String,
    },
    /// A [`ListProxy`](crate::ListProxy) index past its end. Equivalent to Python's `IndexError:
    /// list index out of range`.
    ListIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// [`ListProxy::remove`](crate::ListProxy::remove) of a value the list does not hold.
    /// Equivalent to Python's `ValueError: list.remove(x): x not in list`.
    NotInList,
    /// A [`Manager`](crate::Manager)'s server refused a request it could not make sense of, or
    /// sent a reply the proxy could not read (the text says which). Not expected from this
    /// crate's own proxies.
    ManagerRefused(String),
    /// A [`Pool`](crate::Pool) worker died while it ran a task (killed, `abort`, `exit`): the
    /// task failed, and a new worker takes its place. CPython's `Pool` would wait forever.
    WorkerDied {
        /// The worker's name, `ForkPoolWorker-N`.
        worker: String,
        /// Its pid.
        pid: u32,
        /// Its exit code: `-N` when signal N killed it (`-9` for `SIGKILL`).
        exitcode: i32,
    },
    /// A [`Pool`](crate::Pool) task panicked; its worker ended (exit code 1) and a new one
    /// takes its place. In Python the task's exception is raised again by `get()` or `map()`.
    TaskPanicked {
        /// The worker's name, `ForkPoolWorker-N`.
        worker: String,
        /// What the panic said.
        message: String,
    },
    /// A [`Pool`](crate::Pool) worker's initializer failed (returned an error or panicked), so
    /// the pool runs no task. CPython's `Pool` would start failing workers forever.
    InitializerFailed {
        /// The worker's name, `ForkPoolWorker-N`.
        worker: String,
        /// What the initializer said, or how the worker ended.
        reason: String,
    },
    /// [`AsyncResult::get_timeout`](crate::AsyncResult::get_timeout): the result was not ready
    /// in time; it may still come. Equivalent to Python's `multiprocessing.TimeoutError`.
    Timeout,
    /// A method was called in a state where Python raises (`join_thread` before `close`, `map`
    /// on a closed `Pool`...). The text says which.
    InvalidState(&'static str),
    /// A [`Process`](crate::Process) method called in a state where Python raises (`start`
    /// twice, `join` before `start`, `terminate` of a process never started...).
    ProcessState {
        /// The method: `start`, `join`, `terminate`...
        method: &'static str,
        /// The process's name: `Process-3`.
        process: String,
        /// What is wrong, and Python's exception when it has one.
        why: &'static str,
    },
}

/// The queue call an error comes from, as its message names it: `get on Queue<String>`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueCall {
    /// The method: `get`, `put_nowait`, `task_done`...
    pub method: &'static str,
    /// `Queue` or `JoinableQueue`.
    pub queue: &'static str,
    /// The item type, as [`std::any::type_name`] spells it (the message shortens
    /// `alloc::string::String` to `String`).
    pub item: &'static str,
}

impl QueueCall {
    /// The call `method` on a queue (`joinable`: a `JoinableQueue`) of `T`s.
    pub(crate) fn new<T>(method: &'static str, joinable: bool) -> QueueCall {
        let queue = if joinable { "JoinableQueue" } else { "Queue" };
        QueueCall { method, queue, item: std::any::type_name::<T>() }
    }
}

impl fmt::Display for QueueCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}<{}>", self.method, self.queue, short_type_name(self.item))
    }
}

impl fmt::Debug for QueueCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A type's name without its module paths, as a student writes it:
/// `(u64, alloc::string::String)` becomes `(u64, String)`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut short = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (at, c) in full.char_indices() {
        if c.is_alphanumeric() || c == '_' {
            continue;
        }
        if c == ':' {
            // The path so far (`alloc::string::`) is dropped when `::` ends it.
            segment_start = at + 1;
            continue;
        }
        short.push_str(&full[segment_start..at]);
        short.push(c);
        segment_start = at + c.len_utf8();
    }
    short.push_str(&full[segment_start..]);
    short
}

impl Error {
    /// The error for the failed system call `call` (`"fork (start of a Process)"`): for
    /// `.map_err(Error::os("mmap (a Queue's shared memory)"))`.
    pub(crate) fn os<E: Into<io::Error>>(call: &'static str) -> impl FnOnce(E) -> Error {
        move |source| Error::Io { call, source: source.into() }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { call: "", source } => write!(f, "I/O error: {source}"),
            Error::Io { call, source } => write!(f, "system call {call} failed: {source}"),
            Error::Encode(what) => write!(f, "cannot encode {what}"),
            Error::Decode(what) => write!(f, "cannot decode {what}"),
            Error::MessageTooLarge { size, limit } => {
                write!(f, "message of {size} bytes is over the limit of {limit} bytes")
            }
            Error::CorruptFrame(why) => write!(f, "corrupt message in queue: {why}"),
            Error::Disconnected { call } => {
                write!(f, "{call}: the queue is empty and every process that could put into it is gone")
            }
            Error::Empty { call } => {
                write!(f, "{call}: the queue is empty, nothing arrived in time (Python: queue.Empty)")
            }
            Error::Full { call } => {
                write!(f, "{call}: the queue is full, no room came in time (Python: queue.Full)")
            }
            Error::Closed { call } => {
                write!(f, "{call}: the queue is closed, this process called close() (Python: ValueError)")
            }
            Error::TaskDoneTooManyTimes { call } => write!(
                f,
                "{call}: task_done() called too many times, more than items were put (Python: ValueError)"
            ),
            Error::TasksNeverDone { call, unfinished } => {
                let s = if *unfinished == 1 { " was" } else { "s were" };
                write!(
                    f,
                    "{call}: {unfinished} task{s} put and never marked done, and every other \
                     process of the queue has exited: this process took them and did not call \
                     task_done() (a consumer process that exits without it is TasksLost instead)"
                )
            }
            Error::TasksLost { call, pid, tasks } => {
                let s = if *tasks == 1 { "" } else { "s" };
                write!(
                    f,
                    "{call}: process {pid} ended holding {tasks} unfinished task{s} (it was killed, \
                     or it forgot task_done()); they are written off"
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
            Error::IndexOutOfRange { index, len } => {
                write!(f, "index {index} is out of range for an Array of {len} elements (Python: IndexError)")
            }
            Error::WouldDeadlock => write!(
                f,
                "acquire of a Lock this thread already holds: it would wait for itself forever \
                 (Python hangs; an RLock can be taken again by its holder)"
            ),
            Error::NotLockOwner => write!(
                f,
                "release of a lock this process does not hold (Python: AssertionError, attempt to \
                 release recursive lock not owned by thread)"
            ),
            Error::TooManyWaiters { limit } => {
                write!(f, "wait on a Condition that already has {limit} waiters, the most it can hold")
            }
            Error::SemaphoreReleasedTooManyTimes => write!(
                f,
                "semaphore or lock released too many times: a BoundedSemaphore cannot go above its \
                 initial value (Python: ValueError)"
            ),
            Error::BrokenBarrier => write!(
                f,
                "barrier is broken: a party timed out or died while waiting, or abort() or reset() \
                 was called (Python: threading.BrokenBarrierError)"
            ),
            Error::BarrierActionPanicked(why) => write!(
                f,
                "the barrier's action panicked: {why}; the barrier is broken for the other parties \
                 (Python raises the action's exception in this party)"
            ),
            Error::ManagerGone { pid } => write!(
                f,
                "the Manager's server process (pid {pid}) is gone: it was shut down or killed, and \
                 the shared objects it held are lost (Python: EOFError or ConnectionRefusedError)"
            ),
            Error::NoAttribute { name } => {
                write!(f, "'Namespace' object has no attribute '{name}' (Python: AttributeError)")
            }
            Error::ListIndexOutOfRange { index, len } => {
                write!(f, "list index {index} out of range for a list of {len} items (Python: IndexError)")
            }
            Error::NotInList => write!(f, "list.remove(x): x not in list (Python: ValueError)"),
            Error::ManagerRefused(why) => write!(f, "the Manager's server refused a request: {why}"),
            Error::WorkerDied { worker, pid, exitcode } => {
                let signal = exitcode.checked_neg().and_then(|n| nix::sys::signal::Signal::try_from(n).ok());
                let how = signal.map_or(String::new(), |s| format!(" (killed by {})", s.as_str()));
                write!(
                    f,
                    "pool worker {worker} (pid {pid}) died with exit code {exitcode}{how} while \
                     running a task: the task failed, and a new worker takes its place (CPython's \
                     Pool would wait forever)"
                )
            }
            Error::TaskPanicked { worker, message } => write!(
                f,
                "a task panicked in pool worker {worker}: {message}; the worker ended with exit \
                 code 1 and a new one takes its place (Python raises the task's exception here)"
            ),
            Error::InitializerFailed { worker, reason } => write!(
                f,
                "the initializer of pool worker {worker} failed: {reason}; the pool runs no task \
                 (CPython's Pool would start failing workers forever)"
            ),
            Error::Timeout => {
                write!(f, "the result was not ready in time (Python: multiprocessing.TimeoutError)")
            }
            Error::InvalidState(why) => f.write_str(why),
            Error::ProcessState { method, process, why } => write!(f, "{method}() of {process}: {why}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// For a program's own I/O with `?` in a function that returns [`Result`] (writing to a file in
/// `main`, say). The crate itself names every call it makes (`Error::Io`'s `call`); here
/// `call` is empty, and the message says `I/O error: ...`.
impl From<io::Error> for Error {
    fn from(source: io::Error) -> Self {
        Error::Io { call: "", source }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get() -> QueueCall {
        QueueCall::new::<String>("get", false)
    }

    #[test]
    fn debug_is_the_sentence_so_main_returning_err_prints_words() {
        let join = QueueCall::new::<(u64, String)>("join", true);
        let errors = [
            Error::Disconnected { call: get() },
            Error::InvalidState("cannot start a process twice"),
            Error::TasksLost { call: join, pid: 42, tasks: 2 },
            Error::TasksNeverDone { call: join, unfinished: 2 },
            Error::Empty { call: get() },
            Error::Io {
                call: "fork (start of a Process)",
                source: io::Error::from_raw_os_error(libc::EAGAIN),
            },
            Error::MessageTooLarge { size: 2, limit: 1 },
            Error::WouldDeadlock,
            Error::NotLockOwner,
            Error::TooManyWaiters { limit: 1024 },
        ];
        for error in errors {
            let debug = format!("{error:?}");
            assert_eq!(debug, error.to_string());
            // A derived Debug would print `Disconnected`, `TasksLost { pid: 42, .. }`, `Io(..)`.
            assert!(debug.contains(' ') && !debug.contains(" { ") && !debug.starts_with("Io("), "{debug}");
        }
        // Where Python has a name for the failure, the sentence gives it.
        for (error, python) in [
            (Error::Empty { call: get() }, "queue.Empty"),
            (Error::Full { call: get() }, "queue.Full"),
            (Error::Closed { call: get() }, "ValueError"),
            (Error::EndOfFile, "EOFError"),
            (Error::BrokenPipe, "BrokenPipeError"),
            (Error::IndexOutOfRange { index: 3, len: 2 }, "IndexError"),
            (Error::NotLockOwner, "AssertionError"),
        ] {
            assert!(error.to_string().contains(python), "{error}");
        }
    }

    #[test]
    fn queue_errors_name_the_call_and_the_queue_with_its_item_type() {
        let empty = Error::Empty { call: QueueCall::new::<String>("get_timeout", false) };
        assert_eq!(
            empty.to_string(),
            "get_timeout on Queue<String>: the queue is empty, nothing arrived in time (Python: queue.Empty)"
        );
        let lost =
            Error::TasksLost { call: QueueCall::new::<(u64, Vec<String>)>("join", true), pid: 7, tasks: 1 };
        assert!(
            lost.to_string().starts_with(
                "join on JoinableQueue<(u64, Vec<String>)>: process 7 ended holding 1 unfinished task "
            ),
            "{lost}"
        );
        let never = Error::TasksNeverDone { call: QueueCall::new::<u32>("join", true), unfinished: 2 };
        assert!(
            never
                .to_string()
                .starts_with("join on JoinableQueue<u32>: 2 tasks were put and never marked done"),
            "{never}"
        );
        let full = Error::Full {
            call: QueueCall::new::<std::collections::HashMap<String, f64>>("put_nowait", false),
        };
        assert!(
            full.to_string().starts_with("put_nowait on Queue<HashMap<String, f64>>: the queue is full"),
            "{full}"
        );
    }

    #[test]
    fn type_names_lose_their_module_paths() {
        assert_eq!(short_type_name("alloc::string::String"), "String");
        assert_eq!(short_type_name("(u64, alloc::string::String, f64)"), "(u64, String, f64)");
        assert_eq!(short_type_name("alloc::vec::Vec<my_crate::Job<u8>>"), "Vec<Job<u8>>");
        assert_eq!(short_type_name("[u8; 4]"), "[u8; 4]");
        assert_eq!(short_type_name("&str"), "&str");
    }

    #[test]
    fn system_errors_name_the_call_and_io_from_the_program_says_io() {
        let fork = Error::Io {
            call: "fork (start of a Process)",
            source: io::Error::from_raw_os_error(libc::EAGAIN),
        };
        assert!(fork.to_string().starts_with("system call fork (start of a Process) failed: "), "{fork}");
        // The program's own I/O, through `?` in a function returning the crate's Result.
        let own: Error = io::Error::from(io::ErrorKind::NotFound).into();
        assert_eq!(own.to_string(), "I/O error: entity not found");
        let named = Error::os::<nix::Error>("mmap (a Queue's shared memory)")(nix::Error::ENOMEM);
        assert!(
            named
                .to_string()
                .starts_with("system call mmap (a Queue's shared memory) failed: Cannot allocate memory"),
            "{named}"
        );
    }

    #[test]
    fn process_state_errors_name_the_method_and_the_process() {
        let error = Error::ProcessState {
            method: "start",
            process: "Process-3".into(),
            why: "it was already started",
        };
        assert_eq!(error.to_string(), "start() of Process-3: it was already started");
        assert_eq!(format!("{error:?}"), error.to_string());
    }

    #[test]
    fn pool_messages_name_the_worker_and_how_it_ended() {
        let died = Error::WorkerDied { worker: "ForkPoolWorker-3".into(), pid: 4242, exitcode: -9 };
        let panicked = Error::TaskPanicked { worker: "ForkPoolWorker-2".into(), message: "boom".into() };
        let initializer =
            Error::InitializerFailed { worker: "ForkPoolWorker-1".into(), reason: "no database".into() };
        for error in [&died, &panicked, &initializer, &Error::Timeout] {
            let debug = format!("{error:?}");
            assert_eq!(debug, error.to_string());
            assert!(debug.contains(' ') && !debug.contains(" { "), "{debug}");
        }
        assert!(died.to_string().starts_with(
            "pool worker ForkPoolWorker-3 (pid 4242) died with exit code -9 (killed by SIGKILL) while running a task"
        ));
        let exited = Error::WorkerDied { worker: "ForkPoolWorker-1".into(), pid: 1, exitcode: 3 };
        assert!(exited.to_string().contains("exit code 3 while"), "{exited}");
        assert!(panicked.to_string().contains("ForkPoolWorker-2: boom; the worker ended with exit code 1"));
        assert!(initializer.to_string().contains("ForkPoolWorker-1 failed: no database;"));
        assert!(Error::Timeout.to_string().contains("multiprocessing.TimeoutError"));
    }

    #[test]
    fn semaphore_and_barrier_messages_are_sentences_naming_python() {
        for (error, python) in [
            (Error::SemaphoreReleasedTooManyTimes, "ValueError"),
            (Error::BrokenBarrier, "threading.BrokenBarrierError"),
            (Error::BarrierActionPanicked("boom".into()), "exception"),
        ] {
            let debug = format!("{error:?}");
            assert_eq!(debug, error.to_string());
            assert!(debug.contains(python) && debug.contains(' ') && !debug.contains(" { "), "{debug}");
        }
        let released = Error::SemaphoreReleasedTooManyTimes.to_string();
        assert!(released.starts_with("semaphore or lock released too many times"), "{released}");
        assert!(Error::BarrierActionPanicked("boom".into()).to_string().contains("panicked: boom;"));
    }

    #[test]
    fn manager_messages_are_sentences_naming_python() {
        for (error, python) in [
            (Error::ManagerGone { pid: 7 }, "EOFError"),
            (Error::NoAttribute { name: "value".into() }, "AttributeError"),
            (Error::ListIndexOutOfRange { index: 3, len: 2 }, "IndexError"),
            (Error::NotInList, "ValueError"),
        ] {
            let debug = format!("{error:?}");
            assert_eq!(debug, error.to_string());
            assert!(debug.contains(python) && debug.contains(' ') && !debug.contains(" { "), "{debug}");
        }
        // CPython's own text, then the exception's name.
        assert_eq!(
            Error::NoAttribute { name: "value".into() }.to_string(),
            "'Namespace' object has no attribute 'value' (Python: AttributeError)"
        );
        assert!(Error::ManagerGone { pid: 7 }.to_string().contains("(pid 7) is gone"));
        assert!(Error::ManagerRefused("why".into()).to_string().ends_with("refused a request: why"));
    }
}
