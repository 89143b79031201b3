//! Tests for `Barrier` across real processes, parties killed at random instants included. Each
//! runs in a fresh process (see harness/mod.rs).

mod harness;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use multiprocessing::{Barrier, Error, Event, Process, Queue};

use harness::{Rng, clock_seed, eventually, join_all, kill_after, shared_counters};

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            (
                "parties_are_released_together_with_unique_indices_and_one_action_per_cycle",
                parties_are_released_together_with_unique_indices_and_one_action_per_cycle,
            ),
            ("a_timeout_breaks_the_barrier_for_every_party", a_timeout_breaks_the_barrier_for_every_party),
            ("the_default_timeout_of_with_timeout", the_default_timeout_of_with_timeout),
            (
                "a_party_killed_while_waiting_breaks_the_barrier",
                a_party_killed_while_waiting_breaks_the_barrier,
            ),
            (
                "a_party_killed_while_running_the_action_breaks_the_barrier",
                a_party_killed_while_running_the_action_breaks_the_barrier,
            ),
            (
                "parties_killed_at_random_instants_never_leave_the_others_hanging",
                parties_killed_at_random_instants_never_leave_the_others_hanging,
            ),
            (
                "abort_breaks_waiters_and_later_waits_until_reset",
                abort_breaks_waiters_and_later_waits_until_reset,
            ),
            (
                "reset_breaks_the_waiters_and_the_barrier_is_usable_after",
                reset_breaks_the_waiters_and_the_barrier_is_usable_after,
            ),
            ("an_action_that_panics_breaks_the_barrier", an_action_that_panics_breaks_the_barrier),
            (
                "a_timeout_does_not_count_once_every_party_has_arrived",
                a_timeout_does_not_count_once_every_party_has_arrived,
            ),
            (
                "an_action_that_calls_wait_gets_an_error_not_a_hang",
                an_action_that_calls_wait_gets_an_error_not_a_hang,
            ),
            (
                "a_wait_during_the_action_from_another_thread_keeps_its_timeout",
                a_wait_during_the_action_from_another_thread_keeps_its_timeout,
            ),
        ],
        &[],
    );
}

/// What a party's `wait` gave, in a form a queue carries: the index, or the error's kind.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Outcome {
    Passed(usize),
    Broken,
    ActionPanicked(String),
    Other(String),
}

impl From<multiprocessing::Result<usize>> for Outcome {
    fn from(result: multiprocessing::Result<usize>) -> Outcome {
        match result {
            Ok(index) => Outcome::Passed(index),
            Err(Error::BrokenBarrier) => Outcome::Broken,
            Err(Error::BarrierActionPanicked(why)) => Outcome::ActionPanicked(why),
            Err(other) => Outcome::Other(other.to_string()),
        }
    }
}

/// A process that waits at `barrier` (at most `timeout`) and sends what it got, and how long it
/// waited, to `results`.
fn party(barrier: &Barrier, timeout: Duration, results: &Queue<(Outcome, Duration)>) -> Process {
    let (b, r) = (barrier.clone(), results.clone());
    let mut p = Process::new(move || {
        let started = Instant::now();
        let outcome = Outcome::from(b.wait_timeout(timeout));
        r.put((outcome, started.elapsed()))
    });
    p.start().unwrap();
    p
}

fn smoke() {
    let b = Barrier::new(1).unwrap();
    assert_eq!(b.wait().unwrap(), 0);
    assert_eq!(b.wait().unwrap(), 0);
    assert_eq!((b.parties(), b.n_waiting(), b.broken()), (1, 0, false));
    assert_eq!(format!("{b:?}"), "<Barrier waiters=0/1>");
    b.abort().unwrap();
    assert!(b.broken());
    assert!(matches!(b.wait(), Err(Error::BrokenBarrier)));
    assert_eq!(format!("{b:?}"), "<Barrier broken, parties=1>");
    b.reset().unwrap();
    assert_eq!(b.wait().unwrap(), 0);
    assert!(matches!(Barrier::new(0), Err(Error::InvalidState(_))));
    assert!(matches!(Barrier::new(257), Err(Error::InvalidState(_))));
    assert!(Barrier::new(256).is_ok());
}

