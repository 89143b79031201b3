//! The server: one process, one thread, every client's connection in one `poll(2)` loop.
//!
//! # Why one thread and `poll`
//!
//! CPython's server starts a thread per connection. Here one thread waits on all the
//! connections at once with `poll(2)` and answers whichever has a whole request. The objects are
//! then plain data owned by that one thread: no lock guards them, so none can be left held by a
//! client that dies, and the server never starts a thread (the server is a forked child, where
//! starting threads has its own hazards; see `lifecycle.rs`).
//!
//! Every socket is non-blocking, and each connection has its own buffer of bytes read so far
//! (`protocol::FrameBuffer`). So a client that stops in the middle of a request (killed, or
//! stopped) leaves half a frame in *its* buffer and delays nobody: the others are answered on the
//! next turn of the loop. When a client dies the kernel closes its end, the server reads the end of
//! the stream, and drops that connection with its half request. A request whose header is not
//! a frame's (garbage) closes its connection; a frame whose body makes no sense is answered with
//! an error. A reply that cannot be written at once waits in the connection's outgoing buffer,
//! and the server stops reading that connection until it has gone out, so a client that sends
//! without reading cannot make the server hold more than about a megabyte for it.
//!
//! # What the server stores
//!
//! Bytes. A key or a value arrives encoded (bincode) and is stored as it came; the server never
//! knows its type. Two keys are the same key when their bytes are the same. For the types a
//! student uses as keys (integers, strings, chars, bools, and tuples, `Vec`s, `Option`s and
//! structs or enums of those) equal values encode to equal bytes and different values to
//! different bytes, so this is the same as comparing the values. It differs where `==` is not
//! about the bytes: a float `0.0` and `-0.0` are equal but are two keys here, and `NaN`, never
//! equal to itself, is one key here; a `HashMap` as a key encodes its entries in an order that can
//! differ between two equal maps, so equal maps can be different keys (use a `BTreeMap`).
//!
//! A dict keeps its keys in insertion order, as Python's does: each new key gets the next
//! number of a counter, and the entries are kept by that number (a `BTreeMap`); a `HashMap` finds a
//! key's number. Setting an existing key keeps its place; removing it and setting it again puts
//! it last.
//!
//! # The end
//!
//! The server ends on a `Shutdown` request (the `Manager`'s owner sends it when it drops the
//! manager or exits), on SIGTERM (`terminate()`), or when the process that made it is gone (it
//! looks at its parent's pid at least every 100 ms): nobody could shut it down then. It removes
//! its socket and directory as it leaves. Only a SIGKILL of both the server and its owner leaves
//! the directory behind (in `$TMPDIR`, as CPython leaves its `pymp-*` directories).

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info};

use crate::error::{Error, Result};
use crate::lifecycle::ProcessIdentity;
use crate::pipe::Connection;

use super::protocol::{Fields, FrameBuffer, FrameWriter, MISSING, OK, OUT_OF_RANGE, Op};

/// How long one `poll` waits at most: how soon the server notices that its parent is gone.
const SLICE: Duration = Duration::from_millis(100);
const SLICE_MS: i32 = SLICE.as_millis() as i32;

/// How long the server keeps polling without sleeping after its last request: a client's next
/// request usually follows within microseconds, and a server asleep in `poll` is woken through
/// the kernel and, on a VM, the hypervisor, tens of microseconds later (see `client.rs`). The
/// price: a client that sends a request every 100 us or so keeps the server busy about half the
/// time (6% without the spin); an idle client costs nothing.
const SPIN: Duration = Duration::from_micros(50);

/// Replies waiting to be written past this size: the server stops answering that client (and
/// reading from it) until they have gone out.
const REPLY_BACKLOG: usize = 1 << 20;

