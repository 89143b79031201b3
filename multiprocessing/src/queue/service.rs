//! The per-process half of every queue: items put and not yet in the ring, and the one thread
//! that writes them (CPython's `Queue._feed`, one thread per process instead of one per queue).
//!
//! # Put never waits for room
//!
//! A `put` encodes the item and, when this process has nothing older waiting for that queue,
//! copies it straight into the ring: no thread, no system call. When the ring is full (nobody is
//! reading yet), or the item is a long message that travels in chunks, the item waits here, in
//! this process's memory, and the service thread writes it as room appears. So a process can put
//! far more than the ring holds before anyone reads (the lecture's examples rely on it), and
//! items of one process arrive in the order they were put.
//!
//! # One thread, started safely, never ending
//!
//! A thread per queue would start and end as queues come and go, and a fork at that instant can
//! leave the standard library's thread lock held in the child (see `lifecycle.rs`). So each
//! process has at most one service thread, started by the first item that has to wait, with the
//! fork lock held until it runs, and it lives as long as the process. It serves every queue of
//! the process in turn, writing what fits without waiting; a long message in progress keeps its
//! queue's write lock across turns, so no other message gets between its chunks.
//!
//! Nothing here logs while it holds the state's lock: the logger takes stderr's lock and the
//! process table's, which a fork takes before this one.
//!
//! # Fork and exit
//!
//! After a fork, the child's copy of this state describes the parent: its items (the parent
//! will send them) and its thread (which does not exist in the child). The fork hook forgets both
//! and, in the parent, registers the child in every queue's table of processes. At exit, the
//! process waits until its items are in the ring, unless no other process is left that could
//! ever make room (then they are dropped: there is nobody to read them).

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use linkme::distributed_slice;
use std::time::{Duration, Instant};

use log::{debug, info};
use nix::unistd::getpid;

use super::channel::{Channel, RingOf};
use super::ring::{LIVENESS_TICK, MAX_CHUNK, Progress, Ring, RingWriter};
use crate::error::{Error, QueueCall, Result};
use crate::lifecycle::{self, ExitStep, Fork, ForkHooks, lock};
use crate::shm::futex_wake_all;
use crate::wire;

/// Frames up to this size wait in shared batches; larger ones wait as their own buffer.
const SMALL_FRAME: usize = 16 << 10;

/// The largest batch small frames are gathered into.
const BATCH_LIMIT: usize = 256 << 10;

/// A reused buffer larger than this is given back to the allocator rather than kept.
const KEEP_BUFFER: usize = 16 << 20;

/// One queue, as this process sees it.
struct Outbox {
    channel: Arc<Channel>,
    /// Whole frames waiting for room, oldest first: batches of small frames, or one large frame.
    waiting: VecDeque<Vec<u8>>,
    /// Bytes of `waiting[0]` already in the ring.
    sent: usize,
    /// Emptied batch buffers, kept to be filled again.
    spare: Vec<Vec<u8>>,
    /// The buffer of the last large frame, kept for the next `put` to encode into.
    spare_large: Vec<u8>,
    /// The service thread has taken `waiting` to write it.
    in_flight: bool,
    /// This process's slot in the queue's table of processes.
    slot: Option<usize>,
    /// Handles of this queue alive in this process (one, shared by all clones, until dropped).
    handles: usize,
    /// `close()` was called in this process.
    closed: bool,
    /// `cancel_join_thread()`: exit does not wait for this queue's items.
    join_cancelled: bool,
}

impl Outbox {
    fn idle(&self) -> bool {
        self.waiting.is_empty() && !self.in_flight
    }
}

/// Every queue of this process, and the state of its service thread.
struct Service {
    outboxes: Vec<Outbox>,
    thread_running: bool,
    /// A thread of this process is starting the service thread.
    thread_starting: bool,
    /// The thread waits on `WORK`: a new item must notify it.
    thread_asleep: bool,
    /// The thread sleeps on this queue's room word: a new item must wake that word.
    sleeping_on_room: Option<Arc<Channel>>,
    /// The process is exiting and has left the queues' tables: the thread writes nothing more.
    stopped: bool,
}

