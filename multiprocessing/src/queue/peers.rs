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
//! A child's slot is kept for it by its parent just before `fork` (so the child is in the table
//! from its first instant, in one slot only), and freed when it exits or drops its last handle. A killed
//! process cannot detach itself: whoever next finds its pid dead frees the slot ("sweeps" it).
//! Each slot is written only by its own process, except by the one sweeper that frees it.
//!
//! A slot names its process by pid alone, not by pid and start time as a semaphore's holders
//! and a condition's waiters do (`lifecycle.rs`, "Is that process still running, and is it the
//! same one?"): the pid word also carries the slot's state (free, taken, busy), and the table
//! has no lock, so a start time in a second word could be read beside another owner's pid. So
//! when the system gives a dead holder's pid to a new process, the dead holder looks alive: if
//! the new process attaches the same queue, it frees that slot itself (`release_stale`);
//! otherwise the queue counts the dead holder until the new process ends, and a `get` waits
//! where it could have said `Disconnected`, which is what CPython's queue always does.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use crate::lifecycle::process_is_running;

/// Slots per queue. A process beyond this many attached at once is not tracked, and while one is
/// untracked the queue never concludes that every peer is gone (it waits, as CPython does).
pub(crate) const MAX_PEERS: usize = 1024;

/// A slot's `pid` is the process that holds the queue there (> 0), or 0 for a free slot, or
/// `-P` while process P does something to the slot that takes more than one store: frees it (P
/// sweeps it, or leaves), or keeps it for the child it is forking. If P dies meanwhile, whoever
/// finds `-P` with P dead frees the slot.
fn busy_by(pid: i32) -> i32 {
    -pid
}

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
    pub(crate) fn attach(&self, pid: i32) -> Option<usize> {
        self.claim(pid, pid)
    }

    /// Puts `value` in a free slot (`me` sweeps the dead if there is none).
    fn claim(&self, value: i32, me: i32) -> Option<usize> {
        for attempt in 0..2 {
            for (index, slot) in self.slots.iter().enumerate() {
                if slot.pid.load(Ordering::SeqCst) != 0 {
                    continue;
                }
                // Raised first, so that a slot is never taken where sweepers do not look.
                self.high_water.fetch_max(index as u32 + 1, Ordering::SeqCst);
                if slot.pid.compare_exchange(0, value, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    return Some(index);
                }
            }
            if attempt == 0 {
                self.sweep(me);
            }
        }
        self.untracked.fetch_add(1, Ordering::SeqCst);
        None
    }

    /// Before a fork: keeps a slot for the child, marked as busy by `parent`. Parent and child
    /// both know its index (the child inherits it), and each gives the slot the child's pid as
    /// soon as it can: [`give_to_child`](Peers::give_to_child), [`take_kept`](Peers::take_kept).
    /// So the child is in the table from its first instant, and in one slot only.
    pub(crate) fn keep_for_child(&self, parent: i32) -> Option<usize> {
        self.shared.store(1, Ordering::SeqCst);
        self.claim(busy_by(parent), parent)
    }

    /// In the parent, after the fork: the kept slot is `child`'s.
    pub(crate) fn give_to_child(&self, index: usize, parent: i32, child: i32) {
        let _ = self.slots[index].pid.compare_exchange(
            busy_by(parent),
            child,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// In a new process, once it has its slot `mine`: a slot that still names its pid is a dead
    /// process's, whose pid the system reused; it is freed (its tasks written off).
    pub(crate) fn release_stale(&self, mine: usize, me: i32) {
        for (stale, slot) in self.used().iter().enumerate() {
            if stale != mine && slot.pid.load(Ordering::SeqCst) == me {
                self.release(stale, me, me);
            }
        }
    }

    /// In the child: takes the slot its parent kept for it; false if it is no longer kept (the
    /// parent died and a sweeper freed it), and the child must attach anew.
    pub(crate) fn take_kept(&self, index: usize, parent: i32, me: i32) -> bool {
        let slot = &self.slots[index].pid;
        slot.compare_exchange(busy_by(parent), me, Ordering::SeqCst, Ordering::SeqCst).is_ok()
            || slot.load(Ordering::SeqCst) == me
    }

    /// The fork failed: frees the slot kept for the child.
    pub(crate) fn unkeep(&self, index: usize, parent: i32) {
        let _ =
            self.slots[index].pid.compare_exchange(busy_by(parent), 0, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn used(&self) -> &[Peer] {
        let high = (self.high_water.load(Ordering::SeqCst) as usize).min(MAX_PEERS);
        &self.slots[..high]
    }

    /// Frees the slot `index` of `pid`: its own, at exit (`by == pid`), or a dead process's, by
    /// the sweeper `by`. The tasks it still held are written off from `unfinished`, and so are its
    /// pending items, which will never arrive (for a plain `Queue`, `unfinished` stays 0).
    pub(crate) fn release(&self, index: usize, pid: i32, by: i32) {
        let slot = &self.slots[index];
        // Read the counts before claiming the slot: once it is claimed nobody else writes them.
        let (held, pending) = (slot.held.load(Ordering::SeqCst), slot.pending.load(Ordering::SeqCst));
        if slot.pid.compare_exchange(pid, busy_by(by), Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return; // Another sweeper freed it first.
        }
        // The loss is recorded before `unfinished` goes down: a `join` that sees the count fall
        // to 0 then finds the loss too, and reports it rather than success (see `join_until`).
        if held > 0 {
            self.lost_tasks_pid.store(pid, Ordering::SeqCst);
            self.lost_tasks.fetch_add(held, Ordering::SeqCst);
        }
        let lost = held.saturating_add(pending);
        if lost > 0 && self.unfinished.load(Ordering::SeqCst) > 0 {
            let _ = self
                .unfinished
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_sub(lost)));
            crate::shm::futex_wake_all(&self.unfinished);
        }
        self.clear(index, busy_by(by), by);
    }

    /// Zeroes a slot that is busy as `value` and frees it, `by` this process: the slot is made
    /// `by`'s first, so that no other process can have taken it meanwhile.
    fn clear(&self, index: usize, value: i32, by: i32) {
        let slot = &self.slots[index];
        if value != busy_by(by)
            && slot.pid.compare_exchange(value, busy_by(by), Ordering::SeqCst, Ordering::SeqCst).is_err()
        {
            return;
        }
        slot.pending.store(0, Ordering::SeqCst);
        slot.held.store(0, Ordering::SeqCst);
        let _ = slot.pid.compare_exchange(busy_by(by), 0, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Frees the slots of dead processes, and tells whether a process other than `me` may still
    /// run.
    pub(crate) fn sweep(&self, me: i32) -> Sweep {
        let mut sweep = Sweep::default();
        for (index, slot) in self.used().iter().enumerate() {
            let value = slot.pid.load(Ordering::SeqCst);
            if value == me || value == 0 {
                continue;
            }
            if value == busy_by(me) {
                // Kept by this process for a child it is forking (in another thread).
                sweep.others_alive = true;
                continue;
            }
            let owner = value.unsigned_abs() as i32;
            if process_is_running(owner) {
                sweep.others_alive = true;
            } else if value > 0 {
                self.release(index, value, me);
            } else {
                // Its owner died in the middle of freeing it, or of forking: finish for it.
                self.clear(index, value, me);
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
