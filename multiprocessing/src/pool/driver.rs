//! The pool's side: its workers, the chunks waiting for one, and the loop that moves them.
//!
//! CPython's `Pool` runs three threads in the parent (one feeds tasks, one collects results, one
//! replaces dead workers). This pool runs none: whoever waits on the pool (`map`, `get`, the
//! next item of `imap`, `join`) runs [`Core::drive`], which does all three jobs in turn. A
//! thread in the parent would be one more thing to keep safe across `fork` (the pool forks its
//! replacements), and the work is only needed while someone waits for it.
//!
//! # Which task a worker holds
//!
//! Each worker has its own pair of pipes, and the pool remembers, per worker, the chunks it sent
//! and has not had an answer for (`in_flight`), in order. A worker answers in the order it was
//! given tasks, and counts in shared memory the tasks it has *started* ([`StartedTasks`], one
//! atomic counter the worker adds one to before each call). So when a worker dies, the pool
//! reads what it wrote last, and then knows: if the worker started more tasks than it answered,
//! the first chunk left is the one it was running, and it fails, naming the worker and its exit
//! code; every other chunk left (all of them, if it was idle: a worker may die with tasks in its
//! pipe that it never read) goes back to the front of the queue for another worker. So a death
//! costs exactly the task that was running, as a killed consumer of a `Queue` costs at most the
//! message it held.
//!
//! A worker gets at most [`IN_FLIGHT`] chunks at once: enough that it finds its next task
//! waiting when it finishes one, few enough that at most one chunk waits behind a slow one while
//! another worker may be idle (CPython's workers take tasks from one shared pipe, so none waits
//! behind another; its workers then wait for the pipe's lock instead). Chunks go to the worker
//! with the fewest in flight (the lowest slot first), so which worker gets which task does not
//! depend on timing.
//!
//! # Noticing a death
//!
//! The pool reads the result pipes without blocking, in one `poll(2)` over all of them. A
//! worker's result pipe has one writer, the worker (the pool closes its copy right after the
//! fork, and later forks do not get that end), so a worker that dies shows as the end of its
//! pipe at once; its exit code comes from `waitpid`. As a second line, every
//! [`CHECK_EVERY`] the pool asks each worker whether it has ended, so that no death can go
//! unnoticed for longer than that, whatever else holds the pipes.
//!
//! # Replacing workers
//!
//! A worker that panicked or died is replaced, and so is one that reached `maxtasksperchild`; the
//! replacement takes the next number of the process counter, so names go on (`ForkPoolWorker-5`
//! after `-4`), as in CPython. A replacement is forked when a chunk is waiting, no worker has
//! room for it, and a slot is free, not before. CPython forks replacements from a thread that
//! looks every 0.1 s, so how many it starts depends on timing (7 in its three runs of PyMOTW's
//! `maxtasksperchild` example on 4 workers, where this pool starts 5 in every run); here the
//! count depends only on the tasks.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::debug;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::{getpid, pipe2};

use crate::error::{Error, Result};
use crate::pool::call::Call;
use crate::pool::frames::{self, Kind};
use crate::pool::{Initializer, worker};
use crate::process::Process;
use crate::shm::{ProcessShared, SharedMemory};

/// How many chunks a worker holds at once (see the module docs).
pub(crate) const IN_FLIGHT: usize = 2;

/// How often every worker is asked whether it has ended, whatever the pipes say.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// How many workers in a row may die before they are ready (before their initializer returned)
/// before the pool stops starting new ones and reports the initializer as failing.
const STARTUP_DEATHS: u32 = 5;

/// How long a worker may live on after the end of its result pipe before it is killed.
const STUCK_AT_EOF: Duration = Duration::from_secs(1);

/// How long `terminate` waits for a worker to end after `SIGTERM`, before `SIGKILL`.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// How many tasks a worker has started, in memory it shares with the pool: the worker adds one
/// just before it calls the function, so after its death the pool can tell whether it was
/// running a task (more started than answered) or idle.
pub(crate) struct StartedTasks(pub(crate) AtomicU64);

