//! Tests for `Semaphore` and `BoundedSemaphore` across real processes, holders killed at random
//! instants included. Each runs in a fresh process (see harness/mod.rs).

mod harness;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use multiprocessing::{BoundedSemaphore, Error, Event, Process, Semaphore};

use harness::{Rng, clock_seed, eventually, join_all, kill_after, running, shared_counters, start_all};

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            ("cpython_test_semaphore", cpython_test_semaphore),
            ("cpython_test_timeout", cpython_test_timeout),
            ("at_most_3_at_once_across_8_processes", at_most_3_at_once_across_8_processes),
            ("try_and_timeout_bounds_while_a_child_holds", try_and_timeout_bounds_while_a_child_holds),
            ("bounded_semaphore_over_release_is_an_error", bounded_semaphore_over_release_is_an_error),
            (
                "signalling_a_producer_releases_a_consumer_keeps",
                signalling_a_producer_releases_a_consumer_keeps,
            ),
            (
                "a_waiter_gets_the_unit_of_a_holder_killed_holding",
                a_waiter_gets_the_unit_of_a_holder_killed_holding,
            ),
            (
                "holders_killed_at_random_instants_lose_and_invent_no_unit",
                holders_killed_at_random_instants_lose_and_invent_no_unit,
            ),
            (
                "killed_in_the_semaphores_own_code_every_unit_comes_back",
                killed_in_the_semaphores_own_code_every_unit_comes_back,
            ),
            (
                "a_guard_copied_by_fork_does_not_release_in_the_child",
                a_guard_copied_by_fork_does_not_release_in_the_child,
            ),
            ("uncontended_acquire_costs_microseconds", uncontended_acquire_costs_microseconds),
            (
                "a_zero_timeout_finds_a_free_unit_while_another_process_churns",
                a_zero_timeout_finds_a_free_unit_while_another_process_churns,
            ),
            (
                "a_guard_dropped_by_a_thread_that_cannot_read_proc_gives_its_unit_back",
                a_guard_dropped_by_a_thread_that_cannot_read_proc_gives_its_unit_back,
            ),
        ],
        &[],
    );
}

fn smoke() {
    let s = Semaphore::new(2).unwrap();
    assert_eq!(s.get_value(), 2);
    let first = s.acquire().unwrap();
    let second = s.acquire().unwrap();
    assert_eq!(s.get_value(), 0);
    assert!(s.try_acquire().unwrap().is_none());
    assert_eq!(format!("{s:?}"), "<Semaphore(value=0)>");
    drop(first);
    assert_eq!(s.get_value(), 1);
    drop(second);
    s.release().unwrap();
    assert_eq!(s.get_value(), 3);
    s.acquire().unwrap().forget().unwrap();
    assert_eq!(s.get_value(), 2);
    let b = BoundedSemaphore::new(3).unwrap();
    let _held = b.acquire().unwrap();
    assert_eq!(format!("{b:?}"), "<BoundedSemaphore(value=2, maxvalue=3)>");
    assert!(matches!(Semaphore::new(u32::MAX), Err(Error::InvalidState(_))));
}

/// CPython's `_test_multiprocessing.py`, `test_semaphore` and `test_bounded_semaphore`: an
/// `acquire()` without a `release()` is `acquire()?.forget()` here.
fn cpython_test_semaphore() {
    fn check(
        acquire: &dyn Fn() -> bool,
        try_acquire: &dyn Fn() -> bool,
        release: &dyn Fn(),
        value: &dyn Fn() -> u32,
    ) {
        assert_eq!(value(), 2);
        assert!(acquire());
        assert_eq!(value(), 1);
        assert!(acquire());
        assert_eq!(value(), 0);
        assert!(!try_acquire());
        assert_eq!(value(), 0);
        release();
        assert_eq!(value(), 1);
        release();
        assert_eq!(value(), 2);
    }
    let sem = Semaphore::new(2).unwrap();
    check(
        &|| sem.acquire().unwrap().forget().is_ok(),
        &|| sem.try_acquire().unwrap().is_some_and(|g| g.forget().is_ok()),
        &|| sem.release().unwrap(),
        &|| sem.get_value(),
    );
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 3);
    sem.release().unwrap();
    assert_eq!(sem.get_value(), 4);
    let bounded = BoundedSemaphore::new(2).unwrap();
    check(
        &|| bounded.acquire().unwrap().forget().is_ok(),
        &|| bounded.try_acquire().unwrap().is_some_and(|g| g.forget().is_ok()),
        &|| bounded.release().unwrap(),
        &|| bounded.get_value(),
    );
    // What CPython's test leaves commented out ("fails on OS/X"), and Linux does.
    assert!(matches!(bounded.release(), Err(Error::SemaphoreReleasedTooManyTimes)));
    assert_eq!(bounded.get_value(), 2);
}

