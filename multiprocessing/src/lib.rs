//! A small, faithful `multiprocessing` for Rust: real processes, queues, events and logging,
//! with the semantics of CPython's module on Linux.
//!
//! It ports the lecture "Sincronização e comunicação entre processos" (Python's
//! `multiprocessing`): every call on the slides has a counterpart here with the same name, and
//! the same program prints the same lines. Everything is real: processes are `fork(2)`ed, queues
//! are pipes, events are futexes in shared memory. Linux only.
//!
//! # Processes
//!
//! A [`Process`] runs a closure (Python's `Process(target=worker, args=(...))`: capture the
//! arguments) or a type that implements [`Run`] (Python's `class Worker(Process)` with `run`):
//!
//! ```rust,no_run
//! use multiprocessing::{current_process, Process, Run};
//!
//! struct Worker;
//!
//! impl Run for Worker {
//!     fn run(&mut self) -> multiprocessing::Result<()> {
//!         println!("In {}", current_process().name); // "In Worker-1"
//!         Ok(())
//!     }
//! }
//!
//! let mut p = Process::from(Worker);
//! p.start()?;
//! let exitcode = p.join()?; // 0; 1 if `run` panicked; -9 if killed by SIGKILL
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! Names follow CPython: `Process-1`, `Worker-2`, `Process-2:1` for a child's child,
//! `MainProcess` for the first. `start`, `join`, `join_timeout`, `is_alive`, `exitcode`, `pid`,
//! `terminate`, `kill` and `with_daemon` do what Python's do. When `main` ends, non-daemonic
//! children are joined and daemonic ones terminated, as Python does at exit.
//!
//! # Queues
//!
//! A [`Queue<T>`] carries any `serde` type between processes; a [`JoinableQueue<T>`] also counts
//! unfinished tasks (`task_done`, `join`):
//!
//! ```rust,no_run
//! use multiprocessing::{Process, Queue};
//!
//! let queue: Queue<Vec<u32>> = Queue::new()?;
//! let q = queue.clone();
//! let mut p = Process::new(move || q.put(vec![1, 2, 3]).expect("put"));
//! p.start()?;
//! assert_eq!(queue.get()?, vec![1, 2, 3]);
//! p.join()?;
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! Underneath: bincode-encoded frames in a pipe, a feeder thread per process that writes them,
//! and locks and counters in shared memory (see the `queue` module's source). Bad input gets an
//! [`Error`], never a panic: an unencodable or oversized value at `put`, a corrupt or truncated
//! frame at `get`, and a `get` on a queue whose other processes are all gone.
//!
//! # Events
//!
//! An [`Event`] is a flag in shared memory; [`Event::wait`] sleeps on it with a futex, and
//! [`Event::set`] wakes every waiter in every process.
//!
//! # Logging
//!
//! [`log_to_stderr`] prints the crate's lifecycle messages, and any `log` record of the program,
//! as CPython does: `[INFO/Process-1] child process calling self.run()`.
//!
//! ```rust,no_run
//! multiprocessing::log_to_stderr(log::LevelFilter::Debug);
//! ```
//!
//! # How fork is used
//!
//! `fork` copies the whole process; only the calling thread survives in the child. The crate
//! flushes stdout before forking, holds its own locks (and the stdout and stderr locks) across
//! the fork so no thread can leave one locked in the child, and ends every child with `_exit` so
//! it never runs the parent's destructors or exit handlers. See the `process` module's source.

#![warn(missing_docs)]

mod error;
mod event;
mod lifecycle;
mod logging;
mod process;
mod queue;
mod shm;
mod wire;

pub use error::{Error, Result};
pub use event::Event;
pub use logging::{Logger, get_logger, log_to_stderr};
pub use process::{Process, ProcessInfo, Run, TargetResult, active_children, cpu_count, current_process};
pub use queue::{JoinableQueue, Queue};
pub use wire::MAX_MESSAGE_SIZE;
