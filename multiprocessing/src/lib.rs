//! A small, faithful `multiprocessing` for Rust: real processes, queues, events and logging,
//! with the semantics of CPython's module on Linux.
//!
//! It ports the lecture "Sincronização e comunicação entre processos" (Python's
//! `multiprocessing`): every call on the slides has a counterpart here with the same name, and
//! the same program prints the same lines. Everything is real: processes are `fork(2)`ed, queues
//! are rings of messages in shared memory, events are futexes in shared memory. Linux only.
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
//! children are joined and daemonic ones terminated, as Python does at exit. `println!("{p}")`
//! prints what Python's `print(p)` does: `<Process name='Process-1' pid=1234 parent=1233 started>`.
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
//! Underneath: bincode-encoded messages in a ring of shared memory, robust locks, a table of the
//! processes that hold the queue, and one service thread per process that writes what did not fit
//! yet (see the `queue` module's source). A process killed at any instant costs at most the
//! message it held. Bad input gets an [`Error`], never a panic: an unencodable or oversized value
//! at `put`, a message of the wrong type at `get` (the next one still arrives), and a `get` on a
//! queue whose other processes are all gone.
//!
//! # Events
//!
//! An [`Event`] is a flag in shared memory; [`Event::wait`] sleeps on it with a futex, and
//! [`Event::set`] wakes every waiter in every process.
//!
//! # Locks and conditions
//!
//! A [`Lock`] (or an [`RLock`], which its holder may take again) is a robust pthread mutex in
//! shared memory: `acquire` returns a guard that releases it when dropped (Python's
//! `with lock:`), and a process killed while holding it does not leave it held: the next
//! `acquire` gets it, and [`LockGuard::previous_holder_died`] says so. A [`Condition`] adds a
//! table of waiters in shared memory beside its lock: `wait`, `wait_for`, `notify`,
//! `notify_all` on its guard, oldest waiter first; a notification given to a waiter that dies
//! is passed on to the next, and no waiter sleeps longer than 100 ms without looking again.
//!
//! ```rust,no_run
//! use multiprocessing::{Condition, Process};
//!
//! let cond = Condition::new()?;
//! let c = cond.clone();
//! let mut p = Process::new(move || -> multiprocessing::Result<()> {
//!     let mut c = c.acquire()?; // with cond:
//!     c.wait() //                    cond.wait()
//! });
//! p.start()?;
//! std::thread::sleep(std::time::Duration::from_secs(1));
//! cond.acquire()?.notify_all()?;
//! p.join()?;
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! # Semaphores and barriers
//!
//! A [`Semaphore`] counts units: `acquire` takes one (waiting while there are none) and returns a
//! guard that gives it back when dropped (Python's `with s:`); a [`BoundedSemaphore`] refuses a
//! `release` past its initial value. A unit held by a process that is killed comes back to the
//! semaphore, so `Semaphore(3)` still means "at most 3 at once". A [`Barrier`] makes `parties`
//! processes wait for each other, cycle after cycle; a party killed while it waits breaks it
//! for the others, who get [`Error::BrokenBarrier`] instead of waiting forever.
//!
//! ```rust,no_run
//! use multiprocessing::{Process, Semaphore};
//!
//! let s = Semaphore::new(3)?;
//! let child_s = s.clone();
//! let mut p = Process::new(move || -> multiprocessing::Result<()> {
//!     let _active = child_s.acquire()?; // with s:
//!     Ok(())
//! });
//! p.start()?;
//! p.join()?;
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! # Pools
//!
//! A [`Pool`] forks its workers once, then runs a function over many inputs in them
//! (`map`, `imap`, `apply_async`). The function is a `fn` (a closure that captures nothing):
//! the workers were forked before the call, so a task names code they already have (the `pool`
//! module's source explains why, and what to do with state). A worker killed in the middle of a
//! task fails that task with an error naming it, instead of hanging the pool as in CPython.
//!
//! ```rust,no_run
//! fn do_calculation(data: u64) -> u64 {
//!     data * 2
//! }
//!
//! let mut pool = multiprocessing::Pool::new(4)?;
//! assert_eq!(pool.map(do_calculation, 0..4)?, [0, 2, 4, 6]);
//! pool.close();
//! pool.join()?;
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! # Managers
//!
//! A [`Manager`] is a server process that holds a dict, a list or a namespace of any `serde`
//! values; other processes hold proxies ([`DictProxy`], [`ListProxy`], [`Namespace`]), and each
//! operation on a proxy is one request to the server over a Unix socket that only this user can
//! reach. `println!("{d}")` prints the dict as Python's `print(d)` does.
//!
//! ```rust,no_run
//! use multiprocessing::{Manager, Process};
//!
//! let mgr = Manager::new()?;
//! let d = mgr.dict::<i32, i32>()?;
//! let child_d = d.clone();
//! let mut p = Process::new(move || child_d.set(&1, &2)); // d[1] = 2
//! p.start()?;
//! p.join()?;
//! println!("Results: {d}"); // Results: {1: 2}
//! # Ok::<(), multiprocessing::Error>(())
//! ```
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
//! it never runs the parent's destructors or exit handlers. One module owns that lifecycle (the
//! `lifecycle` module's source, CPython's `multiprocessing.util`): every kind of shared object
//! registers its fork and exit steps there, through `pthread_atfork`, so even a fork the crate
//! did not make (`libc::fork`) leaves a child that works.
//!
//! What stays yours to mind: threads of your program that hold a lock of their own, or that
//! start or end, at the instant another thread forks. The standard library takes an internal
//! lock while a thread starts and ends; a fork at that instant leaves the child unable to start
//! a thread or to `exit`. Start your threads before your processes, or join them first.