/// CPython's `test_timeout`: `Semaphore(0)`, non-blocking and timed acquires give up in time.
fn cpython_test_timeout() {
    let sem = Semaphore::new(0).unwrap();
    let started = Instant::now();
    assert!(sem.try_acquire().unwrap().is_none());
    assert!(sem.acquire_timeout(Duration::ZERO).unwrap().is_none());
    assert!(started.elapsed() < Duration::from_secs(1), "gave up after {:?}", started.elapsed());
    let started = Instant::now();
    assert!(sem.acquire_timeout(Duration::from_millis(200)).unwrap().is_none());
    let took = started.elapsed();
    assert!((Duration::from_millis(190)..Duration::from_secs(5)).contains(&took), "gave up after {took:?}");
}

/// Eight processes, 20 rounds each, through a `Semaphore(3)`: a shared count of holders never
/// goes above 3, and every round of every worker ran.
fn at_most_3_at_once_across_8_processes() {
    const WORKERS: usize = 8;
    const ROUNDS: i64 = 20;
    let s = Semaphore::new(3).unwrap();
    // [0] holders now, [1] most holders seen, [2] rounds done, [3] workers ready. The workers
    // start together, so that they do overlap however slowly the machine forks them.
    let counters = shared_counters(4);
    let mut workers: Vec<Process> = (0..WORKERS)
        .map(|_| {
            let s = s.clone();
            Process::new(move || -> multiprocessing::Result<()> {
                counters[3].fetch_add(1, Ordering::SeqCst);
                eventually("every worker starts", || counters[3].load(Ordering::SeqCst) == WORKERS as i64);
                for _ in 0..ROUNDS {
                    let _active = s.acquire()?;
                    let now = counters[0].fetch_add(1, Ordering::SeqCst) + 1;
                    counters[1].fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(1));
                    counters[0].fetch_sub(1, Ordering::SeqCst);
                    counters[2].fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            })
        })
        .collect();
    start_all(&mut workers);
    join_all(&mut workers);
    let most = counters[1].load(Ordering::SeqCst);
    println!(
        "FIGURES at most {most} holders at once (limit 3), {} rounds",
        counters[2].load(Ordering::SeqCst)
    );
    assert!(most <= 3, "{most} processes held a unit of a Semaphore(3) at once");
    assert!(most >= 2, "the workers never overlapped: is the semaphore a lock?");
    assert_eq!(counters[2].load(Ordering::SeqCst), WORKERS as i64 * ROUNDS);
    assert_eq!(s.get_value(), 3);
}

/// A child holds the only unit: `try_acquire` says no at once, `acquire_timeout(200 ms)` after
/// about 200 ms, and once the child lets go a timed acquire gets it.
fn try_and_timeout_bounds_while_a_child_holds() {
    let s = Semaphore::new(1).unwrap();
    let (holding, let_go) = (Event::new().unwrap(), Event::new().unwrap());
    let (child_s, h, l) = (s.clone(), holding.clone(), let_go.clone());
    let mut holder = Process::new(move || -> multiprocessing::Result<()> {
        let _unit = child_s.acquire()?;
        h.set();
        l.wait();
        Ok(())
    });
    holder.start().unwrap();
    assert!(holding.wait_timeout(Duration::from_secs(30)));
    let started = Instant::now();
    assert!(s.try_acquire().unwrap().is_none());
    assert!(started.elapsed() < Duration::from_secs(1), "try_acquire took {:?}", started.elapsed());
    let started = Instant::now();
    assert!(s.acquire_timeout(Duration::from_millis(200)).unwrap().is_none());
    let took = started.elapsed();
    assert!((Duration::from_millis(190)..Duration::from_secs(5)).contains(&took), "gave up after {took:?}");
    let_go.set();
    let started = Instant::now();
    let unit = s.acquire_timeout(Duration::from_secs(10)).unwrap();
    assert!(unit.is_some(), "the unit the child gave back never came");
    println!("FIGURES the unit came {:?} after the child was told to let go", started.elapsed());
    drop(unit);
    assert_eq!(holder.join().unwrap(), 0);
    assert_eq!(s.get_value(), 1);
}

