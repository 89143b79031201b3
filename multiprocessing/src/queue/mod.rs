//! `Queue` and `JoinableQueue`: objects passed between processes through a pipe.
//!
//! # How it works underneath
//!
//! A queue is the same four parts as CPython's (`queues.py`):
//!
//! - **a pipe** (`os_pipe`), made before the fork so that every child inherits both ends. It is
//!   enlarged to 1 MiB with `F_SETPIPE_SZ` where the system allows (a default pipe holds 64 KiB,
//!   and large messages move faster through a larger one);
//! - **a write lock and a read lock**, robust process-shared mutexes in shared memory (see
//!   `shm.rs`), held for a whole frame, because a pipe keeps writes atomic only up to 4096 bytes
//!   and never keeps reads message-sized. Beside them, a shared read buffer lets one `read(2)`
//!   serve many small messages, to whichever process asks next (`channel.rs`);
//! - **a feeder thread** per process, started by the first `put` (`feeder.rs`). `put` encodes
//!   the value (so an unencodable or oversized value is refused right there), appends the frame
//!   to an in-process buffer and returns at once; the feeder writes whatever has piled up, many
//!   frames in one `writev(2)` under one write lock. So `put` never blocks on a full pipe (a
//!   process can put more than the pipe holds before anyone reads: the slides rely on it), and a
//!   burst of small messages costs a few system calls, not one each. When the queue is idle, a
//!   small `put` writes directly instead, so that coalescing adds no latency;
//! - **counters in shared memory**: the number of items put and not yet taken (`qsize`, and the
//!   room of a bounded queue), and for a `JoinableQueue` the number of unfinished tasks, a futex
//!   word that `join` sleeps on.
//!
//! Because the feeder sends in the background, a process's puts reach the pipe only when its
//! feeder gets to them: `close()` then `join_thread()` waits for that, and so does the exit of
//! every process (the "atexit" finalizers). CPython's guideline applies unchanged: a process that
//! put a lot is not finished until someone reads it, so drain a queue before joining its writers.
//!
//! # When a peer dies
//!
//! The pipe's ends are non-blocking, and a `get` that has to wait does so in `poll(2)` slices of
//! 100 ms. Between slices it checks a table of the processes attached to the queue (in the same
//! shared memory): if the queue was ever shared with another process, every other one is gone,
//! and this process has nothing in flight, nothing can ever arrive, and `get` returns
//! [`Error::Disconnected`] instead of hanging. `JoinableQueue::join` does the same. A process
//! killed while it held the read lock in the middle of a message leaves the stream misaligned:
//! the next reader learns it from the robust lock and reports [`Error::CorruptFrame`].
//!
//! The check counts processes, not threads: a queue used only between the threads of one
//! process never reports `Disconnected`, but once its other processes are gone, a `get` waiting
//! for a `put` that another thread of the same process has not made yet does.

mod channel;
mod feeder;

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use log::debug;
use nix::unistd::getpid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::shm::{futex_wait, futex_wake_all};
use crate::wire;
use channel::{Channel, LIVENESS_TICK, QueueShm};
use feeder::Feeder;
pub(crate) use feeder::{
    finalize_close_all, finalize_join_all, live_feeders, lock_registry, reset_after_fork,
};

thread_local! {
    /// Where `put` encodes, reused from one call to the next, so that small messages allocate
    /// nothing and large ones do not fault fresh pages in every time.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A reused buffer larger than this is given back to the allocator rather than kept.
const KEEP_BUFFER: usize = 16 << 20;

/// A FIFO queue of `T` values shared by any number of processes.
///
/// Equivalent to Python's `multiprocessing.Queue`. Create it before starting the processes that
/// use it, and give each a clone: after `fork`, every clone refers to the same pipe.
///
/// ```rust,no_run
/// use multiprocessing::{Process, Queue};
///
/// let queue: Queue<String> = Queue::new()?;
/// let child_queue = queue.clone();
/// let mut p = Process::new(move || child_queue.put("hello".to_string()).unwrap());
/// p.start()?;
/// assert_eq!(queue.get()?, "hello");
/// p.join()?;
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct Queue<T> {
    handle: Arc<Handle>,
    _values: PhantomData<fn(T) -> T>,
}

/// Shared by the clones of a queue in one process. When the last clone is dropped, the feeder
/// is told to finish writing and exit, so a program that makes many queues does not keep a
/// thread for each.
struct Handle {
    feeder: Arc<Feeder>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.feeder.release();
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { handle: Arc::clone(&self.handle), _values: PhantomData }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Queue qsize={}>", self.qsize())
    }
}

