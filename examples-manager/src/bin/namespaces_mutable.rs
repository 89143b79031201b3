//! What a `Namespace` does not share: changes made to a value read from it. The producer pushes
//! onto the list it read, which is a copy, so the consumer sees an empty list before and after.
//!
//! Reproduces PyMOTW's `multiprocessing_namespaces_mutable.py`. Run it with
//! `cargo run -p examples-manager --bin namespaces_mutable`.
//!
//! To change the shared list, read it, change the copy, and set it again:
//! `let mut l = ns.get::<Vec<String>>("my_list")?; l.push(x); ns.set("my_list", &l)?`.

use multiprocessing::{Event, Manager, Namespace, Process};

fn producer(ns: Namespace, event: Event) -> multiprocessing::Result<()> {
    // DOES NOT UPDATE GLOBAL VALUE!
    ns.get::<Vec<String>>("my_list")?.push("This is the value".to_string());
    event.set();
    Ok(())
}

fn consumer(ns: Namespace, event: Event) -> multiprocessing::Result<()> {
    // `{:?}` of an empty `Vec` is `[]`, as Python prints an empty list.
    println!("Before event: {:?}", ns.get::<Vec<String>>("my_list")?);
    event.wait();
    println!("After event : {:?}", ns.get::<Vec<String>>("my_list")?);
    Ok(())
}

fn main() -> multiprocessing::Result<()> {
    let mgr = Manager::new()?;
    let namespace = mgr.namespace()?;
    // Python's `namespace.my_list = []`.
    namespace.set("my_list", &Vec::<String>::new())?;

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
