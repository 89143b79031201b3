//! {{NAME}}: a program with processes. Run it with `cargo run -p {{NAME}}`; `cargo xtask verify
//! {{NAME}}` checks what it prints against `expected/{{NAME}}.txt` (change that file with it).
//!
//! The common shape of a `multiprocessing` program: a `Queue` that carries values between
//! processes, a `Process` that runs a closure in a child, `start`, `get`, `join`.

use multiprocessing::{Process, Queue, current_process};

/// The child's work: replace it with yours.
fn square(n: u64) -> u64 {
    n * n
}

// `main` returns a `Result` so that `?` works in it: an error ends the program with exit code 1
// and prints the error.
fn main() -> multiprocessing::Result<()> {
    // A queue of values of one type: any type serde can encode (numbers, String, Vec, tuples, or
    // a struct of yours with #[derive(Serialize, Deserialize)], as in examples-queue).
    let results = Queue::<u64>::new()?;

    // The closure runs in the child process. `move` hands it what it uses: here a handle to the
    // queue of its own (a clone; `results` stays with main). The return type is written out so
    // that `?` works inside: an `Err` ends the child with exit code 1 and prints the error, as an
    // uncaught exception does in Python.
    let mut worker = Process::new({
        let results = results.clone();
        move || -> multiprocessing::Result<()> {
            let me = current_process().name;
            println!("{me}: computing 7 * 7");
            results.put(square(7))?;
            Ok(())
        }
    });
    println!("main: starting {}", worker.name());
    worker.start()?; // forks: from here the child runs the closure while main goes on

    let answer = results.get()?; // waits until the child has put a value
    println!("main: got {answer} from {}", worker.name());

    let exitcode = worker.join()?; // waits for the child to end: 0 when its closure returned Ok
    println!("main: {} exited with code {exitcode}", worker.name());
    Ok(())
}
