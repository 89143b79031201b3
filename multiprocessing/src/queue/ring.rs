//! The queue's ring: a circular buffer of records in shared memory, that a process killed at any
//! instant leaves consistent.
//!
//! # Why not a pipe
//!
//! CPython's queue is a pipe, and this crate's was too. A pipe cannot survive a reader killed at
//! the wrong instant: `read(2)` moves bytes out of the kernel and the reader then writes down
//! where the message ended, and nothing makes those two steps one. A reader killed between them
//! takes the frame boundary with it, and every later reader is misaligned for good. Whatever a
//! reader records before or after a system call, a kill can land in between.
//!
//! In shared memory the step that takes a message is a single atomic store, so there is no "in
//! between": a reader either has taken the message (it advanced `tail`) or has not (the message
//! is still there for the next reader). The same holds for writers, who copy a record into free
//! space and then make it visible with one store of `head`. A writer killed before that store
//! wrote nothing anyone can see.
//!
//! # Layout
//!
//! ```text
//!   tail (taken up to here)                   head (published up to here)
//!     v                                         v
//! ... | kind len payload... | kind len payload... | free space ... (wraps around)
//! ```
//!
//! `head` and `tail` are byte positions that only grow (modulo 2^32; the ring is far smaller), each
//! packed in one 64-bit word with a count of messages (published, taken), so that a message is
//! taken *and counted* by one store. A record is an 8-byte header (kind, payload length) and its
//! payload, padded to 8 bytes; a record never wraps (a `PAD` record fills the end of the ring).
//!
//! # Messages larger than a record
//!
//! A message up to [`MAX_CHUNK`] bytes is one `WHOLE` record. A larger one is a `FIRST` record,
//! `MORE` records and a `LAST` one, written by one writer holding the write lock throughout, so
//! no other message comes between them; the reader holds the read lock for the whole message and
//! takes each chunk as it decodes, which makes room for the next. Deaths in the middle:
//!
//! - A writer killed mid-message: the next holder of the write lock learns it from the robust
//!   lock (`EOWNERDEAD`) and the `writer_mid_message` flag, and writes an `ABORT` record. A reader
//!   waiting for the rest takes the write lock itself, once per tick, to find out. The partial
//!   message is dropped; the messages before and after it are intact.
//! - A reader killed mid-message: the next reader finds `MORE`/`LAST` records that do not follow a
//!   `FIRST` it read, and skips them up to the `LAST` (or `ABORT`). That one message is lost: it is
//!   the message the dead reader held.

use std::cell::UnsafeCell;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::shm::{Locked, RobustGuard, RobustMutex, futex_wait, futex_wake_all};

/// How long a blocked reader or writer sleeps between checks of its peers.
pub(crate) const LIVENESS_TICK: Duration = Duration::from_millis(100);

/// Bytes in a ring. Only the pages that are used cost memory.
pub(crate) const RING_BYTES: usize = 1 << 20;

/// The largest payload of one record: larger messages travel in chunks of this size. A quarter of
/// the ring, so a record always fits once the readers have caught up (see `fits`).
pub(crate) const MAX_CHUNK: usize = RING_BYTES / 4;

const RECORD_HEADER: usize = 8;

/// Record kinds.
const WHOLE: u32 = 1;
const FIRST: u32 = 2;
const MORE: u32 = 3;
const LAST: u32 = 4;
const ABORT: u32 = 5;
const PAD: u32 = 6;

