//! Passing an object to a process through a `Queue`.
//!
//! Reproduces PyMOTW's `multiprocessing_queue.py` (the lecture's "Passar mensagens para
//! Processos"). Run it with `cargo run -p examples-queue`.

use multiprocessing::{Process, Queue, current_process};
use serde::{Deserialize, Serialize};

// Python pickles the object; here serde encodes its fields, and the methods come from the
// same program, which both processes are running.
#[derive(Serialize, Deserialize)]
struct MyFancyClass {
    name: String,
}

impl MyFancyClass {
    fn new(name: &str) -> MyFancyClass {
        MyFancyClass { name: name.to_string() }
    }

    fn do_something(&self) {
        let proc_name = current_process().name;
        println!("Doing something fancy in {proc_name} for {}!", self.name);
    }
}

fn worker(q: Queue<MyFancyClass>) -> multiprocessing::Result<()> {
    let obj = q.get()?;
    obj.do_something();
    Ok(())
}

fn main() -> multiprocessing::Result<()> {
    let queue = Queue::new()?;

    // Python passes `args=(queue,)`; a Rust closure captures its own handle to the queue.
    let mut p = Process::new({
        let queue = queue.clone();
        move || worker(queue)
    });
    p.start()?;

    queue.put(MyFancyClass::new("Fancy Dan"))?;

    // Wait for the worker to finish
    queue.close();
    queue.join_thread()?;
    p.join()?;
    Ok(())
}
