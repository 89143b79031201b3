//! Tests for `Condition` across real processes, waiters and notifiers SIGKILLed at random
//! instants included. Each test runs in a fresh process (see harness/mod.rs).

mod harness;

use std::time::{Duration, Instant};

use multiprocessing::{Condition, Error, Lock, Process, Queue, RLock};

use harness::{Rng, Shared, join_all, spin_for, start_all};

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            ("notify_wakes_exactly_one_oldest_first", notify_wakes_exactly_one_oldest_first),
            ("notify_all_wakes_every_waiting_process", notify_all_wakes_every_waiting_process),
            ("a_notify_before_the_wait_is_not_for_it", a_notify_before_the_wait_is_not_for_it),
            (
                "wait_timeout_gives_up_and_holds_the_lock_again",
                wait_timeout_gives_up_and_holds_the_lock_again,
            ),
            ("wait_for_a_counter_another_process_raises", wait_for_a_counter_another_process_raises),
            ("wait_releases_every_level_of_an_rlock", wait_releases_every_level_of_an_rlock),
            ("over_a_lock_given_by_the_program", over_a_lock_given_by_the_program),
            ("a_waiter_past_the_1024th_gets_an_error", a_waiter_past_the_1024th_gets_an_error),
            (
                "a_notification_to_a_killed_waiter_is_passed_on",
                a_notification_to_a_killed_waiter_is_passed_on,
            ),
            ("waiter_killed_at_random_instants_no_notification_lost", waiter_killed_at_random),
            ("notifier_killed_at_random_instants_notify_all_is_all_or_nothing", notifier_killed_at_random),
            ("wait_and_notify_round_trip", wait_and_notify_round_trip),
            (
                "a_guard_copied_into_a_child_cannot_wait_or_notify",
                a_guard_copied_into_a_child_cannot_wait_or_notify,
            ),
        ],
        &[],
    );
}

/// How many processes wait on `cond` and are not notified yet, from its `Debug`
/// (`<Condition(<RLock(None, 0)>, 2)>`).
fn waiting(cond: &Condition) -> usize {
    let text = format!("{cond:?}");
    let number = text.rsplit_once(", ").and_then(|(_, n)| n.strip_suffix(")>")).expect("Debug format");
    number.parse().expect("a count")
}