#![warn(missing_docs)]

// One clear sentence instead of a wall of errors about futexes on other systems.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "the `multiprocessing` crate runs on Linux only (it forks, and uses futexes and /proc); \
     on Windows, use WSL (wsl --install, then build inside it); on macOS, a Linux VM or container"
);

#[cfg(target_os = "linux")]
pub mod barrier;
#[cfg(target_os = "linux")]
pub mod condition;
#[cfg(target_os = "linux")]
pub mod error;
#[cfg(target_os = "linux")]
pub mod event;
#[cfg(target_os = "linux")]
pub mod lifecycle;
#[cfg(target_os = "linux")]
pub mod lock;
#[cfg(target_os = "linux")]
pub mod logging;
#[cfg(target_os = "linux")]
pub mod manager;
#[cfg(target_os = "linux")]
pub mod pipe;
#[cfg(target_os = "linux")]
pub mod pool;
#[cfg(target_os = "linux")]
pub mod process;
#[cfg(target_os = "linux")]
pub mod queue;
#[cfg(target_os = "linux")]
pub mod semaphore;
#[cfg(target_os = "linux")]
pub mod shm;
#[cfg(target_os = "linux")]
mod spin;
#[cfg(target_os = "linux")]
pub mod value;
#[cfg(target_os = "linux")]
pub mod wire;

#[cfg(target_os = "linux")]
#[doc(inline)]
pub use barrier::Barrier;
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use condition::{Condition, ConditionGuard};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use error::{Error, QueueCall, Result};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use event::Event;
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use lock::{ConditionLock, Lock, LockGuard, RLock, RLockGuard};
/// The levels of [`log_to_stderr`] and [`Logger::set_level`], from the `log` crate, so that a
/// program needs no `log` dependency of its own to choose one.
#[cfg(target_os = "linux")]
pub use log::LevelFilter;
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use logging::{Logger, get_logger, log_to_stderr};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use manager::{DictProxy, ListProxy, Manager, Namespace};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use pipe::{Connection, pipe};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use pool::{AsyncResult, IMapIterator, Pool, PoolBuilder};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use process::{Process, ProcessInfo, Run, TargetResult, active_children, cpu_count, current_process};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use queue::{JoinableQueue, Queue};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use value::{Array, ArrayGuard, Plain, Value, ValueGuard};
#[cfg(target_os = "linux")]
#[doc(inline)]
pub use wire::MAX_MESSAGE_SIZE;
#[cfg(all(target_os = "linux", feature = "test-support"))]
#[doc(hidden)]
pub use wire::test_support as wire_test_support;

// The READMEs' program is compiled as a doc test, so that what students copy stays true. Only in
// the workspace's own tests (the `test-support` feature): an exported copy has no README here.
#[cfg(all(doctest, feature = "test-support"))]
#[doc = include_str!("../../README.md")]
#[doc = include_str!("../../README.pt-BR.md")]
pub struct ReadmePrograms;