/// The shared half of a ring.
///
/// The fields that one side writes often and the other reads are each on a cache line of their
/// own (`Line`), so that a writer publishing does not take away from the reader's core the line
/// the reader is about to write, and the other way round. Each side also keeps the last value
/// it saw of the other side's position (`tail_seen`, `head_seen`) and looks at the real one only
/// when that is not enough: a busy producer and consumer then meet in memory once per batch of
/// messages, not once per message.
#[repr(C)]
pub(crate) struct Ring {
    write_lock: Line<RobustMutex>,
    read_lock: Line<RobustMutex>,
    /// Published end: byte position in the low 32 bits, messages published in the high 32.
    /// Stored only by the write-lock holder.
    head: Line<AtomicU64>,
    /// `tail` as writers last saw it (never ahead of it). Only the write-lock holder touches it.
    tail_seen: Line<AtomicU64>,
    /// Taken start: byte position in the low 32 bits, messages taken in the high 32. Stored only
    /// by the read-lock holder.
    tail: Line<AtomicU64>,
    /// `head` as readers last saw it (never ahead of it). Only the read-lock holder touches it.
    head_seen: Line<AtomicU64>,
    /// How many readers sleep, or are about to, on `head_changes`, a futex word bumped when
    /// `head` moves while someone sleeps. Written only around sleeps, read at every publish.
    readers_waiting: Line<AtomicU32>,
    head_changes: Line<AtomicU32>,
    /// The same for writers waiting for room, on `tail_changes`.
    writers_waiting: Line<AtomicU32>,
    tail_changes: Line<AtomicU32>,
    /// 1 while the write-lock holder is between the first and the last chunk of a message.
    writer_mid_message: AtomicU32,
    /// 1 when an `ABORT` record is owed: a writer died mid-message and there was no room yet.
    abort_owed: AtomicU32,
    bytes: RingBytes,
}

/// A value alone on its cache line (64 bytes on the machines this runs on).
#[repr(C, align(64))]
struct Line<T>(T);

impl<T> Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct RingBytes(UnsafeCell<[u8; RING_BYTES]>);

// SAFETY: the bytes are only touched through `RingWriter` (free space, while holding the write
// lock) and `RingReader` (published records, while holding the read lock); `head` and `tail`,
// stored with Release and loaded with Acquire, hand each byte from the one to the other.
unsafe impl Sync for RingBytes {}

fn pos(word: u64) -> u32 {
    word as u32
}

fn count(word: u64) -> u32 {
    (word >> 32) as u32
}

fn pack(pos: u32, count: u32) -> u64 {
    ((count as u64) << 32) | pos as u64
}

fn padded(len: usize) -> usize {
    (RECORD_HEADER + len).next_multiple_of(8)
}

impl Ring {
    /// Initialises the two locks in place.
    ///
    /// # Safety
    ///
    /// Call once, on a zeroed ring that no other thread or process can see yet.
    pub(crate) unsafe fn init(&self) -> io::Result<()> {
        // SAFETY: the caller guarantees no one else uses the ring yet.
        unsafe {
            self.write_lock.init()?;
            self.read_lock.init()
        }
    }

    /// Messages published and not yet taken.
    pub(crate) fn messages(&self) -> u32 {
        // Taken first: `taken` only grows towards `published`, so reading it before `published`
        // never gives taken > published.
        let taken = count(self.tail.load(Ordering::SeqCst));
        let published = count(self.head.load(Ordering::SeqCst));
        published.wrapping_sub(taken)
    }

    /// Whether there are published bytes not yet taken (records of any kind).
    pub(crate) fn has_records(&self) -> bool {
        pos(self.head.load(Ordering::SeqCst)) != pos(self.tail.load(Ordering::SeqCst))
    }

    fn slice(&self, at: usize, len: usize) -> *mut u8 {
        debug_assert!(at + len <= RING_BYTES);
        // SAFETY: `at + len` is within the ring (checked by every caller); the pointer is only
        // used under the lock that owns those bytes (see `RingBytes`).
        unsafe { (self.bytes.0.get() as *mut u8).add(at) }
    }

    /// Sleeps until a writer publishes past `tail`, at most `timeout`.
    pub(crate) fn wait_for_records(&self, timeout: Duration) {
        wait_on(&self.head, &self.head_changes, &self.readers_waiting, timeout, |head| {
            pos(head) == pos(self.tail.load(Ordering::SeqCst))
        });
    }

