//! `Manager`: a server process that owns shared objects; other processes hold proxies.
//!
//! # What it is
//!
//! Python's `multiprocessing.Manager()` starts a process, the *server*, that holds ordinary
//! objects (a dict, a list, a namespace). The other processes never touch those objects: they
//! hold *proxies*, and every operation on a proxy (`d[key] = value`, `l.append(x)`, `ns.value`)
//! is a request sent to the server, which does it and sends back the answer. Nothing is in shared
//! memory; what is shared is the server. This crate does the same:
//!
//! ```text
//!   Process-2 ──DictProxy──┐    one request, one reply,      ┌──────── SyncManager-1 ───────┐
//!   Process-3 ──DictProxy──┼──  on the process's own  ──────▶│ objects: {id 1: dict, 2: list}│
//!   MainProcess ─ListProxy─┘    Unix socket connection       │ one thread, one poll() loop   │
//!                                                            └───────────────────────────────┘
//! ```
//!
//! The price is a round trip per operation: two context switches, some microseconds (on a
//! two-core VM, about 12 us per request, where a bare socketpair round trip takes 9 us and
//! CPython's manager 25 us), against a few nanoseconds for an [`Event`](crate::Event) or a value
//! in shared memory. The gain is
//! that the objects are ordinary growable ones of any `serde` type, and that a process killed in
//! the middle of an operation cannot leave them half-changed: only the server changes them, one
//! whole request at a time.
//!
//! # How it is built (read in this order)
//!
//! - This file: [`Manager::new`] makes a directory only this user can enter, forks the server
//!   with [`Process`] (so it is a child like any other, named `SyncManager-1` as in CPython and
//!   counted by `active_children()`), and waits until the server listens on a Unix socket in that
//!   directory. It shuts the server down when its last handle in that process is dropped, and at
//!   exit.
//! - `proxy.rs`: [`DictProxy`], [`ListProxy`], [`Namespace`]: typed handles, one request per
//!   method.
//! - `client.rs`: each thread of each process has its own connection to the server, and how a
//!   request is written and its reply read (one `write`, one `read`).
//! - `protocol.rs`: what the bytes of a request and a reply are.
//! - `server.rs`: the server's loop, and how it stores values it does not know the types of
//!   (their encoded bytes; two keys are equal when their bytes are).
//! - `repr.rs`: printing a proxy as Python prints the object.
//!
//! # Who can reach the server
//!
//! Only processes of this user. The socket lives in a fresh directory made by `mkdtemp(3)`, mode
//! 0700, under `$TMPDIR` (or `/tmp`): the kernel lets nobody else search that directory, so nobody
//! else can `connect` to a socket in it. The address is never an abstract socket (which any
//! process of the machine could reach) or a TCP port. CPython instead listens with a random
//! authentication key; the directory makes the key unnecessary here.
//!
//! # Why `Process`, and why a socket with a name
//!
//! The server is a fork of the process that calls `Manager::new`, started with the crate's own
//! [`Process`]: it gets the fork hooks, the exit steps and the name every child gets, it is
//! joined at exit like any other child, and a daemonic process cannot make one (as in CPython).
//! After the fork the `Process` handle is dropped; the process table keeps its record and reaps it.
//!
//! Processes forked *later* must reach the server too, each with a connection of its own (two
//! processes writing requests into one stream would mix them). A socketpair made before the
//! fork would be shared by every later child, so each process connects by name instead, the
//! first time it uses a proxy. The server makes its listening socket itself, after the fork: if
//! the parent made it, every process forked from then on would hold a copy, and connections to a
//! dead server would still be accepted by the kernel and never answered.
//!
//! # When the server ends
//!
//! - [`Manager::shutdown`], or dropping the last handle of the [`Manager`] in the process that
//!   made it: a `Shutdown` request, then up to a second for the server to leave, then `SIGKILL`.
//!   The socket and its directory are removed. (A handle moved into a child's closure is dropped
//!   in the parent by `start`: give children clones, or only the proxies.)
//! - At exit, CPython's order: after the queues are flushed and before the children are joined.
//!   So join the children that use proxies before `main` ends, as in Python.
//! - When the process that made it dies (even by `SIGKILL`), within 100 ms: the server notices it
//!   has been reparented and leaves, removing its socket and directory.
//!
//! Then every proxy's next request (or one already waiting for its reply) fails at once with
//! [`Error::ManagerGone`]: the server's ends of the connections are closed by the kernel when it
//! dies, and a client reading a closed connection learns it at once. A client that dies in the
//! middle of a request costs the server one connection and its half request, nothing else (a
//! request that had reached the server whole is still carried out, as a letter posted before its
//! sender died is still delivered).
//!
//! # Differences from CPython
//!
//! - The objects live as long as the manager: CPython counts the proxies of each object across
//!   processes and frees it when the last one goes. Make the objects you need, not one per loop
//!   turn.
//! - `Manager().Lock()`, `.Event()`, `.Queue()`... are not here: the crate's [`Lock`](crate::Lock),
//!   [`Event`](crate::Event) and [`Queue`](crate::Queue) already work across processes, faster.
//! - A proxy cannot be sent through a queue or pipe; capture it in the process's closure.
//! - The server is a fork, so it holds a copy of every file descriptor its parent had at that
//!   instant (an end of a pipe, say) until it ends, as under CPython's fork start method. Make the
//!   `Manager` before the pipes whose end of file you wait for.