static SERVICE: Mutex<Service> = Mutex::new(Service {
    outboxes: Vec::new(),
    thread_running: false,
    thread_starting: false,
    thread_asleep: false,
    sleeping_on_room: None,
    stopped: false,
});

/// Signalled when items are added for the thread.
static WORK: Condvar = Condvar::new();

/// Signalled when the thread has written what it took, for `join_thread` and exit.
static WRITTEN: Condvar = Condvar::new();

fn service() -> MutexGuard<'static, Service> {
    lock(&SERVICE)
}

impl Service {
    fn outbox(&mut self, id: u64) -> Option<&mut Outbox> {
        self.outboxes.iter_mut().find(|o| o.channel.id == id)
    }

    /// Tells the thread there is work, wherever it sleeps.
    fn wake_thread(&mut self) {
        if self.thread_asleep {
            WORK.notify_one();
        }
        if let Some(channel) = &self.sleeping_on_room {
            channel.ring.room_word().fetch_add(1, Ordering::SeqCst);
            futex_wake_all(channel.ring.room_word());
        }
    }
}

/// What the service holds across a fork: its lock, the forking process, and for each queue the
/// slot kept for the child in its table of processes.
struct AcrossFork {
    service: MutexGuard<'static, Service>,
    parent: i32,
    kept: Vec<Option<usize>>,
}

#[distributed_slice(lifecycle::FORK_HOOKS)]
static FORK_HOOKS: ForkHooks = ForkHooks {
    order: 20,
    prepare: || {
        let service = service();
        let parent = getpid().as_raw();
        // The child is in every queue's table from its first instant (see `Peers::keep_for_child`).
        let kept = service.outboxes.iter().map(|o| o.channel.peers.keep_for_child(parent)).collect();
        Box::new(AcrossFork { service, parent, kept })
    },
    parent: |held, child| {
        let held = held.downcast::<AcrossFork>().expect("the service's fork state");
        for (outbox, kept) in held.service.outboxes.iter().zip(&held.kept) {
            let Some(index) = *kept else { continue };
            match child {
                Fork::Made(child) => outbox.channel.peers.give_to_child(index, held.parent, child),
                Fork::Failed => outbox.channel.peers.unkeep(index, held.parent),
                // A fork made by someone else: its pid is not known here, nor whether it even
                // succeeded (glibc calls this hook either way). Give the slot up: the child takes
                // it first if it can (`take_kept`), or attaches anew.
                Fork::Foreign => outbox.channel.peers.unkeep(index, held.parent),
            }
        }
    },
    child: |held| {
        let mut held = held.downcast::<AcrossFork>().expect("the service's fork state");
        let me = getpid().as_raw();
        let AcrossFork { service, parent, kept } = &mut *held;
        service.thread_running = false;
        service.thread_starting = false;
        service.thread_asleep = false;
        service.sleeping_on_room = None;
        service.stopped = false;
        for (outbox, kept) in service.outboxes.iter_mut().zip(kept.iter()) {
            // The parent's items are the parent's to send.
            outbox.waiting.clear();
            outbox.sent = 0;
            outbox.in_flight = false;
            outbox.closed = false;
            outbox.join_cancelled = false;
            let peers = &outbox.channel.peers;
            outbox.slot = match *kept {
                Some(index) if peers.take_kept(index, *parent, me) => Some(index),
                _ => peers.attach(me),
            };
            // A slot still naming this pid is a dead process's whose pid the system reused.
            if let Some(index) = outbox.slot {
                peers.release_stale(index, me);
            }
        }
        QUEUES_RESET.store(service.outboxes.len(), Ordering::SeqCst);
    },
    child_unlocked: || {
        for _ in 0..QUEUES_RESET.swap(0, Ordering::SeqCst) {
            debug!("Queue._after_fork()");
        }
    },
};

