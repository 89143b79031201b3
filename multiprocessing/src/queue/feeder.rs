//! The per-process half of a queue: frames put and not yet written, and the feeder thread that
//! writes them, as in CPython's `Queue._feed`.
//!
//! `put` never writes a burst of messages itself: it appends the encoded frame to a buffer and the
//! feeder writes everything that piled up in one `writev(2)`. Small frames are copied into
//! batches of up to 256 KiB, so a burst of tiny messages becomes a handful of large writes; a
//! large frame travels as its own buffer, never copied.
//!
//! Coalescing must not cost latency when nothing is happening: waking the feeder takes a thread
//! switch (tens of microseconds on a VM). So a `put` that comes while the feeder is idle and the
//! previous `put` is not recent, with a frame small enough to be written atomically, writes it
//! directly if the pipe has room and the write lock is free. Under load, puts come close together
//! and go to the buffer.
//!
//! After a `fork`, the child's copy of this state describes the parent's feeder thread, which does
//! not exist in the child, and frames the parent will send: `reset_after_fork` forgets both.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, info};
use nix::unistd::getpid;

use super::channel::{Channel, PIPE_BUF};
use crate::error::{Error, Result};
use crate::process::lock;

/// Frames up to this size are copied into batches; larger ones travel as their own buffer.
const SMALL_FRAME: usize = 16 << 10;

/// The largest batch small frames are gathered into.
const BATCH_LIMIT: usize = 256 << 10;

/// A `put` this long after the previous one counts as "not under load" (see the module docs).
const IDLE_GAP: Duration = Duration::from_micros(50);

/// The per-process feeder of one queue.
pub(crate) struct Feeder {
    pub(crate) channel: Arc<Channel>,
    state: Mutex<FeederState>,
    /// Signalled when frames are added or the feeder is told to quit.
    wake: Condvar,
}

pub(crate) struct FeederState {
    /// Buffers of whole frames, oldest first.
    pending: VecDeque<Vec<u8>>,
    /// Emptied batch buffers, kept to be filled again.
    spare: Vec<Vec<u8>>,
    /// The buffer of the last large frame, kept for the next `put` to encode into.
    spare_large: Vec<u8>,
    thread: Option<JoinHandle<()>>,
    thread_starting: bool,
    /// The feeder took buffers out of `pending` and is writing them.
    in_flight: bool,
    /// The feeder waits on `wake`: only then is a notification needed.
    sleeping: bool,
    /// The feeder should exit once `pending` is empty.
    quit: bool,
    /// `close()` was called in this process.
    pub(crate) closed: bool,
    pub(crate) join_cancelled: bool,
    /// When the last `put` came.
    last_put: Option<Instant>,
    /// Why the last write failed: later puts fail with it.
    error: Option<io::ErrorKind>,
}

