//! A `Namespace` shared through a `Manager`: the consumer reads an attribute before the producer
//! has set it, and gets an error that names it; after the event, it reads the value. (Nothing
//! makes the consumer read first: on a busy machine the producer may win, in Python too.)
//!
//! Reproduces PyMOTW's `multiprocessing_namespaces.py`. Run it with
//! `cargo run -p examples-manager --bin namespaces`.

use multiprocessing::{Event, Manager, Namespace, Process};

fn producer(ns: Namespace, event: Event) -> multiprocessing::Result<()> {
    // Python's `ns.value = 'This is the value'`.
    ns.set("value", "This is the value")?;
    event.set();
    Ok(())
}

fn consumer(ns: Namespace, event: Event) -> multiprocessing::Result<()> {
    // Python's `try: ... except Exception as err:` is a `match` on the `Result`. The error says
    // what CPython's `AttributeError` says, and then names that exception.
    match ns.get::<String>("value") {
        Ok(value) => println!("Before event: {value}"),
        Err(err) => println!("Before event, error: {err}"),
    }
    event.wait();
    println!("After event: {}", ns.get::<String>("value")?);
    Ok(())
}

fn main() -> multiprocessing::Result<()> {
    let mgr = Manager::new()?;
    let namespace = mgr.namespace()?;
    let event = Event::new()?;
    let mut p = Process::new({
        let (namespace, event) = (namespace.clone(), event.clone());
        move || producer(namespace, event)
    });
    let mut c = Process::new({
        let (namespace, event) = (namespace.clone(), event.clone());
        move || consumer(namespace, event)
    });

    c.start()?;
    p.start()?;

    c.join()?;
    p.join()?;
    Ok(())
}