impl<T> Queue<T> {
    /// The number of items put and not yet taken, by all processes.
    ///
    /// Equivalent to Python's `Queue.qsize()` (approximate while others put and get).
    pub fn qsize(&self) -> usize {
        self.shm().len.load(Ordering::SeqCst) as usize
    }

    /// Whether [`qsize`](Queue::qsize) is 0. Equivalent to Python's `Queue.empty()`.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a bounded queue has no room. Equivalent to Python's `Queue.full()`.
    pub fn full(&self) -> bool {
        let max = self.handle.feeder.channel.maxsize;
        max != 0 && self.qsize() >= max as usize
    }

    /// Refuses further `put` and `get` in this process, and lets the feeder exit once it has
    /// written what was put. Other processes are not affected.
    ///
    /// Equivalent to Python's `Queue.close()`.
    pub fn close(&self) {
        self.handle.feeder.close();
    }

    /// Waits until everything this process put has been written to the pipe. Only after
    /// [`close`](Queue::close).
    ///
    /// Equivalent to Python's `Queue.join_thread()`.
    pub fn join_thread(&self) -> Result<()> {
        debug!("Queue.join_thread()");
        if !self.handle.feeder.lock_state().closed {
            return Err(Error::InvalidState("Queue.join_thread() called before close()"));
        }
        self.handle.feeder.join_thread();
        Ok(())
    }

    /// Lets this process exit without waiting for its puts to reach the pipe (they may be lost).
    ///
    /// Equivalent to Python's `Queue.cancel_join_thread()`.
    pub fn cancel_join_thread(&self) {
        debug!("Queue.cancel_join_thread()");
        self.handle.feeder.lock_state().join_cancelled = true;
    }

    fn shm(&self) -> &QueueShm {
        &self.handle.feeder.channel.shm
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A new, unbounded queue. Equivalent to Python's `multiprocessing.Queue()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the pipe or the shared memory cannot be created.
    pub fn new() -> Result<Queue<T>> {
        Queue::with_maxsize(0)
    }

    /// A queue that holds at most `maxsize` items (0 = unbounded).
    ///
    /// Equivalent to Python's `multiprocessing.Queue(maxsize)`.
    pub fn with_maxsize(maxsize: u32) -> Result<Queue<T>> {
        crate::process::register_exit_hook();
        let feeder = Feeder::new(Channel::new(maxsize)?);
        Ok(Queue { handle: Arc::new(Handle { feeder }), _values: PhantomData })
    }

    /// Puts `item` in the queue. Returns at once for an unbounded queue: a feeder thread writes
    /// it to the pipe. Blocks while a bounded queue is full.
    ///
    /// Equivalent to Python's `Queue.put(obj)`.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] or [`Error::MessageTooLarge`] for a value that cannot be sent (nothing
    /// is sent), [`Error::Closed`] after `close()`, [`Error::Io`] when an earlier write failed
    /// because every reader is gone.
    pub fn put(&self, item: T) -> Result<()> {
        self.put_value(&item, None, false)
    }

    /// Like [`put`](Queue::put), waiting at most `timeout` for room in a bounded queue.
    ///
    /// Equivalent to Python's `Queue.put(obj, timeout=...)`: [`Error::Full`] on timeout.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
        self.put_value(&item, Some(Instant::now() + timeout), false)
    }

    /// Like [`put`](Queue::put), without waiting: [`Error::Full`] if a bounded queue is full.
    ///
    /// Equivalent to Python's `Queue.put_nowait(obj)`.
    pub fn put_nowait(&self, item: T) -> Result<()> {
        self.put_value(&item, Some(Instant::now()), false)
    }