/// Queues reset by the last fork, to log once the child may log (logging takes locks).
static QUEUES_RESET: AtomicUsize = AtomicUsize::new(0);

/// At exit: first tell (CPython's `_finalize_close`, priority 10), last wait for the items to
/// reach the rings (`_finalize_join`, priority -5).
#[distributed_slice(lifecycle::EXIT_STEPS)]
static EXIT_CLOSE: ExitStep = ExitStep { priority: 10, run: finalize_close_all };

#[distributed_slice(lifecycle::EXIT_STEPS)]
static EXIT_JOIN: ExitStep = ExitStep { priority: -5, run: finalize_join_all };

/// Makes `channel` known to this process; returns its id.
pub(crate) fn open(channel: Channel) -> Arc<Channel> {
    lifecycle::install();
    let channel = Arc::new(channel);
    let slot = channel.peers.attach(getpid().as_raw());
    service().outboxes.push(Outbox {
        channel: Arc::clone(&channel),
        waiting: VecDeque::new(),
        sent: 0,
        spare: Vec::new(),
        spare_large: Vec::new(),
        in_flight: false,
        slot,
        handles: 1,
        closed: false,
        join_cancelled: false,
    });
    channel
}

/// A handle of the queue was dropped (the last clone of a group).
pub(crate) fn release(channel: &Channel) {
    let mut service = service();
    if let Some(outbox) = service.outbox(channel.id) {
        outbox.handles = outbox.handles.saturating_sub(1);
    }
    forget_unused(&mut service);
}

/// Drops the outboxes that no handle uses and that have nothing left to write, leaving their
/// queues' tables.
fn forget_unused(service: &mut Service) {
    let me = getpid().as_raw();
    service.outboxes.retain(|outbox| {
        let keep = outbox.handles > 0 || !outbox.idle();
        if let (false, Some(slot)) = (keep, outbox.slot) {
            outbox.channel.peers.release(slot, me, me);
        }
        keep
    });
}

/// This process's slot in the queue's table.
pub(crate) fn slot(channel: &Channel) -> Option<usize> {
    service().outbox(channel.id).and_then(|o| o.slot)
}

/// Whether this process has items of the queue not yet in the ring.
pub(crate) fn has_waiting(channel: &Channel) -> bool {
    service().outbox(channel.id).is_some_and(|o| !o.idle())
}

/// `close()`: no more puts here; what waits is still written.
pub(crate) fn close(channel: &Channel) {
    let waiting = service().outbox(channel.id).is_some_and(|outbox| {
        outbox.closed = true;
        !outbox.idle()
    });
    // Logged with the lock released: logging takes locks that a fork takes before this one.
    if waiting {
        debug!("telling queue thread to quit");
    }
}

pub(crate) fn cancel_join_thread(channel: &Channel) {
    if let Some(outbox) = service().outbox(channel.id) {
        outbox.join_cancelled = true;
    }
}

