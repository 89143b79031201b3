//! The cross-process half of a queue: one mapping of shared memory, the same in every process,
//! with the ring of messages (`ring.rs`), the table of the processes that hold the queue
//! (`peers.rs`) and the counters.
//!
//! It is made before the processes that use it are forked, and every child inherits the mapping;
//! nothing of it is per process (that is `service.rs`).

use std::io;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::error::{Error, QueueCall, Result};
use crate::shm::{Locked, ProcessShared, RobustMutex, SharedMemory};

use super::peers::Peers;
use super::ring::{LIVENESS_TICK, Ring};

/// What lives in a queue's shared memory.
#[repr(C)]
pub(crate) struct QueueShm {
    pub(crate) ring: Ring,
    pub(crate) peers: Peers,
    /// Held while a bounded queue's `put` counts the items and takes a place: so two puts cannot
    /// both take the last one.
    room_lock: RobustMutex,
}

// SAFETY: all-zero is a valid QueueShm: an empty ring with zero positions, an empty peer table,
// zero counters; the three mutexes are initialised in place by `Channel::new` before anyone else
// can see them. Every field is an atomic, a process-shared mutex, or ring bytes guarded by one.
unsafe impl ProcessShared for QueueShm {}

/// One queue's shared memory and its bound, as every process sees it.
pub(crate) struct Channel {
    shm: SharedMemory<QueueShm>,
    pub(crate) maxsize: u32,
    /// Tells this queue's per-process state apart from other queues' (unique in the program).
    pub(crate) id: u64,
}

impl Deref for Channel {
    type Target = QueueShm;
    fn deref(&self) -> &QueueShm {
        &self.shm
    }
}

/// A channel as an owner of its ring, for a writer that keeps the write lock across calls.
#[derive(Clone)]
pub(crate) struct RingOf(pub(crate) Arc<Channel>);

impl Deref for RingOf {
    type Target = Ring;
    fn deref(&self) -> &Ring {
        &self.0.ring
    }
}

impl Channel {
    pub(crate) fn new(maxsize: u32) -> Result<Channel> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shm = SharedMemory::<QueueShm>::new().map_err(Error::os("mmap (a Queue's shared memory)"))?;
        // SAFETY: the mapping was just created; no other thread or process can see it yet.
        unsafe {
            shm.ring.init().map_err(Error::os("pthread_mutex_init (a Queue's locks)"))?;
            shm.room_lock.init().map_err(Error::os("pthread_mutex_init (a Queue's locks)"))?;
        }
        Ok(Channel { shm, maxsize, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) })
    }

    /// Items in the queue: published in the ring and not yet taken, plus put by a live process
    /// and not yet published.
    pub(crate) fn qsize(&self) -> u32 {
        self.ring.messages().saturating_add(self.peers.pending())
    }

    /// For a bounded queue: waits until there is room (at most until `deadline`), then counts one
    /// more pending item in `slot` (this process's) and returns true. An unbounded queue needs no
    /// place: nothing is counted here (`service::send` counts an item only if it has to wait),
    /// unless `task` (a `JoinableQueue`'s put: if this process dies before the item is in the
    /// ring, its count is how `join` learns that the task will never come).
    pub(crate) fn reserve(
        &self,
        slot: Option<usize>,
        deadline: Option<Instant>,
        task: bool,
        call: QueueCall,
    ) -> Result<bool> {
        // A process without a slot (more than MAX_PEERS hold the queue) is not counted.
        let count_one = || slot.map(|slot| self.peers.add_pending(slot, 1)).is_some();
        if self.maxsize == 0 {
            return Ok(task && count_one());
        }
        let mut swept = false;
        loop {
            // Without the caller's deadline: the lock is held only to count, so waiting for it is
            // short, while a past deadline (`put_nowait`) would answer Full merely because
            // another process was counting (a dead holder is EOWNERDEAD, not a wait).
            let guard = match self
                .room_lock
                .lock(None)
                .map_err(Error::os("pthread_mutex_lock (a bounded Queue's room lock)"))?
            {
                Locked::Acquired(guard) => guard,
                Locked::TimedOut => continue,
            };
            // A holder that died here held nothing that needs repair: the counts are atomics
            // that it either changed or did not. The readers' position is read before the count,
            // so that a take after the count wakes the wait below.
            let tail = self.ring.tail();
            if self.qsize() < self.maxsize {
                return Ok(count_one());
            }
            drop(guard);
            if !swept {
                // Full: first make sure no dead process's pending items take the places.
                self.peers.sweep(nix::unistd::getpid().as_raw());
                swept = true;
                continue;
            }
            let now = Instant::now();
            let wait = match deadline {
                Some(deadline) if now >= deadline => return Err(Error::Full { call }),
                Some(deadline) => (deadline - now).min(LIVENESS_TICK),
                None => LIVENESS_TICK,
            };
            self.ring.wait_for_room(tail, wait);
            swept = false;
        }
    }
}

/// Turns a ring error (only memory corruption causes one) into the crate's error.
pub(crate) fn ring_error(error: io::Error) -> Error {
    if error.kind() == io::ErrorKind::InvalidData {
        Error::CorruptFrame(error.to_string())
    } else {
        // The ring's only system calls are its read lock's (`try_reader`, `reader`).
        Error::Io { call: "pthread_mutex_lock (a Queue's read lock)", source: error }
    }
}
