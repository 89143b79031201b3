//! Tests for `Value` and `Array` across real processes. Each runs in a fresh process (see
//! harness/mod.rs).

mod harness;

use std::time::{Duration, Instant};

use multiprocessing::{Array, Error, Event, Lock, Process, Queue, Value};

use harness::{Rng, clock_seed, failures_in_children, join_all, spin_for, start_all};

fn main() {
    harness::main(
        &[
            (
                "four_processes_increment_under_the_lock_and_none_is_lost",
                four_processes_increment_under_the_lock_and_none_is_lost,
            ),
            (
                "an_array_written_by_a_child_is_read_by_the_parent",
                an_array_written_by_a_child_is_read_by_the_parent,
            ),
            ("array_index_out_of_range_is_an_index_error", array_index_out_of_range_is_an_index_error),
            ("two_numbers_in_one_value_change_together", two_numbers_in_one_value_change_together),
            (
                "a_guard_copied_into_a_child_cannot_reach_the_value",
                a_guard_copied_into_a_child_cannot_reach_the_value,
            ),
            (
                "a_leaked_guard_then_the_value_dropped_is_not_a_crash",
                a_leaked_guard_then_the_value_dropped_is_not_a_crash,
            ),
            (
                "a_holder_killed_at_random_instants_never_leaves_the_value_locked",
                a_holder_killed_at_random_instants_never_leaves_the_value_locked,
            ),
        ],
        &[],
    );
}

/// `*v.lock()? += 1` is a read, an add and a write: without the lock, two processes would read
/// the same number and one increment would be lost. With it, every one counts.
fn four_processes_increment_under_the_lock_and_none_is_lost() {
    const EACH: i64 = 5_000;
    let counter = Value::new(0_i64).unwrap();
    let mut workers: Vec<Process> = (0..4)
        .map(|_| {
            let counter = counter.clone();
            Process::new(move || -> multiprocessing::Result<()> {
                for _ in 0..EACH {
                    let mut n = counter.lock()?;
                    let read = *n;
                    std::hint::spin_loop(); // widen the window a race would need
                    *n = read + 1;
                }
                Ok(())
            })
        })
        .collect();
    start_all(&mut workers);
    join_all(&mut workers);
    assert_eq!(counter.get().unwrap(), 4 * EACH);
    counter.set(-1).unwrap();
    assert_eq!(counter.get().unwrap(), -1);
}

fn an_array_written_by_a_child_is_read_by_the_parent() {
    let squares = Array::new(1000, 0_u64).unwrap();
    assert_eq!(squares.len(), 1000);
    let points = Array::from_slice(&[[1.5_f64, -2.0], [0.0, 3.25]]).unwrap();
    let (s, p) = (squares.clone(), points.clone());
    let mut child = Process::new(move || -> multiprocessing::Result<()> {
        for (i, x) in s.lock()?.iter_mut().enumerate() {
            *x = (i * i) as u64;
        }
        let mut points = p.lock()?;
        points.swap(0, 1);
        points[1][0] = 9.0;
        Ok(())
    });
    child.start().unwrap();
    assert_eq!(child.join().unwrap(), 0);
    let got = squares.to_vec().unwrap();
    assert!(got.iter().enumerate().all(|(i, &x)| x == (i * i) as u64));
    assert_eq!(squares.get(999).unwrap(), 999 * 999);
    assert_eq!(points.to_vec().unwrap(), [[0.0, 3.25], [9.0, -2.0]]);
}

fn array_index_out_of_range_is_an_index_error() {
    let a = Array::from_slice(&[1_i32, 2, 3]).unwrap();
    let err = a.get(3).unwrap_err();
    assert!(matches!(err, Error::IndexOutOfRange { index: 3, len: 3 }), "{err}");
    assert!(err.to_string().contains("IndexError"), "{err}");
    let err = a.set(7, 0).unwrap_err();
    assert!(matches!(err, Error::IndexOutOfRange { index: 7, len: 3 }), "{err}");
    // Nothing was written by the refused `set`.
    assert_eq!(a.to_vec().unwrap(), [1, 2, 3]);
    let empty = Array::<u8>::new(0, 0).unwrap();
    assert!(empty.is_empty());
    assert!(empty.get(0).is_err());
}

/// Two accounts in one `Value<[i64; 2]>`: processes move money between them while the parent
/// checks, under the same lock, that the total never changes. The movers keep moving until the
/// parent has made its checks (at least 2,000, and until it has seen the accounts change 100
/// times between two checks), so the checks cannot all come before or after the moves.
fn two_numbers_in_one_value_change_together() {
    const CHECKS: u32 = 2_000;
    const CHANGES: u32 = 100;
    let accounts = Value::new([1_000_i64, 0]).unwrap();
    let stop = Event::new().unwrap();
    let mut movers: Vec<Process> = (0..2)
        .map(|k| {
            let (accounts, stop) = (accounts.clone(), stop.clone());
            Process::new(move || -> multiprocessing::Result<()> {
                let mut i = 0;
                while !stop.is_set() {
                    let amount = (i % 7 + k) as i64;
                    let mut both = accounts.lock()?;
                    both[0] -= amount;
                    std::hint::spin_loop();
                    both[1] += amount;
                    drop(both);
                    i += 1;
                }
                Ok(())
            })
            // Daemonic: if this test panics, its exit terminates them instead of waiting.
            .with_daemon(true)
        })
        .collect();
    start_all(&mut movers);
    let started = Instant::now();
    let (mut checks, mut changes, mut last, mut half_done) = (0, 0, [1_000, 0], None);
    while (checks < CHECKS || changes < CHANGES) && started.elapsed() < Duration::from_secs(30) {
        let [a, b] = accounts.get().unwrap();
        if a + b != 1_000 {
            half_done.get_or_insert([a, b]);
        }
        if [a, b] != last {
            changes += 1;
            last = [a, b];
        }
        checks += 1;
        // A moment with the lock free, so that the movers get it: taken again at once, it could
        // stay this loop's for long stretches.
        spin_for(Duration::from_micros(2));
    }
    // Stopped before any assertion, so that a failure is reported at once.
    stop.set();
    join_all(&mut movers);
    println!(
        "FIGURES value sum checked {checks} times while two processes moved money; {changes} changes seen"
    );
    assert_eq!(half_done, None, "a half-done move was seen");
    assert!(
        changes >= CHANGES,
        "the accounts changed {changes} times in 30 s of checks: the test watched too little"
    );
    let [a, b] = accounts.get().unwrap();
    assert_eq!(a + b, 1_000);
}

