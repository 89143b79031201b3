//! Tests for `Event` across real processes. Each runs in a fresh process (see harness/mod.rs).

mod harness;

use std::time::{Duration, Instant};

use multiprocessing::{Event, Process, Queue};

use harness::{Rng, clock_seed, join_all, start_all};

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            ("cpython_test_event", cpython_test_event),
            ("set_wakes_eight_waiting_processes", set_wakes_eight_waiting_processes),
            ("wait_timeout_in_a_child_gives_false_then_true", wait_timeout_in_a_child_gives_false_then_true),
            ("set_then_clear_wakes_every_sleeping_waiter", set_then_clear_wakes_every_sleeping_waiter),
            (
                "a_pulse_reaches_the_waiter_in_each_of_200_rounds",
                a_pulse_reaches_the_waiter_in_each_of_200_rounds,
            ),
            (
                "waiters_return_when_the_setter_died_before_waking_them",
                waiters_return_when_the_setter_died_before_waking_them,
            ),
            (
                "setter_killed_at_random_instants_never_leaves_the_waiter_hanging",
                setter_killed_at_random_instants_never_leaves_the_waiter_hanging,
            ),
            (
                "a_waiter_spins_only_microseconds_before_sleeping",
                a_waiter_spins_only_microseconds_before_sleeping,
            ),
            ("wait_timeout_duration_max_waits_until_set", wait_timeout_duration_max_waits_until_set),
        ],
        &[],
    );
}

fn smoke() {
    let e = Event::new().unwrap();
    assert!(!e.is_set());
    e.set();
    assert!(e.is_set());
    assert!(e.wait());
    e.clear();
    assert!(!e.is_set());
    assert_eq!(format!("{e:?}"), "<Event unset>");
}

fn cpython_test_event() {
    let event = Event::new().unwrap();
    assert!(!event.is_set());
    assert!(!event.wait_timeout(Duration::ZERO));
    let started = Instant::now();
    assert!(!event.wait_timeout(Duration::from_millis(100)));
    assert!(started.elapsed() >= Duration::from_millis(100), "gave up early: {:?}", started.elapsed());
    event.set();
    assert!(event.is_set());
    assert!(event.wait());
    assert!(event.wait_timeout(Duration::from_millis(100)));
    event.clear();
    assert!(!event.is_set());
    // A child sets it; the parent's wait returns true.
    let e = event.clone();
    let mut p = Process::new(move || {
        std::thread::sleep(Duration::from_millis(100));
        e.set();
    });
    p.start().unwrap();
    assert!(event.wait());
    assert_eq!(p.join().unwrap(), 0);
}

