//! `Queue` and `JoinableQueue`: objects passed between processes through shared memory.
//!
//! # How it works underneath
//!
//! CPython's queue is a pipe, a feeder thread per queue, and locks and counters in shared memory
//! (`queues.py`). This one keeps the idea and changes the pipe for a ring in shared memory,
//! because a pipe cannot survive a reader killed in the middle of a message (`ring.rs` says why):
//!
//! - **a ring of records in shared memory** (`ring.rs`), made before the fork so every child
//!   maps the same pages: writers copy a message into free space and publish it with one atomic
//!   store; readers decode it where it lies and take it with one atomic store. A write lock and a
//!   read lock (robust process-shared mutexes) keep writers from each other and readers from each
//!   other; a message longer than a quarter of the ring travels in chunks;
//! - **a table of the processes that hold the queue** (`peers.rs`): who is alive, what each has
//!   put and not yet published, what tasks each holds. It is how a `get` knows that nothing can
//!   arrive any more, and how a bounded queue counts its items without trusting the dead;
//! - **one service thread per process** (`service.rs`): a `put` copies into the ring itself when
//!   there is room and returns; when there is none (nobody reads yet), the item waits in the
//!   process and the service thread writes it later, so `put` never blocks on a full queue, as in
//!   CPython, where the feeder thread writes to the pipe;
//! - **the frame codec** (`wire.rs`): bincode, behind a header that a reader checks.
//!
//! # When a peer dies
//!
//! A process killed at any instant costs at most the message it held: a reader killed after it
//! took a message (its `get` had not returned), or killed in the middle of a chunked message
//! (the next reader skips the rest of it); a writer killed in the middle of a chunked message
//! (readers drop the part they have). Nothing else is lost, nothing is duplicated, and nothing is
//! left locked: the locks are robust, and each step that changes what others see is one store.
//!
//! A `get` that has to wait does so in slices of 100 ms; between slices it looks at the table of
//! processes: if the queue was shared with other processes and all of them are gone, the ring is
//! empty, this process has nothing waiting to be written and runs no other thread (which could
//! still put), `get` returns [`Error::Disconnected`] instead of waiting forever.
//! `JoinableQueue::join` likewise, and it names a process that died holding tasks. A process
//! with threads of its own waits instead, as CPython does: only it knows what its threads will do.

mod channel;
mod peers;
mod ring;
mod service;

use std::io::Read;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::debug;
use nix::unistd::getpid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, QueueCall, Result};
use crate::shm::{futex_wait, futex_wake_all};
use crate::wire;
use channel::{Channel, ring_error};
use ring::{Chunks, LIVENESS_TICK, Next, RingReader, Stopped};

/// A FIFO queue of `T` values shared by any number of processes.
///
/// Equivalent to Python's `multiprocessing.Queue`. Create it before starting the processes that
/// use it, and give each a clone: after `fork`, every clone refers to the same shared memory.
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

/// Shared by the clones of a queue in one process. When the last clone is dropped, the process
/// leaves the queue once its items are written.
struct Handle {
    channel: Arc<Channel>,
    /// `close()` was called in this process.
    closed: AtomicBool,
    /// This process's slot in the queue's table, with the fork generation it was found in
    /// (`generation << 32 | slot + 1`; 0 = not looked up).
    slot: AtomicU64,
}

impl Drop for Handle {
    fn drop(&mut self) {
        service::release(&self.channel);
    }
}

impl Handle {
    /// This process's slot in the queue's table of processes.
    fn slot(&self) -> Option<usize> {
        let generation = crate::lifecycle::generation() as u64;
        let cached = self.slot.load(Ordering::Relaxed);
        if cached != 0 && cached >> 32 == generation {
            return Some((cached as u32 - 1) as usize);
        }
        let slot = service::slot(&self.channel)?;
        self.slot.store(generation << 32 | (slot as u64 + 1), Ordering::Relaxed);
        Some(slot)
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
        self.channel().qsize() as usize
    }

    /// Whether [`qsize`](Queue::qsize) is 0. Equivalent to Python's `Queue.empty()`.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a bounded queue has no room. Equivalent to Python's `Queue.full()`.
    pub fn full(&self) -> bool {
        let max = self.channel().maxsize;
        max != 0 && self.qsize() >= max as usize
    }

