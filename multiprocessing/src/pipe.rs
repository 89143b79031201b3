//! `Pipe`: two connected ends, for two processes that talk to each other.
//!
//! # How it works underneath
//!
//! `pipe(true)` makes a Unix socket pair (`socketpair(AF_UNIX, SOCK_STREAM)`), a channel the
//! kernel keeps with a buffer in each direction; `pipe(false)` makes an ordinary pipe (`pipe(2)`),
//! one direction only. These are CPython's two choices for `Pipe(duplex=True)` and
//! `Pipe(duplex=False)`. Both are made before the fork, so the child inherits the file
//! descriptors: nothing is named, and no other user can reach them.
//!
//! A message is one frame of the crate's format (`wire.rs`: an 8-byte header with its length,
//! then the value encoded with bincode), written with one `write` call when it fits. On the
//! reading side a 64 KiB buffer takes as many bytes as have arrived in one `read`, so a stream of
//! small messages costs one system call per buffer, not per message.
//!
//! # The end of a pipe
//!
//! The kernel tells a reader that nothing more can come (`read` returns 0, "end of file") only
//! when *every* copy of the other end is closed, in every process. `fork` copies all of a
//! process's descriptors, so each end usually exists in both processes. `Process::start` drops
//! the parent's copy of what the target closure captured, so the parent keeps only the end it
//! did not give away; a child, though, keeps a copy of every descriptor its parent had at the
//! fork, the parent's own end included, until it exits. So in a child, `recv` waiting for the
//! parent to close never ends: send an explicit last message instead (a `None`, as the
//! examples' poison pills do). This is the same in CPython.
//!
//! # What this channel does not do
//!
//! A `Pipe` is the plain channel: one process at each end. It has no lock, because each end is
//! used through `&mut self`, so two threads cannot use one end at once; and a process that forks
//! while another thread is in `send` leaves no lock taken in the child. Two *processes* reading,
//! or writing, the same end at once would mix their bytes, as in CPython (whose documentation
//! warns of it). A process killed in the middle of `send` leaves half a message, which the
//! reader reports as an error; the stream cannot be resynchronised after it. For many producers
//! and consumers, or processes that may be killed, use a [`Queue`](crate::Queue).

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::wire;

/// How much a reader takes from the kernel in one `read`.
const READ_BUFFER: usize = 64 << 10;

/// One end of a [`pipe`]: sends and receives values of type `T`.
///
/// Equivalent to Python's `multiprocessing.connection.Connection`. Move it into the closure of
/// the [`Process`](crate::Process) that uses it; see the module docs for what a pipe does not do.
pub struct Connection<T> {
    reader: Option<BufReader<File>>,
    writer: Option<File>,
    /// The writer is a socket (a duplex pipe): sends use `MSG_NOSIGNAL` (see `send`).
    writer_is_socket: bool,
    /// Reused for every `send`: header and body, so the frame goes out in one `write`.
    encoded: Vec<u8>,
    _message: PhantomData<fn(T) -> T>,
}

/// Makes a pipe and returns its two ends.
///
/// Equivalent to Python's `multiprocessing.Pipe(duplex)`. With `duplex = true` both ends send
/// and receive; with `false` the first end only receives and the second only sends, as in
/// CPython.
///
/// ```rust,no_run
/// use multiprocessing::{Process, pipe};
///
/// let (mut parent_end, mut child_end) = pipe::<String>(true)?;
/// let mut p = Process::new(move || -> multiprocessing::Result<()> {
///     let question = child_end.recv()?;
///     child_end.send(&format!("{question} pong"))
/// });
/// p.start()?;
/// parent_end.send(&"ping".to_string())?;
/// assert_eq!(parent_end.recv()?, "ping pong");
/// p.join()?;
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub fn pipe<T: Serialize + DeserializeOwned>(duplex: bool) -> Result<(Connection<T>, Connection<T>)> {
    if duplex {
        // SOCK_CLOEXEC (std sets it): a program this process `exec`s gets no copy of the ends.
        let (a, b) = UnixStream::pair().map_err(Error::os("socketpair (a duplex Pipe)"))?;
        let (a, b) = (OwnedFd::from(a), OwnedFd::from(b));
        let dup = |s: &OwnedFd| s.try_clone().map_err(Error::os("dup (a duplex Pipe)"));
        let (a2, b2) = (dup(&a)?, dup(&b)?);
        Ok((Connection::new(Some(a), Some(a2)), Connection::new(Some(b), Some(b2))))
    } else {
        let (read_end, write_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Error::os("pipe2 (a one-way Pipe)"))?;
        Ok((Connection::new(Some(read_end), None), Connection::new(None, Some(write_end))))
    }
}

impl<T: Serialize + DeserializeOwned> Connection<T> {
    fn new(read: Option<OwnedFd>, write: Option<OwnedFd>) -> Self {
        // Only a duplex pipe has both ends in one connection, and a duplex pipe is a socket pair.
        let writer_is_socket = write.is_some() && read.is_some();
        Connection {
            reader: read.map(|fd| BufReader::with_capacity(READ_BUFFER, File::from(fd))),
            writer_is_socket,
            writer: write.map(File::from),
            encoded: Vec::new(),
            _message: PhantomData,
        }
    }