/// `BoundedSemaphore(2)`: a `release()` past 2 is Python's `ValueError`; units held through a
/// guard count as on their way back; a unit a child kept for good makes room for one release.
fn bounded_semaphore_over_release_is_an_error() {
    let b = BoundedSemaphore::new(2).unwrap();
    let error = b.release().unwrap_err();
    assert!(matches!(error, Error::SemaphoreReleasedTooManyTimes));
    assert!(error.to_string().contains("released too many times"), "{error}");
    assert_eq!(b.get_value(), 2);
    let guard = b.acquire().unwrap();
    assert!(
        matches!(b.release(), Err(Error::SemaphoreReleasedTooManyTimes)),
        "a guard's unit is on its way back"
    );
    drop(guard);
    assert_eq!(b.get_value(), 2);
    let child_b = b.clone();
    let mut consumer = Process::new(move || child_b.acquire().and_then(|unit| unit.forget()));
    consumer.start().unwrap();
    assert_eq!(consumer.join().unwrap(), 0);
    assert_eq!(b.get_value(), 1);
    b.release().unwrap();
    assert_eq!(b.get_value(), 2);
    assert!(matches!(b.release(), Err(Error::SemaphoreReleasedTooManyTimes)));
    assert_eq!(b.get_value(), 2);
}