    /// Refuses further `put` and `get` in this process; what was put is still written. Other
    /// processes are not affected.
    ///
    /// Equivalent to Python's `Queue.close()`.
    pub fn close(&self) {
        self.handle.closed.store(true, Ordering::SeqCst);
        service::close(self.channel());
    }

    /// Waits until everything this process put is in the queue's shared memory (or until no other
    /// process is left that could read it). Only after [`close`](Queue::close).
    ///
    /// Equivalent to Python's `Queue.join_thread()`.
    pub fn join_thread(&self) -> Result<()> {
        debug!("Queue.join_thread()");
        if !self.handle.closed.load(Ordering::SeqCst) {
            return Err(Error::InvalidState("Queue.join_thread() called before close()"));
        }
        service::flush(self.channel());
        Ok(())
    }

    /// Lets this process exit without waiting for its puts to reach the queue (they may be lost).
    ///
    /// Equivalent to Python's `Queue.cancel_join_thread()`.
    pub fn cancel_join_thread(&self) {
        debug!("Queue.cancel_join_thread()");
        service::cancel_join_thread(self.channel());
    }

    fn channel(&self) -> &Arc<Channel> {
        &self.handle.channel
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A new, unbounded queue. Equivalent to Python's `multiprocessing.Queue()`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shared memory cannot be mapped.
    pub fn new() -> Result<Queue<T>> {
        Queue::with_maxsize(0)
    }

    /// A queue that holds at most `maxsize` items (0 = unbounded).
    ///
    /// Equivalent to Python's `multiprocessing.Queue(maxsize)`.
    pub fn with_maxsize(maxsize: u32) -> Result<Queue<T>> {
        let channel = service::open(Channel::new(maxsize)?);
        let handle = Handle { channel, closed: AtomicBool::new(false), slot: AtomicU64::new(0) };
        Ok(Queue { handle: Arc::new(handle), _values: PhantomData })
    }

    /// Puts `item` in the queue. Returns at once for an unbounded queue, even when nobody reads
    /// yet: what does not fit waits in this process and is written by its service thread. Blocks
    /// while a bounded queue is full.
    ///
    /// Equivalent to Python's `Queue.put(obj)`.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] or [`Error::MessageTooLarge`] for a value that cannot be sent (nothing
    /// is sent), [`Error::Closed`] after `close()`, [`Error::Io`] when the service thread cannot
    /// be started (nothing is sent).
    pub fn put(&self, item: T) -> Result<()> {
        self.put_value(&item, None, false, QueueCall::new::<T>("put", false))
    }

    /// Like [`put`](Queue::put), waiting at most `timeout` for room in a bounded queue.
    ///
    /// Equivalent to Python's `Queue.put(obj, timeout=...)`: [`Error::Full`] on timeout.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
        self.put_value(
            &item,
            Instant::now().checked_add(timeout),
            false,
            QueueCall::new::<T>("put_timeout", false),
        )
    }

    /// Like [`put`](Queue::put), without waiting: [`Error::Full`] if a bounded queue is full.
    ///
    /// Equivalent to Python's `Queue.put_nowait(obj)`.
    pub fn put_nowait(&self, item: T) -> Result<()> {
        self.put_value(&item, Some(Instant::now()), false, QueueCall::new::<T>("put_nowait", false))
    }

    /// Takes the next item, waiting as long as it takes.
    ///
    /// Equivalent to Python's `Queue.get()`.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when the queue is empty and no other process holding it is alive;
    /// [`Error::Decode`] or [`Error::CorruptFrame`] for a message that is not of this queue's
    /// type (it is taken: the next get returns the next one); [`Error::Closed`] after `close()`.
    pub fn get(&self) -> Result<T> {
        self.get_until(None, false, QueueCall::new::<T>("get", false))
    }

