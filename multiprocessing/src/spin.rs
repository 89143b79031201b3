//! Waiting by spinning, briefly, before sleeping: one rule for every wait of the crate (an
//! `Event`'s, a `Lock`'s, a `Condition`'s, a `Semaphore`'s, a `Barrier`'s, a queue reader's).
//!
//! A waiter first re-reads what it waits for during [`SPIN_TIME`] (20 us), then sleeps on a
//! futex. When the other process runs on another core, what it waits for often comes within that
//! time, and sleeping and being woken through the kernel costs ten times more (tens of
//! microseconds on a VM, where the hypervisor must wake the sleeping CPU too).
//!
//! 20 us, and not less: on the 2-vCPU VM of the benchmarks, a ping-pong between two processes
//! took 1-8 us per round trip with a 4 us spin (the other vCPU is often busy for a few
//! microseconds) and 0.4-2 us with 20 us (`cargo xtask bench --metric event-ping-pong`).
//!
//! Bounded by the clock, not by a count of iterations, because what one `spin_loop()` costs
//! differs by an order of magnitude between processors (the x86 `pause` instruction takes about
//! 140 cycles on Intel cores since Skylake, tens of cycles on most others): a fixed 2,000
//! iterations measured 46-87 us on an Intel Xeon, 10 to 40 times what was intended. The clock is
//! read every [`SPINS_PER_CLOCK_READ`] iterations, so that reading it (about 25 ns) stays a
//! small part of the spin. A wait with a deadline sooner than the spin spins only until then.
//!
//! A `Manager`'s client and server follow the same rule with a spin of their own (50 us of
//! `poll` calls: a socket cannot be watched without a system call).
//!
//! Not at all where this process can run on one CPU only (one core, or a container or
//! `taskset` limited to one): there the process it waits for cannot run while it spins, and each
//! wait would cost the whole spin for nothing (a Manager's round trip pinned to one CPU went from
//! 22 to 211 us with a spin).

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// How long a waiter spins before it sleeps (module docs).
pub(crate) const SPIN_TIME: Duration = Duration::from_micros(20);

/// How many `spin_loop()`s between two readings of the clock: under a microsecond even where
/// `pause` is slow, and enough that the clock reads cost little.
const SPINS_PER_CLOCK_READ: u32 = 16;

/// Whether spinning can pay: this process may run on more than one CPU. Asked once (the answer
/// reads the CPU affinity and the cgroup's quota), and cached in an atomic rather than a
/// `OnceLock`, which a fork in the middle of its initialisation would leave locked in the child.
pub(crate) fn pays() -> bool {
    static CACHE: AtomicU8 = AtomicU8::new(0);
    match CACHE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let pays = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
            CACHE.store(if pays { 2 } else { 1 }, Ordering::Relaxed);
            pays
        }
    }
}

/// Calls `attempt` again and again for at most [`SPIN_TIME`] (less if `deadline` comes first),
/// until it gives `Some`; that, or `None` when the time is up. Where spinning cannot pay
/// ([`pays`]), `attempt` is called once.
pub(crate) fn until<T>(deadline: Option<Instant>, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    if !pays() {
        return attempt();
    }
    let started = Instant::now();
    let mut end = started.checked_add(SPIN_TIME).unwrap_or(started);
    if let Some(deadline) = deadline {
        end = end.min(deadline);
    }
    loop {
        for _ in 0..SPINS_PER_CLOCK_READ {
            if let Some(done) = attempt() {
                return Some(done);
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= end {
            return attempt();
        }
    }
}

/// [`until`] for a condition: whether `done` became true within the spin.
pub(crate) fn until_true(deadline: Option<Instant>, mut done: impl FnMut() -> bool) -> bool {
    until(deadline, || done().then_some(())).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spin_ends_when_the_attempt_succeeds_or_the_time_is_up() {
        let mut calls = 0;
        let outcome = until(None, || {
            calls += 1;
            (calls == 5).then_some(calls)
        });
        if pays() {
            assert_eq!(outcome, Some(5));
        } else {
            // One CPU: one attempt, no spin (`taskset -c 0 cargo test` runs this branch).
            assert_eq!((outcome, calls), (None, 1));
        }
        let started = Instant::now();
        assert!(!until_true(None, || false));
        // At most the spin and a clock read's slack; at least the spin where it spins at all.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(50), "{took:?}");
        if pays() {
            assert!(took >= SPIN_TIME, "{took:?}");
        }
        // A deadline already past: one round of attempts at most, no waiting.
        let started = Instant::now();
        assert!(!until_true(Some(Instant::now()), || false));
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
