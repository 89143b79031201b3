//! The client side: each thread of each process has its own connection to the server, and every
//! operation of a proxy is one request written and one reply read on it.
//!
//! # Why one connection per thread
//!
//! A connection is a byte stream. Two processes (or two threads) writing requests into one
//! stream would interleave their bytes, and each could read the other's reply. So a connection
//! belongs to one thread of one process: it lives in a thread-local list, made on the thread's
//! first request to that manager (`connect(2)` to the server's socket, which the server
//! `accept`s).
//!
//! A `fork` copies the forking thread's list into the child. Those connections are the parent's:
//! the child must not write into them. Each entry remembers the fork generation it was made in
//! (`lifecycle::generation()`, a counter every fork adds one to in the child), and the child drops
//! every entry of another generation before it looks: closing its copy of the descriptor
//! affects nobody else, and it connects anew. No lock is involved, so a fork at any instant,
//! while another thread is in the middle of a request, leaves nothing locked in the child (that
//! thread, and its thread-local list, do not exist there).
//!
//! # A dead server
//!
//! The server's ends of the connections exist only in the server process, so when it dies the
//! kernel closes them at once: a client waiting for a reply reads the end of the stream, one
//! writing gets `EPIPE`, and a new connection is refused (or finds no socket file). Each becomes
//! [`Error::ManagerGone`]. As a second line of defence, a reply is awaited in slices of 100 ms
//! (`SO_RCVTIMEO`), and between slices the client checks that the server still runs (its pid,
//! with the start time it had: `lifecycle::ProcessIdentity`, so a later process given the same
//! pid is not taken for it). A server that is merely stopped (`SIGSTOP`) is waited for, as a slow
//! one would be.
//!
//! # Spinning briefly for the reply
//!
//! A reply usually comes within a few microseconds, but a client that sleeps in `read` until
//! then is woken through the kernel and, on a virtual machine whose other CPU went idle, through
//! the hypervisor: tens of microseconds per round trip (a `set` + `get` measured 85-95 us that
//! way on the benchmarks' 2-CPU VM, slower than CPython's manager, whose client is still busy in
//! Python code when its reply arrives). So the client first polls the socket without sleeping
//! for up to `SPIN` (50 us), then reads; the server does the same between requests
//! (`server.rs`). Only when the process may run on more than one CPU: on one, the server cannot
//! run while its client spins (a `set` + `get` pinned to one CPU took 211 us with the spin, 21-27
//! without).

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Error, Result};
use crate::lifecycle::{self, ProcessIdentity};

use super::protocol::{Fields, FrameBuffer, FrameWriter, OK, Op, REFUSED};

/// How long a client waits on the socket before it checks that the server is still alive: the
/// crate's liveness tick.
const SLICE: Duration = Duration::from_millis(100);

/// How long a client polls for its reply before it sleeps in `read` (module docs).
const SPIN: Duration = Duration::from_micros(50);

/// A request buffer larger than this is not kept after the request (a huge value was sent).
const KEEP_BUFFER: usize = 1 << 20;

/// Where a manager's server is: what every proxy of it holds (through an `Arc`).
#[derive(Debug)]
pub(super) struct Link {
    /// The server's listening socket, in a directory only this user can enter.
    pub(super) socket: PathBuf,
    /// The server process (its pid, and when it started: a later process given the same pid is
    /// not taken for it).
    pub(super) server: ProcessIdentity,
}

/// One thread's connection to one server.
struct Connection {
    stream: UnixStream,
    /// The request being written: reused, so a request allocates nothing once it has warmed up.
    /// Its capacity stays above `wire`'s 64 KiB "ample room", so values encode in one pass.
    request: Vec<u8>,
    replies: FrameBuffer,
}

/// An entry of a thread's list of connections.
struct Cached {
    /// Which manager. A `Weak` keeps the `Link`'s allocation alive, so no other `Link` can be
    /// made at this address while the entry exists: the pointer is an identity.
    link: Weak<Link>,
    /// The fork generation the connection was made in: another one means a parent's.
    generation: u32,
    /// `None` while a request is using it (see [`Link::call`]).
    connection: Option<Connection>,
}