    /// Takes the next item, waiting at most `timeout`: [`Error::Empty`] when none came.
    ///
    /// Equivalent to Python's `Queue.get(timeout=...)`. A message longer than a quarter of the
    /// queue's ring (256 KiB) whose first part was taken in time is read to its end, however long
    /// its live writer takes: a message begun is never left half-read.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until(Instant::now().checked_add(timeout), false, QueueCall::new::<T>("get_timeout", false))
    }

    /// Takes the next item if one is there now: [`Error::Empty`] otherwise.
    ///
    /// Equivalent to Python's `Queue.get_nowait()`.
    pub fn get_nowait(&self) -> Result<T> {
        self.get_until(Some(Instant::now()), false, QueueCall::new::<T>("get_nowait", false))
    }

    fn put_value(&self, item: &T, deadline: Option<Instant>, joinable: bool, call: QueueCall) -> Result<()> {
        if self.handle.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed { call });
        }
        let channel = self.channel();
        let mut frame = service::encode_buffer(channel);
        // Only a bounded queue or a task counts the item in this process's slot (`reserve`); the
        // lookup is skipped otherwise, as it costs as much as the rest of a small put's checks.
        let slot = if channel.maxsize != 0 || joinable { self.handle.slot() } else { None };
        let sent = wire::encode_into(item, &mut frame).and_then(|()| {
            let counted = channel.reserve(slot, deadline, joinable, call)?;
            if joinable {
                channel.peers.unfinished.fetch_add(1, Ordering::SeqCst);
            }
            service::send(channel, &mut frame, counted, call)
                .inspect_err(|_| self.unreserve(slot.filter(|_| counted), joinable))
        });
        service::keep_encode_buffer(frame);
        sent
    }

    /// Takes back what `reserve` (and a joinable put) counted, for an item that was not sent.
    fn unreserve(&self, slot: Option<usize>, joinable: bool) {
        let peers = &self.channel().peers;
        if let Some(slot) = slot {
            peers.add_pending(slot, -1);
        }
        self.channel().ring.wake_writers();
        if joinable {
            let _ = peers.unfinished.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            futex_wake_all(&peers.unfinished);
        }
    }

    /// Takes the next message. `task`: it is a `JoinableQueue`'s task, counted as held by this
    /// process from the moment it is taken (see `peers.rs`), so that a process that dies with it
    /// is known to have died with it.
    fn get_until(&self, deadline: Option<Instant>, task: bool, call: QueueCall) -> Result<T> {
        let held = |n: i32| {
            if let (true, Some(slot)) = (task, self.handle.slot()) {
                self.channel().peers.add_held(slot, n);
            }
        };
        if self.handle.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed { call });
        }
        let channel = self.channel();
        let mut reader = match channel.ring.try_reader().map_err(ring_error)? {
            Some(reader) => reader,
            None => self.wait_for_reader(deadline, call)?,
        };
        loop {
            match reader.next().map_err(ring_error)? {
                Next::Whole(frame) => {
                    // Taken, even if it does not decode: `task_done` is owed for it all the same.
                    let len = frame.len();
                    let value = decode_frame(frame);
                    reader.commit_whole(len);
                    held(1);
                    return value;
                }
                Next::Chunked(chunks) => {
                    // Held from its first chunk: reading a long message takes time, and a reader
                    // that dies meanwhile has lost it (the next reader skips the rest).
                    held(1);
                    match decode_chunked(chunks) {
                        Some(value) => return value,
                        None => {
                            // Its writer died half-way: the message was dropped. On to the next.
                            held(-1);
                            debug!("a message whose writer died half-way was dropped");
                        }
                    }
                }
                Next::Nothing => {
                    let now = Instant::now();
                    let slice = match deadline {
                        Some(deadline) if now >= deadline => return Err(Error::Empty { call }),
                        Some(deadline) => (deadline - now).min(LIVENESS_TICK),
                        None => LIVENESS_TICK,
                    };
                    reader.wait(slice);
                    // Peers first, the ring after: a message a peer published before it died
                    // is in the ring by the time its death can be seen.
                    if self.nothing_can_arrive() && !channel.ring.has_records() {
                        return Err(Error::Disconnected { call });
                    }
                }
            }
        }
    }

    /// Waits for the read lock, held by another reader: in ticks, since its holder may wait for
    /// ever on a peer that this process can see is gone.
    fn wait_for_reader(&self, deadline: Option<Instant>, call: QueueCall) -> Result<RingReader<'_>> {
        let channel = self.channel();
        loop {
            let tick = Instant::now() + LIVENESS_TICK;
            let until = deadline.map_or(tick, |deadline| deadline.min(tick));
            if let Some(reader) = channel.ring.reader(Some(until)).map_err(ring_error)? {
                return Ok(reader);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(Error::Empty { call });
            }
            if self.nothing_can_arrive() && !channel.ring.has_records() {
                return Err(Error::Disconnected { call });
            }
        }
    }

    /// Every other process that held the queue is gone, and in this one no other thread runs
    /// (that could still put) and nothing waits to be written.
    fn nothing_can_arrive(&self) -> bool {
        !crate::lifecycle::other_threads_running()
            && !service::has_waiting(self.channel())
            && self.channel().peers.all_others_gone(getpid().as_raw())
    }

    /// Puts raw bytes into the queue as one message, as if a buggy or hostile peer had sent
    /// them. For tests of the reader's error handling; not part of the API.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn write_raw_bytes_for_tests(&self, bytes: &[u8]) -> Result<()> {
        let slot = self.handle.slot();
        let call = QueueCall::new::<T>("put", false);
        let counted = self.channel().reserve(slot, None, false, call)?;
        service::send(self.channel(), &mut bytes.to_vec(), counted, call)
    }

    /// Puts `body` into the queue behind a valid header, as a peer that encoded some other type
    /// would. For tests of the reader's error handling; not part of the API.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn write_raw_frame_for_tests(&self, body: &[u8]) -> Result<()> {
        let mut frame = wire::header(body.len()).to_vec();
        frame.extend_from_slice(body);
        self.write_raw_bytes_for_tests(&frame)
    }
}

