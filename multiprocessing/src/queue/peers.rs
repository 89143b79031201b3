//! Which processes hold a queue, and what each of them has in flight.
//!
//! A table in the queue's shared memory, one slot per process: its pid, the items it has put and
//! not yet published into the ring (`pending`: they are in that process's memory, waiting for
//! room), and, for a `JoinableQueue`, the tasks it has taken and not yet marked done (`held`).
//!
//! The table answers three questions that a process cannot answer alone:
//!
//! - *Can anything still arrive?* Only from a live process that holds the queue. When every other
//!   slot is free or names a dead process, a `get` on an empty ring would wait forever, and says
//!   `Disconnected` instead.
//! - *How many items are in the queue?* Those in the ring plus those pending in live processes;
//!   the pending items of a dead process died with it and are not counted, so a bounded queue
//!   never loses capacity to a process killed between `put` and publishing.
//! - *Who died holding tasks?* A dead slot with `held > 0`: `JoinableQueue::join` names it.
//!
//! A process is attached by its parent at `fork` (before any lock is released, so the child is
//! never missing from the table) and detached when it exits or drops its last handle. A killed
//! process cannot detach itself: whoever next finds its pid dead frees the slot ("sweeps" it).
//! Each slot is written only by its own process, except by the one sweeper that frees it.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// Slots per queue. A process beyond this many attached at once is not tracked, and while one is
/// untracked the queue never concludes that every peer is gone (it waits, as CPython does).
pub(crate) const MAX_PEERS: usize = 1024;

/// A slot being freed by a sweeper: neither free nor anyone's.
const FREEING: i32 = -1;

#[repr(C)]
struct Peer {
    pid: AtomicI32,
    /// Items put by this process and not yet published into the ring.
    pending: AtomicU32,
    /// `JoinableQueue` tasks taken by this process and not yet marked done.
    held: AtomicU32,
    _reserved: AtomicU32,
}

/// The table, in shared memory (all zero: empty).
#[repr(C)]
pub(crate) struct Peers {
    slots: [Peer; MAX_PEERS],
    /// Every used slot is below this index.
    high_water: AtomicU32,
    /// 1 once a second process has attached: before that, "every peer is gone" means nothing.
    shared: AtomicU32,
    /// Processes that found no free slot. Never decreases: their death cannot be noticed.
    untracked: AtomicU32,
    /// `JoinableQueue`: tasks put and not yet marked done. A futex word: `join` sleeps on it.
    pub(crate) unfinished: AtomicU32,
    /// Tasks written off because their holder died, not yet reported by a `join`, and the pid of
    /// the last such holder.
    lost_tasks: AtomicU32,
    lost_tasks_pid: AtomicI32,
}

/// What a sweep found.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    /// Some process other than the sweeper holds the queue and may be running.
    pub(crate) others_alive: bool,
}