    /// The readers' position now, for a later [`wait_for_room`](Ring::wait_for_room).
    pub(crate) fn tail(&self) -> u64 {
        self.tail.load(Ordering::SeqCst)
    }

    /// Sleeps until `tail` moves from `seen` (a reader made room), at most `timeout`. `seen` is
    /// the position the caller judged the room by, read *before* it found none: read here, it
    /// would miss a reader's take between the two, and sleep a whole slice for nothing.
    pub(crate) fn wait_for_room(&self, seen: u64, timeout: Duration) {
        wait_on(&self.tail, &self.tail_changes, &self.writers_waiting, timeout, |tail| tail == seen);
    }

    /// Wakes the writers that wait for room (room appeared some other way than a reader's take).
    pub(crate) fn wake_writers(&self) {
        wake(&self.tail_changes, &self.writers_waiting);
    }

    /// The word a thread sleeps on in [`wait_for_room`](Ring::wait_for_room): waking it
    /// (`futex_wake_all`) interrupts that sleep.
    pub(crate) fn room_word(&self) -> &AtomicU32 {
        &self.tail_changes
    }

    /// Takes the write lock if it is free.
    pub(crate) fn try_writer<R: Deref<Target = Ring>>(ring: R) -> io::Result<Option<RingWriter<R>>> {
        let owner_died = match ring.write_lock.try_lock()? {
            Locked::Acquired(guard) => guard.keep(),
            Locked::TimedOut => return Ok(None),
        };
        Ok(Some(RingWriter::new(ring, owner_died)))
    }

    /// Takes the write lock, waiting until `deadline` at most.
    pub(crate) fn writer_until<R: Deref<Target = Ring>>(
        ring: R,
        deadline: Instant,
    ) -> io::Result<Option<RingWriter<R>>> {
        let owner_died = match ring.write_lock.lock(Some(deadline))? {
            Locked::Acquired(guard) => guard.keep(),
            Locked::TimedOut => return Ok(None),
        };
        Ok(Some(RingWriter::new(ring, owner_died)))
    }

    /// Takes the read lock if it is free. The common case of a `get`, tried first because it
    /// needs no clock: computing a deadline costs more than the lock itself.
    pub(crate) fn try_reader(&self) -> io::Result<Option<RingReader<'_>>> {
        Ok(self.reader_if_taken(self.read_lock.try_lock()?))
    }

    /// Takes the read lock, waiting until `deadline` (forever when `None`).
    pub(crate) fn reader(&self, deadline: Option<Instant>) -> io::Result<Option<RingReader<'_>>> {
        Ok(self.reader_if_taken(self.read_lock.lock(deadline)?))
    }

    /// The reader that holds the read lock, if it was taken.
    fn reader_if_taken<'a>(&'a self, locked: Locked<'a>) -> Option<RingReader<'a>> {
        match locked {
            Locked::Acquired(guard) => {
                Some(RingReader { ring: self, _guard: guard, tail: self.tail.load(Ordering::Acquire) })
            }
            Locked::TimedOut => None,
        }
    }
}

/// Sleeps on `word` while `unchanged(watched)` holds, at most `timeout`. The waiter count and the
/// re-check after counting ourselves in make a wake-up impossible to miss: either the other side
/// sees the count and bumps `word` (so the futex does not sleep), or we see its change.
fn wait_on(
    watched: &AtomicU64,
    word: &AtomicU32,
    waiting: &AtomicU32,
    timeout: Duration,
    unchanged: impl Fn(u64) -> bool,
) {
    waiting.fetch_add(1, Ordering::SeqCst);
    let seen = word.load(Ordering::SeqCst);
    if unchanged(watched.load(Ordering::SeqCst)) {
        futex_wait(word, seen, Some(timeout));
    }
    waiting.fetch_sub(1, Ordering::SeqCst);
}

fn wake(word: &AtomicU32, waiting: &AtomicU32) {
    if waiting.load(Ordering::SeqCst) > 0 {
        word.fetch_add(1, Ordering::SeqCst);
        futex_wake_all(word);
    }
}

