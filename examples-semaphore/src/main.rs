//! Multiple concurrent access to a resource: ten workers, at most three at once, each recording
//! itself in a list that a Manager holds for all of them.
//!
//! Reproduces PyMOTW's `multiprocessing_semaphore.py`. Run it with `cargo run -p examples-semaphore`.

use std::thread;
use std::time::{Duration, SystemTime};

use multiprocessing::{ListProxy, Lock, Manager, Process, Semaphore, current_process};

/// The names of the workers running now, in a list the Manager's server process holds.
#[derive(Clone)]
struct ActivePool {
    // Kept so that the server lives as long as the pool: each clone is a handle to it.
    _mgr: Manager,
    active: ListProxy<String>,
    lock: Lock,
}

impl ActivePool {
    fn new() -> multiprocessing::Result<ActivePool> {
        let mgr = Manager::new()?;
        let active = mgr.list()?;
        Ok(ActivePool { _mgr: mgr, active, lock: Lock::new()? })
    }

    fn make_active(&self, name: &str) -> multiprocessing::Result<()> {
        let _lock = self.lock.acquire()?; // with self.lock:
        self.active.append(name)
    }

    fn make_inactive(&self, name: &str) -> multiprocessing::Result<()> {
        let _lock = self.lock.acquire()?;
        self.active.remove(name)
    }

    // Python's `__str__`. A `Display` could not report a failed request to the Manager (a
    // formatting error makes `println!` panic), so this returns the text or the error.
    fn to_str(&self) -> multiprocessing::Result<String> {
        let _lock = self.lock.acquire()?;
        Ok(self.active.to_string())
    }
}

/// Python's `random.random()`: a number in [0, 1), different in every process (no crate needed
/// for one number: the clock's nanoseconds, mixed).
fn random() -> f64 {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let mut x = nanos as u64 ^ u64::from(std::process::id()).rotate_left(32);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn worker(s: Semaphore, pool: ActivePool) -> multiprocessing::Result<()> {
    let name = current_process().name;
    let _unit = s.acquire()?; // with s: (the unit goes back when the function ends)
    pool.make_active(&name)?;
    println!("Activating {name} now running {}", pool.to_str()?);
    thread::sleep(Duration::from_secs_f64(random()));
    pool.make_inactive(&name)
}

fn main() -> multiprocessing::Result<()> {
    let pool = ActivePool::new()?;
    let s = Semaphore::new(3)?;
    let mut jobs: Vec<Process> = (0..10)
        .map(|i| {
            let (s, pool) = (s.clone(), pool.clone());
            Process::new(move || worker(s, pool)).with_name(i.to_string())
        })
        .collect();

    for j in &mut jobs {
        j.start()?;
    }

    loop {
        let mut alive = 0;
        for j in &mut jobs {
            if j.is_alive() {
                alive += 1;
                j.join_timeout(Duration::from_millis(100))?;
                println!("Now running {}", pool.to_str()?);
            }
        }
        if alive == 0 {
            // all done
            break;
        }
    }
    Ok(())
}