impl Peers {
    /// Gives `pid` a slot; `None` when the table is full even after sweeping the dead.
    /// `child` marks the queue as shared between processes.
    pub(crate) fn attach(&self, pid: i32, child: bool) -> Option<usize> {
        if child {
            self.shared.store(1, Ordering::SeqCst);
        }
        for attempt in 0..2 {
            for (index, slot) in self.slots.iter().enumerate() {
                if slot.pid.load(Ordering::SeqCst) != 0 {
                    continue;
                }
                // Raised first, so that a slot is never taken where sweepers do not look.
                self.high_water.fetch_max(index as u32 + 1, Ordering::SeqCst);
                if slot.pid.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    return Some(index);
                }
            }
            if attempt == 0 {
                self.sweep(pid);
            }
        }
        self.untracked.fetch_add(1, Ordering::SeqCst);
        None
    }

    /// The slot of `pid`, if it has one.
    pub(crate) fn slot_of(&self, pid: i32) -> Option<usize> {
        self.used().iter().position(|slot| slot.pid.load(Ordering::SeqCst) == pid)
    }

    fn used(&self) -> &[Peer] {
        let high = (self.high_water.load(Ordering::SeqCst) as usize).min(MAX_PEERS);
        &self.slots[..high]
    }

    /// Frees the slot `index` of `pid` (its own, at exit; or a dead one, by a sweeper). The tasks
    /// it still held are written off from `unfinished`, and so are its pending items, which will
    /// never arrive (for a plain `Queue`, `unfinished` stays 0).
    pub(crate) fn release(&self, index: usize, pid: i32) {
        let slot = &self.slots[index];
        // Read the counts before claiming the slot: once it is claimed nobody else writes them.
        let (held, pending) = (slot.held.load(Ordering::SeqCst), slot.pending.load(Ordering::SeqCst));
        if slot.pid.compare_exchange(pid, FREEING, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return; // Another sweeper freed it first.
        }
        let lost = held.saturating_add(pending);
        if lost > 0 && self.unfinished.load(Ordering::SeqCst) > 0 {
            let _ = self
                .unfinished
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_sub(lost)));
            crate::shm::futex_wake_all(&self.unfinished);
        }
        if held > 0 {
            self.lost_tasks.fetch_add(held, Ordering::SeqCst);
            self.lost_tasks_pid.store(pid, Ordering::SeqCst);
        }
        slot.pending.store(0, Ordering::SeqCst);
        slot.held.store(0, Ordering::SeqCst);
        slot.pid.store(0, Ordering::SeqCst);
    }

    /// Frees the slots of dead processes, and tells whether a process other than `me` may still
    /// run.
    pub(crate) fn sweep(&self, me: i32) -> Sweep {
        let mut sweep = Sweep::default();
        for (index, slot) in self.used().iter().enumerate() {
            let pid = slot.pid.load(Ordering::SeqCst);
            if pid == me || pid == 0 {
                continue;
            }
            if pid == FREEING || process_is_running(pid) {
                sweep.others_alive = true;
            } else {
                self.release(index, pid);
            }
        }
        sweep
    }

    /// Whether every process but `me` that ever held the queue is gone, as far as can be known:
    /// false until a second process attached, and while any process is untracked.
    pub(crate) fn all_others_gone(&self, me: i32) -> bool {
        self.shared.load(Ordering::SeqCst) != 0
            && self.untracked.load(Ordering::SeqCst) == 0
            && !self.sweep(me).others_alive
    }

    /// Items pending in the processes that hold the queue.
    pub(crate) fn pending(&self) -> u32 {
        self.used()
            .iter()
            .filter(|slot| slot.pid.load(Ordering::SeqCst) > 0)
            .fold(0u32, |sum, slot| sum.saturating_add(slot.pending.load(Ordering::SeqCst)))
    }

    pub(crate) fn add_pending(&self, index: usize, n: i32) {
        add(&self.slots[index].pending, n);
    }

    pub(crate) fn add_held(&self, index: usize, n: i32) {
        add(&self.slots[index].held, n);
    }

    /// Tasks written off since the last call, and the pid of the last process that held some.
    pub(crate) fn take_lost_tasks(&self) -> Option<(i32, u32)> {
        let lost = self.lost_tasks.swap(0, Ordering::SeqCst);
        (lost > 0).then(|| (self.lost_tasks_pid.load(Ordering::SeqCst), lost))
    }
}

/// Adds `n` (possibly negative) to a counter, never below zero.
fn add(counter: &AtomicU32, n: i32) {
    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| Some(c.saturating_add_signed(n)));
}

/// Whether `pid` names a running process: it exists (`kill(pid, 0)`) and is not a zombie waiting
/// to be reaped (the state letter in `/proc/<pid>/stat`).
pub(crate) fn process_is_running(pid: i32) -> bool {
    let exists =
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) != Err(nix::errno::Errno::ESRCH);
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => true,
    }
}
