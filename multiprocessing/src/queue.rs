//! `Queue` and `JoinableQueue`: objects passed between processes through a pipe.
//!
//! # How it works underneath
//!
//! A queue is the same four parts as CPython's (`queues.py`):
//!
//! - **a pipe** (`os_pipe`), made before the fork so that every child inherits both ends. It is
//!   enlarged to 1 MiB with `F_SETPIPE_SZ` where the system allows (a default pipe holds 64 KiB,
//!   and large messages move about three times faster through a larger one);
//! - **a write lock and a read lock**, robust process-shared mutexes in shared memory (see
//!   `shm.rs`), held for a whole frame, because a pipe keeps writes atomic only up to 4096 bytes
//!   and never keeps reads message-sized;
//! - **a feeder thread** per process, started by the first `put`. `put` encodes the value (so
//!   an unencodable or oversized value is refused right there), appends the frame to an
//!   in-process buffer and returns at once; the feeder writes whatever has piled up, many frames
//!   in one `writev(2)` under one write lock. So `put` never blocks on a full pipe (a process can
//!   put more than the pipe holds before anyone reads: the slides rely on it), and a burst of small
//!   messages costs one system call, not one each;
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
//! The read end is non-blocking, and a `get` that has to wait does so in `poll(2)` slices of
//! 100 ms. Between slices it checks a table of the processes attached to the queue (in the same
//! shared memory): if the queue was ever shared with another process, every other one is gone,
//! and this process has nothing in flight, nothing can ever arrive, and `get` returns
//! [`Error::Disconnected`] instead of hanging. `JoinableQueue::join` does the same. A process
//! killed while it held the read lock in the middle of a message leaves the stream misaligned:
//! the next reader learns it from the robust lock and reports [`Error::CorruptFrame`].

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, info};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::getpid;
use os_pipe::{PipeReader, PipeWriter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::process::lock;
use crate::shm::{Locked, ProcessShared, RobustMutex, SharedMemory, futex_wait, futex_wake_all};
use crate::wire;

/// How long a blocked `get` or `join` sleeps between checks that its peers are still alive.
const LIVENESS_TICK: Duration = Duration::from_millis(100);

/// How many processes the attachment table can follow. Past that, peer-death detection is off
/// for the queue (a `get` then waits as CPython's does).
const MAX_ATTACHED: usize = 256;

/// The pipe size asked for with `F_SETPIPE_SZ` (the usual `/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: i32 = 1 << 20;

/// Frames per `writev(2)`; Linux takes at most 1024 buffers in one call.
const FRAMES_PER_WRITE: usize = 1024;

/// The part of a queue that lives in shared memory.
#[repr(C)]
struct QueueShm {
    read_lock: RobustMutex,
    write_lock: RobustMutex,
    /// 1 while a reader is between the first and the last byte of a frame.
    reading_frame: AtomicU32,
    /// 1 while a writer is in the middle of writing frames.
    writing_frame: AtomicU32,
    /// 1 once the byte stream can no longer be trusted.
    poisoned: AtomicU32,
    /// Items put and not yet taken. A futex word: bounded `put`s sleep on it.
    len: AtomicU32,
    /// `JoinableQueue`: items put and not yet `task_done`. A futex word: `join` sleeps on it.
    unfinished: AtomicU32,
    /// 1 once a second process has attached: only then can "every peer is gone" be concluded.
    shared: AtomicU32,
    /// 1 when the table below overflowed.
    untracked: AtomicU32,
    /// Pids of the processes that hold the queue (0 = free slot).
    attached: [AtomicI32; MAX_ATTACHED],
}

// SAFETY: all-zero is a valid QueueShm (zero counters, free slots; the two mutexes are
// initialised in place by `Channel::new` before the queue is visible to anyone), and every field
// is an atomic or a process-shared mutex.
unsafe impl ProcessShared for QueueShm {}

impl QueueShm {
    fn attach(&self, pid: i32) {
        for slot in &self.attached {
            if slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return;
            }
        }
        self.untracked.store(1, Ordering::SeqCst);
    }

    fn detach(&self, pid: i32) {
        for slot in &self.attached {
            let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// True when some process other than `me` that holds the queue may still be running.
    fn other_process_alive(&self, me: i32) -> bool {
        if self.untracked.load(Ordering::SeqCst) != 0 || self.shared.load(Ordering::SeqCst) == 0 {
            return true;
        }
        self.attached.iter().map(|slot| slot.load(Ordering::SeqCst)).any(|pid| {
            if pid == 0 || pid == me {
                return false;
            }
            if process_is_running(pid) {
                true
            } else {
                // Free the slot of a dead process (it cannot detach itself when killed).
                self.detach(pid);
                false
            }
        })
    }
}

/// Whether `pid` names a running process: it exists (`kill(pid, 0)`) and is not a zombie
/// waiting to be reaped (the state letter in `/proc/<pid>/stat`).
fn process_is_running(pid: i32) -> bool {
    let exists =
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) != Err(nix::errno::Errno::ESRCH);
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => true,
    }
}