/// What a writer could do with a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The whole message is published.
    Done,
    /// Part or none of it: the ring has no room for the next record.
    NoRoom,
}

/// The holder of a ring's write lock. Holds it until dropped (it may be kept across calls, by the
/// thread that took it), and publishes what it appended when dropped at the latest.
pub(crate) struct RingWriter<R: Deref<Target = Ring>> {
    ring: R,
    /// `head` as this writer will publish it.
    head: u64,
    /// Appended records not yet published.
    unpublished: bool,
    /// A robust mutex belongs to the thread that locked it: the writer must stay on it.
    _not_send: PhantomData<*const ()>,
}

impl<R: Deref<Target = Ring>> RingWriter<R> {
    /// Wraps the write lock, just taken by this thread (its guard kept with `keep`).
    fn new(ring: R, owner_died: bool) -> RingWriter<R> {
        let head = ring.head.load(Ordering::Acquire);
        let mut writer = RingWriter { ring, head, unpublished: false, _not_send: PhantomData };
        if owner_died && writer.ring.writer_mid_message.load(Ordering::SeqCst) != 0 {
            // The previous holder died between the chunks of a message: close it with ABORT so
            // readers drop what they have of it. The debt is written down before the flag is
            // lowered, so that dying in between leaves one or the other for the next holder.
            writer.ring.abort_owed.store(1, Ordering::SeqCst);
            writer.ring.writer_mid_message.store(0, Ordering::SeqCst);
        }
        writer.pay_abort_owed();
        writer
    }

    fn pay_abort_owed(&mut self) -> bool {
        if self.ring.abort_owed.load(Ordering::SeqCst) == 0 {
            return true;
        }
        if !self.append(ABORT, &[]) {
            return false;
        }
        self.publish();
        self.ring.abort_owed.store(0, Ordering::SeqCst);
        true
    }

    /// Whether a record of `len` payload bytes fits now; the padding it needs first.
    /// Looks at the readers' `tail` only when the last value seen of it leaves too little room.
    fn fits(&self, len: usize) -> Option<usize> {
        let seen = self.ring.tail_seen.load(Ordering::Acquire);
        self.fits_before(len, seen).or_else(|| {
            let tail = self.ring.tail.load(Ordering::Acquire);
            self.ring.tail_seen.store(tail, Ordering::Release);
            self.fits_before(len, tail)
        })
    }

    fn fits_before(&self, len: usize, tail: u64) -> Option<usize> {
        let size = padded(len);
        let tail = pos(tail);
        let used = pos(self.head).wrapping_sub(tail) as usize;
        let free = RING_BYTES.saturating_sub(used);
        let at = pos(self.head) as usize % RING_BYTES;
        let to_end = RING_BYTES - at;
        if size <= to_end { (size <= free).then_some(0) } else { (to_end + size <= free).then_some(to_end) }
    }

    /// Copies one record into free space, if it fits; not visible until `publish`.
    fn append(&mut self, kind: u32, payload: &[u8]) -> bool {
        debug_assert!(payload.len() <= MAX_CHUNK);
        let Some(pad) = self.fits(payload.len()) else { return false };
        if pad > 0 {
            self.write_record(PAD, &[], pad);
        }
        self.write_record(kind, payload, padded(payload.len()));
        if kind == WHOLE || kind == LAST {
            self.head = pack(pos(self.head), count(self.head).wrapping_add(1));
        }
        true
    }