thread_local! {
    /// Where `put` encodes, reused from one call to the next, so that small messages allocate
    /// nothing and large ones do not fault fresh pages in every time.
    static ENCODE_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// An empty buffer for `put` to encode into: the thread's own, or, if its last frame was large
/// and left with the service thread, the buffer of an earlier large frame that was kept.
pub(crate) fn encode_buffer(channel: &Channel) -> Vec<u8> {
    let mut buffer = ENCODE_BUFFER.take();
    if buffer.capacity() == 0 {
        buffer = service().outbox(channel.id).map(|o| std::mem::take(&mut o.spare_large)).unwrap_or_default();
    }
    buffer.clear();
    buffer
}

/// Gives back the buffer of [`encode_buffer`] (empty if `send` took its frame).
pub(crate) fn keep_encode_buffer(buffer: Vec<u8>) {
    ENCODE_BUFFER.set(buffer);
}

/// Sends one encoded frame: straight into the ring when nothing of ours is waiting and it fits,
/// else through the service thread. A large frame is moved out of `frame`, a small one copied.
/// `counted`: the item is already counted as pending in this process's slot (a bounded queue
/// counts before it waits for room); if not, it is counted here when it has to wait, so that
/// `qsize` sees it.
pub(crate) fn send(
    channel: &Arc<Channel>,
    frame: &mut Vec<u8>,
    counted: bool,
    call: QueueCall,
) -> Result<()> {
    let mut service = service();
    let Some(outbox) = service.outbox(channel.id) else { return Err(Error::Closed { call }) };
    if outbox.closed {
        return Err(Error::Closed { call });
    }
    if outbox.idle() && frame.len() <= MAX_CHUNK && try_write_now(channel, frame) {
        if let (true, Some(slot)) = (counted, outbox.slot) {
            channel.peers.add_pending(slot, -1);
        }
        return Ok(());
    }
    if !service.thread_running && !service.thread_starting {
        // Start the thread before the item is queued: if it cannot start, the put fails and
        // nothing was sent. The fork lock comes before ours: release ours meanwhile. (Another
        // thread that puts meanwhile queues its item for the thread being started.)
        service.thread_starting = true;
        drop(service);
        let started = start_thread();
        service = self::service();
        service.thread_starting = false;
        service.thread_running = started.is_ok();
        started?;
    }
    let Some(outbox) = service.outbox(channel.id) else { return Err(Error::Closed { call }) };
    if let (false, Some(slot)) = (counted, outbox.slot) {
        // Counted before the service thread can see it: it uncounts it once published.
        channel.peers.add_pending(slot, 1);
    }
    if frame.len() <= SMALL_FRAME {
        // Small frames join the last batch (never a buffer that holds one large frame).
        let batch =
            outbox.waiting.back_mut().filter(|b| b.len() + frame.len() <= BATCH_LIMIT && !is_large_frame(b));
        match batch {
            Some(batch) => batch.extend_from_slice(frame),
            None => {
                let mut batch = outbox.spare.pop().unwrap_or_default();
                batch.extend_from_slice(frame);
                outbox.waiting.push_back(batch);
            }
        }
    } else {
        outbox.waiting.push_back(std::mem::take(frame));
    }
    service.wake_thread();
    Ok(())
}

/// Copies a frame into the ring if the write lock is free and there is room, and publishes it.
fn try_write_now(channel: &Channel, frame: &[u8]) -> bool {
    let Ok(Some(mut writer)) = Ring::try_writer(&channel.ring) else { return false };
    writer.try_append_whole(frame) == Progress::Done
}

fn start_thread() -> Result<()> {
    debug!("Queue._start_thread()");
    debug!("doing self._thread.start()");
    lifecycle::spawn_service_thread("QueueFeederThread", Box::new(run))
        .map_err(Error::os("pthread_create (a Queue's service thread)"))?;
    debug!("... done self._thread.start()");
    Ok(())
}

/// A queue's items taken out of its outbox for the thread to write.
struct Batch {
    channel: Arc<Channel>,
    buffers: VecDeque<Vec<u8>>,
    /// Buffers written whole, to be reused.
    emptied: Vec<Vec<u8>>,
    sent: usize,
    slot: Option<usize>,
}

/// The service thread: writes what waits, queue by queue, never waiting on one queue while
/// another has room.
fn run() {
    debug!("starting thread to feed data to pipe");
    // Long messages in progress: their queue's write lock stays with this thread between turns.
    let mut writers: Vec<(u64, RingWriter<RingOf>)> = Vec::new();
    let mut turn = 0usize;
    loop {
        let batch = {
            let mut service = service();
            loop {
                let count = if service.stopped { 0 } else { service.outboxes.len() };
                let next = (0..count)
                    .map(|i| (turn + i) % count.max(1))
                    .find(|&i| !service.outboxes[i].waiting.is_empty() && !service.outboxes[i].in_flight);
                if let Some(i) = next {
                    turn = i + 1;
                    let outbox = &mut service.outboxes[i];
                    outbox.in_flight = true;
                    break Batch {
                        channel: Arc::clone(&outbox.channel),
                        buffers: std::mem::take(&mut outbox.waiting),
                        emptied: Vec::new(),
                        sent: outbox.sent,
                        slot: outbox.slot,
                    };
                }
                service.thread_asleep = true;
                service = WORK.wait(service).unwrap_or_else(|e| e.into_inner());
                service.thread_asleep = false;
            }
        };
        // The readers' position before the attempt: if the batch stops for lack of room, a take
        // since this moment is room, and the wait below must not sleep through it.
        let tail_before = batch.channel.ring.tail();
        let (written, blocked) = write_batch(batch, &mut writers);
        let blocked_channel = blocked.then(|| Arc::clone(&written.channel));
        give_back(written);
        if let Some(channel) = blocked_channel {
            wait_for_room_somewhere(channel, tail_before);
        }
    }
}

/// Writes what fits of a batch; returns what is left and whether it stopped for lack of room.
fn write_batch(mut batch: Batch, writers: &mut Vec<(u64, RingWriter<RingOf>)>) -> (Batch, bool) {
    let id = batch.channel.id;
    let mut published = 0;
    let mut blocked = false;
    // A long message in progress keeps its writer; otherwise take the lock for this turn (a
    // short wait: another process may be writing a long message).
    let writer = match writers.iter().position(|(w, _)| *w == id) {
        Some(i) => Some(writers.swap_remove(i).1),
        None => {
            Ring::writer_until(RingOf(Arc::clone(&batch.channel)), Instant::now() + Duration::from_millis(10))
                .ok()
                .flatten()
        }
    };
    let Some(mut writer) = writer else { return (batch, false) };
    'buffers: while let Some(buffer) = batch.buffers.front() {
        while batch.sent < buffer.len() {
            // A buffer is one large frame (sent may stop inside it, between chunks) or a batch
            // of small frames (sent stops between frames).
            let start = if is_large_frame(buffer) { 0 } else { batch.sent };
            let end = frame_end(buffer, start);
            let mut sent = batch.sent - start;
            let progress = if sent == 0 && end - start <= MAX_CHUNK {
                // Small: append now, publish once for the whole run of them.
                let progress = writer.try_append_whole(&buffer[start..end]);
                if progress == Progress::Done {
                    sent = end - start;
                }
                progress
            } else {
                writer.write_message(&buffer[start..end], &mut sent)
            };
            batch.sent = start + sent;
            if progress == Progress::NoRoom {
                blocked = true;
                break 'buffers;
            }
            published += 1;
        }
        batch.emptied.extend(batch.buffers.pop_front());
        batch.sent = 0;
    }
    writer.publish();
    if let (Some(slot), true) = (batch.slot, published > 0) {
        batch.channel.peers.add_pending(slot, -published);
    }
    if batch.buffers.front().is_some_and(|b| is_large_frame(b)) && batch.sent > 0 {
        // In the middle of a long message: keep the lock for the next turn, so that no other
        // message comes between its chunks. (Stopped between small frames, it is let go.)
        writers.push((id, writer));
    }
    (batch, blocked)
}