mod client;
mod protocol;
mod proxy;
mod repr;
mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use linkme::distributed_slice;
use log::debug;
use nix::unistd::getpid;

use crate::error::{Error, Result};
use crate::lifecycle::{self, ExitStep, ForkHooks, ProcessIdentity, lock};
use crate::pipe::pipe;
use crate::process::Process;

use client::{Link, expect_ok};
use protocol::Op;

pub use proxy::{DictProxy, ListProxy, Namespace};

/// How long a server has to leave after a `Shutdown` request before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How long `Manager::new` waits for the server to listen.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A server process holding shared objects: the dicts, lists and namespaces it makes are
/// reachable from every process through their proxies.
///
/// Equivalent to Python's `multiprocessing.Manager()` (a `SyncManager`). Make it before the
/// processes that use its objects, give each process a clone of the proxies it needs, and join
/// those processes before the manager is dropped.
///
/// The server runs until the process that made the manager drops its last handle (a clone is
/// another handle to the same server), calls [`shutdown`](Manager::shutdown), or exits. A handle
/// *moved* into a child's closure leaves the parent (`start` drops the parent's copy of what the
/// closure captured): give the child a clone, and keep one.
///
/// ```rust,no_run
/// use multiprocessing::{Manager, Process};
///
/// let manager = Manager::new()?;
/// let d = manager.dict::<i32, i32>()?;
/// let mut jobs: Vec<Process> = (0..10)
///     .map(|i| {
///         let d = d.clone();
///         Process::new(move || d.set(&i, &(i * 2)))
///     })
///     .collect();
/// for j in &mut jobs {
///     j.start()?;
/// }
/// for j in &mut jobs {
///     j.join()?;
/// }
/// println!("Results: {d}"); // Results: {0: 0, 2: 4, 1: 2, ...}, in the order the keys arrived
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct Manager {
    /// Shared by the clones of this handle; the last one dropped in the process that made the
    /// manager stops the server.
    inner: Arc<Owner>,
}

struct Owner {
    link: Arc<Link>,
    /// The process that made the manager: only there do `shutdown` and `drop` stop the server.
    owner: ProcessIdentity,
    name: String,
}

impl Manager {
    /// Starts the server process and waits until it listens.
    ///
    /// Equivalent to Python's `multiprocessing.Manager()`.
    ///
    /// # Errors
    ///
    /// What [`Process::start`] returns (a daemonic process cannot start one); [`Error::Io`] when
    /// the directory or socket cannot be made; [`Error::ManagerGone`] if the server ended before
    /// it listened.
    pub fn new() -> Result<Manager> {
        let directory = make_private_directory()?;
        let socket = directory.join("listener");
        let started = start_server(&directory, &socket);
        if started.is_err() {
            let _ = std::fs::remove_dir(&directory);
        }
        let (server, name) = started?;
        let link = Arc::new(Link { socket, server });
        Ok(Manager { inner: Arc::new(Owner { link, owner: ProcessIdentity::current(), name }) })
    }

    /// Makes a dict on the server and returns a proxy to it.
    ///
    /// Equivalent to Python's `manager.dict()`. The types are the proxy's: every copy of it reads
    /// and writes `K` keys and `V` values.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>>
    where
        K: serde::Serialize + serde::de::DeserializeOwned,
        V: serde::Serialize + serde::de::DeserializeOwned,
    {
        Ok(DictProxy::new(Arc::clone(&self.inner.link), self.make(Op::NewDict)?))
    }

