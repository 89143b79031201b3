//! Tests for `Event` across real processes. Each runs in a fresh process (see harness/mod.rs).

mod harness;

use std::time::{Duration, Instant};

use multiprocessing::{Event, Process, Queue};

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            ("cpython_test_event", cpython_test_event),
            ("set_wakes_eight_waiting_processes", set_wakes_eight_waiting_processes),
            ("wait_timeout_in_a_child_gives_false_then_true", wait_timeout_in_a_child_gives_false_then_true),
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
    for p in &mut waiters {
        p.start().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(woken.empty(), "a waiter passed before the event was set");
    event.set();
    let mut ids: Vec<usize> = (0..8).map(|_| woken.get_timeout(Duration::from_secs(30)).unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    for p in &mut waiters {
        assert_eq!(p.join().unwrap(), 0);
    }
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