/// `Semaphore(0)` as a signal: a producer process releases 50 units, a consumer process takes
/// and keeps them; none is lost or made up.
fn signalling_a_producer_releases_a_consumer_keeps() {
    const ITEMS: i64 = 50;
    let s = Semaphore::new(0).unwrap();
    let taken = shared_counters(1);
    let consumer_s = s.clone();
    let mut consumer = Process::new(move || -> multiprocessing::Result<()> {
        for _ in 0..ITEMS {
            consumer_s.acquire()?.forget()?;
            taken[0].fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    });
    let producer_s = s.clone();
    let mut producer = Process::new(move || -> multiprocessing::Result<()> {
        for i in 0..ITEMS {
            producer_s.release()?;
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Ok(())
    });
    consumer.start().unwrap();
    producer.start().unwrap();
    assert_eq!(producer.join().unwrap(), 0);
    assert_eq!(consumer.join().unwrap(), 0);
    assert_eq!(taken[0].load(Ordering::SeqCst), ITEMS);
    assert_eq!(s.get_value(), 0);
    assert!(s.try_acquire().unwrap().is_none());
}

/// A holder is SIGKILLed inside its `with s:`; the parent, waiting for the only unit, gets it
/// within a second (CPython's would wait forever).
fn a_waiter_gets_the_unit_of_a_holder_killed_holding() {
    let s = Semaphore::new(1).unwrap();
    let holding = Event::new().unwrap();
    let (child_s, h) = (s.clone(), holding.clone());
    let mut holder = Process::new(move || -> multiprocessing::Result<()> {
        let _unit = child_s.acquire()?;
        h.set();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    holder.start().unwrap();
    assert!(holding.wait_timeout(Duration::from_secs(30)));
    // The parent sleeps on the semaphore before the kill, as a waiter would: a thread kills.
    let killer = kill_after(&holder, Duration::from_millis(150));
    let unit = s.acquire_timeout(Duration::from_secs(10)).unwrap();
    let got_at = Instant::now();
    let killed_at = killer.join().unwrap();
    assert_eq!(holder.join().unwrap(), -9);
    assert!(unit.is_some(), "the killed holder's unit never came back");
    let latency = got_at.saturating_duration_since(killed_at);
    println!("FIGURES the unit came back {latency:?} after the holder was killed");
    assert!(latency < Duration::from_millis(1500), "the unit came back after {latency:?}");
    drop(unit);
    assert_eq!(s.get_value(), 1);
}

/// Five workers take and give back units of a `Semaphore(3)` in a tight loop; the parent
/// SIGKILLs one at a random instant (inside or outside its guard, in or out of the semaphore's
/// mutex), reaps it and starts another, many times. Each worker checks, each time it gets a
/// unit, how many *running* workers hold one: never more than 3. At the end every worker is
/// killed, and exactly 3 units can be taken: none lost to the dead, none made up.
///
/// The holders are bits of one shared word, set after `acquire` and cleared before the guard is
/// dropped, so that one load sees them all at one instant; a bit whose worker is no longer
/// running is not counted (a killed holder's bit stays set until the parent reaps it, and the
/// semaphore may give its unit to another meanwhile: that is the point).
fn holders_killed_at_random_instants_lose_and_invent_no_unit() {
    const UNITS: u32 = 3;
    const WORKERS: usize = 5;
    const KILLS: usize = 150;
    let seed = clock_seed();
    let mut rng = Rng(seed);
    let s = Semaphore::new(UNITS).unwrap();
    // [0..WORKERS): the pid of the worker in that place. [HOLDING]: bit `place` set while that
    // worker holds a unit. [MOST]: most running holders seen. [TAKEN]: units taken in all.
    // [LIVES + place]: 1 once the worker now in that place runs (the parent kills a worker only
    // once it runs: a busy machine may not run a new process for milliseconds, and a kill before
    // it has started tests nothing).
    const HOLDING: usize = WORKERS;
    const MOST: usize = WORKERS + 1;
    const TAKEN: usize = WORKERS + 2;
    const LIVES: usize = WORKERS + 3;
    let counters = shared_counters(2 * WORKERS + 3);
    let start_worker = |place: usize| {
        let s = s.clone();
        // The previous worker in this place is dead and reaped: nobody else writes this.
        counters[LIVES + place].store(0, Ordering::SeqCst);
        let mut p = Process::new(move || -> multiprocessing::Result<()> {
            let bit = 1 << place;
            counters[LIVES + place].store(1, Ordering::SeqCst);
            for round in 0u64.. {
                let _unit = s.acquire()?;
                let holding = counters[HOLDING].fetch_or(bit, Ordering::SeqCst) | bit;
                let holders = (0..WORKERS)
                    .filter(|&other| holding & (1 << other) != 0)
                    .filter(|&other| other == place || running(counters[other].load(Ordering::SeqCst)))
                    .count() as i64;
                counters[MOST].fetch_max(holders, Ordering::SeqCst);
                counters[TAKEN].fetch_add(1, Ordering::SeqCst);
                // Every other round holds the unit a while, so that kills land inside the guard
                // as well as in the semaphore's own code (most of a bare round).
                if round % 2 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
                counters[HOLDING].fetch_and(!bit, Ordering::SeqCst);
            }
            Ok(())
        })
        .with_daemon(true);
        p.start().unwrap();
        counters[place].store(i64::from(p.pid().unwrap()), Ordering::SeqCst);
        p
    };
    let started = Instant::now();
    let mut workers: Vec<Process> = (0..WORKERS).map(start_worker).collect();
    let mut killed_holding = 0;
    for _ in 0..KILLS {
        let place = rng.below(WORKERS as u64) as usize;
        eventually("a new worker starts", || counters[LIVES + place].load(Ordering::SeqCst) > 0);
        std::thread::sleep(Duration::from_micros(rng.below(4000)));
        workers[place].kill().unwrap();
        assert_eq!(workers[place].join().unwrap(), -9, "a worker failed");
        // Reaped: its pid may be reused from now on, so its bit goes before anything forks.
        if counters[HOLDING].fetch_and(!(1 << place), Ordering::SeqCst) & (1 << place) != 0 {
            killed_holding += 1;
        }
        workers[place] = start_worker(place);
    }
    // The workers must have run, not only started (on a busy machine, waited for).
    eventually("the workers take 50 units", || counters[TAKEN].load(Ordering::SeqCst) >= 50);
    for p in &mut workers {
        p.kill().unwrap();
        p.join().unwrap();
    }
    let killing = started.elapsed();
    // Every holder is dead now: all the units must come back, and no more than those.
    let started = Instant::now();
    let units: Vec<_> = (0..UNITS)
        .map(|i| {
            s.acquire_timeout(Duration::from_secs(10)).unwrap().unwrap_or_else(|| panic!("unit {i} was lost"))
        })
        .collect();
    let recovered = started.elapsed();
    assert!(s.try_acquire().unwrap().is_none(), "a unit was made up");
    assert_eq!(s.get_value(), 0);
    drop(units);
    assert_eq!(s.get_value(), UNITS);
    let (most, taken) = (counters[MOST].load(Ordering::SeqCst), counters[TAKEN].load(Ordering::SeqCst));
    println!(
        "FIGURES seed {seed}: {KILLS} kills in {killing:.1?} ({killed_holding} inside the guard, \
         {} while holding the semaphore's mutex), {taken} units taken, at most {most} running \
         holders at once (limit {UNITS}), all {UNITS} units back {recovered:.1?} after the last \
         kill, none made up",
        s.recounts_for_tests()
    );
    assert!(most <= i64::from(UNITS), "{most} running processes held a unit of a Semaphore({UNITS})");
}

/// Round after round: three workers take and give back units of a fresh `Semaphore(3)` as fast
/// as they can (so most of their time is in the semaphore's own code, much of it holding its
/// mutex), and all three are SIGKILLed at random instants. After each round every unit must come
/// back, and no more: the count is rebuilt from what the dead left in the shared page, whatever
/// instruction each died at.
fn killed_in_the_semaphores_own_code_every_unit_comes_back() {
    const UNITS: u32 = 3;
    const ROUNDS: usize = 300;
    let seed = clock_seed();
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut in_mutex, mut holding, mut slowest) = (0, 0, Duration::ZERO);
    for round in 0..ROUNDS {
        let s = Semaphore::new(UNITS).unwrap();
        let running_workers = shared_counters(1);
        let mut workers: Vec<Process> = (0..UNITS)
            .map(|_| {
                let s = s.clone();
                let mut p = Process::new(move || -> multiprocessing::Result<()> {
                    running_workers[0].fetch_add(1, Ordering::SeqCst);
                    loop {
                        drop(s.acquire()?);
                    }
                })
                .with_daemon(true);
                p.start().unwrap();
                p
            })
            .collect();
        eventually("the workers start", || running_workers[0].load(Ordering::SeqCst) == i64::from(UNITS));
        for p in &mut workers {
            std::thread::sleep(Duration::from_micros(rng.below(300)));
            p.kill().unwrap();
        }
        for p in &mut workers {
            assert_eq!(p.join().unwrap(), -9, "a worker failed");
        }
        let value = s.get_value(); // Rebuilds the count if a worker died holding the mutex.
        in_mutex += s.recounts_for_tests();
        holding += UNITS - value;
        let recovering = Instant::now();
        let units: Vec<_> = (0..UNITS)
            .map(|i| {
                s.acquire_timeout(Duration::from_secs(10))
                    .unwrap()
                    .unwrap_or_else(|| panic!("round {round}: unit {i} was lost"))
            })
            .collect();
        slowest = slowest.max(recovering.elapsed());
        assert!(s.try_acquire().unwrap().is_none(), "round {round}: a unit was made up");
        drop(units);
        assert_eq!(s.get_value(), UNITS, "round {round}");
    }
    println!(
        "FIGURES seed {seed}: {ROUNDS} rounds of 3 kills in {:.1?}: {in_mutex} kills while holding \
         the semaphore's mutex, {holding} units held by the killed; every unit back each round, \
         the slowest round in {slowest:.1?}, none made up",
        started.elapsed()
    );
}

/// A process forked (not by the crate) while its parent holds a guard gets a copy of the guard;
/// dropping the copy in the child gives nothing back: the unit is the parent's.
fn a_guard_copied_by_fork_does_not_release_in_the_child() {
    let s = Semaphore::new(1).unwrap();
    let mut guard = Some(s.acquire().unwrap());
    // SAFETY: this test process runs no other thread, and the child only drops the guard (a lock
    // of the shared semaphore taken by nobody else) and ends with `_exit`.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            drop(guard.take());
            // SAFETY: `_exit` ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).expect("waitpid");
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
    }
    assert_eq!(s.get_value(), 0, "the child's copy of the guard gave the parent's unit back");
    drop(guard);
    assert_eq!(s.get_value(), 1);
}

/// Taking and giving back a free unit costs a few microseconds: no `/proc` read, no system call
/// beyond the mutex's, on the way. Measured in CPU time of this thread (user and system), which
/// a machine busy with other work does not inflate, as it does the time on the clock; the clock
/// time has a bound too, far above it, against a sleep on the way.
fn uncontended_acquire_costs_microseconds() {
    const ROUNDS: u32 = 20_000;
    let s = Semaphore::new(1).unwrap();
    let (started, cpu_started) = (Instant::now(), thread_cpu_time());
    for _ in 0..ROUNDS {
        drop(s.acquire().unwrap());
    }
    let (each, cpu_each) = (started.elapsed() / ROUNDS, (thread_cpu_time() - cpu_started) / ROUNDS);
    println!("FIGURES acquire and drop of a free unit: {cpu_each:?} of CPU time, {each:?} on the clock");
    assert!(cpu_each < Duration::from_micros(50), "acquire and drop took {cpu_each:?} of CPU time");
    assert!(each < Duration::from_millis(1), "acquire and drop took {each:?} on the clock");
}

/// The CPU time the calling thread has used, user and system.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec for clock_gettime to fill; the clock id is a constant
    // every Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// `acquire_timeout(ZERO)` and `try_acquire` answer "none" only when no unit is free, as
/// CPython's `acquire(timeout=0)` and `acquire(False)` do: here at least 8 of 10 are always
/// free, while a child takes and gives back a unit without pause (it holds the semaphore's
/// internal mutex for a few stores each time, which must not pass for "no unit").
fn a_zero_timeout_finds_a_free_unit_while_another_process_churns() {
    let s = Semaphore::new(10).unwrap();
    let stop = Event::new().unwrap();
    let (s2, st) = (s.clone(), stop.clone());
    let mut child = Process::new(move || -> multiprocessing::Result<()> {
        while !st.is_set() {
            drop(s2.acquire()?);
        }
        Ok(())
    });
    child.start().unwrap();
    eventually("the child churns", || s.get_value() != 10 || !child.is_alive());
    let (mut none, mut calls) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1000) {
        calls += 2;
        none += usize::from(s.acquire_timeout(Duration::ZERO).unwrap().is_none());
        none += usize::from(s.try_acquire().unwrap().is_none());
    }
    stop.set();
    assert_eq!(child.join().unwrap(), 0);
    println!("FIGURES zero timeout: {none} of {calls} calls found no unit (8 or more were free)");
    assert_eq!(none, 0, "{none} of {calls} calls found no unit while 8 or more were free");
    assert_eq!(s.get_value(), 10);
}

/// A guard taken in one thread and dropped in another, which cannot read `/proc` at that
/// moment (no file descriptor left): the unit must come back all the same. The process is one
/// holder whatever its threads can read. Checked for a guard taken before the `/proc` read
/// fails, and for one taken while it fails (the identity then has no start time), in a child
/// so that the first identity the process reads is the one under test.
fn a_guard_dropped_by_a_thread_that_cannot_read_proc_gives_its_unit_back() {
    /// Runs `f` with no file descriptor to spare: the soft limit at 3 (stdin, stdout, stderr).
    fn without_descriptors<T>(f: impl FnOnce() -> T) -> T {
        let mut saved = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `saved` is a valid rlimit for getrlimit to fill.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) }, 0);
        let tight = libc::rlimit { rlim_cur: 3, rlim_max: saved.rlim_max };
        // SAFETY: a valid rlimit; lowering the soft limit closes nothing.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &tight) }, 0);
        assert!(std::fs::read_to_string("/proc/self/stat").is_err(), "/proc was readable at the limit");
        let out = f();
        // SAFETY: as above: the limit as it was.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &saved) }, 0);
        out
    }
    let s = Semaphore::new(2).unwrap();
    let s2 = s.clone();
    let mut readable = Process::new(move || {
        // Taken while `/proc` can be read, dropped by a thread that cannot read it.
        let guard = s2.acquire().unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| without_descriptors(|| drop(guard)));
        });
        assert_eq!(s2.get_value(), 2, "a guard dropped by a thread without descriptors kept its unit");
    });
    let s2 = s.clone();
    let mut unreadable = Process::new(move || {
        // Taken while `/proc` cannot be read (the process's first look at it), dropped by a
        // thread that can read it.
        let guard = without_descriptors(|| s2.acquire().unwrap());
        std::thread::scope(|scope| {
            scope.spawn(|| drop(guard));
        });
        assert_eq!(s2.get_value(), 2, "a guard taken without descriptors, dropped elsewhere, kept its unit");
    });
    for child in [&mut readable, &mut unreadable] {
        child.start().unwrap();
        assert_eq!(child.join().unwrap(), 0, "see the child's message above");
        assert_eq!(s.get_value(), 2);
    }
}
