//! The cross-process half of a queue: the pipe, and what lives in shared memory beside it
//! (the two locks, the counters, the table of attached processes, the read buffer).
//!
//! # Reading through a shared buffer
//!
//! Reading one message straight from the pipe takes two `read(2)` calls (the header, then the
//! body), because a reader must never take bytes that belong to the next message: another
//! process may be the one to read that. Instead, the holder of the read lock reads *as much as
//! the pipe has* (up to 64 KiB) into a buffer in shared memory, and takes its message from there;
//! the bytes after it stay in the shared buffer, where the next reader, in whichever process,
//! finds them. One system call then serves hundreds of small messages. A message larger than
//! what is buffered is finished by reading exactly its remaining bytes from the pipe.
//!
//! # Surviving a dead peer
//!
//! Both locks are robust: when a process dies holding one, the next locker is told. Whether the
//! stream survived depends on what the dead process was doing, so each side raises a flag for the
//! moments when dying would leave the bytes inconsistent (a reader moving bytes out of the pipe or
//! inside the buffer; a writer in the middle of a frame). A lock inherited with the flag raised
//! marks the queue *poisoned*: every later `get` reports a corrupt stream instead of returning
//! garbage.

use std::cell::UnsafeCell;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::getpid;
use os_pipe::{PipeReader, PipeWriter};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::shm::{Locked, ProcessShared, RobustGuard, RobustMutex, SharedMemory};
use crate::wire::{self, HEADER_LEN};

/// How long a blocked reader or writer sleeps between checks of its peers and of the stream.
pub(crate) const LIVENESS_TICK: Duration = Duration::from_millis(100);

/// How many processes the attachment table can follow. Past that, peer-death detection is off
/// for the queue (a `get` then waits as CPython's does).
const MAX_ATTACHED: usize = 256;

/// The pipe size asked for with `F_SETPIPE_SZ` (the usual `/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: i32 = 1 << 20;

/// The shared read buffer.
const READ_BUFFER: usize = 64 << 10;

/// Writes up to this size are atomic on a pipe (POSIX `PIPE_BUF` on Linux).
pub(crate) const PIPE_BUF: usize = 4096;

/// Buffers per `writev(2)`; Linux takes at most 1024.
const BUFFERS_PER_WRITE: usize = 1024;

/// The part of a queue that lives in shared memory.
#[repr(C)]
pub(crate) struct QueueShm {
    read_lock: RobustMutex,
    write_lock: RobustMutex,
    /// 1 while the read-lock holder moves bytes out of the pipe or inside the read buffer.
    reader_busy: AtomicU32,
    /// 1 while the write-lock holder is in the middle of writing frames.
    writing: AtomicU32,
    /// 1 once the byte stream can no longer be trusted.
    poisoned: AtomicU32,
    /// Items put and not yet taken. A futex word: bounded `put`s sleep on it.
    pub(crate) len: AtomicU32,
    /// `JoinableQueue`: items put and not yet `task_done`. A futex word: `join` sleeps on it.
    pub(crate) unfinished: AtomicU32,
    /// 1 once a second process has attached: only then can "every peer is gone" be concluded.
    shared: AtomicU32,
    /// 1 when the table below overflowed.
    untracked: AtomicU32,
    /// The read buffer holds bytes `read_start..read_end` (both guarded by the read lock).
    read_start: AtomicU32,
    read_end: AtomicU32,
    /// Pids of the processes that hold the queue (0 = free slot).
    attached: [AtomicI32; MAX_ATTACHED],
    read_buffer: ReadBuffer,
}

/// Bytes taken from the pipe and not yet handed out.
struct ReadBuffer(UnsafeCell<[u8; READ_BUFFER]>);

// SAFETY: the buffer is only touched through `Reader`, which exists only while its creator holds
// the queue's read lock; so one thread in one process at a time uses it.
unsafe impl Sync for ReadBuffer {}

// SAFETY: all-zero is a valid QueueShm (zero counters and indices, free slots, an empty buffer;
// the two mutexes are initialised in place by `Channel::new` before anyone else can see them),
// and every field is an atomic, a process-shared mutex, or bytes guarded by one.
unsafe impl ProcessShared for QueueShm {}

