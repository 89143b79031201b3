//! Using a `Condition` to control sequencing between workers: two stage-2 workers wait until
//! the stage-1 worker notifies them all.
//!
//! Reproduces PyMOTW's `multiprocessing_condition.py`. Run it with
//! `cargo run -p examples-condition`.

use std::thread;
use std::time::Duration;

use multiprocessing::{Condition, Process, current_process};

/// perform first stage of work,
/// then notify stage_2 to continue
fn stage_1(cond: Condition) -> multiprocessing::Result<()> {
    let name = current_process().name;
    println!("Starting {name}");
    let cond = cond.acquire()?; // with cond: (the guard holds the lock until the function ends)
    println!("{name} done and ready for stage 2");
    cond.notify_all()?;
    Ok(())
}

/// wait for the condition telling us stage_1 is done
fn stage_2(cond: Condition) -> multiprocessing::Result<()> {
    let name = current_process().name;
    println!("Starting {name}");
    let mut cond = cond.acquire()?; // with cond:
    cond.wait()?;
    println!("{name} running");
    Ok(())
}

fn main() -> multiprocessing::Result<()> {
    let condition = Condition::new()?;
    let mut s1 = Process::new({
        let condition = condition.clone();
        move || stage_1(condition)
    })
    .with_name("s1");
    let mut s2_clients: Vec<Process> = (1..3)
        .map(|i| {
            let condition = condition.clone();
            Process::new(move || stage_2(condition)).with_name(format!("stage_2[{i}]"))
        })
        .collect();

    for c in &mut s2_clients {
        c.start()?;
        thread::sleep(Duration::from_secs(1));
    }
    s1.start()?;

    s1.join()?;
    for c in &mut s2_clients {
        c.join()?;
    }
    Ok(())
}