impl FeederState {
    fn fresh() -> FeederState {
        FeederState {
            pending: VecDeque::new(),
            spare: Vec::new(),
            spare_large: Vec::new(),
            thread: None,
            thread_starting: false,
            in_flight: false,
            sleeping: false,
            quit: false,
            closed: false,
            join_cancelled: false,
            last_put: None,
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
    /// A feeder for a new channel, registered for fork and exit.
    pub(crate) fn new(channel: Channel) -> Arc<Feeder> {
        let feeder = Arc::new(Feeder {
            channel: Arc::new(channel),
            state: Mutex::new(FeederState::fresh()),
            wake: Condvar::new(),
        });
        let mut registry = lock_registry();
        registry.retain(|f| f.strong_count() > 0);
        registry.push(Arc::downgrade(&feeder));
        feeder
    }

    /// Locks this feeder's state; `Process::start` holds every one across `fork`.
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, FeederState> {
        lock(&self.state)
    }

    /// No other process holding the queue is alive and this one has nothing left to send.
    pub(crate) fn nothing_can_arrive(&self) -> bool {
        let state = self.lock_state();
        let idle = state.pending.is_empty() && !state.in_flight;
        drop(state);
        idle && !self.channel.shm.other_process_alive(getpid().as_raw())
    }

    /// The buffer of an earlier large frame, empty, if the feeder kept one.
    pub(crate) fn take_spare_large(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock_state().spare_large)
    }

    /// Refuses puts if this process closed the queue or an earlier write failed.
    pub(crate) fn check_open(&self) -> Result<()> {
        let state = self.lock_state();
        if state.closed {
            return Err(Error::Closed);
        }
        if let Some(kind) = state.error {
            return Err(Error::Io(io::Error::new(kind, "an earlier write to the queue's pipe failed")));
        }
        Ok(())
    }

    /// Sends one encoded frame: directly when idle, else through the buffer and the feeder.
    /// A large frame is moved out of `frame`, a small one copied.
    pub(crate) fn send(self: &Arc<Self>, frame: &mut Vec<u8>) -> Result<()> {
        let mut state = self.lock_state();
        let now = Instant::now();
        let idle = state.pending.is_empty()
            && !state.in_flight
            && state.last_put.is_none_or(|last| now.duration_since(last) > IDLE_GAP);
        state.last_put = Some(now);
        // The direct write happens under the state lock, so no later put can overtake it.
        let written = idle && frame.len() <= PIPE_BUF && self.channel.try_write_small(frame)?;
        if !written {
            if frame.len() <= SMALL_FRAME {
                match state.pending.back_mut().filter(|batch| batch.len() + frame.len() <= BATCH_LIMIT) {
                    Some(batch) => batch.extend_from_slice(frame),
                    None => {
                        let mut batch = state.spare.pop().unwrap_or_default();
                        batch.extend_from_slice(frame);
                        state.pending.push_back(batch);
                    }
                }
            } else {
                state.pending.push_back(std::mem::take(frame));
            }
            if state.sleeping {
                self.wake.notify_one();
            }
        }
        // As in CPython, the first put of each process starts its feeder thread.
        let start_thread = state.thread.is_none() && !state.thread_starting;
        if start_thread {
            state.thread_starting = true;
        }
        drop(state);
        if start_thread {
            self.start_thread()?;
        }
        Ok(())
    }

    fn start_thread(self: &Arc<Self>) -> Result<()> {
        debug!("Queue._start_thread()");
        debug!("doing self._thread.start()");
        let feeder = Arc::clone(self);
        let spawned =
            std::thread::Builder::new().name("QueueFeederThread".into()).spawn(move || feeder.run());
        let mut state = self.lock_state();
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

    /// The feeder thread: write whatever piled up, until told to quit and nothing is left.
    fn run(self: Arc<Self>) {
        debug!("starting thread to feed data to pipe");
        loop {
            let mut state = self.lock_state();
            while state.pending.is_empty() && !state.quit {
                state.sleeping = true;
                state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                state.sleeping = false;
            }
            if state.pending.is_empty() {
                break;
            }
            let buffers: Vec<Vec<u8>> = state.pending.drain(..).collect();
            state.in_flight = true;
            let broken = state.error.is_some();
            drop(state);

            let result = if broken { Ok(()) } else { self.channel.write_frames(&buffers) };
            let mut state = self.lock_state();
            state.in_flight = false;
            for mut buffer in buffers {
                buffer.clear();
                if buffer.capacity() <= 2 * BATCH_LIMIT {
                    if state.spare.len() < 4 {
                        state.spare.push(buffer);
                    }
                } else if buffer.capacity() <= super::KEEP_BUFFER && state.spare_large.capacity() == 0 {
                    state.spare_large = buffer;
                }
            }
            if let Err(e) = result {
                state.error = Some(e.kind());
                drop(state);
                info!("error in queue thread: {e}");
            }
        }
        debug!("feeder thread got sentinel -- exiting");
    }

    /// `close()`: no more puts or gets here; the feeder exits once it has written everything.
    pub(crate) fn close(&self) {
        let mut state = self.lock_state();
        state.closed = true;
        state.quit = true;
        let started = state.thread.is_some();
        self.wake.notify_one();
        drop(state);
        if started {
            debug!("telling queue thread to quit");
        }
    }

    /// Tells the feeder to exit once it has written everything (the last handle went away).
    pub(crate) fn release(&self) {
        let mut state = self.lock_state();
        state.quit = true;
        self.wake.notify_one();
    }

    /// Waits for the feeder thread to finish, if it was started.
    pub(crate) fn join_thread(&self) {
        let thread = self.lock_state().thread.take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
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
        feeder.channel.shm.mark_shared();
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