    /// Makes a list on the server and returns a proxy to it.
    ///
    /// Equivalent to Python's `manager.list()`.
    pub fn list<T>(&self) -> Result<ListProxy<T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        Ok(ListProxy::new(Arc::clone(&self.inner.link), self.make(Op::NewList)?))
    }

    /// Makes a namespace (an object with named attributes) on the server and returns a proxy to
    /// it.
    ///
    /// Equivalent to Python's `manager.Namespace()`.
    pub fn namespace(&self) -> Result<Namespace> {
        // On the server a namespace is a dict whose keys are the attribute names.
        Ok(Namespace::new(Arc::clone(&self.inner.link), self.make(Op::NewDict)?))
    }

    fn make(&self, op: Op) -> Result<u32> {
        self.inner.link.call(
            op,
            0,
            |_| Ok(()),
            |mut reply| {
                expect_ok(&reply)?;
                let id = reply.fields.u64().map_err(client::bad_reply)?;
                u32::try_from(id).map_err(|_| client::bad_reply(format!("object id {id}")))
            },
        )
    }

    /// The server process's pid.
    pub fn pid(&self) -> u32 {
        self.inner.link.server.pid as u32
    }

    /// The path of the server's socket. Equivalent to Python's `manager.address`.
    pub fn address(&self) -> &Path {
        &self.inner.link.socket
    }

    /// Stops the server: a `Shutdown` request, then up to a second for it to leave, then
    /// `SIGKILL`. Every proxy of it fails with [`Error::ManagerGone`] from then on. Calling it
    /// again does nothing.
    ///
    /// Equivalent to Python's `manager.shutdown()`. Dropping the manager does it too.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] in a process other than the one that made the manager (a copy
    /// captured by a child): only its owner may stop it.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.shutdown()
    }
}

impl Owner {
    fn shutdown(&self) -> Result<()> {
        if !self.owner.is_this_process() {
            return Err(Error::InvalidState(
                "shutdown(): only the process that made the Manager can shut it down",
            ));
        }
        let served = {
            let mut servers = lock(&SERVERS);
            let position = servers.iter().position(|s| s.server.pid == self.link.server.pid);
            position.map(|p| servers.swap_remove(p))
        };
        if let Some(served) = served {
            stop(&served);
        }
        self.link.forget_connection();
        Ok(())
    }
}

impl Drop for Owner {
    /// In the process that made the manager, once its last handle there is dropped: stops the
    /// server ([`Manager::shutdown`]). Handles dropped in other processes (captured by a child's
    /// closure) leave it running.
    fn drop(&mut self) {
        if self.owner.is_this_process() {
            let _ = self.shutdown();
        }
    }
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Owner { link, name, .. } = &*self.inner;
        write!(f, "<Manager {name} pid={} address={:?}>", link.server.pid, link.socket)
    }
}

/// A server this process started and has not stopped yet: what the exit step stops.
#[derive(Clone)]
struct Served {
    server: ProcessIdentity,
    socket: PathBuf,
    directory: PathBuf,
}

/// This process's servers. Taken by the fork hooks below so that a child, which starts with an
/// empty list, never finds it locked.
static SERVERS: Mutex<Vec<Served>> = Mutex::new(Vec::new());

