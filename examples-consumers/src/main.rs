//! A pool of `Consumer` processes fed through a `JoinableQueue`, stopped with poison pills,
//! answering through a second `Queue`.
//!
//! Reproduces PyMOTW's `multiprocessing_producer_consumer.py` (the lecture's producer/consumer
//! slides). Run it with `cargo run -p examples-consumers`.

use std::fmt;
use std::thread;
use std::time::Duration;

use multiprocessing::{JoinableQueue, Process, Queue, Run, cpu_count, current_process};
use serde::{Deserialize, Serialize};

struct Consumer {
    // Python's `None` poison pill is `Option::None` here.
    task_queue: JoinableQueue<Option<Task>>,
    result_queue: Queue<String>,
}

impl Consumer {
    fn new(task_queue: JoinableQueue<Option<Task>>, result_queue: Queue<String>) -> Consumer {
        Consumer { task_queue, result_queue }
    }
}

impl Run for Consumer {
    fn run(&mut self) -> multiprocessing::Result<()> {
        let proc_name = current_process().name;
        loop {
            let Some(next_task) = self.task_queue.get()? else {
                // Poison pill means shutdown
                println!("{proc_name}: Exiting");
                self.task_queue.task_done()?;
                break;
            };
            println!("{proc_name}: {next_task}");
            let answer = next_task.call();
            self.task_queue.task_done()?;
            self.result_queue.put(answer)?;
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Task {
    a: u64,
    b: u64,
}

impl Task {
    fn new(a: u64, b: u64) -> Task {
        Task { a, b }
    }

    // Python's `__call__`.
    fn call(&self) -> String {
        thread::sleep(Duration::from_millis(100)); // pretend to take some time to do the work
        format!("{} * {} = {}", self.a, self.b, self.a * self.b)
    }
}

// Python's `__str__`.
impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} * {}", self.a, self.b)
    }
}

fn main() -> multiprocessing::Result<()> {
    // Establish communication queues
    let tasks = JoinableQueue::new()?;
    let results = Queue::new()?;

    // Start consumers
    let num_consumers = cpu_count() * 2;
    println!("Creating {num_consumers} consumers");
    let mut consumers: Vec<Process> =
        (0..num_consumers).map(|_| Process::from(Consumer::new(tasks.clone(), results.clone()))).collect();
    for w in &mut consumers {
        w.start()?;
    }

    // Enqueue jobs
    let mut num_jobs = 10;
    for i in 0..num_jobs {
        tasks.put(Some(Task::new(i, i)))?;
    }

    // Add a poison pill for each consumer
    for _ in 0..num_consumers {
        tasks.put(None)?;
    }

    // Wait for all of the tasks to finish
    tasks.join()?;

    // Start printing results
    while num_jobs > 0 {
        let result = results.get()?;
        println!("Result: {result}");
        num_jobs -= 1;
    }
    Ok(())
}