/// Four parties (three children and the parent), 200 cycles, an action that counts. After each
/// `wait` a party checks that all four had arrived in that cycle, that the action ran exactly
/// once in it, and (for the last party) that it ran in its own process; the indices of a cycle
/// are 0, 1, 2 and 3, each once.
fn parties_are_released_together_with_unique_indices_and_one_action_per_cycle() {
    const PARTIES: usize = 4;
    const CYCLES: usize = 200;
    // [0]: actions run; [1]: pid of the last process that ran it; [2]: failed checks;
    // [3..3 + CYCLES]: arrivals per cycle; [3 + CYCLES..]: bits of the indices given per cycle.
    let counters = shared_counters(3 + 2 * CYCLES);
    let barrier = Barrier::with_action(PARTIES, move || {
        counters[0].fetch_add(1, Ordering::SeqCst);
        counters[1].store(i64::from(std::process::id()), Ordering::SeqCst);
    })
    .unwrap();
    let run = move |b: &Barrier| -> multiprocessing::Result<()> {
        for cycle in 0..CYCLES {
            counters[3 + cycle].fetch_add(1, Ordering::SeqCst);
            let index = b.wait_timeout(Duration::from_secs(30))?;
            let arrived = counters[3 + cycle].load(Ordering::SeqCst);
            let actions = counters[0].load(Ordering::SeqCst);
            let bit = 1 << index;
            let seen = counters[3 + CYCLES + cycle].fetch_or(bit, Ordering::SeqCst);
            let last_ran_it =
                index + 1 < PARTIES || counters[1].load(Ordering::SeqCst) == i64::from(std::process::id());
            if arrived != PARTIES as i64 || actions != cycle as i64 + 1 || seen & bit != 0 || !last_ran_it {
                counters[2].fetch_add(1, Ordering::SeqCst);
                eprintln!(
                    "cycle {cycle}: index {index}, {arrived} arrived, {actions} actions, seen {seen:b}"
                );
            }
        }
        Ok(())
    };
    let started = Instant::now();
    let mut children: Vec<Process> = (1..PARTIES)
        .map(|_| {
            let b = barrier.clone();
            let mut p = Process::new(move || run(&b));
            p.start().unwrap();
            p
        })
        .collect();
    run(&barrier).unwrap();
    join_all(&mut children);
    println!("FIGURES {CYCLES} cycles of {PARTIES} processes in {:.1?}", started.elapsed());
    assert_eq!(counters[2].load(Ordering::SeqCst), 0, "checks failed (see above)");
    assert_eq!(counters[0].load(Ordering::SeqCst), CYCLES as i64);
    for cycle in 0..CYCLES {
        assert_eq!(counters[3 + CYCLES + cycle].load(Ordering::SeqCst), 0b1111, "indices of cycle {cycle}");
    }
    assert_eq!((barrier.n_waiting(), barrier.broken()), (0, false));
}

/// Three parties; one child waits with a long limit, the parent with 200 ms: the parent's wait
/// breaks the barrier after about 200 ms, and the child's returns `BrokenBarrier` then too. The
/// barrier stays broken until `reset`, and works after it.
fn a_timeout_breaks_the_barrier_for_every_party() {
    let barrier = Barrier::new(3).unwrap();
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut child = party(&barrier, Duration::from_secs(60), &results);
    eventually("the child waits", || barrier.n_waiting() == 1);
    let started = Instant::now();
    assert!(matches!(barrier.wait_timeout(Duration::from_millis(200)), Err(Error::BrokenBarrier)));
    let took = started.elapsed();
    assert!((Duration::from_millis(190)..Duration::from_secs(5)).contains(&took), "broke after {took:?}");
    let (outcome, _) = results.get_timeout(Duration::from_secs(5)).expect("the child still waits");
    assert_eq!(outcome, Outcome::Broken);
    assert_eq!(child.join().unwrap(), 0);
    assert!(barrier.broken());
    let started = Instant::now();
    assert!(matches!(barrier.wait_timeout(Duration::from_secs(10)), Err(Error::BrokenBarrier)));
    assert!(started.elapsed() < Duration::from_secs(1), "a wait on a broken barrier waited");
    barrier.reset().unwrap();
    assert!(!barrier.broken());
    let mut children = [
        party(&barrier, Duration::from_secs(30), &results),
        party(&barrier, Duration::from_secs(30), &results),
    ];
    let index = barrier.wait_timeout(Duration::from_secs(30)).unwrap();
    let mut indices = vec![index];
    for p in &mut children {
        assert_eq!(p.join().unwrap(), 0);
        match results.get().unwrap() {
            (Outcome::Passed(index), _) => indices.push(index),
            other => panic!("after the reset a party got {other:?}"),
        }
    }
    indices.sort();
    assert_eq!(indices, [0, 1, 2]);
}