// SAFETY: zeroed bytes are a valid `AtomicU64` (zero tasks started), and an atomic in a shared
// mapping works across processes: it holds no pointer and nothing on the heap.
unsafe impl ProcessShared for StartedTasks {}

/// Part of a job's input on its way to a worker: the arguments of one chunk, encoded.
pub(crate) struct Chunk {
    pub(crate) job: u64,
    pub(crate) index: u64,
    pub(crate) call: Call,
    /// A whole `wire` frame of the chunk's `Vec<T>`.
    pub(crate) args: Vec<u8>,
}

/// Why a chunk has no results.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// The worker died while it ran the chunk.
    Died { worker: String, pid: u32, exitcode: i32 },
    /// The function panicked.
    Panicked { worker: String, message: String },
    /// The worker could not decode the arguments (`decode`) or encode the results.
    Codec { worker: String, decode: bool, why: String },
    /// A worker's initializer failed: the pool cannot run anything.
    Initializer { worker: String, reason: String },
    /// `terminate` was called before the chunk finished.
    Terminated,
}

impl Failure {
    pub(crate) fn to_error(&self) -> Error {
        match self.clone() {
            Failure::Died { worker, pid, exitcode } => Error::WorkerDied { worker, pid, exitcode },
            Failure::Panicked { worker, message } => Error::TaskPanicked { worker, message },
            Failure::Codec { worker, decode: true, why } => {
                Error::Decode(format!("{why} (in pool worker {worker})"))
            }
            Failure::Codec { worker, decode: false, why } => {
                Error::Encode(format!("{why} (in pool worker {worker})"))
            }
            Failure::Initializer { worker, reason } => Error::InitializerFailed { worker, reason },
            Failure::Terminated => Error::InvalidState(
                "the pool was terminated before this task finished (terminate(), or the Pool was dropped)",
            ),
        }
    }
}

/// A chunk's results (the `wire` frame body of its `Vec<R>`), or why there are none.
pub(crate) type Outcome = std::result::Result<Vec<u8>, Failure>;

/// What the pool knows of one job (a `map`, an `apply_async`, an `imap`).
#[derive(Default)]
struct Job {
    /// Chunks answered and not yet taken by the job's owner: (chunk index, outcome).
    done: Vec<(u64, Outcome)>,
    /// Chunks queued or in flight.
    outstanding: usize,
    /// Its owner is gone: answers are dropped, and the job with the last of them.
    abandoned: bool,
}

/// Whether the pool takes new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Closed,
    Terminated,
}

/// One worker process, as the pool sees it.
struct Worker {
    process: Process,
    name: String,
    pid: u32,
    /// The pool's end of the task pipe, non-blocking.
    tasks: File,
    /// The pool's end of the result pipe, non-blocking.
    results: File,
    /// Frames waiting to be written to `tasks`, and how much of them was written.
    outbox: Vec<u8>,
    written: usize,
    /// Bytes read from `results` that do not yet make a whole frame.
    inbox: Vec<u8>,
    /// Chunks sent and not answered, in the order sent (and so answered).
    in_flight: VecDeque<Chunk>,
    /// Chunks sent in its life, for `maxtasksperchild`.
    assigned: usize,
    /// Tasks it started (its counter) and tasks it answered.
    started: Rc<SharedMemory<StartedTasks>>,
    answered: u64,
    /// It said its initializer returned.
    ready: bool,
    /// Its result pipe ended: it has exited or is exiting (since `eof_since`).
    at_eof: bool,
    eof_since: Option<Instant>,
    /// It reported a panic and is ending: it gets nothing more.
    panicked: bool,
    /// It was sent a stop frame.
    stopping: bool,
}

impl Worker {
    fn mark_eof(&mut self) {
        self.at_eof = true;
        self.eof_since.get_or_insert_with(Instant::now);
    }

    fn can_take(&self, maxtasks: Option<usize>) -> bool {
        !self.at_eof
            && !self.panicked
            && !self.stopping
            && self.in_flight.len() < IN_FLIGHT
            && maxtasks.is_none_or(|most| self.assigned < most)
    }