/// The server process's whole life, from the `Manager::new` fork to the exit.
///
/// `ready` tells the process that made the manager that the socket is listening, and who the
/// server is (pid and start time), or why it cannot listen.
pub(super) fn run(
    socket: &Path,
    directory: &Path,
    parent: i32,
    mut ready: Connection<std::result::Result<(i32, u64), String>>,
) -> Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction, signal};
    // As CPython's server does: Ctrl-C in the terminal reaches the whole process group, and the
    // manager must outlive it so that its owner can still shut it down in order. A closed client
    // is an `EPIPE` error on write, not a signal that kills the server.
    for ignored in [Signal::SIGINT, Signal::SIGPIPE] {
        // SAFETY: `SigIgn` installs no handler function, so nothing can run at signal time.
        let _ = unsafe { signal(ignored, SigHandler::SigIgn) };
    }
    // `terminate()` (SIGTERM) ends the loop rather than the process, so that the socket and its
    // directory are removed on the way out. Without SA_RESTART, the signal interrupts `poll`.
    let on_terminate = SigAction::new(SigHandler::Handler(note_terminate), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    let _ = unsafe { sigaction(Signal::SIGTERM, &on_terminate) };
    let listener = match UnixListener::bind(socket).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = ready.send(&Err(format!("cannot listen at {}: {e}", socket.display())));
            return Ok(());
        }
    };
    info!("manager serving at '{}'", socket.display());
    let me = ProcessIdentity::current();
    ready.send(&Ok((me.pid, me.start)))?;
    drop(ready);
    let outcome = serve(&listener, parent);
    let _ = std::fs::remove_file(socket);
    let _ = std::fs::remove_dir(directory);
    outcome
}

/// Set by SIGTERM: the loop ends at its next turn.
static TERMINATED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_terminate(_: libc::c_int) {
    TERMINATED.store(true, Ordering::SeqCst);
}

/// One client's connection.
struct Client {
    stream: UnixStream,
    requests: FrameBuffer,
    replies: Vec<u8>,
    /// How much of `replies` has been written.
    written: usize,
    closed: bool,
}

/// What answering a client's requests came to.
#[derive(PartialEq)]
enum Answered {
    /// Every whole request was answered.
    All,
    /// Replies are piling up: the rest waits until they have been written.
    Backlog,
    /// A `Shutdown` request.
    Shutdown,
}

fn serve(listener: &UnixListener, parent: i32) -> Result<()> {
    let mut clients: Vec<Client> = Vec::new();
    let mut store = Store::default();
    // Reused at every turn: the loop allocates nothing of its own.
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut last_look = Instant::now();
    let mut last_request = Instant::now();
    let spin = if crate::spin::pays() { SPIN } else { Duration::ZERO };
    loop {
        fds.clear();
        fds.push(libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        for client in &clients {
            // A client with replies still to write is only written to, until they are out.
            let events = if client.written < client.replies.len() { libc::POLLOUT } else { libc::POLLIN };
            fds.push(libc::pollfd { fd: client.stream.as_raw_fd(), events, revents: 0 });
        }
        // Without sleeping for a while after a request (SPIN), then in slices.
        let timeout = if last_request.elapsed() < spin { 0 } else { SLICE_MS };
        // SAFETY: `fds` is an array of `fds.len()` initialised `pollfd`s that lives across the
        // call, and every descriptor in it is open (owned by `listener` and `clients`).
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if TERMINATED.load(Ordering::SeqCst) {
            debug!("manager terminated by SIGTERM");
            return Ok(());
        }
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::os("poll (the Manager's server loop)")(error));
        }
        if ready > 0 {
            last_request = Instant::now();
        } else if timeout == 0 {
            std::hint::spin_loop();
        }
        // Reparented (to init, or a subreaper): the process that made the manager is gone.
        // Looked at once per slice, not at every request: a busy server never sleeps a slice.
        if last_look.elapsed() >= SLICE {
            last_look = Instant::now();
            if nix::unistd::getppid().as_raw() != parent {
                debug!("the process that made the manager is gone: manager shutting down");
                return Ok(());
            }
        }
        for (client, fd) in clients.iter_mut().zip(&fds[1..]) {
            if fd.revents != 0 && client.serve(&mut store) == Answered::Shutdown {
                debug!("manager received shutdown message");
                return Ok(());
            }
        }
        if fds[0].revents != 0 && accept_all(listener, &mut clients, &mut store) == Answered::Shutdown {
            debug!("manager received shutdown message");
            return Ok(());
        }
        clients.retain(|client| !client.closed);
    }
}