/// `with_timeout` is the limit of `wait()`, as Python's `Barrier(parties, timeout=t)`.
fn the_default_timeout_of_with_timeout() {
    let barrier = Barrier::new(2).unwrap().with_timeout(Duration::from_millis(200));
    let started = Instant::now();
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    let took = started.elapsed();
    assert!((Duration::from_millis(190)..Duration::from_secs(5)).contains(&took), "broke after {took:?}");
    assert!(barrier.broken());
}

/// Four parties, three of which come: two children wait, one is SIGKILLed; the other child and
/// the parent get `BrokenBarrier` within a second (CPython's would wait forever).
fn a_party_killed_while_waiting_breaks_the_barrier() {
    let barrier = Barrier::new(4).unwrap();
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut victim = party(&barrier, Duration::from_secs(60), &results);
    let mut survivor = party(&barrier, Duration::from_secs(60), &results);
    eventually("both children wait", || barrier.n_waiting() == 2);
    std::thread::sleep(Duration::from_millis(50));
    // The parent waits too, from before the kill: a thread kills.
    let killer = kill_after(&victim, Duration::from_millis(150));
    let outcome = Outcome::from(barrier.wait_timeout(Duration::from_secs(30)));
    let broken_at = Instant::now();
    let killed_at = killer.join().unwrap();
    assert_eq!(outcome, Outcome::Broken);
    assert_eq!(victim.join().unwrap(), -9);
    let (outcome, _) = results.get_timeout(Duration::from_secs(5)).expect("the other child still waits");
    assert_eq!(outcome, Outcome::Broken);
    assert_eq!(survivor.join().unwrap(), 0);
    let latency = broken_at.saturating_duration_since(killed_at);
    println!("FIGURES the parent's wait broke {latency:?} after the party was killed");
    assert!(latency < Duration::from_millis(1500), "the barrier broke {latency:?} after the kill");
    assert!(barrier.broken());
}

/// Three parties, an action that sleeps: the last child to arrive runs it and is SIGKILLed in
/// it; the other child gets `BrokenBarrier` within a second or so.
fn a_party_killed_while_running_the_action_breaks_the_barrier() {
    let acting = Event::new().unwrap();
    let a = acting.clone();
    let barrier = Barrier::with_action(2, move || {
        a.set();
        std::thread::sleep(Duration::from_secs(60));
    })
    .unwrap();
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut first = party(&barrier, Duration::from_secs(60), &results);
    eventually("the first child waits", || barrier.n_waiting() == 1);
    let mut last = party(&barrier, Duration::from_secs(60), &results);
    assert!(acting.wait_timeout(Duration::from_secs(30)), "the action never ran");
    let killed_at = Instant::now();
    last.kill().unwrap();
    assert_eq!(last.join().unwrap(), -9);
    let (outcome, _) = results.get_timeout(Duration::from_secs(5)).expect("the first child still waits");
    let latency = killed_at.elapsed();
    assert_eq!(outcome, Outcome::Broken);
    assert_eq!(first.join().unwrap(), 0);
    println!("FIGURES the waiting party got BrokenBarrier {latency:?} after the acting one was killed");
    assert!(barrier.broken());
}