    /// Writes what it can of the outbox without blocking. `false` when the worker's end of the
    /// task pipe is closed (it died).
    fn flush(&mut self) -> bool {
        while self.written < self.outbox.len() {
            match self.tasks.write(&self.outbox[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false, // EPIPE: nobody reads its tasks any more
            }
        }
        self.outbox.clear();
        self.written = 0;
        true
    }
}

/// The pool's state in its own process.
pub(crate) struct Core {
    key: u64,
    processes: usize,
    maxtasks: Option<usize>,
    initializer: Option<Initializer>,
    /// `processes` places for a worker; `None` where none runs now.
    slots: Vec<Option<Worker>>,
    /// Workers that finished their last task (`maxtasksperchild`) or were stopped, not yet
    /// reaped: they no longer hold a slot.
    leaving: Vec<Worker>,
    queue: VecDeque<Chunk>,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    state: State,
    /// Set when an initializer failed: every chunk fails with it from then on.
    broken: Option<Failure>,
    startup_deaths: u32,
    last_check: Instant,
    /// Scratch space for reads.
    buffer: Box<[u8]>,
}

impl Core {
    /// A pool with `processes` workers, all started now, as CPython's starts them.
    pub(crate) fn start(
        processes: usize,
        maxtasks: Option<usize>,
        initializer: Option<Initializer>,
    ) -> Result<Core> {
        let mut core = Core {
            key: random_key(),
            processes,
            maxtasks,
            initializer,
            slots: (0..processes).map(|_| None).collect(),
            leaving: Vec::new(),
            queue: VecDeque::new(),
            jobs: HashMap::new(),
            next_job: 0,
            state: State::Running,
            broken: None,
            startup_deaths: 0,
            last_check: Instant::now(),
            buffer: vec![0; 64 << 10].into_boxed_slice(),
        };
        for slot in 0..processes {
            if let Err(e) = core.start_worker(slot) {
                core.terminate();
                return Err(e);
            }
        }
        Ok(core)
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn processes(&self) -> usize {
        self.processes
    }

    /// Forks a worker into `slot`.
    fn start_worker(&mut self, slot: usize) -> Result<()> {
        let (task_reader, task_writer) =
            pipe2(OFlag::O_CLOEXEC).map_err(Error::os("pipe2 (a Pool worker's tasks)"))?;
        let (result_reader, result_writer) =
            pipe2(OFlag::O_CLOEXEC).map_err(Error::os("pipe2 (a Pool worker's results)"))?;
        set_nonblocking(&task_writer)?;
        set_nonblocking(&result_reader)?;
        let started = Rc::new(
            SharedMemory::<StartedTasks>::new()
                .map_err(Error::os("mmap (a Pool worker's table of tasks)"))?,
        );
        let setup = worker::Setup {
            started: Rc::clone(&started),
            tasks: task_reader,
            results: result_writer,
            key: self.key,
            maxtasks: self.maxtasks,
            initializer: self.initializer.clone(),
            pool_pid: getpid(),
        };
        let process = Process::new(move || worker::run(setup));
        // CPython renames `ForkProcess-N` to `ForkPoolWorker-N`: the number is the process
        // counter's, so replacements go on counting.
        let name = process.name().replacen("Process", "ForkPoolWorker", 1);
        let mut process = process.with_name(name.clone()).with_daemon(true);
        // `start` drops the closure in this process after the fork, closing the child's ends
        // of the two pipes here: the worker is then the only writer of its result pipe.
        process.start()?;
        let pid = process.pid().unwrap_or(0);
        debug!("added worker");
        self.slots[slot] = Some(Worker {
            process,
            name,
            pid,
            tasks: File::from(task_writer),
            results: File::from(result_reader),
            outbox: Vec::new(),
            written: 0,
            inbox: Vec::new(),
            in_flight: VecDeque::new(),
            assigned: 0,
            started,
            answered: 0,
            ready: false,
            at_eof: false,
            eof_since: None,
            panicked: false,
            stopping: false,
        });
        Ok(())
    }

    /// A new job, with nothing submitted yet.
    pub(crate) fn new_job(&mut self) -> u64 {
        self.next_job += 1;
        self.jobs.insert(self.next_job, Job::default());
        self.next_job
    }

    /// Queues a chunk of `job`. A broken or terminated pool fails it at once.
    pub(crate) fn submit(&mut self, chunk: Chunk) {
        let Some(job) = self.jobs.get_mut(&chunk.job) else { return };
        job.outstanding += 1;
        if let Some(failure) = self.dead_pool_failure() {
            self.record(chunk.job, chunk.index, Err(failure));
        } else {
            self.queue.push_back(chunk);
        }
    }

    /// Why nothing can run any more, if so.
    fn dead_pool_failure(&self) -> Option<Failure> {
        match (&self.broken, self.state) {
            (Some(failure), _) => Some(failure.clone()),
            (None, State::Terminated) => Some(Failure::Terminated),
            _ => None,
        }
    }

    /// Chunks of `job` still queued or in flight.
    pub(crate) fn outstanding(&self, job: u64) -> usize {
        self.jobs.get(&job).map_or(0, |j| j.outstanding)
    }

    /// Takes the answers of `job` that arrived since the last call.
    pub(crate) fn take_done(&mut self, job: u64) -> Vec<(u64, Outcome)> {
        self.jobs.get_mut(&job).map(|j| std::mem::take(&mut j.done)).unwrap_or_default()
    }

    /// The owner of `job` is gone: drop what arrives for it from now on.
    pub(crate) fn abandon(&mut self, job: u64) {
        if let Some(j) = self.jobs.get_mut(&job) {
            if j.outstanding == 0 {
                self.jobs.remove(&job);
            } else {
                j.abandoned = true;
                j.done.clear();
            }
        }
    }

    /// How many more chunks the workers could take now, beyond those already queued: what an
    /// `imap` may feed without making a long queue.
    pub(crate) fn room(&self) -> usize {
        let per_worker = self.maxtasks.map_or(IN_FLIGHT, |m| m.min(IN_FLIGHT));
        let free: usize = self
            .slots
            .iter()
            .map(|slot| match slot {
                Some(w) if w.can_take(self.maxtasks) => IN_FLIGHT - w.in_flight.len(),
                Some(_) => 0,
                None => per_worker,
            })
            .sum();
        free.saturating_sub(self.queue.len())
    }

    fn record(&mut self, job: u64, index: u64, outcome: Outcome) {
        let Some(j) = self.jobs.get_mut(&job) else { return };
        j.outstanding = j.outstanding.saturating_sub(1);
        if !j.abandoned {
            j.done.push((index, outcome));
        } else if j.outstanding == 0 {
            self.jobs.remove(&job);
        }
    }

    /// Sends queued chunks to workers that have room, forking a worker where a slot is empty
    /// and no running worker has room.
    fn dispatch(&mut self) -> Result<()> {
        while !self.queue.is_empty() {
            if let Some(failure) = self.dead_pool_failure() {
                while let Some(chunk) = self.queue.pop_front() {
                    self.record(chunk.job, chunk.index, Err(failure.clone()));
                }
                break;
            }
            let maxtasks = self.maxtasks;
            let target = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    slot.as_ref().filter(|w| w.can_take(maxtasks)).map(|w| (w.in_flight.len(), i))
                })
                .min();
            match target {
                Some((_, i)) => {
                    let chunk = self.queue.pop_front().expect("the queue is not empty");
                    let worker = self.slots[i].as_mut().expect("a worker in the slot");
                    frames::write_task(
                        &mut worker.outbox,
                        self.key,
                        chunk.job,
                        chunk.index,
                        chunk.call,
                        &chunk.args,
                    );
                    worker.in_flight.push_back(chunk);
                    worker.assigned += 1;
                }
                None => match self.slots.iter().position(Option::is_none) {
                    Some(free) => self.start_worker(free)?,
                    None => break,
                },
            }
        }
        for worker in self.slots.iter_mut().flatten() {
            if !worker.outbox.is_empty() && !worker.flush() {
                worker.mark_eof(); // it cannot read its tasks: it died
            }
        }
        Ok(())
    }

