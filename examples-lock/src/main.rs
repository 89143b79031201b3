//! Locking a shared stream: one worker takes the lock with a guard (Python's `with lock:`), the
//! other with `acquire` and `release`.
//!
//! Reproduces PyMOTW's `multiprocessing_lock.py`. Run it with `cargo run -p examples-lock`.

use std::io::{Stdout, Write};

use multiprocessing::{Lock, Process};

fn worker_with(lock: Lock, mut stream: Stdout) -> multiprocessing::Result<()> {
    let _guard = lock.acquire()?; // with lock: (released when the guard goes, at the end)
    stream.write_all(b"Lock acquired via with\n")?;
    Ok(())
}

fn worker_no_with(lock: Lock, mut stream: Stdout) -> multiprocessing::Result<()> {
    let guard = lock.acquire()?;
    // Python's `try: ... finally: lock.release()`: the write's error is kept for after the
    // release (and a panic would drop the guard, which releases the lock too).
    let written = stream.write_all(b"Lock acquired directly\n");
    guard.release()?;
    Ok(written?)
}

fn main() -> multiprocessing::Result<()> {
    let lock = Lock::new()?;
    // Python passes `args=(lock, sys.stdout)`; each closure captures its own clone of the lock
    // (the same lock, in shared memory) and a handle to this process's stdout.
    let mut w = Process::new({
        let lock = lock.clone();
        move || worker_with(lock, std::io::stdout())
    });
    let mut nw = Process::new({
        let lock = lock.clone();
        move || worker_no_with(lock, std::io::stdout())
    });

    w.start()?;
    nw.start()?;

    w.join()?;
    nw.join()?;
    Ok(())
}