/// Round after round, six barriers of three parties at once, each party a process that waits at
/// its barrier cycle after cycle (a random pause of up to 2 ms before each `wait`, whose limit
/// is 500 ms); one party of each barrier is SIGKILLed at a random instant. The two others must
/// end, with `BrokenBarrier`, soon: within a few slices when the dead party was inside `wait`,
/// by their timeout when it died between two waits (a party that has not arrived cannot be told
/// from a late one). Then the barrier is reset, and must work for three new parties.
///
/// Where the victim is when it dies is luck; the test does not depend on it. It plays at least
/// `ROUNDS` rounds, and more (up to `MAX_ROUNDS`) until some death was noticed inside `wait`
/// (about a quarter of the kills land there: all 24 of four rounds miss it about once in a
/// thousand runs, all 96 of sixteen rounds practically never). A barrier that broke by its
/// timeout *before* the kill (a party waited half a second for the others: only a machine
/// stalled that long does that) is counted apart; its three parties must all have ended with
/// `BrokenBarrier`.
fn parties_killed_at_random_instants_never_leave_the_others_hanging() {
    const ROUNDS: usize = 4;
    const MAX_ROUNDS: usize = 16;
    const GROUPS: usize = 6;
    const TIMEOUT: Duration = Duration::from_millis(500);
    // A death inside `wait` is noticed within a 100 ms slice; a death between waits only by a
    // timeout, which started at most a cycle (a few ms) before the kill. Half the timeout tells
    // the two apart with a wide margin on both sides.
    const NOTICED_WITHIN: Duration = Duration::from_millis(250);
    // A survivor still waiting this long after the kill (twenty times its timeout) hangs.
    const HANG: Duration = Duration::from_secs(10);
    // What a party's ending is, in its counter: still running, or how its last `wait` ended.
    const RUNNING: i64 = 0;
    const BROKEN: i64 = 1;
    const OTHER_ERROR: i64 = 2;
    let seed = clock_seed();
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut kills, mut detected, mut timed_out, mut broke_before_kill, mut hangs, mut cycles) =
        (0, 0, 0, 0, 0, 0);
    let mut slowest_detection = Duration::ZERO;
    let mut round = 0;
    while round < ROUNDS || (detected == 0 && round < MAX_ROUNDS) {
        // Per group: [0] cycles passed, [1 + party] how that party ended.
        let counters = shared_counters(4 * GROUPS);
        let barriers: Vec<Barrier> = (0..GROUPS).map(|_| Barrier::new(3).unwrap()).collect();
        let mut groups: Vec<Vec<Process>> = barriers
            .iter()
            .enumerate()
            .map(|(group, barrier)| {
                (0..3u64)
                    .map(|party| {
                        let b = barrier.clone();
                        let mut rng = Rng(seed ^ ((round * GROUPS + group) as u64 * 3 + party + 1) << 20);
                        let mut p = Process::new(move || {
                            // Cycles until the barrier breaks; then says how it ended.
                            let ending = loop {
                                std::thread::sleep(Duration::from_micros(rng.below(2000)));
                                match b.wait_timeout(TIMEOUT) {
                                    Ok(_) => counters[4 * group].fetch_add(1, Ordering::SeqCst),
                                    Err(Error::BrokenBarrier) => break BROKEN,
                                    Err(_) => break OTHER_ERROR,
                                };
                            };
                            counters[4 * group + 1 + party as usize].store(ending, Ordering::SeqCst);
                        })
                        .with_daemon(true);
                        p.start().unwrap();
                        p
                    })
                    .collect()
            })
            .collect();
        // Kill one party of each group, then see how long the two others take to end.
        let mut killed_at = Vec::new();
        let mut victims = Vec::new();
        for group in &mut groups {
            std::thread::sleep(Duration::from_micros(rng.below(5000)));
            let victim = rng.below(3) as usize;
            group[victim].kill().unwrap();
            killed_at.push(Instant::now());
            // -9, or 0 if the barrier broke by its timeout before the kill and the victim ended.
            let code = group.remove(victim).join().unwrap();
            assert!(code == -9 || code == 0, "round {round}: the victim ended with exit code {code}");
            victims.push((victim, code == 0));
            kills += 1;
        }
        // Watch every group at once: when did its two survivors both end?
        let mut ended: Vec<Option<Duration>> = vec![None; GROUPS];
        while ended.iter().any(Option::is_none) && killed_at[0].elapsed() < HANG {
            for (group, processes) in groups.iter().enumerate() {
                if ended[group].is_none() && processes.iter().all(|p| !p.is_alive()) {
                    ended[group] = Some(killed_at[group].elapsed());
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for (group, processes) in groups.iter_mut().enumerate() {
            let (victim, victim_exited) = victims[group];
            // The victim ended, or got `BrokenBarrier` just before the kill: its barrier had
            // already broken, by a timeout.
            let ended_before_kill =
                victim_exited || counters[4 * group + 1 + victim].load(Ordering::SeqCst) == BROKEN;
            match ended[group] {
                _ if ended_before_kill => broke_before_kill += 1,
                Some(took) if took < NOTICED_WITHIN => {
                    detected += 1;
                    slowest_detection = slowest_detection.max(took);
                }
                Some(_) => timed_out += 1,
                None => {
                    hangs += 1;
                    println!("round {round}: a party still waits {HANG:?} after another was killed");
                }
            }
            for p in processes.iter_mut() {
                if p.is_alive() {
                    p.kill().unwrap();
                }
                let code = p.join().unwrap();
                assert!(code == 0 || ended[group].is_none(), "a party failed: exit code {code}");
            }
            let endings: Vec<i64> =
                (0..3).map(|party| counters[4 * group + 1 + party].load(Ordering::SeqCst)).collect();
            assert!(!endings.contains(&OTHER_ERROR), "round {round}: a party got another error: {endings:?}");
            for (party, &ending) in endings.iter().enumerate() {
                // The victim may have ended (or got its error and been killed before it could
                // say so) if the barrier broke before the kill; the survivors always end broken.
                let fine = ending == BROKEN || (party == victim && ending == RUNNING);
                assert!(
                    fine,
                    "round {round}: the survivors did not both end broken: {endings:?}, victim {victim}"
                );
            }
        }
        for (group, barrier) in barriers.iter().enumerate() {
            cycles += counters[4 * group].load(Ordering::SeqCst);
            assert!(barrier.broken());
            // Reset, and three new parties (two children and the parent) pass it.
            barrier.reset().unwrap();
            let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
            let mut fresh = [
                party(barrier, Duration::from_secs(10), &results),
                party(barrier, Duration::from_secs(10), &results),
            ];
            let mine = Outcome::from(barrier.wait_timeout(Duration::from_secs(10)));
            assert!(
                matches!(mine, Outcome::Passed(_)),
                "round {round}: after the reset the parent got {mine:?}"
            );
            for p in &mut fresh {
                assert_eq!(p.join().unwrap(), 0);
                let (outcome, _) = results.get().unwrap();
                assert!(
                    matches!(outcome, Outcome::Passed(_)),
                    "round {round}: after the reset a party got {outcome:?}"
                );
            }
        }
        round += 1;
    }
    println!(
        "FIGURES seed {seed}: {kills} parties killed in {round} rounds, {:.1?} ({cycles} cycles passed): \
         the others ended {detected} times by noticing the death (slowest {slowest_detection:.1?}), \
         {timed_out} times by their timeout (the victim was between two waits), {broke_before_kill} \
         barriers broke by a timeout before the kill; {hangs} hangs; every barrier worked after reset",
        started.elapsed()
    );
    assert_eq!(hangs, 0);
    assert!(
        detected > 0,
        "no death was noticed in {round} rounds: every party was killed between two waits?"
    );
    // Cycling parties wait a few ms for each other: a barrier breaks by its timeout before the
    // kill only when the machine stalls for half a second, not for most of the barriers.
    assert!(
        broke_before_kill * 2 <= kills,
        "{broke_before_kill} of {kills} barriers broke before their kill"
    );
}

/// `abort()` while a party waits: it gets `BrokenBarrier`; so does every later `wait`, at once,
/// until `reset()`; after it three parties pass.
fn abort_breaks_waiters_and_later_waits_until_reset() {
    let barrier = Barrier::new(3).unwrap();
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut waiter = party(&barrier, Duration::from_secs(60), &results);
    eventually("the child waits", || barrier.n_waiting() == 1);
    barrier.abort().unwrap();
    let (outcome, _) = results.get_timeout(Duration::from_secs(5)).expect("the child still waits");
    assert_eq!(outcome, Outcome::Broken);
    assert_eq!(waiter.join().unwrap(), 0);
    assert!(barrier.broken());
    let started = Instant::now();
    assert!(matches!(barrier.wait(), Err(Error::BrokenBarrier)));
    assert!(started.elapsed() < Duration::from_secs(1));
    barrier.reset().unwrap();
    assert!(!barrier.broken());
    let mut children = [
        party(&barrier, Duration::from_secs(30), &results),
        party(&barrier, Duration::from_secs(30), &results),
    ];
    assert!(barrier.wait_timeout(Duration::from_secs(30)).is_ok());
    for p in &mut children {
        assert_eq!(p.join().unwrap(), 0);
        assert!(matches!(results.get().unwrap().0, Outcome::Passed(_)));
    }
}

/// `reset()` while two parties wait: both get `BrokenBarrier`, the barrier is not broken after
/// (Python's `reset` leaves it usable), and the next cycle passes.
fn reset_breaks_the_waiters_and_the_barrier_is_usable_after() {
    let barrier = Barrier::new(3).unwrap();
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut waiters = [
        party(&barrier, Duration::from_secs(60), &results),
        party(&barrier, Duration::from_secs(60), &results),
    ];
    eventually("both children wait", || barrier.n_waiting() == 2);
    barrier.reset().unwrap();
    for p in &mut waiters {
        assert_eq!(
            results.get_timeout(Duration::from_secs(5)).expect("a child still waits").0,
            Outcome::Broken
        );
        assert_eq!(p.join().unwrap(), 0);
    }
    assert!(!barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    let mut children = [
        party(&barrier, Duration::from_secs(30), &results),
        party(&barrier, Duration::from_secs(30), &results),
    ];
    assert!(barrier.wait_timeout(Duration::from_secs(30)).is_ok());
    for p in &mut children {
        assert_eq!(p.join().unwrap(), 0);
        assert!(matches!(results.get().unwrap().0, Outcome::Passed(_)));
    }
}

/// The action panics in the last party (the parent): its `wait` returns the panic's message, the
/// child's `BrokenBarrier`, and the barrier is broken.
fn an_action_that_panics_breaks_the_barrier() {
    let barrier = Barrier::with_action(2, || panic!("boom")).unwrap();
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut child = party(&barrier, Duration::from_secs(60), &results);
    eventually("the child waits", || barrier.n_waiting() == 1);
    let outcome = Outcome::from(barrier.wait_timeout(Duration::from_secs(30)));
    assert_eq!(outcome, Outcome::ActionPanicked("boom".into()));
    assert_eq!(
        results.get_timeout(Duration::from_secs(5)).expect("the child still waits").0,
        Outcome::Broken
    );
    assert_eq!(child.join().unwrap(), 0);
    assert!(barrier.broken());
}

/// Once every party has arrived, a waiter's timeout no longer breaks the barrier while the last
/// one runs the action (in CPython the waiter could not even look before the action ends): a
/// first party with a 500 ms limit, an action of 800 ms, and the first party passes.
fn a_timeout_does_not_count_once_every_party_has_arrived() {
    let barrier = Barrier::with_action(2, || std::thread::sleep(Duration::from_millis(800))).unwrap();
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut first = party(&barrier, Duration::from_millis(500), &results);
    eventually("the child waits", || barrier.n_waiting() == 1);
    assert_eq!(barrier.wait_timeout(Duration::from_secs(30)).unwrap(), 1);
    let (outcome, waited) = results.get_timeout(Duration::from_secs(5)).expect("the child still waits");
    assert_eq!(outcome, Outcome::Passed(0));
    assert!(waited >= Duration::from_millis(750), "the child passed before the action ended: {waited:?}");
    assert_eq!(first.join().unwrap(), 0);
    assert!(!barrier.broken());
}

/// A barrier of two parties whose action runs `inside` with the barrier, which sends what it
/// got to the queue returned; the two parties are children. Returns the two parties' outcomes
/// (each within 20 s: a party still waiting then is a hang, and both are killed) and the queue.
fn two_parties_and_an_action(
    inside: fn(&Barrier, &Queue<(Outcome, Duration)>),
) -> (Vec<Outcome>, Queue<(Outcome, Duration)>, Barrier) {
    let inner: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    // The action needs the barrier, which is made with the action: it finds it here.
    let cell: Arc<OnceLock<Barrier>> = Arc::new(OnceLock::new());
    let (c, i) = (Arc::clone(&cell), inner.clone());
    let barrier = Barrier::with_action(2, move || inside(c.get().expect("set before any wait"), &i)).unwrap();
    assert!(cell.set(barrier.clone()).is_ok());
    let results: Queue<(Outcome, Duration)> = Queue::new().unwrap();
    let mut parties = vec![party(&barrier, Duration::from_secs(60), &results)];
    eventually("the first party waits", || barrier.n_waiting() == 1);
    parties.push(party(&barrier, Duration::from_secs(60), &results));
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        match results.get_timeout(Duration::from_secs(20)) {
            Ok((outcome, _)) => outcomes.push(outcome),
            Err(_) => {
                for p in &parties {
                    let _ = p.kill();
                }
                panic!("the parties still wait after 20 s (a hang); got only {outcomes:?}");
            }
        }
    }
    join_all(&mut parties);
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    (outcomes, inner, barrier)
}

/// The action runs in the last party's thread before the cycle is released, so a `wait` it
/// makes waits for a cycle that cannot end before the action returns: CPython's hangs (or,
/// with a timeout, breaks the barrier when it runs out). Here such a `wait` fails at once,
/// with or without a timeout, with an error that says why, and the cycle ends as usual.
fn an_action_that_calls_wait_gets_an_error_not_a_hang() {
    let (outcomes, inner, barrier) = two_parties_and_an_action(|barrier, inner| {
        for timeout in [None, Some(Duration::from_secs(2))] {
            let started = Instant::now();
            let result = match timeout {
                None => barrier.wait(),
                Some(timeout) => barrier.wait_timeout(timeout),
            };
            inner.put((Outcome::from(result), started.elapsed())).unwrap();
        }
    });
    assert_eq!(outcomes, [Outcome::Passed(0), Outcome::Passed(1)]);
    for _ in 0..2 {
        let (outcome, took) = inner.get_timeout(Duration::from_secs(5)).unwrap();
        let Outcome::Other(message) = outcome else { panic!("the action's wait gave {outcome:?}") };
        assert!(message.contains("from its own action"), "{message}");
        assert!(took < Duration::from_secs(1), "the action's wait took {took:?} to fail");
    }
    assert!(!barrier.broken());
}

/// A `wait` that the action makes from another thread cannot be told from any late caller: it
/// waits for the action to end, but its timeout counts. Here the action waits for that thread,
/// so the timeout (300 ms) is what ends it: the thread's `wait` breaks the barrier, as a timeout
/// does, and the two parties learn that the barrier broke.
fn a_wait_during_the_action_from_another_thread_keeps_its_timeout() {
    let (outcomes, inner, barrier) = two_parties_and_an_action(|barrier, inner| {
        let b = barrier.clone();
        let started = Instant::now();
        let result = std::thread::spawn(move || b.wait_timeout(Duration::from_millis(300))).join().unwrap();
        inner.put((Outcome::from(result), started.elapsed())).unwrap();
    });
    assert_eq!(outcomes, [Outcome::Broken, Outcome::Broken]);
    let (outcome, took) = inner.get_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(outcome, Outcome::Broken);
    assert!((Duration::from_millis(250)..Duration::from_secs(5)).contains(&took), "{took:?}");
    assert!(barrier.broken());
}