/// The pipe and the shared memory of one queue: identical in every process.
struct Channel {
    shm: SharedMemory<QueueShm>,
    reader: PipeReader,
    writer: PipeWriter,
    maxsize: u32,
}

impl Channel {
    fn new(maxsize: u32) -> Result<Channel> {
        let shm = SharedMemory::<QueueShm>::new()?;
        // SAFETY: the mapping was just created; no other thread or process can see it yet.
        unsafe {
            shm.read_lock.init()?;
            shm.write_lock.init()?;
        }
        let (reader, writer) = os_pipe::pipe()?;
        // A bigger pipe moves large messages faster; not fatal if the system refuses.
        let _ = fcntl(&writer, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
        // The read end is non-blocking so that a waiting `get` can wake up to check its peers
        // and its deadline (see the module docs). The flag belongs to the read end's open file,
        // which every process shares, and every process reads it the same way.
        let flags = OFlag::from_bits_truncate(fcntl(&reader, FcntlArg::F_GETFL)?);
        fcntl(&reader, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        shm.attach(getpid().as_raw());
        Ok(Channel { shm, reader, writer, maxsize })
    }

    /// Writes whole frames under the write lock, many per system call.
    fn write_frames(&self, frames: &[Vec<u8>]) -> io::Result<()> {
        let guard = match self.shm.write_lock.lock(None)? {
            Locked::Acquired(guard) => guard,
            Locked::TimedOut => unreachable!("no deadline was given"),
        };
        if guard.owner_died && self.shm.writing_frame.load(Ordering::SeqCst) != 0 {
            // A writer died half-way through a frame: whatever is written after it would be
            // read as the rest of that frame.
            self.shm.poisoned.store(1, Ordering::SeqCst);
        }
        if self.shm.poisoned.load(Ordering::SeqCst) != 0 {
            return Err(io::Error::other(
                "the queue's stream is corrupt: a process died half-way through a message",
            ));
        }
        self.shm.writing_frame.store(1, Ordering::SeqCst);
        let mut out = &self.writer;
        for chunk in frames.chunks(FRAMES_PER_WRITE) {
            let mut slices: Vec<IoSlice<'_>> = chunk.iter().map(|f| IoSlice::new(f)).collect();
            let mut slices = &mut slices[..];
            while !slices.is_empty() {
                match out.write_vectored(slices) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut slices, n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.shm.writing_frame.store(0, Ordering::SeqCst);
        drop(guard);
        Ok(())
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.shm.detach(getpid().as_raw());
    }
}

/// The per-process half of a queue: its buffer of frames not yet written, and the thread that
/// writes them. A forked child gets a fresh one (see [`reset_after_fork`]).
pub(crate) struct Feeder {
    channel: Arc<Channel>,
    state: Mutex<FeederState>,
    /// Signalled when frames are added or the feeder is told to quit.
    wake: Condvar,
}

pub(crate) struct FeederState {
    pending: VecDeque<Vec<u8>>,
    thread: Option<JoinHandle<()>>,
    thread_starting: bool,
    /// The feeder took frames out of `pending` and is writing them.
    in_flight: bool,
    /// The feeder waits on `wake`: only then is a notification needed.
    sleeping: bool,
    /// The feeder should exit once `pending` is empty.
    quit: bool,
    /// `close()` was called in this process.
    closed: bool,
    join_cancelled: bool,
    /// Why the last write failed (all readers gone, for instance): puts fail with it.
    error: Option<io::ErrorKind>,
}

impl FeederState {
    fn fresh() -> FeederState {
        FeederState {
            pending: VecDeque::new(),
            thread: None,
            thread_starting: false,
            in_flight: false,
            sleeping: false,
            quit: false,
            closed: false,
            join_cancelled: false,
            error: None,
        }
    }
}

/// Every feeder of this process, so that exit and fork can reach all queues.
static FEEDERS: Mutex<Vec<Weak<Feeder>>> = Mutex::new(Vec::new());

/// Locks the feeder table; held across `fork` by `Process::start`.
pub(crate) fn lock_registry() -> MutexGuard<'static, Vec<Weak<Feeder>>> {
    lock(&FEEDERS)
}

/// The feeders still alive in a locked table.
pub(crate) fn live_feeders(registry: &[Weak<Feeder>]) -> Vec<Arc<Feeder>> {
    registry.iter().filter_map(Weak::upgrade).collect()
}

impl Feeder {
    /// Locks this feeder's state; `Process::start` holds every one across `fork`.
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, FeederState> {
        lock(&self.state)
    }

    /// No other process holding the queue is alive and this one has nothing left to send.
    fn nothing_can_arrive(&self) -> bool {
        let state = self.lock_state();
        let idle = state.pending.is_empty() && !state.in_flight;
        drop(state);
        idle && !self.channel.shm.other_process_alive(getpid().as_raw())
    }
}

/// In a freshly forked child, with every feeder state still locked by the forking thread: what
/// CPython's `Queue._after_fork` does. The parent's feeder thread does not exist here, and the
/// frames in the buffer are the parent's to send, so both are dropped; the child starts its own
/// feeder on its first `put`. Returns how many queues were reset.
pub(crate) fn reset_after_fork(feeders: &[Arc<Feeder>], states: &mut [MutexGuard<'_, FeederState>]) -> usize {
    let me = getpid().as_raw();
    for (feeder, state) in feeders.iter().zip(states.iter_mut()) {
        // The handle names a thread of the parent: forget it, never join or detach it here.
        std::mem::forget(state.thread.take());
        **state = FeederState::fresh();
        feeder.channel.shm.shared.store(1, Ordering::SeqCst);
        feeder.channel.shm.attach(me);
    }
    feeders.len()
}

/// Exit, first phase (CPython's `_finalize_close`, priority 10): tell each feeder to finish.
pub(crate) fn finalize_close_all() {
    let feeders = live_feeders(&lock_registry());
    for feeder in feeders {
        let mut state = feeder.lock_state();
        if state.thread.is_some() {
            state.quit = true;
            feeder.wake.notify_one();
            drop(state);
            debug!("telling queue thread to quit");
        }
    }
}

/// Exit, last phase (CPython's `_finalize_join`, priority -5): wait for each feeder to flush,
/// and leave every queue's table of attached processes.
pub(crate) fn finalize_join_all() {
    let feeders = live_feeders(&lock_registry());
    for feeder in feeders {
        let mut state = feeder.lock_state();
        let thread = if state.join_cancelled { None } else { state.thread.take() };
        drop(state);
        if let Some(thread) = thread {
            debug!("joining queue thread");
            let _ = thread.join();
            debug!("... queue thread joined");
        }
        feeder.channel.shm.detach(getpid().as_raw());
    }
}

fn feeder_loop(feeder: Arc<Feeder>) {
    debug!("starting thread to feed data to pipe");
    loop {
        let mut state = feeder.lock_state();
        while state.pending.is_empty() && !state.quit {
            state.sleeping = true;
            state = feeder.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            state.sleeping = false;
        }
        if state.pending.is_empty() {
            break;
        }
        let frames: Vec<Vec<u8>> = state.pending.drain(..).collect();
        state.in_flight = true;
        let broken = state.error.is_some();
        drop(state);

        let result = if broken { Ok(()) } else { feeder.channel.write_frames(&frames) };
        let mut state = feeder.lock_state();
        state.in_flight = false;
        if let Err(e) = result {
            state.error = Some(e.kind());
            drop(state);
            info!("error in queue thread: {e}");
        }
    }
    debug!("feeder thread got sentinel -- exiting");
}

/// Turns a non-blocking pipe read end back into a blocking one *inside* a frame: once the first
/// byte of a frame is taken, the rest must be read by the same reader, so it waits for it (in
/// slices, checking that the stream was not declared corrupt meanwhile).
struct FrameReader<'a> {
    feeder: &'a Feeder,
    consumed: usize,
}

impl Read for FrameReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let channel = &*self.feeder.channel;
        loop {
            match (&channel.reader).read(buf) {
                Ok(n) => {
                    if self.consumed == 0 && n > 0 {
                        channel.shm.reading_frame.store(1, Ordering::SeqCst);
                    }
                    self.consumed += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.consumed > 0 => {
                    if channel.shm.poisoned.load(Ordering::SeqCst) != 0 {
                        return Err(io::Error::other("the writer of this message died half-way"));
                    }
                    wait_readable(channel, LIVENESS_TICK)?;
                    if self.feeder.nothing_can_arrive() && !readable_now(channel) {
                        // The rest of the frame will never come: report what we got as
                        // end-of-file, which `read_frame` turns into a truncated frame.
                        return Ok(0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether the read end has data right now.
fn readable_now(channel: &Channel) -> bool {
    let mut fds = [PollFd::new(channel.reader.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) > 0
}

/// Waits up to `timeout` for the read end to have data (or to reach end-of-file).
fn wait_readable(channel: &Channel, timeout: Duration) -> io::Result<()> {
    let mut fds = [PollFd::new(channel.reader.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

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
        let mut state = self.feeder.lock_state();
        state.quit = true;
        self.feeder.wake.notify_one();
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { handle: Arc::clone(&self.handle), _values: PhantomData }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Queue fd={} qsize={}>", self.handle.feeder.channel.reader.as_raw_fd(), self.qsize())
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
        let mut state = self.handle.feeder.lock_state();
        state.closed = true;
        state.quit = true;
        let started = state.thread.is_some();
        self.handle.feeder.wake.notify_one();
        drop(state);
        if started {
            debug!("telling queue thread to quit");
        }
    }

    /// Waits until everything this process put has been written to the pipe. Only after
    /// [`close`](Queue::close).
    ///
    /// Equivalent to Python's `Queue.join_thread()`.
    pub fn join_thread(&self) -> Result<()> {
        debug!("Queue.join_thread()");
        let mut state = self.handle.feeder.lock_state();
        if !state.closed {
            return Err(Error::InvalidState("Queue.join_thread() called before close()"));
        }
        let thread = state.thread.take();
        drop(state);
        if let Some(thread) = thread {
            let _ = thread.join();
        }
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
        let feeder = Arc::new(Feeder {
            channel: Arc::new(Channel::new(maxsize)?),
            state: Mutex::new(FeederState::fresh()),
            wake: Condvar::new(),
        });
        let mut registry = lock_registry();
        registry.retain(|f| f.strong_count() > 0);
        registry.push(Arc::downgrade(&feeder));
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
        self.put_frame(wire::encode(&item)?, None, false)
    }

    /// Like [`put`](Queue::put), waiting at most `timeout` for room in a bounded queue.
    ///
    /// Equivalent to Python's `Queue.put(obj, timeout=...)`: [`Error::Full`] on timeout.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
        self.put_frame(wire::encode(&item)?, Some(Instant::now() + timeout), false)
    }

    /// Like [`put`](Queue::put), without waiting: [`Error::Full`] if a bounded queue is full.
    ///
    /// Equivalent to Python's `Queue.put_nowait(obj)`.
    pub fn put_nowait(&self, item: T) -> Result<()> {
        self.put_frame(wire::encode(&item)?, Some(Instant::now()), false)
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

    fn put_frame(&self, frame: Vec<u8>, deadline: Option<Instant>, joinable: bool) -> Result<()> {
        let shm = self.shm();
        {
            let state = self.handle.feeder.lock_state();
            if state.closed {
                return Err(Error::Closed);
            }
            if let Some(kind) = state.error {
                return Err(Error::Io(io::Error::new(kind, "an earlier write to the queue's pipe failed")));
            }
        }
        self.reserve_room(deadline)?;
        if joinable {
            shm.unfinished.fetch_add(1, Ordering::SeqCst);
        }
        let mut state = self.handle.feeder.lock_state();
        state.pending.push_back(frame);
        if state.sleeping {
            self.handle.feeder.wake.notify_one();
        }
        let start_thread = state.thread.is_none() && !state.thread_starting;
        if start_thread {
            state.thread_starting = true;
        }
        drop(state);
        if start_thread {
            self.start_feeder()?;
        }
        Ok(())
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

    fn start_feeder(&self) -> Result<()> {
        debug!("Queue._start_thread()");
        debug!("doing self._thread.start()");
        let feeder = Arc::clone(&self.handle.feeder);
        let spawned =
            std::thread::Builder::new().name("QueueFeederThread".into()).spawn(move || feeder_loop(feeder));
        let mut state = self.handle.feeder.lock_state();
        state.thread_starting = false;
        match spawned {
            Ok(thread) => {
                state.thread = Some(thread);
                drop(state);
                debug!("... done self._thread.start()");
                Ok(())
            }
            Err(e) => Err(Error::Io(e)),
        }
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T> {
        if self.handle.feeder.lock_state().closed {
            return Err(Error::Closed);
        }
        let channel = &*self.handle.feeder.channel;
        let shm = &*channel.shm;
        let guard = match shm.read_lock.lock(deadline)? {
            Locked::Acquired(guard) => guard,
            Locked::TimedOut => return Err(Error::Empty),
        };
        if guard.owner_died && shm.reading_frame.load(Ordering::SeqCst) != 0 {
            shm.poisoned.store(1, Ordering::SeqCst);
        }
        if shm.poisoned.load(Ordering::SeqCst) != 0 {
            return Err(Error::CorruptFrame(
                "a process died in the middle of a message; the queue's stream is misaligned".into(),
            ));
        }
        let body = loop {
            let mut reader = FrameReader { feeder: &self.handle.feeder, consumed: 0 };
            match wire::read_frame(&mut reader) {
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock && reader.consumed == 0 => {}
                Err(Error::Io(e)) if shm.poisoned.load(Ordering::SeqCst) != 0 => {
                    return Err(Error::CorruptFrame(e.to_string()));
                }
                Err(e) => {
                    if reader.consumed > 0 {
                        // The stream is now at an unknown position: nobody can trust it.
                        shm.poisoned.store(1, Ordering::SeqCst);
                    }
                    shm.reading_frame.store(0, Ordering::SeqCst);
                    return Err(e);
                }
                Ok(body) => break body,
            }
            // Nothing there yet: wait a slice, then check the deadline and the peers.
            let now = Instant::now();
            let slice = match deadline {
                Some(deadline) if now >= deadline => return Err(Error::Empty),
                Some(deadline) => (deadline - now).min(LIVENESS_TICK),
                None => LIVENESS_TICK,
            };
            wait_readable(channel, slice)?;
            // Check the pipe once more after the peers: a last message may have landed since.
            if self.handle.feeder.nothing_can_arrive() && !readable_now(channel) {
                return Err(Error::Disconnected);
            }
        };
        shm.reading_frame.store(0, Ordering::SeqCst);
        drop(guard);
        shm.len.fetch_sub(1, Ordering::SeqCst);
        if channel.maxsize != 0 {
            futex_wake_all(&shm.len);
        }
        wire::decode(&body)
    }

    /// Writes raw bytes into the queue's pipe under the write lock, as if a buggy or hostile
    /// peer had sent them. For tests of the reader's error handling; not part of the API.
    #[doc(hidden)]
    pub fn write_raw_bytes_for_tests(&self, bytes: &[u8]) -> Result<()> {
        Ok(self.handle.feeder.channel.write_frames(&[bytes.to_vec()])?)
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
        self.queue.put_frame(wire::encode(&item)?, None, true)
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