/// Forks the server, registers it, and waits until it listens. Returns who it is, and its name.
fn start_server(directory: &Path, socket: &Path) -> Result<(ProcessIdentity, String)> {
    let (mut ready, ready_in_server) = pipe::<std::result::Result<(i32, u64), String>>(false)?;
    let parent = getpid().as_raw();
    let (server_socket, server_directory) = (socket.to_path_buf(), directory.to_path_buf());
    let process =
        Process::new(move || server::run(&server_socket, &server_directory, parent, ready_in_server));
    // CPython names it after its class and the identity it took from the counter: `SyncManager-1`.
    let name = process.name().replacen("Process", "SyncManager", 1);
    let mut process = process.with_name(name.clone());
    process.start()?;
    let pid = process.pid().ok_or(Error::InvalidState("Manager(): the server has no pid"))? as i32;
    // The process table keeps the child's record, and reaps it once it has ended.
    drop(process);
    // Registered at once, so that an exit while this waits still stops it. Until the server
    // says when it started, only its pid is known (and it is this process's unreaped child, so
    // the pid is its own).
    let mut served = Served {
        server: ProcessIdentity { pid, start: 0 },
        socket: socket.to_path_buf(),
        directory: directory.to_path_buf(),
    };
    lock(&SERVERS).push(served.clone());
    // The server says who it is once it listens, or why it cannot. A server that dies first
    // closes its end (the parent's copy went with the closure), or is seen dead between polls.
    let started = Instant::now();
    let outcome = loop {
        if ready.poll(Duration::from_millis(100))? {
            break match ready.recv() {
                Ok(Ok((pid, start))) => Ok(ProcessIdentity { pid, start }),
                Ok(Err(why)) => Err(Error::os("bind (the Manager's socket)")(std::io::Error::other(why))),
                Err(_) => Err(Error::ManagerGone { pid: pid as u32 }),
            };
        }
        if !served.server.is_running() {
            break Err(Error::ManagerGone { pid: pid as u32 });
        }
        if started.elapsed() > START_LIMIT {
            break Err(Error::InvalidState("Manager(): the server did not start listening within 30 s"));
        }
    };
    let mut servers = lock(&SERVERS);
    let entry = servers.iter().position(|s| s.server.pid == pid);
    match outcome {
        Ok(server) => {
            if let Some(entry) = entry {
                servers[entry].server = server;
            }
            Ok((server, name))
        }
        Err(e) => {
            if let Some(entry) = entry {
                served = servers.swap_remove(entry);
            }
            drop(servers);
            stop(&served);
            Err(e)
        }
    }
}

/// Makes `$TMPDIR/mp-manager-XXXXXX` (or under `/tmp` when that path would be too long for a
/// socket's address), mode 0700.
fn make_private_directory() -> Result<PathBuf> {
    // A socket's path has at most 107 bytes (`sun_path`): the directory, `/listener`, and room.
    let mut base = std::env::temp_dir();
    if base.as_os_str().len() > 60 {
        base = PathBuf::from("/tmp");
    }
    // `mkdtemp` makes the directory with mode 0700, whatever the umask, and fails rather than
    // reuse an existing one.
    nix::unistd::mkdtemp(&base.join("mp-manager-XXXXXX"))
        .map_err(Error::os("mkdtemp (the Manager's socket directory)"))
}

/// Stops a server: the `Shutdown` request, up to [`SHUTDOWN_GRACE`] for it to leave, then
/// `SIGKILL`; then removes its socket and directory.
fn stop(served: &Served) {
    debug!("sending shutdown message to manager");
    let link = Link { socket: served.socket.clone(), server: served.server };
    // A new connection: `connect` and a small `write` complete without the server's help, so a
    // stopped server cannot make this wait.
    let asked = link.send_only(Op::Shutdown).is_ok();
    let ended = asked && wait_until_ended(served.server, SHUTDOWN_GRACE);
    if !ended && served.server.is_running() {
        debug!("manager still alive: killing it");
        // Checked just above to be the same process (its pid and start time), so the signal
        // cannot reach a later process given the pid.
        let _ =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(served.server.pid), nix::sys::signal::SIGKILL);
        wait_until_ended(served.server, Duration::from_secs(10));
    }
    let _ = std::fs::remove_file(&served.socket);
    let _ = std::fs::remove_dir(&served.directory);
}

/// Waits until `server` is no longer a running process (ended, or a zombie), at most `limit`.
fn wait_until_ended(server: ProcessIdentity, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_micros(50);
    while server.is_running() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
    true
}

/// At exit: stop the servers this process made and still runs. Priority 5: after the queues are
/// flushed (10), before the children are joined (0), as CPython's manager finalizer runs.
#[distributed_slice(lifecycle::EXIT_STEPS)]
static EXIT_MANAGERS: ExitStep = ExitStep { priority: 5, run: stop_all };

fn stop_all() {
    let servers = std::mem::take(&mut *lock(&SERVERS));
    for served in &servers {
        stop(served);
    }
}

/// The fork hooks of the list of servers: a child starts with none (the servers are its
/// parent's to stop).
#[distributed_slice(lifecycle::FORK_HOOKS)]
static FORK_HOOKS: ForkHooks = ForkHooks {
    order: 50,
    prepare: || Box::new(lock(&SERVERS)),
    parent: |guard, _child| drop(guard),
    child: |guard| {
        if let Ok(mut servers) = guard.downcast::<MutexGuard<'static, Vec<Served>>>() {
            servers.clear();
        }
    },
    child_unlocked: || {},
};