/// Takes every connection waiting on the listening socket. A client writes its first request
/// right after it connects, so each new connection is served at once: its request is usually
/// there already, and waiting for the next `poll` would cost a turn of the loop.
fn accept_all(listener: &UnixListener, clients: &mut Vec<Client>, store: &mut Store) -> Answered {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                let mut client = Client {
                    stream,
                    requests: FrameBuffer::new(),
                    replies: Vec::new(),
                    written: 0,
                    closed: false,
                };
                if client.serve(store) == Answered::Shutdown {
                    return Answered::Shutdown;
                }
                clients.push(client);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Answered::All,
            Err(_) => {
                // Out of descriptors or memory: the connection stays queued. Pause, so that
                // `poll` (which keeps reporting it) does not spin, and serve the others meanwhile.
                std::thread::sleep(Duration::from_millis(10));
                return Answered::All;
            }
        }
    }
}

impl Client {
    /// Reads what the client sent, answers every whole request, and writes the replies, as far
    /// as can be done without waiting.
    fn serve(&mut self, store: &mut Store) -> Answered {
        if self.written < self.replies.len() {
            self.flush();
        } else {
            match self.stream.read(self.requests.spare()) {
                // The client closed its end (or died): a half request dies with it.
                Ok(0) => self.closed = true,
                Ok(n) => self.requests.filled(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => self.closed = true,
            }
        }
        while !self.closed && self.written == self.replies.len() {
            let answered = self.answer(store);
            if answered == Answered::Shutdown {
                return answered;
            }
            self.flush();
            if answered == Answered::All {
                break;
            }
        }
        Answered::All
    }

    /// Answers the whole requests in the buffer, up to [`REPLY_BACKLOG`] bytes of replies.
    fn answer(&mut self, store: &mut Store) -> Answered {
        while self.replies.len() < REPLY_BACKLOG {
            let body = match self.requests.next_frame() {
                Ok(Some(body)) => body,
                Ok(None) => return Answered::All,
                Err(_) => {
                    // Not a frame: nothing after it can be found either.
                    self.closed = true;
                    return Answered::All;
                }
            };
            let mut fields = Fields::new(self.requests.body(body));
            match store.handle(&mut fields, &mut self.replies) {
                Ok(Control::Continue) => {}
                Ok(Control::Shutdown) => return Answered::Shutdown,
                Err(why) => {
                    let mut reply = FrameWriter::reply(&mut self.replies, super::protocol::REFUSED);
                    reply.raw(why.as_bytes());
                    let _ = reply.finish();
                }
            }
        }
        Answered::Backlog
    }

    /// Writes what it can of the replies without waiting.
    fn flush(&mut self) {
        while self.written < self.replies.len() {
            match self.stream.write(&self.replies[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    // Gone (EPIPE, ECONNRESET): it will ask nothing more.
                    self.closed = true;
                    return;
                }
            }
        }
        self.replies.clear();
        self.written = 0;
        if self.replies.capacity() > REPLY_BACKLOG {
            self.replies = Vec::new();
        }
    }
}

/// What the loop does after a request.
enum Control {
    Continue,
    Shutdown,
}

/// Every object of the manager, by id (its index plus one).
#[derive(Default)]
struct Store {
    objects: Vec<Object>,
}

enum Object {
    /// A dict, or a namespace (whose keys are attribute names).
    Dict(Dict),
    List(Vec<Vec<u8>>),
}

/// A dict of encoded keys and values that remembers insertion order.
#[derive(Default)]
struct Dict {
    /// Each key's place in `entries`.
    places: HashMap<Vec<u8>, u64>,
    /// Key and value by place: iterating gives insertion order.
    entries: BTreeMap<u64, (Vec<u8>, Vec<u8>)>,
    /// The place of the next new key.
    next_place: u64,
}

impl Dict {
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let place = self.places.get(key)?;
        self.entries.get(place).map(|(_, value)| value.as_slice())
    }

    fn set(&mut self, key: &[u8], value: &[u8]) {
        if let Some(place) = self.places.get(key) {
            if let Some(entry) = self.entries.get_mut(place) {
                entry.1.clear();
                entry.1.extend_from_slice(value);
                return;
            }
        }
        let place = self.next_place;
        self.next_place += 1;
        self.places.insert(key.to_vec(), place);
        self.entries.insert(place, (key.to_vec(), value.to_vec()));
    }