impl QueueShm {
    pub(crate) fn attach(&self, pid: i32) {
        for slot in &self.attached {
            if slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return;
            }
        }
        self.untracked.store(1, Ordering::SeqCst);
    }

    pub(crate) fn detach(&self, pid: i32) {
        for slot in &self.attached {
            let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    pub(crate) fn mark_shared(&self) {
        self.shared.store(1, Ordering::SeqCst);
    }

    /// True when some process other than `me` that holds the queue may still be running.
    pub(crate) fn other_process_alive(&self, me: i32) -> bool {
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

    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst) != 0
    }

    fn poison(&self) {
        self.poisoned.store(1, Ordering::SeqCst);
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

fn corrupt_stream() -> Error {
    Error::CorruptFrame("a process died in the middle of a message; the queue's stream is misaligned".into())
}

/// The pipe and the shared memory of one queue: the same in every process.
pub(crate) struct Channel {
    pub(crate) shm: SharedMemory<QueueShm>,
    reader: PipeReader,
    writer: PipeWriter,
    pub(crate) maxsize: u32,
}

impl Channel {
    pub(crate) fn new(maxsize: u32) -> Result<Channel> {
        let shm = SharedMemory::<QueueShm>::new()?;
        // SAFETY: the mapping was just created; no other thread or process can see it yet.
        unsafe {
            shm.read_lock.init()?;
            shm.write_lock.init()?;
        }
        let (reader, writer) = os_pipe::pipe()?;
        // A bigger pipe moves large messages faster; not fatal if the system refuses.
        let _ = fcntl(&writer, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
        // Both ends are non-blocking: a reader must be able to take "all there is" without
        // waiting for more, a writer must be able to try a write without waiting for room, and
        // a waiting side wakes up every tick to check its peers. The flag belongs to each end's
        // open file, which every process shares, and every process uses the ends the same way.
        for fd in [reader.as_fd(), writer.as_fd()] {
            let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
            fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        }
        shm.attach(getpid().as_raw());
        Ok(Channel { shm, reader, writer, maxsize })
    }

    /// Tries to write one frame of at most [`PIPE_BUF`] bytes at once, without waiting for the
    /// write lock or for room in the pipe. `Ok(false)` when it would have to wait.
    pub(crate) fn try_write_small(&self, frame: &[u8]) -> io::Result<bool> {
        debug_assert!(frame.len() <= PIPE_BUF);
        let guard = match self.shm.write_lock.try_lock()? {
            Locked::Acquired(guard) => guard,
            Locked::TimedOut => return Ok(false),
        };
        self.check_writable(&guard)?;
        // A write of at most PIPE_BUF bytes to a non-blocking pipe is all or nothing.
        match (&self.writer).write(frame) {
            Ok(n) if n == frame.len() => Ok(true),
            Ok(n) => {
                Err(io::Error::other(format!("pipe took {n} of {} bytes of an atomic write", frame.len())))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes whole buffers of frames under the write lock, many per system call, waiting for
    /// room in the pipe as long as it takes.
    pub(crate) fn write_frames(&self, buffers: &[Vec<u8>]) -> io::Result<()> {
        let guard = match self.shm.write_lock.lock(None)? {
            Locked::Acquired(guard) => guard,
            Locked::TimedOut => unreachable!("no deadline was given"),
        };
        self.check_writable(&guard)?;
        self.shm.writing.store(1, Ordering::SeqCst);
        let mut out = &self.writer;
        for chunk in buffers.chunks(BUFFERS_PER_WRITE) {
            let mut slices: Vec<IoSlice<'_>> = chunk.iter().map(|f| IoSlice::new(f)).collect();
            let mut slices = &mut slices[..];
            while !slices.is_empty() {
                match out.write_vectored(slices) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut slices, n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait_for(&self.writer, PollFlags::POLLOUT, LIVENESS_TICK)?
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.shm.writing.store(0, Ordering::SeqCst);
        drop(guard);
        Ok(())
    }

    fn check_writable(&self, guard: &RobustGuard<'_>) -> io::Result<()> {
        if guard.owner_died && self.shm.writing.load(Ordering::SeqCst) != 0 {
            // A writer died half-way through a frame: whatever is written after it would be
            // read as the rest of that frame.
            self.shm.poison();
        }
        if self.shm.is_poisoned() {
            return Err(io::Error::other(
                "the queue's stream is corrupt: a process died half-way through a message",
            ));
        }
        Ok(())
    }

    /// Takes the read lock (until `deadline`); `None` if the deadline passed first.
    pub(crate) fn lock_reader(&self, deadline: Option<Instant>) -> Result<Option<Reader<'_>>> {
        let guard = match self.shm.read_lock.lock(deadline)? {
            Locked::Acquired(guard) => guard,
            Locked::TimedOut => return Ok(None),
        };
        if guard.owner_died && self.shm.reader_busy.load(Ordering::SeqCst) != 0 {
            self.shm.poison();
        }
        if self.shm.is_poisoned() {
            return Err(corrupt_stream());
        }
        Ok(Some(Reader { channel: self, _guard: guard }))
    }

    /// Whether the pipe has bytes right now.
    pub(crate) fn pipe_readable(&self) -> bool {
        let mut fds = [PollFd::new(self.reader.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) > 0
    }

    /// Waits up to `timeout` for the pipe to have bytes.
    pub(crate) fn wait_readable(&self, timeout: Duration) -> io::Result<()> {
        wait_for(&self.reader, PollFlags::POLLIN, timeout)
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.shm.detach(getpid().as_raw());
    }
}

/// Waits up to `timeout` for `fd` to be ready for `events`.
fn wait_for(fd: &impl AsFd, events: PollFlags, timeout: Duration) -> io::Result<()> {
    let mut fds = [PollFd::new(fd.as_fd(), events)];
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What one non-blocking read from the pipe gave.
enum Fill {
    Added,
    Empty,
    EndOfFile,
}

/// The holder of a queue's read lock: the only one who may touch the read buffer.
pub(crate) struct Reader<'a> {
    channel: &'a Channel,
    _guard: RobustGuard<'a>,
}

impl Reader<'_> {
    /// Takes the next message and decodes it. `Ok(None)` when there is nothing at all to read
    /// yet. `gone` says whether every writer is gone, for a message whose end may never come.
    ///
    /// A message that is all in the read buffer is decoded from there; a larger one is decoded as
    /// its bytes stream in from the pipe, straight into the value, with no copy in between. Either
    /// way the whole frame is consumed, even when it does not decode, so the next one is intact.
    pub(crate) fn take<T: DeserializeOwned>(&mut self, gone: &dyn Fn() -> bool) -> Result<Option<T>> {
        let channel = self.channel;
        let shm = &*channel.shm;
        // 1. A whole header in the buffer.
        loop {
            let buffered = self.end() - self.start();
            if buffered >= HEADER_LEN {
                break;
            }
            match self.fill()? {
                Fill::Added => {}
                Fill::Empty if buffered == 0 => return Ok(None),
                Fill::Empty => self.wait_mid_frame(gone)?,
                Fill::EndOfFile if buffered == 0 => return Err(Error::Disconnected),
                Fill::EndOfFile => return Err(self.truncated(HEADER_LEN, buffered)),
            }
        }
        let (start, end) = (self.start(), self.end());
        let header: [u8; HEADER_LEN] = self.buffer()[start..start + HEADER_LEN].try_into().expect("8 bytes");
        let len = match wire::parse_header(&header) {
            Ok(len) => len,
            Err(e) => {
                shm.poison();
                return Err(e);
            }
        };
        // 2. The body all in the buffer, the common case for small messages...
        let body_start = start + HEADER_LEN;
        if end - body_start >= len {
            let decoded = wire::decode(&self.buffer()[body_start..body_start + len]);
            self.set_range(body_start + len, end);
            return decoded.map(Some);
        }
        // 3. ...or partly still in the pipe.
        shm.reader_busy.store(1, Ordering::SeqCst);
        let mut stream = FrameStream {
            buffered: &self.buffer()[body_start..end],
            channel,
            gone,
            remaining: len,
            ended: false,
        };
        let decoded = wire::decode_stream::<T, _>(&mut stream, len);
        let left_over = stream.remaining;
        // Consume whatever the decoder did not, so that the next frame starts where it should.
        let drained = std::io::copy(&mut stream, &mut std::io::sink());
        let (ended, missing) = (stream.ended, stream.remaining);
        self.set_range(0, 0);
        if ended || shm.is_poisoned() || drained.is_err() {
            shm.poison();
            return Err(if ended {
                Error::TruncatedFrame { expected: HEADER_LEN + len, received: HEADER_LEN + len - missing }
            } else {
                corrupt_stream()
            });
        }
        shm.reader_busy.store(0, Ordering::SeqCst);
        let value = decoded?;
        if left_over > 0 {
            return Err(wire::left_over(left_over));
        }
        Ok(Some(value))
    }

    fn start(&self) -> usize {
        self.channel.shm.read_start.load(Ordering::Relaxed) as usize
    }

    fn end(&self) -> usize {
        self.channel.shm.read_end.load(Ordering::Relaxed) as usize
    }

    fn set_range(&self, start: usize, end: usize) {
        let (start, end) = if start == end { (0, 0) } else { (start, end) };
        self.channel.shm.read_start.store(start as u32, Ordering::Relaxed);
        self.channel.shm.read_end.store(end as u32, Ordering::Relaxed);
    }

    fn buffer(&mut self) -> &mut [u8; READ_BUFFER] {
        // SAFETY: a `Reader` exists only while the read lock is held (it owns the guard), so no
        // other thread or process touches the buffer now; `&mut self` keeps this one exclusive.
        unsafe { &mut *self.channel.shm.read_buffer.0.get() }
    }

    /// Moves what the pipe has into the buffer, after the bytes already there (called only
    /// when fewer than a header's worth are buffered, so moving those to the front is cheap).
    fn fill(&mut self) -> Result<Fill> {
        let channel = self.channel;
        let shm = &*channel.shm;
        let (start, end) = (self.start(), self.end());
        shm.reader_busy.store(1, Ordering::SeqCst);
        self.buffer().copy_within(start..end, 0);
        let mut end = end - start;
        self.set_range(0, end);
        let outcome = loop {
            match (&channel.reader).read(&mut self.buffer()[end..]) {
                Ok(0) => break Fill::EndOfFile,
                Ok(n) => {
                    end += n;
                    self.set_range(0, end);
                    break Fill::Added;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Fill::Empty,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    shm.reader_busy.store(0, Ordering::SeqCst);
                    return Err(e.into());
                }
            }
        };
        shm.reader_busy.store(0, Ordering::SeqCst);
        Ok(outcome)
    }

    /// Inside a frame whose next bytes have not arrived: wait a tick for them.
    fn wait_mid_frame(&self, gone: &dyn Fn() -> bool) -> Result<()> {
        if self.channel.shm.is_poisoned() {
            return Err(corrupt_stream());
        }
        self.channel.wait_readable(LIVENESS_TICK)?;
        if gone() && !self.channel.pipe_readable() {
            return Err(self.truncated(HEADER_LEN, self.end() - self.start()));
        }
        Ok(())
    }

    fn truncated(&self, expected: usize, received: usize) -> Error {
        self.channel.shm.poison();
        Error::TruncatedFrame { expected, received }
    }
}

/// The rest of one frame: first what is already in the read buffer, then the pipe, waiting (in
/// ticks) for bytes that are on their way, and never reading past the frame's end.
struct FrameStream<'a> {
    buffered: &'a [u8],
    channel: &'a Channel,
    gone: &'a dyn Fn() -> bool,
    /// Bytes of the frame not yet handed out.
    remaining: usize,
    /// The rest will never come: every writer is gone.
    ended: bool,
}

impl Read for FrameStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.remaining);
        if want == 0 || self.ended {
            return Ok(0);
        }
        if !self.buffered.is_empty() {
            let n = want.min(self.buffered.len());
            buf[..n].copy_from_slice(&self.buffered[..n]);
            self.buffered = &self.buffered[n..];
            self.remaining -= n;
            return Ok(n);
        }
        loop {
            match (&self.channel.reader).read(&mut buf[..want]) {
                Ok(0) => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.remaining -= n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.channel.shm.is_poisoned() {
                        return Err(io::Error::other("the writer of this message died half-way"));
                    }
                    self.channel.wait_readable(LIVENESS_TICK)?;
                    if (self.gone)() && !self.channel.pipe_readable() {
                        self.ended = true;
                        return Ok(0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