thread_local! {
    static CONNECTIONS: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// A reply, for the proxy that asked to read: its status and the fields after it.
pub(super) struct Reply<'a> {
    pub(super) status: u8,
    pub(super) fields: Fields<'a>,
}

impl Link {
    /// Sends one request and hands its reply to `read`.
    ///
    /// `write` appends the request's fields to the frame. The connection is taken out of the
    /// thread's list for the request and put back only if the stream is still in step (the reply
    /// was read whole), so a request cut short by an error or a panic (a value's `Serialize` that
    /// panics) never leaves a stale reply for the next one to read.
    pub(super) fn call<R>(
        self: &Arc<Self>,
        op: Op,
        object: u32,
        write: impl FnOnce(&mut FrameWriter<'_>) -> Result<()>,
        read: impl FnOnce(Reply<'_>) -> Result<R>,
    ) -> Result<R> {
        let mut connection = self.take_connection()?;
        let mut frame = FrameWriter::request(&mut connection.request, op, object);
        if let Err(e) = write(&mut frame) {
            frame.abandon();
            self.put_back(connection);
            return Err(e);
        }
        if let Err(e) = frame.finish() {
            self.put_back(connection);
            return Err(e);
        }
        let sent = self.send(&mut connection);
        connection.request.clear();
        if connection.request.capacity() > KEEP_BUFFER {
            connection.request = Vec::with_capacity(wire_room());
        }
        sent?;
        let body = self.receive(&mut connection)?;
        let mut fields = Fields::new(connection.replies.body(body));
        let status = fields.byte().map_err(|why| Error::ManagerRefused(format!("an empty reply: {why}")))?;
        let answer = if status == REFUSED {
            Err(Error::ManagerRefused(String::from_utf8_lossy(fields.rest()).into_owned()))
        } else {
            read(Reply { status, fields })
        };
        self.put_back(connection);
        answer
    }

    /// Sends a request that gets no reply (`Shutdown`), on a connection of its own.
    pub(super) fn send_only(&self, op: Op) -> Result<()> {
        let mut connection = Connection::connect(self)?;
        FrameWriter::request(&mut connection.request, op, 0).finish()?;
        self.send(&mut connection)
    }

    /// This thread's connection to the server, made if there is none.
    fn take_connection(self: &Arc<Self>) -> Result<Connection> {
        let generation = lifecycle::generation();
        // `try_with`: a proxy used while the thread is ending (in another thread-local's
        // destructor) finds the list gone, and makes a connection just for the request.
        let found = CONNECTIONS.try_with(|list| {
            let mut list = list.borrow_mut();
            // A fork's copy of the parent's connections, and connections to managers this
            // process no longer holds a proxy of: closed here.
            list.retain(|c| c.generation == generation && c.link.strong_count() > 0);
            let entry = list.iter_mut().find(|c| std::ptr::eq(c.link.as_ptr(), Arc::as_ptr(self)))?;
            entry.connection.take()
        });
        match found {
            Ok(Some(connection)) => Ok(connection),
            _ => Connection::connect(self),
        }
    }

    fn put_back(self: &Arc<Self>, connection: Connection) {
        let generation = lifecycle::generation();
        let _ = CONNECTIONS.try_with(|list| {
            let mut list = list.borrow_mut();
            match list.iter_mut().find(|c| std::ptr::eq(c.link.as_ptr(), Arc::as_ptr(self))) {
                Some(entry) if entry.connection.is_none() => entry.connection = Some(connection),
                // Another connection was made meanwhile (a value's `Serialize` that used this
                // manager): keep one.
                Some(_) => {}
                None => {
                    list.push(Cached { link: Arc::downgrade(self), generation, connection: Some(connection) })
                }
            }
        });
    }

    /// Forgets this thread's connection to the server (after the server was shut down).
    pub(super) fn forget_connection(self: &Arc<Self>) {
        let _ = CONNECTIONS.try_with(|list| {
            list.borrow_mut().retain(|c| !std::ptr::eq(c.link.as_ptr(), Arc::as_ptr(self)));
        });
    }

    /// Writes the request, waiting in slices while the server is alive and not reading.
    fn send(&self, connection: &mut Connection) -> Result<()> {
        let mut written = 0;
        let request = &connection.request;
        while written < request.len() {
            match connection.stream.write(&request[written..]) {
                Ok(0) => return Err(self.gone()),
                Ok(n) => written += n,
                Err(e) => match e.kind() {
                    ErrorKind::Interrupted => {}
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => self.check_alive()?,
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::NotConnected => {
                        return Err(self.gone());
                    }
                    _ => return Err(Error::os("write (a request to the Manager's server)")(e)),
                },
            }
        }
        Ok(())
    }

    /// Reads until a whole reply frame has arrived; returns its body's range.
    fn receive(&self, connection: &mut Connection) -> Result<std::ops::Range<usize>> {
        spin_for_reply(&connection.stream);
        loop {
            // Only one request is ever outstanding, so this is its reply.
            if let Some(body) = connection.replies.next_frame()? {
                return Ok(body);
            }
            match connection.stream.read(connection.replies.spare()) {
                // The end of the stream: the server is gone (it closed nothing else early).
                Ok(0) => return Err(self.gone()),
                Ok(n) => connection.replies.filled(n),
                Err(e) => match e.kind() {
                    ErrorKind::Interrupted => {}
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => self.check_alive()?,
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => return Err(self.gone()),
                    _ => return Err(Error::os("read (a reply from the Manager's server)")(e)),
                },
            }
        }
    }

    fn check_alive(&self) -> Result<()> {
        if self.server.is_running() { Ok(()) } else { Err(self.gone()) }
    }

    fn gone(&self) -> Error {
        Error::ManagerGone { pid: self.server.pid as u32 }
    }
}

/// Polls `stream` without sleeping until something can be read (or it hung up, or failed: the
/// read that follows reports it), for at most [`SPIN`].
fn spin_for_reply(stream: &UnixStream) {
    if !crate::spin::pays() {
        return;
    }
    let started = Instant::now();
    while started.elapsed() < SPIN {
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => std::hint::spin_loop(),
            _ => return,
        }
    }
}

/// A request buffer's capacity: past `wire`'s ample room, so that a value up to some 64 KiB is
/// encoded in one pass.
fn wire_room() -> usize {
    128 << 10
}

impl Connection {
    fn connect(link: &Link) -> Result<Connection> {
        let stream = match UnixStream::connect(&link.socket) {
            Ok(stream) => stream,
            // No socket file (the server removed it, or its directory is gone), or nobody
            // listening behind it: the server has ended.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                return Err(link.gone());
            }
            Err(e) => return Err(Error::os("connect (to the Manager's socket)")(e)),
        };
        // The slices in which `send` and `receive` wait before they look at the server's pid.
        let timeouts = Error::os("setsockopt (timeouts of the Manager's socket)");
        stream
            .set_read_timeout(Some(SLICE))
            .and_then(|()| stream.set_write_timeout(Some(SLICE)))
            .map_err(timeouts)?;
        Ok(Connection { stream, request: Vec::with_capacity(wire_room()), replies: FrameBuffer::new() })
    }
}

/// Reads the status of a reply that has no "missing" case: anything but `OK` is a protocol
/// error.
pub(super) fn expect_ok(reply: &Reply<'_>) -> Result<()> {
    if reply.status == OK {
        Ok(())
    } else {
        Err(Error::ManagerRefused(format!("unexpected reply status {}", reply.status)))
    }
}

/// Maps a field-reading failure of a reply to the error a proxy returns.
pub(super) fn bad_reply(why: String) -> Error {
    Error::ManagerRefused(format!("a reply the proxy cannot read: {why}"))
}