    /// Sends what can go out without waiting, right after a submission, so that tasks start at
    /// once (CPython's start from its feeder thread). A failure to fork a worker shows at the
    /// next [`drive`](Core::drive), which tries again.
    pub(crate) fn kick(&mut self) {
        let _ = self.dispatch();
    }

    /// Whether any chunk is queued or with a worker.
    fn busy(&self) -> bool {
        !self.queue.is_empty() || self.slots.iter().flatten().any(|w| !w.in_flight.is_empty())
    }

    /// One turn of the pool's loop: send what can be sent, wait (until `deadline` at the latest,
    /// and never longer than [`CHECK_EVERY`]) for answers or room in a pipe, read the answers,
    /// notice workers that ended, replace them.
    pub(crate) fn drive(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.dispatch()?;
        let now = Instant::now();
        let mut wait = CHECK_EVERY.saturating_sub(now.duration_since(self.last_check));
        if let Some(deadline) = deadline {
            wait = wait.min(deadline.saturating_duration_since(now));
        }
        // A worker whose pipe ended is exiting: look again soon for its exit code.
        let exiting = self.slots.iter().flatten().any(|w| w.at_eof);
        if exiting {
            wait = wait.min(Duration::from_millis(1));
        }

        let mut watched = Vec::new();
        let mut fds = Vec::new();
        for (i, worker) in self.slots.iter().enumerate() {
            let Some(worker) = worker else { continue };
            if !worker.at_eof {
                watched.push((i, false));
                fds.push(PollFd::new(worker.results.as_fd(), PollFlags::POLLIN));
            }
            if !worker.outbox.is_empty() && !worker.at_eof {
                watched.push((i, true));
                fds.push(PollFd::new(worker.tasks.as_fd(), PollFlags::POLLOUT));
            }
        }
        // poll(2) counts milliseconds: round up, so that a short wait still waits.
        let millis = wait.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        let ready: Vec<(usize, bool)> = if fds.is_empty() {
            std::thread::sleep(wait);
            Vec::new()
        } else {
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::os("poll (the Pool's result pipes)")(e)),
            }
            fds.iter()
                .zip(&watched)
                .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
                .map(|(_, &w)| w)
                .collect()
        };
        drop(fds);
        for (i, writing) in ready {
            let Some(worker) = self.slots[i].as_mut() else { continue };
            if writing {
                if !worker.flush() {
                    worker.mark_eof();
                }
            } else {
                self.read_replies(i);
            }
        }
        self.retire_finished();
        if self.last_check.elapsed() >= CHECK_EVERY || self.slots.iter().flatten().any(|w| w.at_eof) {
            self.check_workers();
        }
        self.dispatch()
    }

    /// Reads what worker `i` wrote, and handles every whole frame of it.
    fn read_replies(&mut self, i: usize) {
        let Some(worker) = self.slots[i].as_mut() else { return };
        loop {
            match worker.results.read(&mut self.buffer) {
                Ok(0) => {
                    worker.mark_eof();
                    break;
                }
                Ok(n) => worker.inbox.extend_from_slice(&self.buffer[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    worker.mark_eof();
                    break;
                }
            }
        }
        let inbox = std::mem::take(&mut worker.inbox);
        let mut used = 0;
        loop {
            match frames::complete_frame(&inbox[used..]) {
                Ok(Some(len)) => {
                    let body = &inbox[used + crate::wire::HEADER_LEN..used + len];
                    used += len;
                    if !self.handle_reply(i, body) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    self.corrupt_worker(i);
                    break;
                }
            }
        }
        if let Some(worker) = self.slots[i].as_mut() {
            let mut inbox = inbox;
            inbox.drain(..used);
            worker.inbox = inbox;
        }
    }

    /// Handles one reply of worker `i`; `false` if the worker's stream cannot be trusted.
    fn handle_reply(&mut self, i: usize, body: &[u8]) -> bool {
        let Ok(reply) = frames::parse_reply(body) else {
            self.corrupt_worker(i);
            return false;
        };
        let worker = self.slots[i].as_mut().expect("a worker in the slot");
        let name = worker.name.clone();
        match reply.kind {
            Kind::Ready => {
                worker.ready = true;
                self.startup_deaths = 0;
                return true;
            }
            Kind::InitializerFailed => {
                worker.ready = true; // it said why; its exit is no second failure
                self.break_pool(Failure::Initializer { worker: name, reason: reply.text() });
                return true;
            }
            // A broken pool failed every chunk already: a late answer has nowhere to go.
            Kind::Done | Kind::Failed | Kind::Panicked if self.broken.is_some() => return true,
            Kind::Done | Kind::Failed | Kind::Panicked => {}
        }
        // Answers come in the order the chunks were sent.
        match worker.in_flight.front() {
            Some(c) if c.job == reply.job && c.index == reply.chunk => {}
            _ => {
                self.corrupt_worker(i);
                return false;
            }
        }
        let chunk = worker.in_flight.pop_front().expect("checked above");
        worker.answered += 1;
        let outcome = match reply.kind {
            Kind::Done => Ok(reply.payload.to_vec()),
            Kind::Panicked => {
                worker.panicked = true;
                Err(Failure::Panicked { worker: name, message: reply.text() })
            }
            _ => {
                let text = reply.text();
                let (decode, why) = match text.split_once(": ") {
                    Some(("decode", why)) => (true, why.to_string()),
                    Some((_, why)) => (false, why.to_string()),
                    None => (false, text.clone()),
                };
                Err(Failure::Codec { worker: name, decode, why })
            }
        };
        self.record(chunk.job, chunk.index, outcome);
        true
    }

    /// A worker wrote something that is not a reply, or answered out of order: it cannot be
    /// trusted with more. It is killed; its death fails the chunk it held.
    fn corrupt_worker(&mut self, i: usize) {
        if let Some(worker) = self.slots[i].as_mut() {
            let _ = worker.process.kill();
            worker.mark_eof();
        }
    }

    /// Asks every worker whether it has ended, and handles those that have. Moves workers that
    /// finished their last task out of their slots.
    fn check_workers(&mut self) {
        self.last_check = Instant::now();
        for i in 0..self.slots.len() {
            let Some(worker) = self.slots[i].as_ref() else { continue };
            match worker.process.exitcode() {
                Some(code) => self.handle_exit(i, code),
                // Its pipe ended long ago and it lives on: it closed the pipe itself and can no
                // longer answer. Killing it turns it into a death the pool handles.
                None if worker.eof_since.is_some_and(|t| t.elapsed() >= STUCK_AT_EOF) => {
                    let _ = worker.process.kill();
                }
                None => {}
            }
        }
        self.leaving.retain(|w| w.process.exitcode().is_none());
        self.retire_finished();
    }

    /// A worker that has taken its `maxtasksperchild` tasks and answered them all is exiting:
    /// its slot is free for a replacement.
    fn retire_finished(&mut self) {
        let Some(most) = self.maxtasks else { return };
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|w| w.assigned >= most && w.in_flight.is_empty()) {
                self.leaving.push(slot.take().expect("checked"));
            }
        }
    }

    /// Worker `i` ended with `code`: read what it wrote last, fail the chunk it was running,
    /// give the chunks it never started back to the queue, and free its slot.
    fn handle_exit(&mut self, i: usize, code: i32) {
        // Everything it wrote is in the pipe already: take it before judging.
        self.read_replies(i);
        let Some(mut worker) = self.slots[i].take() else { return };
        if !worker.ready {
            self.startup_deaths += 1;
            if self.startup_deaths >= STARTUP_DEATHS && self.broken.is_none() {
                self.break_pool(Failure::Initializer {
                    worker: worker.name.clone(),
                    reason: format!(
                        "{STARTUP_DEATHS} workers in a row ended before their initializer returned, \
                         the last with exit code {code}"
                    ),
                });
            }
        }
        // More tasks started than answered: it died running the first one left.
        if worker.started.0.load(Ordering::Acquire) > worker.answered {
            if let Some(running) = worker.in_flight.pop_front() {
                let failure = Failure::Died { worker: worker.name.clone(), pid: worker.pid, exitcode: code };
                self.record(running.job, running.index, Err(failure));
            }
        }
        while let Some(unstarted) = worker.in_flight.pop_back() {
            self.queue.push_front(unstarted);
        }
        if let Some(failure) = self.dead_pool_failure() {
            while let Some(chunk) = self.queue.pop_front() {
                self.record(chunk.job, chunk.index, Err(failure.clone()));
            }
        }
    }

    /// An initializer failed: fail everything queued or running, and tell every worker to stop
    /// (CPython would fork failing workers forever). They are not killed: those whose
    /// initializer failed too are printing why, as CPython prints the exception.
    fn break_pool(&mut self, failure: Failure) {
        self.broken = Some(failure.clone());
        self.fail_everything(&failure);
        for worker in self.slots.iter_mut().flatten() {
            if !worker.stopping && !worker.at_eof {
                frames::write_stop(&mut worker.outbox, self.key);
                worker.stopping = true;
                if !worker.flush() {
                    worker.mark_eof();
                }
            }
        }
    }

    fn fail_everything(&mut self, failure: &Failure) {
        let mut lost: Vec<Chunk> = self.queue.drain(..).collect();
        for worker in self.slots.iter_mut().flatten() {
            lost.extend(worker.in_flight.drain(..));
        }
        for chunk in lost {
            self.record(chunk.job, chunk.index, Err(failure.clone()));
        }
    }

    /// Waits until no chunk is queued or running. Replacements are started as needed.
    pub(crate) fn finish_work(&mut self) -> Result<()> {
        while self.busy() {
            self.drive(None)?;
        }
        Ok(())
    }

    /// CPython's `close`: no new jobs.
    pub(crate) fn close(&mut self) {
        if self.state == State::Running {
            debug!("closing pool");
            self.state = State::Closed;
        }
    }

    /// CPython's `join` after `close`: finish the queued work, tell each worker to stop, and
    /// wait for every worker to exit.
    pub(crate) fn join(&mut self) -> Result<()> {
        debug!("joining pool");
        self.finish_work()?;
        for worker in self.slots.iter_mut().flatten() {
            if !worker.stopping && !worker.at_eof {
                frames::write_stop(&mut worker.outbox, self.key);
                worker.stopping = true;
            }
        }
        for slot in &mut self.slots {
            if let Some(worker) = slot.take() {
                self.leaving.push(worker);
            }
        }
        while !self.leaving.is_empty() {
            for worker in &mut self.leaving {
                if !worker.outbox.is_empty() {
                    worker.flush();
                }
                // Drain what it still writes (nothing is expected), so that it never blocks on
                // a full pipe on its way out.
                let _ = worker.results.read(&mut self.buffer);
            }
            self.leaving.retain(|w| w.process.exitcode().is_none());
            if !self.leaving.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }

    /// CPython's `terminate`: fail what is queued or running, `SIGTERM` every worker, and wait
    /// for them (`SIGKILL` after [`TERMINATE_GRACE`]).
    pub(crate) fn terminate(&mut self) {
        if self.state != State::Terminated {
            debug!("terminating pool");
        }
        self.state = State::Terminated;
        self.fail_everything(&Failure::Terminated);
        let workers: Vec<Worker> =
            self.slots.iter_mut().filter_map(Option::take).chain(self.leaving.drain(..)).collect();
        for worker in &workers {
            let _ = worker.process.terminate();
        }
        for mut worker in workers {
            if matches!(worker.process.join_timeout(TERMINATE_GRACE), Ok(None)) {
                let _ = worker.process.kill();
                let _ = worker.process.join();
            }
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    let fcntl_failed = Error::os("fcntl (O_NONBLOCK on a Pool pipe)");
    let flags = fcntl(fd, FcntlArg::F_GETFL).map(OFlag::from_bits_truncate);
    flags.and_then(|flags| fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))).map_err(fcntl_failed)?;
    Ok(())
}

/// A random number for the pool's key: the standard library seeds its hash keys from the
/// operating system's random source.
fn random_key() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}