/// A `ValueGuard` moved into a child's closure (the value leaked to `'static`, which safe code
/// may do) is copied by the fork: the child holds no lock, and the parent's copy of the guard is
/// dropped after `start`, so the parent may write at the same time. Reaching the value through
/// the copy must panic in the child (a clear message), never write the shared memory.
fn a_guard_copied_into_a_child_cannot_reach_the_value() {
    let value: &'static Value<u64> = Box::leak(Box::new(Value::new(0).unwrap()));
    let array: &'static Array<u64> = Box::leak(Box::new(Array::new(4, 0).unwrap()));
    let messages: Queue<String> = Queue::new().unwrap();
    let mut copied = value.lock().unwrap();
    let mut copied_array = array.lock().unwrap();
    let m = messages.clone();
    let mut child = Process::new(move || -> multiprocessing::Result<()> {
        let attempt =
            |write: &mut dyn FnMut()| match std::panic::catch_unwind(std::panic::AssertUnwindSafe(write)) {
                Ok(()) => "written".to_string(),
                Err(panic) => match panic.downcast_ref::<&str>() {
                    Some(text) => text.to_string(),
                    None => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
                },
            };
        m.put(attempt(&mut || *copied = 1_000))?;
        m.put(attempt(&mut || copied_array[0] = 1_000))?;
        // The copies are dropped here: they must not release the lock the child never took.
        Ok(())
    });
    child.start().unwrap();
    for _ in 0..2 {
        let message = messages.get_timeout(Duration::from_secs(30)).unwrap();
        assert!(message.contains("copied into a child") && message.contains("fork"), "{message:?}");
    }
    assert_eq!(child.join().unwrap(), 0);
    assert_eq!(value.get().unwrap(), 0, "the child wrote through a copied guard");
    assert_eq!(array.to_vec().unwrap(), [0; 4], "the child wrote through a copied guard");
}

/// As `a_leaked_guard_then_its_lock_dropped_is_not_a_crash` in tests/lock.rs, for the lock of a
/// `Value` and of an `Array`: a guard leaked with `mem::forget`, the value dropped, then another
/// lock released by the same thread. Each case in a child, which must end with exit code 0.
fn a_leaked_guard_then_the_value_dropped_is_not_a_crash() {
    fn leak_between(leak_one: impl FnOnce()) {
        let outer = Lock::new().unwrap();
        let held = outer.acquire().unwrap();
        leak_one();
        drop(held);
        drop(Lock::new().unwrap().acquire().unwrap());
    }
    let cases: [(&str, fn()); 2] = [
        ("Value", || leak_between(|| std::mem::forget(Value::new(7_u32).unwrap().lock().unwrap()))),
        ("Array", || leak_between(|| std::mem::forget(Array::new(3, 7_u32).unwrap().lock().unwrap()))),
    ];
    let crashed = failures_in_children(&cases);
    assert!(crashed.is_empty(), "leaked guard, value dropped: {crashed:?} (-11 is SIGSEGV)");
}

/// A child increments without end and is SIGKILLed at a random instant, often with the lock
/// held. Every time, the parent's `lock()` must get the lock within seconds (never a hang), and
/// when the child died holding it the guard must say so; the count only ever goes up.
///
/// The random instant is counted from the child's first increment, not from its start: on a
/// busy machine a child may not run at all in its first milliseconds, and kills that all land
/// before the loop would test nothing (seen: 1 death holding the lock in 60 kills).
fn a_holder_killed_at_random_instants_never_leaves_the_value_locked() {
    const KILLS: u64 = 60;
    let seed = clock_seed();
    let mut rng = Rng(seed);
    let counter = Value::new(0_u64).unwrap();
    let (mut died_holding, mut last) = (0, 0);
    for _ in 0..KILLS {
        let (c, looping) = (counter.clone(), Event::new().unwrap());
        let l = looping.clone();
        let mut child = Process::new(move || -> multiprocessing::Result<()> {
            loop {
                // Half the time with the lock held, half without: kills land in both.
                let mut n = c.lock()?;
                *n += 1;
                spin_for(Duration::from_micros(50));
                drop(n);
                l.set();
                spin_for(Duration::from_micros(50));
            }
        });
        child.start().unwrap();
        assert!(looping.wait_timeout(Duration::from_secs(30)), "the child never incremented");
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        child.kill().unwrap();
        assert_eq!(child.join().unwrap(), -9);
        let started = Instant::now();
        let guard = counter.lock().unwrap();
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(5), "lock() took {waited:?} after the holder died");
        if guard.previous_holder_died() {
            died_holding += 1;
        }
        assert!(*guard >= last, "the count went down: {} after {last}", *guard);
        last = *guard;
    }
    println!(
        "FIGURES value holder kills={KILLS} died holding the lock={died_holding} count={last} seed={seed}"
    );
    assert!(last > 0, "the child never incremented");
    assert!(died_holding > 0, "no kill landed while the lock was held: the test tested nothing");
}