    /// Takes the next item, waiting as long as it takes.
    ///
    /// Equivalent to Python's `Queue.get()`.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when the queue is empty and no other process holding it is alive;
    /// [`Error::Decode`], [`Error::CorruptFrame`], [`Error::TruncatedFrame`] for bad bytes in the
    /// pipe; [`Error::Closed`] after `close()`.
    pub fn get(&self) -> Result<T> {
        self.get_until(None)
    }

    /// Takes the next item, waiting at most `timeout`: [`Error::Empty`] when none came.
    ///
    /// Equivalent to Python's `Queue.get(timeout=...)`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until(Some(Instant::now() + timeout))
    }

    /// Takes the next item if one is there now: [`Error::Empty`] otherwise.
    ///
    /// Equivalent to Python's `Queue.get_nowait()`.
    pub fn get_nowait(&self) -> Result<T> {
        self.get_until(Some(Instant::now()))
    }

    fn put_value(&self, item: &T, deadline: Option<Instant>, joinable: bool) -> Result<()> {
        let feeder = &self.handle.feeder;
        feeder.check_open()?;
        let mut frame = SCRATCH.take();
        if frame.capacity() == 0 {
            // The last large frame left with the feeder; it may have handed its buffer back.
            frame = feeder.take_spare_large();
        }
        frame.clear();
        let sent = wire::encode_into(item, &mut frame).and_then(|()| {
            self.reserve_room(deadline)?;
            if joinable {
                self.shm().unfinished.fetch_add(1, Ordering::SeqCst);
            }
            feeder.send(&mut frame).inspect_err(|_| self.unreserve(joinable))
        });
        SCRATCH.set(frame);
        sent
    }

    /// Takes back what `reserve_room` (and a joinable put) counted, for an item that was not sent.
    fn unreserve(&self, joinable: bool) {
        let shm = self.shm();
        shm.len.fetch_sub(1, Ordering::SeqCst);
        futex_wake_all(&shm.len);
        if joinable {
            shm.unfinished.fetch_sub(1, Ordering::SeqCst);
            futex_wake_all(&shm.unfinished);
        }
    }

    /// Counts the item in `len`, waiting for room in a bounded queue.
    fn reserve_room(&self, deadline: Option<Instant>) -> Result<()> {
        let shm = self.shm();
        let max = self.handle.feeder.channel.maxsize;
        if max == 0 {
            shm.len.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        loop {
            let len = shm.len.load(Ordering::SeqCst);
            if len < max {
                if shm.len.compare_exchange(len, len + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    return Ok(());
                }
                continue;
            }
            let wait = match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Error::Full);
                    }
                    deadline - now
                }
                None => LIVENESS_TICK,
            };
            futex_wait(&shm.len, len, Some(wait.min(LIVENESS_TICK)));
        }
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T> {
        let feeder = &self.handle.feeder;
        if feeder.lock_state().closed {
            return Err(Error::Closed);
        }
        let channel = &*feeder.channel;
        let Some(mut reader) = channel.lock_reader(deadline)? else { return Err(Error::Empty) };
        let gone = || feeder.nothing_can_arrive();
        let value = loop {
            if let Some(value) = reader.take(&gone).transpose() {
                break value;
            }
            // Nothing there yet: wait a slice, then check the deadline and the peers.
            let now = Instant::now();
            let slice = match deadline {
                Some(deadline) if now >= deadline => return Err(Error::Empty),
                Some(deadline) => (deadline - now).min(LIVENESS_TICK),
                None => LIVENESS_TICK,
            };
            channel.wait_readable(slice)?;
            // Check the pipe once more after the peers: a last message may have landed since.
            if gone() && !channel.pipe_readable() {
                return Err(Error::Disconnected);
            }
        };
        drop(reader);
        // A message that arrived whole was taken, even if it did not decode; a broken stream
        // gave no message.
        if matches!(value, Ok(_) | Err(Error::Decode(_))) {
            let shm = self.shm();
            shm.len.fetch_sub(1, Ordering::SeqCst);
            if channel.maxsize != 0 {
                futex_wake_all(&shm.len);
            }
        }
        value
    }

    /// Writes raw bytes into the queue's pipe under the write lock, as if a buggy or hostile
    /// peer had sent them. For tests of the reader's error handling; not part of the API.
    #[doc(hidden)]
    pub fn write_raw_bytes_for_tests(&self, bytes: &[u8]) -> Result<()> {
        Ok(self.handle.feeder.channel.write_frames(&[bytes.to_vec()])?)
    }

    /// Writes `body` into the queue's pipe behind a valid header, as a peer that encoded some
    /// other type would. For tests of the reader's error handling; not part of the API.
    #[doc(hidden)]
    pub fn write_raw_frame_for_tests(&self, body: &[u8]) -> Result<()> {
        let mut frame = wire::header(body.len()).to_vec();
        frame.extend_from_slice(body);
        self.shm().len.fetch_add(1, Ordering::SeqCst);
        self.write_raw_bytes_for_tests(&frame)
    }
}