    fn write_record(&mut self, kind: u32, payload: &[u8], size: usize) {
        let at = pos(self.head) as usize % RING_BYTES;
        let mut header = [0u8; RECORD_HEADER];
        header[..4].copy_from_slice(&kind.to_le_bytes());
        // A PAD record's length covers the rest of the ring; others', their payload.
        let len = if kind == PAD { size - RECORD_HEADER } else { payload.len() };
        header[4..].copy_from_slice(&(len as u32).to_le_bytes());
        // SAFETY: `fits` checked that `size` bytes from `at` are free space inside the ring, which
        // no reader looks at (they stop at the published head) and no other writer touches (we
        // hold the write lock); `payload` is a separate allocation, so the copies do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(header.as_ptr(), self.ring.slice(at, size), RECORD_HEADER);
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                self.ring.slice(at + RECORD_HEADER, payload.len()),
                payload.len(),
            );
        }
        self.head = pack(pos(self.head).wrapping_add(size as u32), count(self.head));
        self.unpublished = true;
    }

    /// Makes the appended records visible to readers, and wakes any that sleep.
    pub(crate) fn publish(&mut self) {
        if self.unpublished {
            self.ring.head.store(self.head, Ordering::SeqCst);
            self.unpublished = false;
            wake(&self.ring.head_changes, &self.ring.readers_waiting);
        }
    }

    /// Appends a message of at most [`MAX_CHUNK`] bytes as one record, if it fits now (not
    /// published until [`publish`](RingWriter::publish)).
    pub(crate) fn try_append_whole(&mut self, frame: &[u8]) -> Progress {
        if !self.pay_abort_owed() || !self.append(WHOLE, frame) {
            return Progress::NoRoom;
        }
        Progress::Done
    }

    /// Writes as much of `frame` as fits, from `*sent` on, publishing each chunk; a message of
    /// at most [`MAX_CHUNK`] bytes goes as one record. The writer must be kept (and the lock
    /// with it) until `Done` is returned, or the message is aborted.
    pub(crate) fn write_message(&mut self, frame: &[u8], sent: &mut usize) -> Progress {
        if !self.pay_abort_owed() {
            return Progress::NoRoom;
        }
        if *sent == 0 && frame.len() <= MAX_CHUNK {
            if !self.append(WHOLE, frame) {
                return Progress::NoRoom;
            }
            *sent = frame.len();
            self.publish();
            return Progress::Done;
        }
        while *sent < frame.len() {
            let end = (*sent + MAX_CHUNK).min(frame.len());
            let kind = match (*sent, end == frame.len()) {
                (0, _) => FIRST,
                (_, true) => LAST,
                (_, false) => MORE,
            };
            if kind == FIRST {
                // Raised before the first chunk is visible, lowered after the last one is: a
                // writer found dead with it raised owes readers an ABORT.
                self.ring.writer_mid_message.store(1, Ordering::SeqCst);
            }
            if !self.append(kind, &frame[*sent..end]) {
                return Progress::NoRoom;
            }
            self.publish();
            *sent = end;
        }
        self.ring.writer_mid_message.store(0, Ordering::SeqCst);
        Progress::Done
    }

    /// Gives up a message that `write_message` had started (this process is exiting and nobody
    /// can make room): readers drop what they have of it.
    pub(crate) fn abort_message(&mut self) {
        if self.ring.writer_mid_message.load(Ordering::SeqCst) != 0 {
            self.ring.abort_owed.store(1, Ordering::SeqCst);
            self.ring.writer_mid_message.store(0, Ordering::SeqCst);
            self.pay_abort_owed();
        }
    }
}

impl<R: Deref<Target = Ring>> Drop for RingWriter<R> {
    fn drop(&mut self) {
        // A message left half-written is given up, so that readers are not kept waiting for it.
        self.abort_message();
        self.publish();
        // SAFETY: a `RingWriter` is made only by `new`, from a guard of the write lock taken by
        // this thread (it is not `Send`), and this is the one place that releases it.
        unsafe { self.ring.write_lock.unlock() };
    }
}

/// A record as a reader sees it.
enum Record<'a> {
    /// A whole message, or a chunk of one.
    Data { kind: u32, payload: &'a [u8] },
    /// An `ABORT`: the message in progress was given up by its dead writer.
    Abort,
}

/// What went wrong with a record's header: only memory corruption can cause it.
pub(crate) fn corrupt_ring(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the queue's shared ring is corrupt: {why}"))
}