    fn remove(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let place = self.places.remove(key)?;
        self.entries.remove(&place).map(|(_, value)| value)
    }

    fn clear(&mut self) {
        self.places.clear();
        self.entries.clear();
    }
}

/// A reply with status `OK` and nothing else.
fn done(replies: &mut Vec<u8>) -> std::result::Result<Control, String> {
    finish(FrameWriter::reply(replies, OK))
}

fn finish(reply: FrameWriter<'_>) -> std::result::Result<Control, String> {
    reply.finish().map_err(|e| e.to_string())?;
    Ok(Control::Continue)
}

impl Store {
    /// Carries out one request and appends its reply to `replies`. An `Err` is a request that
    /// makes no sense (the caller answers it with the reason); nothing was changed or written.
    fn handle(
        &mut self,
        fields: &mut Fields<'_>,
        replies: &mut Vec<u8>,
    ) -> std::result::Result<Control, String> {
        let byte = fields.byte()?;
        let op = Op::from_byte(byte).ok_or_else(|| format!("unknown operation {byte}"))?;
        let id = fields.u32()?;
        match op {
            Op::NewDict | Op::NewList => {
                fields.end()?;
                let id = u32::try_from(self.objects.len() + 1).map_err(|_| "too many objects".to_string())?;
                self.objects.push(if op == Op::NewDict {
                    Object::Dict(Dict::default())
                } else {
                    Object::List(Vec::new())
                });
                let mut reply = FrameWriter::reply(replies, OK);
                reply.u64(id.into());
                finish(reply)
            }
            Op::Shutdown => Ok(Control::Shutdown),
            Op::DictGet | Op::DictRemove | Op::DictContains => {
                let key = fields.frame()?;
                fields.end()?;
                let dict = self.dict(id)?;
                let mut reply;
                match op {
                    Op::DictGet => match dict.get(key) {
                        Some(value) => {
                            reply = FrameWriter::reply(replies, OK);
                            reply.body(value);
                        }
                        None => reply = FrameWriter::reply(replies, MISSING),
                    },
                    Op::DictRemove => match dict.remove(key) {
                        Some(value) => {
                            reply = FrameWriter::reply(replies, OK);
                            reply.body(&value);
                        }
                        None => reply = FrameWriter::reply(replies, MISSING),
                    },
                    _ => {
                        reply = FrameWriter::reply(replies, OK);
                        reply.byte(dict.places.contains_key(key).into());
                    }
                }
                finish(reply)
            }
            Op::DictSet => {
                let key = fields.frame()?;
                let value = fields.frame()?;
                fields.end()?;
                self.dict(id)?.set(key, value);
                done(replies)
            }
            Op::DictLen | Op::DictKeys | Op::DictValues | Op::DictItems | Op::DictClear => {
                fields.end()?;
                let dict = self.dict(id)?;
                let mut reply = FrameWriter::reply(replies, OK);
                match op {
                    Op::DictLen => reply.u64(dict.entries.len() as u64),
                    Op::DictClear => dict.clear(),
                    _ => {
                        for (key, value) in dict.entries.values() {
                            if op != Op::DictValues {
                                reply.body(key);
                            }
                            if op != Op::DictKeys {
                                reply.body(value);
                            }
                        }
                    }
                }
                finish(reply)
            }
            Op::ListAppend | Op::ListExtend => {
                // Every frame is checked before any is added: a bad request changes nothing.
                let all = fields.rest();
                let mut check = Fields::new(all);
                let mut count = 0;
                while !check.is_empty() {
                    check.frame()?;
                    count += 1;
                }
                if op == Op::ListAppend && count != 1 {
                    return Err(format!("append takes one value, not {count}"));
                }
                let list = self.list(id)?;
                let mut values = Fields::new(all);
                while !values.is_empty() {
                    list.push(values.frame()?.to_vec());
                }
                done(replies)
            }
            Op::ListGet | Op::ListSet | Op::ListInsert => {
                let index = fields.u64()?;
                let value = if op == Op::ListGet { None } else { Some(fields.frame()?) };
                fields.end()?;
                let list = self.list(id)?;
                let len = list.len();
                let index = usize::try_from(index).unwrap_or(usize::MAX);
                let mut reply;
                match (op, value) {
                    (Op::ListInsert, Some(value)) => {
                        list.insert(index.min(len), value.to_vec());
                        reply = FrameWriter::reply(replies, OK);
                    }
                    _ if index >= len => {
                        reply = FrameWriter::reply(replies, OUT_OF_RANGE);
                        reply.u64(len as u64);
                    }
                    (_, Some(value)) => {
                        list[index].clear();
                        list[index].extend_from_slice(value);
                        reply = FrameWriter::reply(replies, OK);
                    }
                    (_, None) => {
                        reply = FrameWriter::reply(replies, OK);
                        reply.body(&list[index]);
                    }
                }
                finish(reply)
            }
            Op::ListRemove | Op::ListContains => {
                let value = fields.frame()?;
                fields.end()?;
                let list = self.list(id)?;
                let position = list.iter().position(|stored| stored == value);
                let mut reply;
                if op == Op::ListContains {
                    reply = FrameWriter::reply(replies, OK);
                    reply.byte(position.is_some().into());
                } else if let Some(position) = position {
                    list.remove(position);
                    reply = FrameWriter::reply(replies, OK);
                } else {
                    reply = FrameWriter::reply(replies, MISSING);
                }
                finish(reply)
            }
            Op::ListPop | Op::ListLen | Op::ListItems | Op::ListClear => {
                fields.end()?;
                let list = self.list(id)?;
                let mut reply;
                match op {
                    Op::ListPop => match list.pop() {
                        Some(value) => {
                            reply = FrameWriter::reply(replies, OK);
                            reply.body(&value);
                        }
                        None => reply = FrameWriter::reply(replies, MISSING),
                    },
                    Op::ListLen => {
                        reply = FrameWriter::reply(replies, OK);
                        reply.u64(list.len() as u64);
                    }
                    Op::ListClear => {
                        list.clear();
                        reply = FrameWriter::reply(replies, OK);
                    }
                    _ => {
                        reply = FrameWriter::reply(replies, OK);
                        for value in list.iter() {
                            reply.body(value);
                        }
                    }
                }
                finish(reply)
            }
        }
    }