/// Whether a waiting buffer holds one frame larger than a batch takes.
fn is_large_frame(buffer: &[u8]) -> bool {
    buffer.len() > SMALL_FRAME && frame_end(buffer, 0) == buffer.len()
}

/// The end of the frame that starts at `start` of a buffer of whole frames.
fn frame_end(buffer: &[u8], start: usize) -> usize {
    let header: Option<[u8; wire::HEADER_LEN]> =
        buffer.get(start..start + wire::HEADER_LEN).and_then(|h| h.try_into().ok());
    // The buffer holds frames this process encoded, so the header is valid; if it were not, the
    // rest of the buffer would go as one message and its reader would report it.
    let len = header
        .and_then(|h| wire::parse_header(&h).ok())
        .map_or(buffer.len(), |len| start + wire::HEADER_LEN + len);
    len.min(buffer.len())
}

/// Puts what the thread did not write back at the front of its outbox.
fn give_back(batch: Batch) {
    let mut service = service();
    if let Some(outbox) = service.outbox(batch.channel.id) {
        let mut left = batch.buffers;
        left.append(&mut outbox.waiting);
        outbox.waiting = left;
        outbox.sent = batch.sent;
        outbox.in_flight = false;
        for mut buffer in batch.emptied {
            buffer.clear();
            if buffer.capacity() <= 2 * BATCH_LIMIT {
                if outbox.spare.len() < 4 {
                    outbox.spare.push(buffer);
                }
            } else if buffer.capacity() <= KEEP_BUFFER && outbox.spare_large.capacity() == 0 {
                outbox.spare_large = buffer;
            }
        }
    }
    forget_unused(&mut service);
    WRITTEN.notify_all();
}