/// The holder of a ring's read lock, for the duration of one `get`.
pub(crate) struct RingReader<'a> {
    ring: &'a Ring,
    _guard: RobustGuard<'a>,
    /// `tail` as this reader will commit it.
    tail: u64,
}

/// What the next message is, from a reader's side.
pub(crate) enum Next<'r, 'a> {
    /// Nothing is published yet.
    Nothing,
    /// A whole message: take it with [`RingReader::commit`] once read.
    Whole(&'r [u8]),
    /// The first chunk of a long message: read on through the [`Chunks`].
    Chunked(Chunks<'r, 'a>),
}

impl<'a> RingReader<'a> {
    /// The next message, skipping padding and the remains of messages whose reader or writer
    /// died. Skipped records are taken (committed) at once.
    pub(crate) fn next(&mut self) -> io::Result<Next<'_, 'a>> {
        loop {
            let Some(record) = self.peek()? else { return Ok(Next::Nothing) };
            match record {
                (Record::Data { kind: WHOLE, payload }, _) => return Ok(Next::Whole(payload)),
                (Record::Data { kind: FIRST, payload }, size) => {
                    return Ok(Next::Chunked(Chunks { reader: self, current: payload, size, last: false }));
                }
                (Record::Data { kind: LAST, .. }, size) => {
                    // The end of a message whose reader died: it counts as taken (it was lost).
                    self.advance(size, true);
                }
                (_, size) => self.advance(size, false),
            }
        }
    }

    /// The record at `tail`, and its size in the ring; `None` if nothing is published.
    fn peek(&self) -> io::Result<Option<(Record<'a>, usize)>> {
        // The last head seen first; the writers' line only when everything up to it is taken.
        let mut head = self.ring.head_seen.load(Ordering::Acquire);
        if pos(head) == pos(self.tail) {
            head = self.ring.head.load(Ordering::Acquire);
            self.ring.head_seen.store(head, Ordering::Release);
        }
        let available = pos(head).wrapping_sub(pos(self.tail)) as usize;
        if available == 0 {
            return Ok(None);
        }
        let at = pos(self.tail) as usize % RING_BYTES;
        if !(RECORD_HEADER..=RING_BYTES).contains(&available) || at + RECORD_HEADER > RING_BYTES {
            return Err(corrupt_ring("head and tail disagree"));
        }
        let mut header = [0u8; RECORD_HEADER];
        // SAFETY: the 8 bytes at `at` are a published record header (available >= 8, within the
        // ring): the writer stored them before its Release store of `head`, which we loaded with
        // Acquire; no writer touches them until we move `tail` past them.
        unsafe { std::ptr::copy_nonoverlapping(self.ring.slice(at, RECORD_HEADER), header.as_mut_ptr(), 8) };
        let kind = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
        let size = padded(len);
        if size > available || at + size > RING_BYTES || (kind != PAD && len > MAX_CHUNK) {
            return Err(corrupt_ring("a record runs past the published end"));
        }
        let record = match kind {
            ABORT => Record::Abort,
            WHOLE | FIRST | MORE | LAST | PAD => {
                // SAFETY: as for the header: `len` published bytes follow it inside the ring.
                let payload = unsafe { std::slice::from_raw_parts(self.ring.slice(at + 8, len), len) };
                Record::Data { kind, payload }
            }
            _ => return Err(corrupt_ring("unknown record kind")),
        };
        Ok(Some((record, size)))
    }

    fn advance(&mut self, size: usize, message_done: bool) {
        let taken = count(self.tail).wrapping_add(message_done as u32);
        self.tail = pack(pos(self.tail).wrapping_add(size as u32), taken);
        // One store takes the record and counts the message: nothing can die in between.
        self.ring.tail.store(self.tail, Ordering::SeqCst);
        wake(&self.ring.tail_changes, &self.ring.writers_waiting);
    }

    /// Takes the whole message returned by [`next`](RingReader::next).
    pub(crate) fn commit_whole(&mut self, payload_len: usize) {
        self.advance(padded(payload_len), true);
    }