fn set_wakes_eight_waiting_processes() {
    let event = Event::new().unwrap();
    let woken: Queue<usize> = Queue::new().unwrap();
    let mut waiters: Vec<Process> = (0..8)
        .map(|i| {
            let (e, w) = (event.clone(), woken.clone());
            Process::new(move || {
                e.wait();
                w.put(i)
            })
        })
        .collect();
    start_all(&mut waiters);
    std::thread::sleep(Duration::from_millis(300));
    assert!(woken.empty(), "a waiter passed before the event was set");
    event.set();
    let mut ids: Vec<usize> = (0..8).map(|_| woken.get_timeout(Duration::from_secs(30)).unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    join_all(&mut waiters);
}

fn wait_timeout_in_a_child_gives_false_then_true() {
    let event = Event::new().unwrap();
    let results: Queue<(bool, f64)> = Queue::new().unwrap();
    let (e, r) = (event.clone(), results.clone());
    let mut p = Process::new(move || {
        let started = Instant::now();
        let first = e.wait_timeout(Duration::from_millis(200));
        r.put((first, started.elapsed().as_secs_f64()))?;
        let second = e.wait_timeout(Duration::from_secs(30));
        r.put((second, started.elapsed().as_secs_f64()))
    });
    p.start().unwrap();
    let (first, at) = results.get().unwrap();
    assert!(!first, "the event was not set yet");
    assert!((0.2..10.0).contains(&at), "timed out after {at}s, expected about 0.2s");
    event.set();
    let (second, _) = results.get().unwrap();
    assert!(second);
    assert_eq!(p.join().unwrap(), 0);
}

/// Waits until `n` waiters are counted asleep on `event` (so that a `set` from now on must wake
/// them), failing if one of `waiters` ended first or it takes more than 30 s.
fn wait_until_asleep(event: &Event, n: u32, waiters: &[Process]) {
    let started = Instant::now();
    while event.sleepers_for_tests() < n {
        for p in waiters {
            assert!(p.is_alive(), "{} ended before it slept: exit code {:?}", p.name(), p.exitcode());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the waiters did not fall asleep in 30 s");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// `set(); clear();` back to back ("a pulse") must wake every waiter already asleep, and each
/// `wait` returns true, as Python's `threading.Event` does. (Before the generation counter, the
/// waiters woke, found the flag cleared again and went back to sleep for good.)
fn set_then_clear_wakes_every_sleeping_waiter() {
    let event = Event::new().unwrap();
    let results: Queue<(usize, bool)> = Queue::new().unwrap();
    let mut waiters: Vec<Process> = (0..4)
        .map(|i| {
            let (e, r) = (event.clone(), results.clone());
            Process::new(move || {
                // Two wait without a limit, two with a long one.
                let woken = if i % 2 == 0 { e.wait() } else { e.wait_timeout(Duration::from_secs(60)) };
                r.put((i, woken))
            })
            .with_daemon(true)
        })
        .collect();
    start_all(&mut waiters);
    wait_until_asleep(&event, 4, &waiters);
    event.set();
    event.clear();
    let mut got: Vec<(usize, bool)> = (0..4)
        .map(|_| results.get_timeout(Duration::from_secs(20)).expect("a waiter slept through the pulse"))
        .collect();
    got.sort();
    assert_eq!(got, vec![(0, true), (1, true), (2, true), (3, true)]);
    assert!(!event.is_set());
    join_all(&mut waiters);
}

/// One waiting process, 200 pulses, each sent only once the waiter is asleep: every pulse must
/// get through (the waiter acknowledges each on a second event).
fn a_pulse_reaches_the_waiter_in_each_of_200_rounds() {
    const ROUNDS: usize = 200;
    let (event, ack) = (Event::new().unwrap(), Event::new().unwrap());
    let (e, a) = (event.clone(), ack.clone());
    let mut waiter = Process::new(move || {
        for _ in 0..ROUNDS {
            // The pulse may still be on when we come back here (the parent clears it after its
            // wake-up call returns); wait for the clear, or this `wait` would return at once.
            while e.is_set() {
                std::thread::sleep(Duration::from_micros(50));
            }
            assert!(e.wait());
            a.set();
        }
    })
    .with_daemon(true);
    waiter.start().unwrap();
    let waiters = [waiter];
    for round in 0..ROUNDS {
        wait_until_asleep(&event, 1, &waiters);
        event.set();
        event.clear();
        assert!(ack.wait_timeout(Duration::from_secs(10)), "pulse {round} was lost");
        ack.clear();
    }
    let [mut waiter] = waiters;
    assert_eq!(waiter.join().unwrap(), 0);
}

/// A setter stores the flag exactly as `set` does, then is SIGKILLed before its wake-up call.
/// The waiters, asleep, must notice by themselves within a few seconds (one 100 ms slice in
/// fact), the one without a limit as well as the one with a long limit.
fn waiters_return_when_the_setter_died_before_waking_them() {
    let event = Event::new().unwrap();
    let results: Queue<(usize, bool)> = Queue::new().unwrap();
    let mut waiters: Vec<Process> = (0..2)
        .map(|i| {
            let (e, r) = (event.clone(), results.clone());
            Process::new(move || {
                let woken = if i == 0 { e.wait() } else { e.wait_timeout(Duration::from_secs(600)) };
                r.put((i, woken))
            })
            .with_daemon(true)
        })
        .collect();
    start_all(&mut waiters);
    wait_until_asleep(&event, 2, &waiters);
    let e = event.clone();
    let mut setter = Process::new::<()>(move || {
        e.set_without_wake_for_tests();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    })
    .with_daemon(true);
    setter.start().unwrap();
    let started = Instant::now();
    while !event.is_set() {
        assert!(started.elapsed() < Duration::from_secs(30), "the setter never stored the flag");
        std::thread::sleep(Duration::from_millis(1));
    }
    setter.kill().unwrap();
    assert_eq!(setter.join().unwrap(), -9);
    let killed = Instant::now();
    let mut got: Vec<(usize, bool)> = (0..2)
        .map(|_| {
            let limit = Duration::from_secs(5).saturating_sub(killed.elapsed());
            results.get_timeout(limit).expect("a waiter still sleeps 5 s after the setter died")
        })
        .collect();
    let latency = killed.elapsed();
    println!("both waiters returned {latency:?} after the setter was killed");
    got.sort();
    assert_eq!(got, vec![(0, true), (1, true)]);
    join_all(&mut waiters);
}

/// Many rounds of: a process waits; a setter process sets the event once, then pulses it
/// (`clear(); set();`) without end; the setter is SIGKILLed at a random instant, possibly before
/// its first `set`, possibly between storing the flag and waking. The waiter must never hang:
/// when the setter got as far as storing the flag, the waiter must return on its own within 5 s;
/// when it died before, the test sets the event and the waiter must return within 5 s.
fn setter_killed_at_random_instants_never_leaves_the_waiter_hanging() {
    const ROUNDS: usize = 1000;
    const MAX_HANGS: usize = 3;
    let seed = clock_seed();
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut rounds, mut kills, mut owed, mut rescued, mut late, mut hangs) = (0, 0, 0, 0, 0, 0);
    let mut slowest = Duration::ZERO;
    while rounds < ROUNDS && hangs < MAX_HANGS && started.elapsed() < Duration::from_secs(60) {
        rounds += 1;
        let (event, ready) = (Event::new().unwrap(), Event::new().unwrap());
        let e = event.clone();
        let mut waiter = Process::new(move || {
            e.wait();
        })
        .with_daemon(true);
        waiter.start().unwrap();
        let waiters = [waiter];
        wait_until_asleep(&event, 1, &waiters);
        let [mut waiter] = waiters;
        let (e, r) = (event.clone(), ready.clone());
        let mut setter = Process::new::<()>(move || {
            e.set();
            r.set();
            loop {
                e.clear();
                e.set();
            }
        })
        .with_daemon(true);
        setter.start().unwrap();
        if rng.below(2) == 0 {
            // Anywhere in the setter's life: at once in some rounds, within 0.5 ms in others.
            let delay = rng.below(500);
            if delay >= 50 {
                std::thread::sleep(Duration::from_micros(delay));
            }
        } else {
            // Aimed at the few microseconds between storing the flag and waking: watch for the
            // flag, then kill within the next 0-5 us.
            let watching = Instant::now();
            while !event.is_set() && watching.elapsed() < Duration::from_secs(1) {
                std::hint::spin_loop();
            }
            let stored_at = Instant::now();
            let delay = Duration::from_micros(rng.below(6));
            while stored_at.elapsed() < delay {
                std::hint::spin_loop();
            }
        }
        setter.kill().unwrap();
        if setter.join().unwrap() == -9 {
            kills += 1;
        }
        // Until `ready` is set the setter has not cleared the event, so the flag tells exactly
        // whether it stored it; once `ready` is set, a whole `set` has happened.
        let stored = ready.is_set() || event.is_set();
        if stored {
            owed += 1;
        } else {
            rescued += 1;
        }
        let waiting_since = Instant::now();
        if !stored {
            event.set();
        }
        match waiter.join_timeout(Duration::from_secs(5)).unwrap() {
            Some(code) => {
                assert_eq!(code, 0, "the waiter failed");
                let took = waiting_since.elapsed();
                slowest = slowest.max(took);
                // Far longer than a wake-up takes: most likely nobody woke the waiter and its
                // slice ran out (or the machine is very busy).
                if took >= Duration::from_millis(50) {
                    late += 1;
                }
            }
            None => {
                hangs += 1;
                println!("round {rounds}: the waiter hangs (setter stored the flag: {stored})");
                waiter.kill().unwrap();
                waiter.join().unwrap();
            }
        }
    }
    println!(
        "seed {seed}: {rounds} rounds in {:.1?}, {kills} setters killed ({owed} after storing the flag, \
         {rescued} before: the test set it), {late} slow returns (50 ms or more: most likely no wake-up \
         came and the waiter's 100 ms slice ran out), {hangs} hangs, slowest return {slowest:.1?}",
        started.elapsed()
    );
    assert_eq!(hangs, 0, "a waiter hung after its setter was killed");
    assert!(rounds >= 50, "only {rounds} rounds in 60 s");
}

/// CPU time of the calling thread, from the scheduler's count in /proc (nanoseconds).
fn thread_cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (a kernel with CONFIG_SCHED_INFO)");
    let nanos: u64 = text.split_whitespace().next().and_then(|n| n.parse().ok()).expect("schedstat");
    Duration::from_nanos(nanos)
}

/// A waiter spins some microseconds before it sleeps, not its whole timeout. A waiting process
/// measures the CPU time of 300 waits of 1 ms on an event nobody sets, and of 300 plain sleeps of
/// 1 ms; the difference is what the spin (and the futex bookkeeping) costs. The spin is 20 us
/// (`spin.rs`; none on one CPU), so a wait costs about 20-25 us more than a sleep; the bound, 100
/// us, leaves room for a loaded machine (40 us once failed at 40.4 us beside a full `cargo test`)
/// and still fails a wait that spins through its millisecond, or twice per slice.
fn a_waiter_spins_only_microseconds_before_sleeping() {
    const WAITS: u32 = 300;
    let event = Event::new().unwrap();
    let results: Queue<(u32, Duration, Duration)> = Queue::new().unwrap();
    let (e, r) = (event.clone(), results.clone());
    let mut waiter = Process::new(move || {
        // Each measure starts after a sleep, so that the scheduler's count is up to date.
        std::thread::sleep(Duration::from_millis(1));
        let before = thread_cpu_time();
        for _ in 0..WAITS {
            std::thread::sleep(Duration::from_millis(1));
        }
        let sleeps = thread_cpu_time() - before;
        std::thread::sleep(Duration::from_millis(1));
        let before = thread_cpu_time();
        let timed_out = (0..WAITS).filter(|_| !e.wait_timeout(Duration::from_millis(1))).count() as u32;
        let waits = thread_cpu_time() - before;
        r.put((timed_out, sleeps / WAITS, waits / WAITS))?;
        assert!(e.wait());
        Ok::<(), multiprocessing::Error>(())
    })
    .with_daemon(true);
    waiter.start().unwrap();
    let (timed_out, sleep, wait) =
        results.get_timeout(Duration::from_secs(60)).expect("no measure from the waiter");
    event.set();
    assert_eq!(waiter.join().unwrap(), 0);
    let extra = wait.saturating_sub(sleep);
    println!("CPU time of a 1 ms sleep {sleep:?}, of a 1 ms wait {wait:?}: {extra:?} more");
    assert_eq!(timed_out, WAITS, "the event was never set");
    assert!(
        extra < Duration::from_micros(100),
        "a 1 ms wait burns {extra:?} more CPU than a sleep: the spin is too long"
    );
}

/// `wait_timeout(Duration::MAX)`, or any timeout too large to add to the clock, waits without a
/// limit instead of panicking, and returns true once another process sets the event.
fn wait_timeout_duration_max_waits_until_set() {
    let event = Event::new().unwrap();
    // On a set event it returns at once.
    let set = Event::new().unwrap();
    set.set();
    assert!(set.wait_timeout(Duration::MAX));
    let results: Queue<(usize, bool)> = Queue::new().unwrap();
    let huge = [Duration::MAX, Duration::from_secs(u64::MAX / 4)];
    let mut waiters: Vec<Process> = (0..huge.len())
        .map(|i| {
            let (e, r) = (event.clone(), results.clone());
            Process::new(move || r.put((i, e.wait_timeout(huge[i])))).with_daemon(true)
        })
        .collect();
    start_all(&mut waiters);
    wait_until_asleep(&event, 2, &waiters);
    std::thread::sleep(Duration::from_millis(300));
    assert!(results.empty(), "a huge timeout returned before the event was set");
    event.set();
    let mut got: Vec<(usize, bool)> = (0..2)
        .map(|_| results.get_timeout(Duration::from_secs(20)).expect("a waiter did not return"))
        .collect();
    got.sort();
    assert_eq!(got, vec![(0, true), (1, true)]);
    join_all(&mut waiters);
}