/// Every queue with items waits for room: sleep until one of them has some (a reader took
/// something), or a new item comes, at most a tick.
fn wait_for_room_somewhere(channel: Arc<Channel>, tail_before: u64) {
    let mut state = service();
    let others_can_move = state.outboxes.iter().any(|o| o.channel.id != channel.id && !o.idle());
    state.sleeping_on_room = Some(Arc::clone(&channel));
    drop(state);
    // Another queue may be able to move: come back to it soon.
    let tick = if others_can_move { Duration::from_millis(1) } else { LIVENESS_TICK };
    channel.ring.wait_for_room(tail_before, tick);
    service().sleeping_on_room = None;
}

/// `join_thread()`: waits until this process's items of the queue are in the ring, or until no
/// other process is left that could make room for them (they then stay unsent: nobody could ever
/// read them, and waiting would never end).
pub(crate) fn flush(channel: &Channel) {
    let me = getpid().as_raw();
    let mut service = service();
    loop {
        let Some(outbox) = service.outbox(channel.id) else { return };
        if outbox.idle() {
            return;
        }
        let before = (outbox.waiting.len(), outbox.sent);
        service = WRITTEN.wait_timeout(service, LIVENESS_TICK).unwrap_or_else(|e| e.into_inner()).0;
        let Some(outbox) = service.outbox(channel.id) else { return };
        let stuck = !outbox.in_flight && (outbox.waiting.len(), outbox.sent) == before;
        if stuck && !outbox.channel.peers.sweep(me).others_alive {
            drop(service);
            info!("queue: no process is left to read what this process put; not waiting for it");
            return;
        }
    }
}

/// Exit, first phase (CPython's `_finalize_close`, priority 10).
fn finalize_close_all() {
    let waiting = service().outboxes.iter().filter(|o| !o.idle()).count();
    for _ in 0..waiting {
        debug!("telling queue thread to quit");
    }
}

/// Exit, last phase (CPython's `_finalize_join`, priority -5): wait for every queue's items to
/// reach the ring, then leave every queue's table of processes.
fn finalize_join_all() {
    let channels: Vec<Arc<Channel>> = service()
        .outboxes
        .iter()
        .filter(|o| !o.join_cancelled && !o.idle())
        .map(|o| Arc::clone(&o.channel))
        .collect();
    for channel in channels {
        debug!("joining queue thread");
        flush(&channel);
        debug!("... queue thread joined");
    }
    // The thread writes nothing more (what is left was given up), and whatever it is writing
    // now is finished before this process leaves the tables: an item published after that
    // would be counted for a slot that may already be another process's.
    let mut service = service();
    service.stopped = true;
    while service.outboxes.iter().any(|o| o.in_flight) {
        service = WRITTEN.wait_timeout(service, LIVENESS_TICK).unwrap_or_else(|e| e.into_inner()).0;
    }
    let me = getpid().as_raw();
    for outbox in &mut service.outboxes {
        if let Some(slot) = outbox.slot.take() {
            outbox.channel.peers.release(slot, me, me);
        }
    }
}