/// Waits until `n` processes wait on `cond`, failing after 30 s.
fn until_waiting(cond: &Condition, n: usize) {
    let started = Instant::now();
    while waiting(cond) != n {
        assert!(started.elapsed() < Duration::from_secs(30), "{n} waiters expected, {cond:?}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A waiting process: `wait()`s once, then reports its id through `woken`.
fn waiter(cond: &Condition, id: usize, woken: &Queue<usize>) -> Process {
    let (c, w) = (cond.clone(), woken.clone());
    Process::new(move || -> multiprocessing::Result<()> {
        let mut guard = c.acquire()?;
        guard.wait()?;
        drop(guard);
        w.put(id)
    })
    .with_daemon(true)
}

fn smoke() {
    let cond = Condition::new().unwrap();
    assert_eq!(format!("{cond:?}"), "<Condition(<RLock(None, 0)>, 0)>");
    let mut guard = cond.acquire().unwrap();
    assert!(!guard.previous_holder_died());
    // Notifying nobody is allowed, as in Python.
    guard.notify().unwrap();
    guard.notify_n(3).unwrap();
    guard.notify_all().unwrap();
    let started = Instant::now();
    assert!(!guard.wait_timeout(Duration::from_millis(50)).unwrap());
    let took = started.elapsed();
    assert!((Duration::from_millis(40)..Duration::from_secs(5)).contains(&took), "{took:?}");
    assert!(guard.wait_for_timeout(|| true, Duration::ZERO).unwrap());
    assert!(!guard.wait_for_timeout(|| false, Duration::from_millis(10)).unwrap());
    assert_eq!(format!("{cond:?}"), format!("<Condition(<RLock({}, 1)>, 0)>", std::process::id()));
    guard.release().unwrap();
    assert!(cond.try_acquire().unwrap().is_some());
    assert!(cond.acquire_timeout(Duration::from_millis(10)).unwrap().is_some());
}

/// Four processes wait, one after the other. `notify()` wakes exactly one, the first; then
/// `notify_n(2)` the next two, in order; `notify_all()` the last.
fn notify_wakes_exactly_one_oldest_first() {
    let cond = Condition::new().unwrap();
    let woken: Queue<usize> = Queue::new().unwrap();
    let mut waiters = Vec::new();
    for id in 0..4 {
        let mut p = waiter(&cond, id, &woken);
        p.start().unwrap();
        until_waiting(&cond, id + 1);
        waiters.push(p);
    }
    cond.acquire().unwrap().notify().unwrap();
    assert_eq!(woken.get_timeout(Duration::from_secs(10)).unwrap(), 0, "not the oldest waiter");
    std::thread::sleep(Duration::from_millis(300));
    assert!(woken.empty(), "notify() woke more than one");
    assert_eq!(waiting(&cond), 3);
    cond.acquire().unwrap().notify_n(2).unwrap();
    let mut two = [
        woken.get_timeout(Duration::from_secs(10)).unwrap(),
        woken.get_timeout(Duration::from_secs(10)).unwrap(),
    ];
    two.sort();
    assert_eq!(two, [1, 2]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(woken.empty(), "notify_n(2) woke more than two");
    cond.acquire().unwrap().notify_all().unwrap();
    assert_eq!(woken.get_timeout(Duration::from_secs(10)).unwrap(), 3);
    join_all(&mut waiters);
}

fn notify_all_wakes_every_waiting_process() {
    let cond = Condition::new().unwrap();
    let woken: Queue<usize> = Queue::new().unwrap();
    let mut waiters: Vec<Process> = (0..8).map(|id| waiter(&cond, id, &woken)).collect();
    start_all(&mut waiters);
    until_waiting(&cond, 8);
    std::thread::sleep(Duration::from_millis(200));
    assert!(woken.empty(), "a waiter returned before any notify");
    cond.acquire().unwrap().notify_all().unwrap();
    let mut ids: Vec<usize> = (0..8).map(|_| woken.get_timeout(Duration::from_secs(10)).unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    join_all(&mut waiters);
}

/// As in Python (the chapter's `condition` program relies on it): a process that starts waiting
/// after a `notify_all` is not woken by it.
fn a_notify_before_the_wait_is_not_for_it() {
    let cond = Condition::new().unwrap();
    cond.acquire().unwrap().notify_all().unwrap();
    let woken: Queue<usize> = Queue::new().unwrap();
    let mut late = waiter(&cond, 7, &woken);
    late.start().unwrap();
    until_waiting(&cond, 1);
    assert!(woken.get_timeout(Duration::from_millis(300)).is_err(), "woken by an earlier notify_all");
    cond.acquire().unwrap().notify().unwrap();
    assert_eq!(woken.get_timeout(Duration::from_secs(10)).unwrap(), 7);
    assert_eq!(late.join().unwrap(), 0);
}

/// `wait_timeout(200 ms)` with nobody notifying returns false after about 200 ms, holding the
/// lock again (another process cannot take it).
fn wait_timeout_gives_up_and_holds_the_lock_again() {
    let cond = Condition::new().unwrap();
    let mut guard = cond.acquire().unwrap();
    let started = Instant::now();
    assert!(!guard.wait_timeout(Duration::from_millis(200)).unwrap());
    let took = started.elapsed();
    assert!((Duration::from_millis(150)..Duration::from_secs(5)).contains(&took), "{took:?}");
    let results: Queue<bool> = Queue::new().unwrap();
    let (c, r) = (cond.clone(), results.clone());
    let mut probe =
        Process::new(move || -> multiprocessing::Result<()> { r.put(c.try_acquire()?.is_some()) });
    probe.start().unwrap();
    assert!(!results.get_timeout(Duration::from_secs(10)).unwrap(), "the lock was free after the wait");
    assert_eq!(probe.join().unwrap(), 0);
    // A notify that comes in time: true, well before the timeout.
    let (c, r) = (cond.clone(), results.clone());
    let mut notifier = Process::new(move || -> multiprocessing::Result<()> {
        let guard = c.acquire()?;
        guard.notify()?;
        r.put(true)
    });
    notifier.start().unwrap();
    let started = Instant::now();
    assert!(guard.wait_timeout(Duration::from_secs(30)).unwrap());
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(guard);
    assert_eq!(notifier.join().unwrap(), 0);
}

/// A child raises a counter in shared memory five times, notifying after each; the parent's
/// `wait_for(counter >= 5)` returns once it is 5.
fn wait_for_a_counter_another_process_raises() {
    let cond = Condition::new().unwrap();
    let shared = Shared::new(16);
    let c = cond.clone();
    let mut raiser = Process::new(move || -> multiprocessing::Result<()> {
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(20));
            let guard = c.acquire()?;
            shared.set(0, shared.get(0) + 1);
            guard.notify_all()?;
        }
        Ok(())
    });
    let mut guard = cond.acquire().unwrap();
    raiser.start().unwrap();
    let mut calls = 0;
    guard
        .wait_for(|| {
            calls += 1;
            shared.get(0) >= 5
        })
        .unwrap();
    assert_eq!(shared.get(0), 5);
    assert!((2..=6).contains(&calls), "the predicate was asked {calls} times");
    let started = Instant::now();
    assert!(!guard.wait_for_timeout(|| shared.get(0) >= 6, Duration::from_millis(200)).unwrap());
    let took = started.elapsed();
    assert!((Duration::from_millis(150)..Duration::from_secs(5)).contains(&took), "{took:?}");
    drop(guard);
    assert_eq!(raiser.join().unwrap(), 0);
}

/// The waiter holds the condition's RLock twice; while it waits, another process takes the
/// lock (both levels were released), and after the wait the waiter holds both levels again.
fn wait_releases_every_level_of_an_rlock() {
    let rlock = RLock::new().unwrap();
    let cond = Condition::with_lock(rlock.clone()).unwrap();
    let outer = rlock.acquire().unwrap();
    let mut guard = cond.acquire().unwrap();
    let me = std::process::id();
    assert_eq!(format!("{rlock:?}"), format!("<RLock({me}, 2)>"));
    let c = cond.clone();
    let mut notifier = Process::new(move || -> multiprocessing::Result<()> {
        // Only possible if the waiter released both levels.
        let guard = c.acquire_timeout(Duration::from_secs(10))?.expect("the waiter kept the lock");
        guard.notify()
    });
    notifier.start().unwrap();
    assert!(guard.wait_timeout(Duration::from_secs(30)).unwrap(), "not notified");
    assert_eq!(format!("{rlock:?}"), format!("<RLock({me}, 2)>"));
    assert_eq!(notifier.join().unwrap(), 0);
    drop(guard);
    assert_eq!(format!("{rlock:?}"), format!("<RLock({me}, 1)>"));
    drop(outer);
    assert_eq!(format!("{rlock:?}"), "<RLock(None, 0)>");
}

/// `Condition::with_lock(lock)`: the condition and the lock are one lock.
fn over_a_lock_given_by_the_program() {
    let lock = Lock::new().unwrap();
    let cond = Condition::with_lock(lock.clone()).unwrap();
    let guard = cond.acquire().unwrap();
    assert!(lock.try_acquire().unwrap().is_none());
    assert!(matches!(lock.acquire(), Err(Error::WouldDeadlock)));
    drop(guard);
    let held = lock.acquire().unwrap();
    assert!(cond.try_acquire().unwrap().is_none());
    drop(held);
    let woken: Queue<usize> = Queue::new().unwrap();
    let mut p = waiter(&cond, 1, &woken);
    p.start().unwrap();
    until_waiting(&cond, 1);
    cond.acquire().unwrap().notify().unwrap();
    assert_eq!(woken.get_timeout(Duration::from_secs(10)).unwrap(), 1);
    assert_eq!(p.join().unwrap(), 0);
}

/// 1,024 threads wait (threads, to keep it fast: each has a slot as a process would); the
/// next waiter gets `TooManyWaiters`, and after a `notify_all` every thread returns.
fn a_waiter_past_the_1024th_gets_an_error() {
    let cond = Condition::new().unwrap();
    let threads: Vec<_> = (0..1024)
        .map(|_| {
            let c = cond.clone();
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    let mut guard = c.acquire().unwrap();
                    guard.wait_timeout(Duration::from_secs(60)).unwrap()
                })
                .unwrap()
        })
        .collect();
    until_waiting(&cond, 1024);
    let mut guard = cond.acquire().unwrap();
    match guard.wait_timeout(Duration::from_secs(1)) {
        Err(e @ Error::TooManyWaiters { limit: 1024 }) => assert!(e.to_string().contains("1024")),
        other => panic!("the 1025th waiter got {other:?}"),
    }
    guard.notify_all().unwrap();
    drop(guard);
    assert!(threads.into_iter().all(|t| t.join().unwrap()), "a thread was not notified");
}

/// The oldest waiter is killed (1) before the notify: the notify skips it and wakes the next at
/// once; (2) after the notify chose it, while it waited for the lock back: its notification
/// passes to the next waiter, within a slice or so. A waiter that came after that notify does
/// not get it.
fn a_notification_to_a_killed_waiter_is_passed_on() {
    // (1)
    let cond = Condition::new().unwrap();
    let woken: Queue<usize> = Queue::new().unwrap();
    let mut first = waiter(&cond, 1, &woken);
    first.start().unwrap();
    until_waiting(&cond, 1);
    let mut second = waiter(&cond, 2, &woken);
    second.start().unwrap();
    until_waiting(&cond, 2);
    first.kill().unwrap();
    assert_eq!(first.join().unwrap(), -9);
    let started = Instant::now();
    cond.acquire().unwrap().notify().unwrap();
    assert_eq!(woken.get_timeout(Duration::from_secs(5)).unwrap(), 2);
    let skipped = started.elapsed();
    assert_eq!(second.join().unwrap(), 0);
    // (2)
    let cond = Condition::new().unwrap();
    let mut first = waiter(&cond, 1, &woken);
    first.start().unwrap();
    until_waiting(&cond, 1);
    let mut second = waiter(&cond, 2, &woken);
    second.start().unwrap();
    until_waiting(&cond, 2);
    let guard = cond.acquire().unwrap();
    guard.notify().unwrap();
    // The first is notified and now waits for the lock, which we hold: kill it there.
    std::thread::sleep(Duration::from_millis(20));
    first.kill().unwrap();
    assert_eq!(first.join().unwrap(), -9);
    drop(guard);
    let mut third = waiter(&cond, 3, &woken);
    third.start().unwrap();
    until_waiting(&cond, 2);
    let started = Instant::now();
    assert_eq!(woken.get_timeout(Duration::from_secs(5)).expect("the notification was lost"), 2);
    let passed_on = started.elapsed();
    assert!(woken.get_timeout(Duration::from_millis(300)).is_err(), "the late waiter was woken too");
    cond.acquire().unwrap().notify().unwrap();
    assert_eq!(woken.get_timeout(Duration::from_secs(5)).unwrap(), 3);
    assert_eq!(second.join().unwrap(), 0);
    assert_eq!(third.join().unwrap(), 0);
    println!(
        "FIGURES passed_on: a dead waiter skipped in {skipped:?}; a dead waiter's notification passed on in {passed_on:?}"
    );
}

/// 25 rounds: waiters A (older) and B wait; the parent notifies once, and kills A at a random
/// instant: before the notify, just after it, or while holding the lock so that A is stuck
/// taking it back. Afterwards exactly one of them must have used the notification: A (it set
/// its flag), or B. A round where neither did is a lost notification, unless A died holding
/// the lock after its `wait` returned (it used it, then died: the parent's `acquire` learns
/// of that death), which is counted apart.
fn waiter_killed_at_random() {
    const ROUNDS: usize = 25;
    let mut rng = Rng::from_clock();
    let started = Instant::now();
    let (mut by_a, mut by_b, mut lost, mut used_then_died, mut both) = (0, 0, 0, 0, 0);
    for _ in 0..ROUNDS {
        let cond = Condition::new().unwrap();
        let shared = Shared::new(16);
        let start = |id: usize| {
            let c = cond.clone();
            let mut p = Process::new(move || -> multiprocessing::Result<()> {
                let mut guard = c.acquire()?;
                guard.wait()?;
                shared.set(id, 1);
                Ok(())
            })
            .with_daemon(true);
            p.start().unwrap();
            p
        };
        let mut a = start(0);
        until_waiting(&cond, 1);
        let mut b = start(1);
        until_waiting(&cond, 2);
        match rng.below(3) {
            0 => {
                spin_for(Duration::from_micros(rng.below(200)));
                a.kill().unwrap();
                cond.acquire().unwrap().notify().unwrap();
            }
            1 => {
                cond.acquire().unwrap().notify().unwrap();
                spin_for(Duration::from_micros(rng.below(200)));
                a.kill().unwrap();
            }
            _ => {
                let guard = cond.acquire().unwrap();
                guard.notify().unwrap();
                spin_for(Duration::from_micros(rng.below(2000)));
                a.kill().unwrap();
                a.join().unwrap();
                drop(guard);
            }
        }
        a.join().unwrap();
        // B wakes within a slice or two when it is owed; 2 s is plenty. Once one of them has
        // used the notification, a little longer shows whether the other wrongly did too.
        let waiting_since = Instant::now();
        while shared.get(0) == 0 && shared.get(1) == 0 && waiting_since.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if shared.get(0) == 1 {
            // B would have found a notification to take within a slice (100 ms).
            std::thread::sleep(Duration::from_millis(150));
        }
        let guard = cond.acquire().unwrap();
        let (a_used, b_used) = (shared.get(0) == 1, shared.get(1) == 1);
        match (a_used, b_used) {
            (true, false) => by_a += 1,
            (false, true) => by_b += 1,
            (true, true) => both += 1,
            (false, false) if guard.previous_holder_died() => used_then_died += 1,
            (false, false) => lost += 1,
        }
        guard.notify_all().unwrap();
        drop(guard);
        b.join().unwrap();
    }
    println!(
        "FIGURES waiter_killed: {ROUNDS} rounds, used by A {by_a}, passed to B {by_b}, A used it and \
         died holding the lock {used_then_died}, lost {lost}, used twice {both}, {:.1?}",
        started.elapsed()
    );
    assert_eq!(lost, 0, "a notification was lost with its waiter");
    assert_eq!(both, 0, "one notify woke two waiters");
}

/// 40 rounds: three processes wait; a notifier process takes the lock and calls `notify_all`
/// and is SIGKILLed at a random instant. `notify_all` must be all or nothing: after the kill,
/// either every waiter is notified or none is (the parent then notifies them), and every waiter
/// returns within 5 s. The parent's `acquire` never hangs.
fn notifier_killed_at_random() {
    const ROUNDS: usize = 40;
    const WAITERS: usize = 3;
    let mut rng = Rng::from_clock();
    let started = Instant::now();
    let (mut all, mut none, mut partial, mut hangs, mut died_holding) = (0, 0, 0, 0, 0);
    for round in 0..ROUNDS {
        let cond = Condition::new().unwrap();
        let shared = Shared::new(16);
        let mut waiters: Vec<Process> = (0..WAITERS)
            .map(|id| {
                let c = cond.clone();
                let mut p = Process::new(move || -> multiprocessing::Result<()> {
                    let mut guard = c.acquire()?;
                    guard.wait()?;
                    shared.set(id, 1);
                    // The first to take the lock back after the notifier's death learns of it.
                    shared.set(4 + id, u64::from(guard.previous_holder_died()));
                    Ok(())
                })
                .with_daemon(true);
                p.start().unwrap();
                p
            })
            .collect();
        until_waiting(&cond, WAITERS);
        let c = cond.clone();
        let mut notifier = Process::new::<()>(move || {
            shared.set(8, 1);
            let guard = c.acquire().expect("acquire");
            guard.notify_all().expect("notify_all");
            shared.set(9, 1);
            loop {
                std::hint::spin_loop();
            }
        })
        .with_daemon(true);
        notifier.start().unwrap();
        // A quarter of the rounds kill the notifier once its `notify_all` has returned (it holds
        // the lock then, for ever): so some deaths certainly come after a whole `notify_all`,
        // holding the lock, however the machine schedules the others. In the other rounds, a
        // third of the kills come at once (often before the notifier has run at all), the
        // others within 30 us of its first step, before, inside or after its `notify_all`.
        if round % 4 == 3 {
            let waiting = Instant::now();
            while shared.get(9) == 0 {
                assert!(waiting.elapsed() < Duration::from_secs(30), "the notifier never notified");
                std::hint::spin_loop();
            }
        } else if rng.below(3) != 0 {
            while shared.get(8) == 0 {
                std::hint::spin_loop();
            }
            spin_for(Duration::from_micros(rng.below(30)));
        }
        notifier.kill().unwrap();
        notifier.join().unwrap();
        let guard = match cond.acquire_timeout(Duration::from_secs(5)).unwrap() {
            Some(guard) => guard,
            None => {
                hangs += 1;
                continue;
            }
        };
        let parent_learnt = guard.previous_holder_died();
        match waiting(&cond) {
            0 => all += 1,
            n if n == WAITERS => {
                none += 1;
                guard.notify_all().unwrap();
            }
            _ => partial += 1,
        }
        drop(guard);
        let since = Instant::now();
        while (0..WAITERS).any(|id| shared.get(id) == 0) && since.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if (0..WAITERS).any(|id| shared.get(id) == 0) {
            hangs += 1;
            cond.acquire().unwrap().notify_all().unwrap();
        }
        for p in &mut waiters {
            p.join().unwrap();
        }
        died_holding += usize::from(parent_learnt || (0..WAITERS).any(|id| shared.get(4 + id) == 1));
    }
    println!(
        "FIGURES notifier_killed: {ROUNDS} rounds, killed after notify_all {all}, before {none}, \
         partial {partial}, hangs {hangs}, notifier died holding the lock {died_holding}, {:.1?}",
        started.elapsed()
    );
    assert_eq!(partial, 0, "a killed notify_all notified some waiters and not others");
    assert_eq!(hangs, 0, "a waiter or the lock hung after the notifier was killed");
    assert!(died_holding >= ROUNDS / 4, "the kills missed the notifier holding the lock");
    assert!(all > 0, "no kill came after the notify_all");
}

/// Two processes pass a turn back and forth: each waits until the turn is its own, takes it,
/// passes it and notifies. A figure, with a bound far above a healthy machine's.
fn wait_and_notify_round_trip() {
    const TURNS: u64 = 4000;
    let cond = Condition::new().unwrap();
    let shared = Shared::new(16);
    let side = move |me: u64, cond: &Condition| -> multiprocessing::Result<()> {
        let mut guard = cond.acquire()?;
        for _ in 0..TURNS / 2 {
            guard.wait_for(|| shared.get(0) % 2 == me)?;
            shared.set(0, shared.get(0) + 1);
            guard.notify()?;
        }
        Ok(())
    };
    let c = cond.clone();
    let mut other = Process::new(move || side(1, &c));
    other.start().unwrap();
    let started = Instant::now();
    side(0, &cond).unwrap();
    assert_eq!(other.join().unwrap(), 0);
    let per_round_trip = started.elapsed() / (TURNS / 2) as u32;
    assert_eq!(shared.get(0), TURNS);
    println!("FIGURES round_trip: {TURNS} turns, {per_round_trip:?} per round trip");
    assert!(per_round_trip < Duration::from_millis(5), "{per_round_trip:?} per round trip");
}

/// A `ConditionGuard` copied into a child by the fork (the condition leaked to `'static`, the
/// guard moved into the child's closure) holds nothing in the child, even once the child holds
/// the lock itself through a guard of its own: `wait`, `notify` and `release` on the copy are
/// refused, and the child's own hold is left as it was.
fn a_guard_copied_into_a_child_cannot_wait_or_notify() {
    let cond: &'static Condition = Box::leak(Box::new(Condition::new().unwrap()));
    let results: Queue<String> = Queue::new().unwrap();
    let mut copied = cond.acquire().unwrap();
    let r = results.clone();
    let mut child = Process::new(move || -> multiprocessing::Result<()> {
        // Free once the parent has dropped its copy of this closure (just after `start`).
        let mine = cond.acquire()?;
        let said = |result: multiprocessing::Result<()>| match result {
            Ok(()) => "ok".to_string(),
            Err(Error::NotLockOwner) => "refused".to_string(),
            Err(other) => other.to_string(),
        };
        let wait = said(copied.wait_timeout(Duration::from_millis(10)).map(|_| ()));
        let notify = said(copied.notify());
        let release = said(copied.release());
        r.put(format!("wait {wait}, notify {notify}, release {release}; {cond:?}"))?;
        drop(mine);
        Ok(())
    });
    child.start().unwrap();
    let pid = child.pid().unwrap();
    let said = results.get_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(
        said,
        format!("wait refused, notify refused, release refused; <Condition(<RLock({pid}, 1)>, 0)>")
    );
    assert_eq!(format!("{cond:?}"), "<Condition(<RLock(None, 0)>, 0)>");
}