    /// Sends one value to the other end. Blocks while the kernel's buffer is full (the other end
    /// is not reading).
    ///
    /// Errors: a value that cannot be encoded or is over
    /// [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE) (nothing is sent); [`Error::BrokenPipe`]
    /// when the other end is closed in every process; [`Error::InvalidState`] on the receiving end
    /// of a one-way pipe. (A one-way pipe whose reader is gone raises `SIGPIPE`, which Rust
    /// programs ignore unless they restored its default; then `send` ends the process, as a
    /// shell pipeline's writer ends. A duplex pipe never does.)
    pub fn send(&mut self, value: &T) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(Error::InvalidState(
                "send on the receiving end of a one-way pipe: the connection is read-only (Python: OSError)",
            ));
        };
        self.encoded.clear();
        wire::encode_into(value, &mut self.encoded)?;
        // A write to a pipe nobody reads raises SIGPIPE, which kills the process unless the
        // signal is ignored. Rust's runtime ignores it at start-up, but a program may restore it:
        // on a socket, `MSG_NOSIGNAL` turns it into the error EPIPE whatever the program did.
        let sent = if self.writer_is_socket {
            send_all_no_signal(writer, &self.encoded)
        } else {
            writer.write_all(&self.encoded)
        };
        // Do not keep a large message's buffer for the life of the connection.
        if self.encoded.capacity() > READ_BUFFER {
            self.encoded = Vec::new();
        }
        match sent {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(Error::BrokenPipe),
            other => other.map_err(Error::os("write (send on a Pipe)")),
        }
    }

    /// Waits for the next value from the other end.
    ///
    /// Errors: [`Error::EndOfFile`] when the other end is closed in every process and every
    /// message has been read (Python's `EOFError`); [`Error::CorruptFrame`] when the other end
    /// closed in the middle of a message (its writer was killed while sending) or wrote bytes
    /// that are not a message; [`Error::Decode`] for a message of another type (it is consumed,
    /// the next one can be read); [`Error::InvalidState`] on the sending end of a one-way pipe.
    pub fn recv(&mut self) -> Result<T> {
        let reader = self.reader_mut()?;
        let mut header = [0u8; wire::HEADER_LEN];
        let got = read_fully(reader, &mut header)?;
        if got == 0 {
            return Err(Error::EndOfFile);
        }
        if got < header.len() {
            return Err(cut_short(got, header.len()));
        }
        let len = wire::parse_header(&header)?;
        let mut body = vec![0u8; len];
        let got = read_fully(reader, &mut body)?;
        if got < len {
            return Err(cut_short(header.len() + got, header.len() + len));
        }
        wire::decode(&body)
    }

    /// Whether a value (or the end of the pipe) can be read without waiting, waiting at most
    /// `timeout` for one. Equivalent to Python's `Connection.poll(timeout)`; `Duration::ZERO`
    /// only looks.
    pub fn poll(&mut self, timeout: Duration) -> Result<bool> {
        let reader = self.reader_mut()?;
        if !reader.buffer().is_empty() {
            return Ok(true);
        }
        // `None`: a timeout too long to add to the clock, which is forever.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // poll(2) takes milliseconds in an i32: round up, so that a short timeout still
            // waits, and wait in pieces when the rest is longer than that.
            let millis = deadline.map_or(i32::MAX, |d| {
                let rest = d.saturating_duration_since(Instant::now());
                rest.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
            });
            let mut fds = [PollFd::new(reader.get_ref().as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)) {
                // Readable, or hung up: the end of file is something `recv` can report.
                Ok(n) if n > 0 => return Ok(true),
                Ok(_) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::os("poll (a Pipe)")(e)),
            }
        }
    }

    /// Closes this end in this process. Equivalent to Python's `Connection.close()`; taking the
    /// connection by value makes a use after `close` a compile error rather than CPython's
    /// `OSError: handle is closed`. Dropping a connection closes it too.
    pub fn close(self) {}

    fn reader_mut(&mut self) -> Result<&mut BufReader<File>> {
        self.reader.as_mut().ok_or(Error::InvalidState(
            "recv on the sending end of a one-way pipe: the connection is write-only (Python: OSError)",
        ))
    }
}

impl<T> std::fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fd = |file: Option<&File>| file.map(|f| f.as_raw_fd());
        f.debug_struct("Connection")
            .field("read_fd", &fd(self.reader.as_ref().map(BufReader::get_ref)))
            .field("write_fd", &fd(self.writer.as_ref()))
            .finish()
    }
}

/// `write_all` through `send(2)` with `MSG_NOSIGNAL`: EPIPE instead of SIGPIPE.
fn send_all_no_signal(socket: &File, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe `bytes`, alive for the call; the descriptor is
        // the socket `socket` owns, open for the call.
        let sent =
            unsafe { libc::send(socket.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        if sent < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        bytes = &bytes[sent as usize..];
    }
    Ok(())
}

/// Reads until `buf` is full or the end of file; returns how many bytes were read.
fn read_fully(reader: &mut BufReader<File>, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::os("read (recv on a Pipe)")(e)),
        }
    }
    Ok(filled)
}

fn cut_short(got: usize, expected: usize) -> Error {
    Error::CorruptFrame(format!(
        "the other end closed after {got} of the {expected} bytes of a message (was its writer \
         killed while sending?)"
    ))
}
