//! Tests for `Pool` across real worker processes. Each runs in a fresh process (harness/mod.rs).

mod harness;

use std::collections::HashSet;
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use multiprocessing::{Error, Pool, Process, current_process};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            (
                "map_keeps_input_order_when_later_items_finish_first",
                map_keeps_input_order_when_later_items_finish_first,
            ),
            ("chunksize_puts_consecutive_items_in_one_task", chunksize_puts_consecutive_items_in_one_task),
            (
                "imap_yields_in_input_order_and_unordered_as_they_finish",
                imap_yields_in_input_order_and_unordered_as_they_finish,
            ),
            ("apply_async_get_timeout_times_out_then_gets", apply_async_get_timeout_times_out_then_gets),
            (
                "maxtasksperchild_replaces_workers_and_names_go_on",
                maxtasksperchild_replaces_workers_and_names_go_on,
            ),
            ("a_worker_killed_mid_task_fails_that_task_only", a_worker_killed_mid_task_fails_that_task_only),
            ("a_worker_killed_while_idle_loses_no_task", a_worker_killed_while_idle_loses_no_task),
            (
                "workers_killed_at_random_instants_lose_only_their_task",
                workers_killed_at_random_instants_lose_only_their_task,
            ),
            ("a_panicking_task_fails_with_its_message", a_panicking_task_fails_with_its_message),
            (
                "a_failing_initializer_fails_the_tasks_instead_of_forking_forever",
                a_failing_initializer_fails_the_tasks_instead_of_forking_forever,
            ),
            ("the_initializer_sets_up_state_that_tasks_read", the_initializer_sets_up_state_that_tasks_read),
            ("terminate_stops_running_tasks_at_once", terminate_stops_running_tasks_at_once),
            ("dropping_the_pool_terminates_its_workers", dropping_the_pool_terminates_its_workers),
            (
                "close_refuses_new_tasks_and_join_finishes_queued_ones",
                close_refuses_new_tasks_and_join_finishes_queued_ones,
            ),
            ("a_forked_copy_of_the_pool_refuses_to_be_used", a_forked_copy_of_the_pool_refuses_to_be_used),
            ("a_hundred_thousand_tiny_tasks", a_hundred_thousand_tiny_tasks),
        ],
        &[],
    );
}

fn double(x: u64) -> u64 {
    x * 2
}

fn name_of(_: u64) -> String {
    current_process().name
}

/// Sleeps `ms` milliseconds, then returns `ms`.
fn sleep_ms(ms: u64) -> u64 {
    sleep(Duration::from_millis(ms));
    ms
}

/// `(item, pid)`: which worker ran the item.
fn pid_of(x: u64) -> (u64, u32) {
    (x, std::process::id())
}

/// The pids of this process's children, from `/proc` (this kernel has no `task/*/children`).
fn children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Fields after the name: state, ppid. A zombie is a child that ended.
        if fields.get(1) == Some(&me.as_str()) && fields[0] != "Z" {
            pids.push(pid);
        }
    }
    pids
}

/// Waits up to 5 s for `pids` to be gone (not even zombies).
fn assert_gone_soon(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| harness::pid_exists(p as u32)) {
        assert!(Instant::now() < deadline, "workers {pids:?} still exist");
        sleep(Duration::from_millis(5));
    }
}

