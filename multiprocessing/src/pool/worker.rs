//! A pool worker's whole life, in the forked child: CPython's `multiprocessing.pool.worker`.
//!
//! The worker reads tasks from its own pipe, one frame at a time, runs each, and writes one
//! reply per task to its result pipe, in the order the tasks came (the pool relies on that order
//! to know which task a worker held when it died). It ends:
//!
//! - after `maxtasksperchild` tasks (the pool knows the count too and sends no more);
//! - at a stop frame, or at the end of its task pipe;
//! - after a task panicked: it tells the pool, then lets the panic end the process (exit code 1,
//!   the panic printed on stderr as an uncaught exception is), because a panic can leave the
//!   worker's own state (what its initializer set up) half-changed;
//! - when the pool's process dies: the kernel kills it (`PR_SET_PDEATHSIG`), so no worker is
//!   left behind blocked on a pipe that other processes still hold open.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::Ordering;

use log::debug;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getppid};

use crate::error::{Error, Result};
use crate::pool::Initializer;
use crate::pool::driver::StartedTasks;
use crate::pool::frames::{self, Kind, Order};
use crate::shm::SharedMemory;
use crate::wire;

/// What a worker takes with it into the child.
pub(crate) struct Setup {
    /// The reading end of its task pipe.
    pub(crate) tasks: OwnedFd,
    /// The writing end of its result pipe.
    pub(crate) results: OwnedFd,
    /// Its count of tasks started, shared with the pool.
    pub(crate) started: Rc<SharedMemory<StartedTasks>>,
    /// The pool's key (see `frames.rs`).
    pub(crate) key: u64,
    pub(crate) maxtasks: Option<usize>,
    pub(crate) initializer: Option<Initializer>,
    /// The pool's process, to notice if it died before the worker asked to die with it.
    pub(crate) pool_pid: Pid,
}

/// The worker's body, run as the target of its `Process`. An `Err` is printed by the process
/// machinery as CPython prints an exception that ends a process, with exit code 1.
pub(crate) fn run(setup: Setup) -> std::result::Result<(), String> {
    // Die with the pool. The kernel sends the signal when the *thread* that forked this worker
    // ends; the pool forks only in the thread that owns it (a `Pool` cannot move to another
    // thread), and that thread ends with the pool or with the program.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if getppid() != setup.pool_pid {
        return Ok(()); // the pool died before the line above
    }
    let mut tasks = BufReader::with_capacity(64 << 10, File::from(setup.tasks));
    let mut results = File::from(setup.results);
    // Room enough that results are encoded straight into it, in one pass (see `wire.rs`).
    let mut reply = Vec::with_capacity(128 << 10);

    if let Some(initializer) = &setup.initializer {
        let failure = match panic::catch_unwind(AssertUnwindSafe(|| initializer())) {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some((why, None)),
            Err(payload) => Some((panic_message(&*payload), Some(payload))),
        };
        if let Some((why, payload)) = failure {
            frames::write_text_reply(&mut reply, Kind::InitializerFailed, 0, 0, &why);
            let _ = results.write_all(&reply);
            if let Some(payload) = payload {
                panic::resume_unwind(payload);
            }
            return Err(format!("the pool worker's initializer failed: {why}"));
        }
    }
    frames::write_text_reply(&mut reply, Kind::Ready, 0, 0, "");
    if results.write_all(&reply).is_err() {
        return Ok(()); // the pool is gone
    }

    let mut completed = 0;
    let mut body = Vec::new();
    while setup.maxtasks.is_none_or(|most| completed < most) {
        match read_frame(&mut tasks, &mut body) {
            Ok(true) => {}
            Ok(false) => {
                debug!("worker got EOFError or OSError -- exiting");
                return Ok(());
            }
            Err(e) => return Err(format!("pool worker could not read its next task: {e}")),
        }
        let (job, chunk, call, args) = match frames::parse_order(&body, setup.key) {
            Ok(Order::Task { job, chunk, call, args }) => (job, chunk, call, args),
            Ok(Order::Stop) => {
                debug!("worker got sentinel -- exiting");
                return Ok(());
            }
            // A stream that is not the pool's cannot be trusted for the next frame either.
            Err(e) => return Err(format!("pool worker read bytes that are not a task: {e}")),
        };
        reply.clear();
        let start = frames::begin_reply(&mut reply, Kind::Done, job, chunk);
        // Before the call: if this process dies from here on, the pool fails this task.
        setup.started.0.fetch_add(1, Ordering::Release);
        // SAFETY: the frame carried this pool's key, so the pool wrote it: `call` was made by
        // `Call::new` in the pool's process, which this worker is a fork of (see `call.rs`).
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| unsafe { call.run(args, &mut reply) }));
        let done = match outcome {
            Ok(Ok(())) => frames::finish_reply(&mut reply, start),
            Ok(Err(e)) => Err(e),
            Err(payload) => {
                reply.clear();
                frames::write_text_reply(&mut reply, Kind::Panicked, job, chunk, &panic_message(&*payload));
                let _ = results.write_all(&reply);
                // Ends the process as a panicking target does: exit code 1, the panic on stderr.
                panic::resume_unwind(payload);
            }
        };
        if let Err(e) = done {
            reply.clear();
            frames::write_text_reply(&mut reply, Kind::Failed, job, chunk, &failure_text(&e));
        }
        if results.write_all(&reply).is_err() {
            return Ok(()); // the pool is gone: nobody wants the result
        }
        completed += 1;
    }
    debug!("worker exiting after {completed} tasks");
    Ok(())
}

/// Reads one frame's body into `body`. `Ok(false)` at the end of the pipe between frames.
fn read_frame(tasks: &mut BufReader<File>, body: &mut Vec<u8>) -> Result<bool> {
    let mut header = [0u8; wire::HEADER_LEN];
    match tasks.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(Error::os("read (a Pool worker's task pipe)")(e)),
    }
    let len = wire::parse_header(&header)?;
    body.clear();
    body.resize(len, 0);
    tasks.read_exact(body).map_err(Error::os("read (a Pool worker's task pipe)"))?;
    Ok(true)
}

/// What a panic said: its `&str` or `String` message, as the default panic hook prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// The text of a `Failed` reply: which way the value did not go through, then why.
fn failure_text(error: &Error) -> String {
    match error {
        Error::Decode(what) => format!("decode: the task's arguments, {what}"),
        Error::Encode(what) => format!("encode: the task's results, {what}"),
        other => format!("encode: the task's results: {other}"),
    }
}