/// The README's Python-to-Rust table, every Rust cell of it in a program that compiles (a test in
/// `xtask/tests/readme.rs` checks that each cell without `...` appears here word for word).
///
/// ```rust,no_run
/// use multiprocessing::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)]
/// # struct Task;
/// # type T = u32;
/// # fn worker(_q: Queue<T>) {}
/// struct Worker; impl Run for Worker { fn run(&mut self) -> multiprocessing::Result<()> { Ok(()) } }
/// # fn main() -> multiprocessing::Result<()> {
/// let (d, t, obj) = (std::time::Duration::from_secs(1), std::time::Duration::from_secs(1), 7);
/// let queue: Queue<T> = Queue::new()?;
/// let q = queue.clone(); Process::new(move || worker(q)).start()?;
/// let mut p = Process::new(|| ()).with_name("block");
/// p.start()?; p.join()?; p.join_timeout(d)?;
/// let _ = (p.is_alive(), p.exitcode(), p.pid(), Process::from(Worker).with_daemon(true));
/// p.terminate()?; p.kill()?;
/// let _ = (current_process().name, cpu_count());
/// log_to_stderr(LevelFilter::Debug);
/// get_logger().set_level(LevelFilter::Info);
/// let q = Queue::<T>::new()?; q.put(obj)?; q.get()?;
/// let _ = (q.get_timeout(t), matches!(q.get_nowait(), Err(Error::Empty { .. })));
/// q.close(); q.join_thread()?;
/// let tasks = JoinableQueue::<Option<Task>>::new()?; tasks.put(None)?; tasks.task_done()?; tasks.join()?;
/// let _ = JoinableQueue::<T>::new()?;
/// let e = Event::new()?; e.set(); e.wait(); e.wait_timeout(t); e.is_set(); e.clear();
/// let lock = Lock::new()?; let _guard = lock.acquire()?;
/// # drop(_guard);
/// let guard = lock.acquire_timeout(t)?.expect("free"); guard.release()?;
/// let _ = lock.try_acquire()?;
/// let _ = RLock::new()?;
/// let cond = Condition::new()?;
/// let mut c = cond.acquire()?; c.wait()?;
/// c.wait_timeout(t)?; c.wait_for(|| true)?; c.notify()?; c.notify_all()?;
/// # drop(c);
/// let s = Semaphore::new(3)?; let _unit = s.acquire()?; s.release()?;
/// let _ = (BoundedSemaphore::new(3)?, Error::SemaphoreReleasedTooManyTimes);
/// let b = Barrier::new(3)?; b.wait()?;
/// let v = Value::new(0_i32)?; *v.lock()? += 1; v.get()?; v.set(5)?;
/// let (i, x) = (1, 2.5);
/// let a = Array::new(10, 0.0_f64)?; a.get(i)?; a.set(i, x)?; a.to_vec()?;
/// let (mut parent, mut child) = pipe::<T>(true)?;
/// # let _ = &mut child;
/// let conn = &mut parent; conn.send(&obj)?; conn.recv()?; conn.poll(t)?;
/// let (k, v, x) = (1, 2, 3);
/// let mgr = Manager::new()?; let d = mgr.dict::<T, T>()?; d.set(&k, &v)?; d.get(&k)?;
/// let l = mgr.list::<T>()?; l.append(&x)?; l.remove(&x)?;
/// let ns = mgr.namespace()?; ns.set("x", &v)?; ns.get::<T>("x")?;
/// # fn f(x: T) -> T { x }
/// # fn init() {}
/// # let xs: [T; 2] = [1, 2];
/// let mut pool = Pool::new(4)?; pool.map(f, xs)?;
/// let _ = Pool::builder().initializer(init).maxtasksperchild(2).start()?;
/// pool.apply_async(f, x)?.get_timeout(t)?;
/// let _ = (pool.imap(f, xs), pool.imap_unordered(f, xs));
/// pool.close(); pool.join()?;
/// # Ok(())
/// # }
/// ```
#[cfg(all(doctest, feature = "test-support"))]
pub struct PythonTable;

/// Everything a program of the lecture uses, for `use multiprocessing::prelude::*;`.
///
/// Unlike `use multiprocessing::*`, it does not bring the crate's `Result` alias into scope, so
/// `Result<u32, String>` in your program still means the standard `Result`. Write
/// `multiprocessing::Result<()>` where you want the crate's.
#[cfg(target_os = "linux")]
pub mod prelude {
    pub use crate::{
        Array, Barrier, BoundedSemaphore, Condition, Connection, Error, Event, JoinableQueue, LevelFilter,
        Lock, Manager, Pool, Process, Queue, RLock, Run, Semaphore, Value, active_children, cpu_count,
        current_process, get_logger, log_to_stderr, pipe,
    };
}