fn smoke() {
    let mut pool = Pool::new(2).unwrap();
    assert_eq!(pool.to_string(), "<multiprocessing.pool.Pool state=RUN pool_size=2>");
    assert_eq!(pool.map(double, 0..10).unwrap(), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    assert_eq!(pool.map(double, Vec::new()).unwrap(), Vec::<u64>::new());
    assert_eq!(pool.apply(double, 21).unwrap(), 42);
    // A closure that captures nothing is a `fn`.
    assert_eq!(pool.map(|s: String| s.len(), ["a".to_string(), "abc".to_string()]).unwrap(), [1, 3]);
    let workers = children();
    assert_eq!(workers.len(), 2, "{workers:?}");
    pool.close();
    assert_eq!(pool.to_string(), "<multiprocessing.pool.Pool state=CLOSE pool_size=2>");
    pool.join().unwrap();
    assert_gone_soon(&workers);
}

fn map_keeps_input_order_when_later_items_finish_first() {
    let pool = Pool::new(3).unwrap();
    let delays: Vec<u64> = (0..12).map(|i| 60 - 5 * i).collect();
    assert_eq!(pool.map_chunksize(sleep_ms, delays.clone(), 1).unwrap(), delays);
    let many: Vec<u64> = (0..1000).collect();
    assert_eq!(pool.map(double, many.clone()).unwrap(), many.iter().map(|x| x * 2).collect::<Vec<_>>());
}

fn chunksize_puts_consecutive_items_in_one_task() {
    let pool = Pool::new(2).unwrap();
    let ran = pool.map_chunksize(pid_of, 0..10, 3).unwrap();
    assert_eq!(ran.iter().map(|(x, _)| *x).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    for chunk in ran.chunks(3) {
        assert!(chunk.iter().all(|(_, pid)| *pid == chunk[0].1), "a chunk ran in several workers: {chunk:?}");
    }
    // CPython's default: len / (4 * processes) rounded up, here 100 / 8 -> 13 items a chunk.
    let ran = pool.map(pid_of, 0..100).unwrap();
    for chunk in ran.chunks(13) {
        assert!(chunk.iter().all(|(_, pid)| *pid == chunk[0].1), "default chunks are not 13: {chunk:?}");
    }
    let pids: HashSet<u32> = ran.iter().map(|(_, pid)| *pid).collect();
    assert_eq!(pids.len(), 2, "both workers had chunks");
    let err = pool.map_chunksize(double, 0..3, 0).unwrap_err();
    assert!(err.to_string().contains("Chunksize must be 1+"), "{err}");
    let mut zero = pool.imap(double, 0..3).chunksize(0);
    assert!(matches!(zero.next(), Some(Err(Error::InvalidState(_)))));
    assert!(zero.next().is_none());
}

fn imap_yields_in_input_order_and_unordered_as_they_finish() {
    let pool = Pool::new(2).unwrap();
    let ordered: Vec<u64> = pool.imap(sleep_ms, [300, 0, 0, 0]).map(Result::unwrap).collect();
    assert_eq!(ordered, [300, 0, 0, 0]);
    // Each worker holds at most two tasks: with two workers, the second item goes to the other.
    let unordered: Vec<u64> = pool.imap_unordered(sleep_ms, [300, 0]).map(Result::unwrap).collect();
    assert_eq!(unordered, [0, 300], "the slow one comes last");
    // Chunks, and an endless input read only as far as it is iterated.
    let chunked: Vec<u64> = pool.imap(double, 0..).chunksize(3).take(20).map(Result::unwrap).collect();
    assert_eq!(chunked, (0..20).map(|x| x * 2).collect::<Vec<_>>());
    let mut all: Vec<u64> = pool.imap_unordered(double, 0..50).chunksize(4).map(Result::unwrap).collect();
    all.sort();
    assert_eq!(all, (0..50).map(|x| x * 2).collect::<Vec<_>>());
}

fn apply_async_get_timeout_times_out_then_gets() {
    let pool = Pool::new(1).unwrap();
    let started = Instant::now();
    let mut result = pool.apply_async(sleep_ms, 500).unwrap();
    assert!(!result.ready().unwrap());
    let err = result.get_timeout(Duration::from_millis(100)).unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::Timeout), "{err}");
    assert!(waited >= Duration::from_millis(90) && waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(result.get_timeout(Duration::from_secs(10)).unwrap(), 500);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(5), "{took:?}");
    assert!(matches!(result.get_timeout(Duration::ZERO), Err(Error::InvalidState(_))));
    // Handles complete in any order; a later one waits for nothing an earlier one holds.
    let slow = pool.apply_async(sleep_ms, 200).unwrap();
    let fast = pool.apply_async(double, 4).unwrap();
    assert_eq!(fast.get().unwrap(), 8);
    assert_eq!(slow.get().unwrap(), 200);
    let mut all = pool.map_async(double, 0..5).unwrap();
    assert!(all.wait_timeout(Duration::from_secs(5)).unwrap());
    assert_eq!(all.get().unwrap(), [0, 2, 4, 6, 8]);
}