    fn object(&mut self, id: u32) -> std::result::Result<&mut Object, String> {
        let index = (id as usize).checked_sub(1).ok_or("object 0 does not exist")?;
        self.objects.get_mut(index).ok_or_else(|| format!("object {id} does not exist"))
    }

    fn dict(&mut self, id: u32) -> std::result::Result<&mut Dict, String> {
        match self.object(id)? {
            Object::Dict(dict) => Ok(dict),
            Object::List(_) => Err(format!("object {id} is a list, not a dict")),
        }
    }

    fn list(&mut self, id: u32) -> std::result::Result<&mut Vec<Vec<u8>>, String> {
        match self.object(id)? {
            Object::List(list) => Ok(list),
            Object::Dict(_) => Err(format!("object {id} is a dict, not a list")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    /// Sends one request to a store, as the server would; returns the reply's status and fields.
    fn ask(store: &mut Store, op: Op, id: u32, build: impl FnOnce(&mut FrameWriter<'_>)) -> (u8, Vec<u8>) {
        let mut request = Vec::new();
        let mut frame = FrameWriter::request(&mut request, op, id);
        build(&mut frame);
        frame.finish().unwrap();
        let mut replies = Vec::new();
        let mut fields = Fields::new(&request[wire::HEADER_LEN..]);
        match store.handle(&mut fields, &mut replies) {
            Ok(_) => (replies[wire::HEADER_LEN], replies[wire::HEADER_LEN + 1..].to_vec()),
            Err(why) => (super::super::protocol::REFUSED, why.into_bytes()),
        }
    }

    fn frames(payload: &[u8]) -> Vec<String> {
        let mut fields = Fields::new(payload);
        let mut out = Vec::new();
        while !fields.is_empty() {
            out.push(wire::decode::<String>(fields.frame().unwrap()).unwrap());
        }
        out
    }

    #[test]
    fn a_dict_keeps_insertion_order_as_python_does() {
        let mut store = Store::default();
        let (status, id) = ask(&mut store, Op::NewDict, 0, |_| {});
        assert_eq!(status, OK);
        let id = u64::from_le_bytes(id.try_into().unwrap()) as u32;
        for key in ["b", "a", "c", "a"] {
            let (status, _) = ask(&mut store, Op::DictSet, id, |f| {
                f.value(key).unwrap();
                f.value(&format!("{key}!")).unwrap();
            });
            assert_eq!(status, OK);
        }
        ask(&mut store, Op::DictRemove, id, |f| f.value("b").unwrap());
        ask(&mut store, Op::DictSet, id, |f| {
            f.value("b").unwrap();
            f.value("again").unwrap();
        });
        let (_, payload) = ask(&mut store, Op::DictItems, id, |_| {});
        // Setting "a" again kept its place; "b" removed and set again went last.
        assert_eq!(frames(&payload), ["a", "a!", "c", "c!", "b", "again"]);
        let (status, _) = ask(&mut store, Op::DictGet, id, |f| f.value("zzz").unwrap());
        assert_eq!(status, MISSING);
    }

    #[test]
    fn requests_that_make_no_sense_are_refused_and_change_nothing() {
        let mut store = Store::default();
        ask(&mut store, Op::NewList, 0, |_| {});
        ask(&mut store, Op::NewDict, 0, |_| {});
        // A dict operation on the list, an object that does not exist, a missing argument.
        assert_eq!(ask(&mut store, Op::DictLen, 1, |_| {}).0, super::super::protocol::REFUSED);
        assert_eq!(ask(&mut store, Op::ListLen, 9, |_| {}).0, super::super::protocol::REFUSED);
        assert_eq!(ask(&mut store, Op::ListLen, 0, |_| {}).0, super::super::protocol::REFUSED);
        assert_eq!(ask(&mut store, Op::DictGet, 2, |_| {}).0, super::super::protocol::REFUSED);
        // An extend whose second frame is damaged adds nothing.
        let (status, _) = ask(&mut store, Op::ListExtend, 1, |f| {
            f.value("good").unwrap();
            f.raw(b"MQ\xff\xff\xff\x7f\0\0");
        });
        assert_eq!(status, super::super::protocol::REFUSED);
        let (_, len) = ask(&mut store, Op::ListLen, 1, |_| {});
        assert_eq!(len, 0u64.to_le_bytes());
        // An unknown operation byte.
        let mut request = vec![0; wire::HEADER_LEN];
        request.extend([99, 1, 0, 0, 0]);
        let mut replies = Vec::new();
        assert!(store.handle(&mut Fields::new(&request[wire::HEADER_LEN..]), &mut replies).is_err());
        assert!(replies.is_empty());
    }

    #[test]
    fn list_indexes_past_the_end_are_out_of_range_and_insert_appends() {
        let mut store = Store::default();
        ask(&mut store, Op::NewList, 0, |_| {});
        ask(&mut store, Op::ListAppend, 1, |f| f.value("x").unwrap());
        let (status, len) = ask(&mut store, Op::ListGet, 1, |f| f.u64(5));
        assert_eq!((status, len), (OUT_OF_RANGE, 1u64.to_le_bytes().to_vec()));
        assert_eq!(
            ask(&mut store, Op::ListSet, 1, |f| {
                f.u64(u64::MAX);
                f.value("y").unwrap();
            })
            .0,
            OUT_OF_RANGE
        );
        ask(&mut store, Op::ListInsert, 1, |f| {
            f.u64(u64::MAX);
            f.value("end").unwrap();
        });
        ask(&mut store, Op::ListInsert, 1, |f| {
            f.u64(0);
            f.value("start").unwrap();
        });
        let (_, payload) = ask(&mut store, Op::ListItems, 1, |_| {});
        assert_eq!(frames(&payload), ["start", "x", "end"]);
        assert_eq!(ask(&mut store, Op::ListRemove, 1, |f| f.value("nope").unwrap()).0, MISSING);
    }
}