    /// For a reader in the middle of a chunked message that has nothing more to read: `None`
    /// while some writer holds the write lock (the writer of the message keeps it between
    /// chunks). Else the writer is gone: taking the lock runs the recovery of `RingWriter::new`
    /// (an ABORT if the dead writer's flag says so), and the answer is whether a record now
    /// follows.
    fn writer_gone(&self) -> Option<bool> {
        let writer = Ring::try_writer(self.ring).ok().flatten()?;
        let follows = self.ring.has_records();
        drop(writer);
        Some(follows)
    }

    /// Waits until more records are published, at most `timeout`: first spinning as the crate's
    /// waits do (`spin.rs`: a writer on another core usually publishes within that time, and a
    /// sleep and a wake-up through the kernel cost ten times more), then asleep on the futex.
    pub(crate) fn wait(&self, timeout: Duration) {
        let started = Instant::now();
        if crate::spin::until_true(started.checked_add(timeout), || self.ring.has_records()) {
            return;
        }
        self.ring.wait_for_records(timeout.saturating_sub(started.elapsed()));
    }
}

/// A long message, chunk by chunk, for a decoder that reads it as a stream.
pub(crate) struct Chunks<'r, 'a> {
    reader: &'r mut RingReader<'a>,
    /// The unread part of the current chunk.
    current: &'a [u8],
    /// The ring size of the current chunk's record, to take it once read.
    size: usize,
    /// The current chunk is the message's last.
    last: bool,
}

/// Why a long message stopped before its end.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// Its writer died half-way; the message was dropped.
    Aborted,
    /// The ring itself is damaged (only memory corruption causes it).
    Error(io::Error),
}

impl Chunks<'_, '_> {
    /// Reads up to `buf.len()` bytes of the message; 0 at its end. Waits for chunks that are on
    /// their way: as long as the writer lives, since a message begun must be finished.
    pub(crate) fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, Stopped> {
        loop {
            if !self.current.is_empty() {
                let n = buf.len().min(self.current.len());
                buf[..n].copy_from_slice(&self.current[..n]);
                self.current = &self.current[n..];
                return Ok(n);
            }
            if self.last {
                return Ok(0);
            }
            // Take the chunk we finished (making room for the writer), then the next one.
            if self.size > 0 {
                self.reader.advance(self.size, false);
                self.size = 0;
            }
            match self.reader.peek().map_err(Stopped::Error)? {
                Some((Record::Data { kind: kind @ (MORE | LAST), payload }, size)) => {
                    self.current = payload;
                    self.last = kind == LAST;
                    self.size = size;
                }
                Some((Record::Abort, size)) => {
                    self.reader.advance(size, false);
                    return Err(Stopped::Aborted);
                }
                Some((Record::Data { kind: PAD, .. }, size)) => self.reader.advance(size, false),
                Some((Record::Data { .. }, _)) => {
                    // A new message where a chunk should be: the writer died and another wrote.
                    // Leave that message for the next read.
                    return Err(Stopped::Aborted);
                }
                None => match self.reader.writer_gone() {
                    // The ABORT that the recovery wrote, or a new writer's message: read on.
                    Some(true) => {}
                    // The write lock is free and nothing follows: a live writer keeps the lock
                    // between chunks, so this message can never be finished.
                    Some(false) => return Err(Stopped::Aborted),
                    // Its writer holds the lock: the next chunk is on its way.
                    None => self.reader.wait(LIVENESS_TICK),
                },
            }
        }
    }

    /// Takes the rest of the message, whatever the decoder left of it.
    pub(crate) fn finish(mut self) -> Result<usize, Stopped> {
        let mut skipped = 0;
        let mut sink = [0u8; 4096];
        loop {
            match self.read_some(&mut sink)? {
                0 => break,
                n => skipped += n,
            }
        }
        self.reader.advance(self.size, true);
        Ok(skipped)
    }
}