fn maxtasksperchild_replaces_workers_and_names_go_on() {
    // One process made before the pool: the workers' numbers continue the same counter.
    let mut first = Process::new(|| ());
    first.start().unwrap();
    first.join().unwrap();
    let pool = Pool::builder().processes(2).maxtasksperchild(1).start().unwrap();
    let names = pool.map_chunksize(name_of, 0..6, 1).unwrap();
    let expected: Vec<String> = (2..8).map(|n| format!("ForkPoolWorker-{n}")).collect();
    assert_eq!(names, expected, "each task in a new worker, numbered on");
    // Two tasks a worker: a map of 6 single tasks uses 3 more workers.
    let pool = Pool::builder().processes(2).maxtasksperchild(2).start().unwrap();
    let names: HashSet<String> = pool.map_chunksize(name_of, 0..6, 1).unwrap().into_iter().collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// Kills its own worker on item 3.
fn die_on_three(x: u64) -> u64 {
    if x == 3 {
        kill(Pid::this(), Signal::SIGKILL).unwrap();
    }
    x
}

fn a_worker_killed_mid_task_fails_that_task_only() {
    let pool = Pool::new(2).unwrap();
    let started = Instant::now();
    let err = pool.map_chunksize(die_on_three, 0..8, 1).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let Error::WorkerDied { worker, pid, exitcode } = &err else { panic!("{err}") };
    assert!(worker.starts_with("ForkPoolWorker-") && *pid > 0 && *exitcode == -9, "{err}");
    assert!(err.to_string().contains("killed by SIGKILL"), "{err}");
    // Every other item went through: one task lost, no more.
    let results: Vec<_> = pool.imap_unordered(die_on_three, 0..8).collect();
    let ok: HashSet<u64> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    assert_eq!(ok, HashSet::from([0, 1, 2, 4, 5, 6, 7]));
    assert_eq!(results.iter().filter(|r| matches!(r, Err(Error::WorkerDied { .. }))).count(), 1);
    // The pool goes on with replacements, numbered on.
    assert_eq!(pool.map(double, 0..10).unwrap(), (0..10).map(|x| x * 2).collect::<Vec<_>>());
    let names: HashSet<String> = pool.map_chunksize(name_of, 0..20, 1).unwrap().into_iter().collect();
    let numbers: HashSet<u32> = names.iter().map(|n| n["ForkPoolWorker-".len()..].parse().unwrap()).collect();
    assert!(numbers.len() == 2 && numbers.contains(&4), "two deaths, two replacements: {names:?}");
    assert_eq!(children().len(), 2);
}

fn a_worker_killed_while_idle_loses_no_task() {
    let pool = Pool::new(1).unwrap();
    for round in 0..20 {
        assert_eq!(pool.apply(double, round).unwrap(), 2 * round);
        let worker = children();
        assert_eq!(worker.len(), 1);
        kill(Pid::from_raw(worker[0]), Signal::SIGKILL).unwrap();
        // Dead before the next task is sent: the task goes into a pipe nobody reads, or fails
        // to, and must go to the replacement instead of failing.
        if round % 2 == 0 {
            sleep(Duration::from_millis(20));
        }
        assert_eq!(pool.apply(double, round).unwrap(), 2 * round, "round {round}");
    }
}

fn workers_killed_at_random_instants_lose_only_their_task() {
    let pool = Pool::new(3).unwrap();
    let rounds = 40;
    let (mut ok, mut failed, mut kills) = (0, 0, 0);
    let started = Instant::now();
    let mut random = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(std::process::id());
    for _ in 0..rounds {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let kill_after = (random % 25) as usize;
        let round = Instant::now();
        let mut seen = HashSet::new();
        let mut round_failed = 0;
        for (i, result) in pool.imap_unordered(sleep_ms, (0..30).map(|_| 5)).enumerate() {
            if i == kill_after {
                let workers = children();
                if let Some(&victim) = workers.get((random >> 32) as usize % workers.len().max(1)) {
                    let _ = kill(Pid::from_raw(victim), Signal::SIGKILL);
                    kills += 1;
                }
            }
            match result {
                Ok(5) => {
                    ok += 1;
                    seen.insert(i);
                }
                Ok(other) => panic!("a wrong result: {other}"),
                Err(Error::WorkerDied { exitcode: -9, .. }) => round_failed += 1,
                Err(e) => panic!("an unexpected error: {e}"),
            }
        }
        assert!(round_failed <= 1, "one kill failed {round_failed} tasks");
        assert_eq!(seen.len() + round_failed, 30, "tasks were lost");
        assert!(round.elapsed() < Duration::from_secs(10), "a round took {:?}", round.elapsed());
        failed += round_failed;
    }
    assert!(failed >= 1, "no kill landed on a running task: the test tested nothing");
    assert_eq!(pool.map(double, 0..6).unwrap(), [0, 2, 4, 6, 8, 10]);
    println!(
        "FIGURES {rounds} rounds of 30 tasks, {kills} workers SIGKILLed: {ok} results, {failed} tasks \
         failed (at most one per kill), 0 lost, 0 hangs, {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

fn explode_on_three(x: u64) -> u64 {
    assert!(x != 3, "three is bad");
    x
}

fn a_panicking_task_fails_with_its_message() {
    let pool = Pool::new(2).unwrap();
    let err = pool.map_chunksize(explode_on_three, 0..8, 1).unwrap_err();
    let Error::TaskPanicked { worker, message } = &err else { panic!("{err}") };
    assert!(worker.starts_with("ForkPoolWorker-") && message == "three is bad", "{err}");
    let err = pool.apply(explode_on_three, 3).unwrap_err();
    assert!(err.to_string().contains(": three is bad; the worker ended with exit code 1"), "{err}");
    assert_eq!(pool.apply(explode_on_three, 4).unwrap(), 4);
    // Work for both slots: the worker that panicked is replaced.
    assert_eq!(pool.map_chunksize(sleep_ms, [50; 4], 1).unwrap(), [50; 4]);
    assert_eq!(children().len(), 2, "the panicked workers were replaced");
}

fn a_failing_initializer_fails_the_tasks_instead_of_forking_forever() {
    let pool = Pool::builder().processes(2).initializer(|| Err::<(), _>("no database")).start().unwrap();
    let started = Instant::now();
    let err = pool.map(double, 0..10).unwrap_err();
    let Error::InitializerFailed { worker, reason } = &err else { panic!("{err}") };
    assert!(worker.starts_with("ForkPoolWorker-") && reason == "no database", "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Later tasks fail the same way, and no new worker is forked for them.
    assert!(matches!(pool.apply(double, 1), Err(Error::InitializerFailed { .. })));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !children().is_empty() {
        assert!(Instant::now() < deadline, "workers left: {:?}", children());
        let _ = pool.apply(double, 1);
        sleep(Duration::from_millis(10));
    }
    // A panicking initializer too.
    let pool = Pool::builder()
        .processes(1)
        .initializer(|| -> Result<(), String> { panic!("cannot start") })
        .start()
        .unwrap();
    let err = pool.apply(double, 1).unwrap_err();
    assert!(err.to_string().contains("ForkPoolWorker-") && err.to_string().contains("cannot start"), "{err}");
}

static GREETING: OnceLock<String> = OnceLock::new();

fn greet(name: String) -> String {
    format!(
        "{} {name} from {}",
        GREETING.get().map_or("(no initializer)", |s| s.as_str()),
        current_process().name
    )
}

fn the_initializer_sets_up_state_that_tasks_read() {
    // The initializer captures a value made here: it is in memory when each worker is forked.
    let word = String::from("hello");
    let pool = Pool::builder()
        .processes(2)
        .initializer(move || {
            GREETING.set(word.clone()).unwrap();
        })
        .start()
        .unwrap();
    let greeting = pool.apply(greet, "Ana".to_string()).unwrap();
    assert!(greeting.starts_with("hello Ana from ForkPoolWorker-"), "{greeting}");
    assert_eq!(GREETING.get(), None, "the parent never ran the initializer");
}

fn terminate_stops_running_tasks_at_once() {
    let mut pool = Pool::new(2).unwrap();
    let workers = children();
    let mut long = pool.apply_async(sleep_ms, 30_000).unwrap();
    assert!(matches!(long.get_timeout(Duration::from_millis(100)), Err(Error::Timeout)));
    let started = Instant::now();
    pool.terminate().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(pool.to_string(), "<multiprocessing.pool.Pool state=TERMINATE pool_size=2>");
    let err = long.get_timeout(Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("terminated"), "{err}");
    assert_gone_soon(&workers);
    assert!(matches!(pool.apply(double, 1), Err(Error::InvalidState(_))));
    pool.join().unwrap();
}

fn dropping_the_pool_terminates_its_workers() {
    let started = Instant::now();
    let workers;
    {
        let pool = Pool::new(2).unwrap();
        workers = children();
        assert_eq!(workers.len(), 2);
        // A task still running when the block ends, as a `with Pool() as pool:` block left early.
        std::mem::forget(pool.apply_async(sleep_ms, 30_000).unwrap());
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_gone_soon(&workers);
}

fn close_refuses_new_tasks_and_join_finishes_queued_ones() {
    let mut pool = Pool::new(2).unwrap();
    let err = pool.join().unwrap_err();
    assert!(err.to_string().contains("still running"), "{err}");
    let queued: Vec<_> = (0..6).map(|_| pool.apply_async(sleep_ms, 50).unwrap()).collect();
    pool.close();
    let err = pool.map(double, 0..3).unwrap_err();
    assert!(err.to_string().starts_with("Pool not running"), "{err}");
    assert!(pool.apply_async(double, 1).is_err());
    let workers = children();
    pool.join().unwrap();
    assert_gone_soon(&workers);
    // Every queued task ran before the workers left.
    for mut result in queued {
        assert!(result.ready().unwrap());
        assert_eq!(result.get().unwrap(), 50);
    }
}

fn a_forked_copy_of_the_pool_refuses_to_be_used() {
    let pool = Pool::new(1).unwrap();
    let worker = children();
    assert_eq!(pool.apply(double, 1).unwrap(), 2);
    let mut keep = Pool::new(1).unwrap(); // stays here
    // The child gets the first pool by move; in it, the pool is a copy that is not its own.
    let mut child = Process::new(move || {
        let outcome = pool.map(double, 0..3);
        let refused = matches!(&outcome, Err(Error::InvalidState(why)) if why.contains("forked copy"));
        drop(pool); // must not touch the parent's workers
        assert!(refused, "the copy was used: {outcome:?}");
    });
    child.start().unwrap(); // also drops the parent's copy: terminates the first pool
    assert_eq!(child.join().unwrap(), 0);
    assert_gone_soon(&worker);
    assert_eq!(keep.apply(double, 5).unwrap(), 10);
    keep.close();
    keep.join().unwrap();
}

fn a_hundred_thousand_tiny_tasks() {
    let pool = Pool::new(2).unwrap();
    let started = Instant::now();
    let results = pool.map(double, 0..100_000).unwrap();
    let took = started.elapsed();
    assert_eq!(results.len(), 100_000);
    assert!(results.iter().enumerate().all(|(i, r)| *r == 2 * i as u64));
    let started = Instant::now();
    let count = pool.imap(double, 0..10_000).filter(|r| r.is_ok()).count();
    let imap_took = started.elapsed();
    assert_eq!(count, 10_000);
    println!(
        "FIGURES map of 100,000 tiny tasks: {:.0} ms; imap of 10,000 (one task each): {:.0} ms (debug build)",
        took.as_secs_f64() * 1e3,
        imap_took.as_secs_f64() * 1e3
    );
    assert!(took < Duration::from_secs(20) && imap_took < Duration::from_secs(30));
}