/// Decodes one message that lies whole in the ring.
fn decode_frame<T: DeserializeOwned>(frame: &[u8]) -> Result<T> {
    let Some(header) = frame.first_chunk::<{ wire::HEADER_LEN }>() else {
        return Err(Error::CorruptFrame(format!(
            "a message of {} bytes is shorter than a header",
            frame.len()
        )));
    };
    let len = wire::parse_header(header)?;
    let body = &frame[wire::HEADER_LEN..];
    if body.len() != len {
        return Err(Error::CorruptFrame(format!(
            "the header says {len} bytes but the message has {}",
            body.len()
        )));
    }
    wire::decode(body)
}

/// Decodes a chunked message as its chunks are read; `None` when its writer died half-way.
fn decode_chunked<T: DeserializeOwned>(mut chunks: Chunks<'_, '_>) -> Option<Result<T>> {
    let mut stream = ChunkStream { chunks: &mut chunks, stopped: None };
    let mut header = [0u8; wire::HEADER_LEN];
    let value = match stream.read_exact(&mut header) {
        // bincode reads a field at a time (a `Vec<u8>` without `serde_bytes`, a byte at a time):
        // a buffer in front makes each of those a copy from memory, not a walk through chunks.
        // It cannot read past the message: the stream ends with the message's last chunk.
        Ok(()) => wire::parse_header(&header).and_then(|len| {
            let mut buffered = std::io::BufReader::with_capacity(64 << 10, (&mut stream).take(len as u64));
            wire::decode_stream::<T, _>(&mut buffered, len)
        }),
        Err(_) => Err(Error::CorruptFrame("a message shorter than its header".into())),
    };
    match stream.stopped.take() {
        Some(Stopped::Aborted) => return None,
        Some(Stopped::Error(e)) => return Some(Err(ring_error(e))),
        None => {}
    }
    // Take whatever the decoder left, so that the next message starts where it should.
    match chunks.finish() {
        Err(Stopped::Aborted) => None,
        Err(Stopped::Error(e)) => Some(Err(ring_error(e))),
        Ok(0) => Some(value),
        Ok(left) => Some(value.and(Err(wire::left_over::<T>(left)))),
    }
}

/// A chunked message as a byte stream for the decoder.
struct ChunkStream<'c, 'r, 'a> {
    chunks: &'c mut Chunks<'r, 'a>,
    /// Why the message stopped before its end, if it did.
    stopped: Option<Stopped>,
}

