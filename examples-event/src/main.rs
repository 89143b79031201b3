//! Signalling between processes with an `Event`: one process waits for it, another gives up
//! after 2 seconds, and the main process sets it after 3.
//!
//! Reproduces PyMOTW's `multiprocessing_event.py` (the lecture's "Sinalização entre processos").
//! Run it with `cargo run -p examples-event`.

use std::thread;
use std::time::Duration;

use multiprocessing::{Event, Process};

/// Wait for the event to be set before doing anything
fn wait_for_event(e: Event) {
    println!("wait_for_event: starting");
    e.wait();
    println!("wait_for_event: e.is_set()-> {}", py_bool(e.is_set()));
}

/// Wait t seconds and then timeout
fn wait_for_event_timeout(e: Event, t: Duration) {
    println!("wait_for_event_timeout: starting");
    e.wait_timeout(t);
    println!("wait_for_event_timeout: e.is_set()-> {}", py_bool(e.is_set()));
}

// Python prints its booleans as `True` and `False`.
fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

fn main() -> multiprocessing::Result<()> {
    let e = Event::new()?;
    let mut w1 = Process::new({
        let e = e.clone();
        move || wait_for_event(e)
    })
    .with_name("block");
    w1.start()?;

    let mut w2 = Process::new({
        let e = e.clone();
        move || wait_for_event_timeout(e, Duration::from_secs(2))
    })
    .with_name("non-block");
    w2.start()?;

    println!("main: waiting before calling Event.set()");
    thread::sleep(Duration::from_secs(3));
    e.set();
    println!("main: event is set");
    // Like the slide, main never joins: at exit the crate joins both children, as Python does.
    Ok(())
}