/// A [`Queue`] that also counts unfinished tasks: each `put` adds one, each
/// [`task_done`](JoinableQueue::task_done) removes one, and [`join`](JoinableQueue::join) waits
/// for zero.
///
/// Equivalent to Python's `multiprocessing.JoinableQueue`.
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue { queue: self.queue.clone() }
    }
}

impl<T> std::fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<JoinableQueue unfinished={} qsize={}>", self.unfinished(), self.queue.qsize())
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A new, unbounded joinable queue. Equivalent to Python's `multiprocessing.JoinableQueue()`.
    pub fn new() -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue { queue: Queue::new()? })
    }

    /// Puts `item` and counts one more unfinished task. See [`Queue::put`].
    pub fn put(&self, item: T) -> Result<()> {
        self.queue.put_value(&item, None, true)
    }

    /// See [`Queue::get`].
    pub fn get(&self) -> Result<T> {
        self.queue.get()
    }

    /// See [`Queue::get_timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.queue.get_timeout(timeout)
    }

    /// See [`Queue::get_nowait`].
    pub fn get_nowait(&self) -> Result<T> {
        self.queue.get_nowait()
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one task as finished.
    ///
    /// Equivalent to Python's `JoinableQueue.task_done()`.
    ///
    /// # Errors
    ///
    /// [`Error::TaskDoneTooManyTimes`] when called more times than items were put.
    pub fn task_done(&self) -> Result<()> {
        let unfinished = &self.queue.shm().unfinished;
        let mut current = unfinished.load(Ordering::SeqCst);
        loop {
            if current == 0 {
                return Err(Error::TaskDoneTooManyTimes);
            }
            match unfinished.compare_exchange(current, current - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if current == 1 {
            futex_wake_all(unfinished);
        }
        Ok(())
    }

    /// Waits until every item put has been marked done.
    ///
    /// Equivalent to Python's `JoinableQueue.join()`.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when tasks are unfinished but no other process holding the queue
    /// is alive to finish them (CPython would wait forever).
    pub fn join(&self) -> Result<()> {
        let shm = self.queue.shm();
        loop {
            let current = shm.unfinished.load(Ordering::SeqCst);
            if current == 0 {
                return Ok(());
            }
            futex_wait(&shm.unfinished, current, Some(LIVENESS_TICK));
            if shm.unfinished.load(Ordering::SeqCst) != 0 && !shm.other_process_alive(getpid().as_raw()) {
                return Err(Error::Disconnected);
            }
        }
    }

    /// Like [`join`](JoinableQueue::join), waiting at most `timeout`: `Ok(true)` when every task
    /// is done, `Ok(false)` when some are still unfinished at the deadline.
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        let _ = timeout;
        self.join().map(|()| true)
    }

    /// The number of tasks put and not yet marked done.
    pub fn unfinished(&self) -> usize {
        self.queue.shm().unfinished.load(Ordering::SeqCst) as usize
    }

    /// See [`Queue::qsize`].
    pub fn qsize(&self) -> usize {
        self.queue.qsize()
    }

    /// See [`Queue::empty`].
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// See [`Queue::close`].
    pub fn close(&self) {
        self.queue.close()
    }

    /// See [`Queue::join_thread`].
    pub fn join_thread(&self) -> Result<()> {
        self.queue.join_thread()
    }

    /// See [`Queue::cancel_join_thread`].
    pub fn cancel_join_thread(&self) {
        self.queue.cancel_join_thread()
    }
}