impl Read for ChunkStream<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stopped.is_some() {
            return Ok(0);
        }
        match self.chunks.read_some(buf) {
            Ok(n) => Ok(n),
            Err(stopped) => {
                self.stopped = Some(stopped);
                Ok(0)
            }
        }
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
        self.queue.put_value(&item, None, true, QueueCall::new::<T>("put", true))
    }

    /// See [`Queue::get`]. The task taken counts as held by this process until `task_done`.
    pub fn get(&self) -> Result<T> {
        self.queue.get_until(None, true, QueueCall::new::<T>("get", true))
    }

    /// See [`Queue::get_timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.queue.get_until(
            Instant::now().checked_add(timeout),
            true,
            QueueCall::new::<T>("get_timeout", true),
        )
    }

    /// See [`Queue::get_nowait`].
    pub fn get_nowait(&self) -> Result<T> {
        self.queue.get_until(Some(Instant::now()), true, QueueCall::new::<T>("get_nowait", true))
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
        let call = QueueCall::new::<T>("task_done", true);
        let peers = &self.queue.channel().peers;
        let unfinished = &peers.unfinished;
        let mut current = unfinished.load(Ordering::SeqCst);
        loop {
            if current == 0 {
                return Err(Error::TaskDoneTooManyTimes { call });
            }
            match unfinished.compare_exchange(current, current - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if let Some(slot) = self.queue.handle.slot() {
            peers.add_held(slot, -1);
        }
        if current == 1 {
            futex_wake_all(unfinished);
        }
        Ok(())
    }

    /// Waits until every item put has been marked done.
    ///
    /// Call `task_done` in the process that took the task (as the lecture's consumers do): the
    /// queue counts each process's unfinished tasks, so that a process that ends holding some
    /// can be named. A task marked done by another process is still counted as done, but the
    /// process that took it is then counted as holding it.
    ///
    /// Equivalent to Python's `JoinableQueue.join()`, which waits forever when a consumer died
    /// holding a task. This one notices, within a tick of 100 ms.
    ///
    /// # Errors
    ///
    /// [`Error::TasksLost`] when a process took tasks and died before marking them done: they are
    /// written off (a later `join` waits only for the others). [`Error::TasksNeverDone`] when
    /// tasks are unfinished, nothing is left in the queue, and no other process holding it is
    /// alive (a consumer that forgot `task_done`).
    pub fn join(&self) -> Result<()> {
        self.join_until(None, QueueCall::new::<T>("join", true)).map(|_| ())
    }

    /// Like [`join`](JoinableQueue::join), waiting at most `timeout`: `Ok(true)` when every task
    /// is done, `Ok(false)` when some are still unfinished at the deadline.
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.join_until(Instant::now().checked_add(timeout), QueueCall::new::<T>("join_timeout", true))
    }

    fn join_until(&self, deadline: Option<Instant>, call: QueueCall) -> Result<bool> {
        let channel = self.queue.channel();
        let peers = &channel.peers;
        let me = getpid().as_raw();
        loop {
            if let Some((pid, tasks)) = peers.take_lost_tasks() {
                return Err(Error::TasksLost { call, pid: pid as u32, tasks });
            }
            let current = peers.unfinished.load(Ordering::SeqCst);
            if current == 0 {
                // A process that ended holding tasks brought the count to 0 by writing them off
                // (`peers.rs` records the loss first): that is a loss to report, not success.
                if let Some((pid, tasks)) = peers.take_lost_tasks() {
                    return Err(Error::TasksLost { call, pid: pid as u32, tasks });
                }
                return Ok(true);
            }
            let now = Instant::now();
            let slice = match deadline {
                Some(deadline) if now >= deadline => return Ok(false),
                Some(deadline) => (deadline - now).min(LIVENESS_TICK),
                None => LIVENESS_TICK,
            };
            futex_wait(&peers.unfinished, current, Some(slice));
            // Between slices: find the dead (their tasks are written off and reported above),
            // and whether anyone is left to finish the rest.
            let others_alive = peers.sweep(me).others_alive;
            if !others_alive
                && peers.all_others_gone(me)
                && peers.unfinished.load(Ordering::SeqCst) != 0
                && !channel.ring.has_records()
                && !crate::lifecycle::other_threads_running()
                && !service::has_waiting(channel)
                && peers.take_lost_tasks().is_none()
            {
                let unfinished = peers.unfinished.load(Ordering::SeqCst);
                return Err(Error::TasksNeverDone { call, unfinished });
            }
        }
    }

    /// The number of tasks put and not yet marked done.
    pub fn unfinished(&self) -> usize {
        self.queue.channel().peers.unfinished.load(Ordering::SeqCst) as usize
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
