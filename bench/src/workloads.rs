//! The workloads, shared by the crate's side and the limits: the message types, their checks,
//! and how a producer/consumer pair is started and timed.

use std::time::Instant;

use harness::processes::{join_ok, run_all, start_join_trivial};
use harness::{Error, Result, timed};
use multiprocessing::{Event, JoinableQueue, Pool, Process, Queue, TargetResult, Value};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

pub const CHUNK: usize = 1 << 20;

/// The small message: a struct of the size a task or a result usually has.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
pub struct Small {
    pub id: u64,
    pub x: f64,
    pub tag: [u8; 4],
}

impl Small {
    pub fn new(i: u64) -> Small {
        Small { id: i, x: i as f64 * 0.5, tag: *b"tag!" }
    }
}

/// Chunk number `i`: its first 8 bytes are `i`, the rest is `i as u8`.
pub fn make_chunk(i: u64) -> Vec<u8> {
    let mut chunk = vec![i as u8; CHUNK];
    chunk[..8].copy_from_slice(&i.to_le_bytes());
    chunk
}

pub fn check_chunk(i: u64, chunk: &[u8]) -> Result<()> {
    let whole = chunk.len() == CHUNK
        && chunk[..8] == i.to_le_bytes()
        && chunk[CHUNK / 2] == i as u8
        && chunk[CHUNK - 1] == i as u8;
    if whole { Ok(()) } else { Err(Error::Wrong(format!("chunk {i} arrived damaged"))) }
}

/// Starts a consumer and a producer process; returns the seconds from the start of both to
/// the end of both. Each side's `Err` makes its exit code 1, which fails the measurement.
pub fn run_pair<P: TargetResult, C: TargetResult>(
    producer: impl FnOnce() -> P + 'static,
    consumer: impl FnOnce() -> C + 'static,
) -> Result<f64> {
    let mut pair = [Process::new(consumer), Process::new(producer)];
    timed(|| run_all(&mut pair))
}

/// `Process::new` + `start` + `join` of a trivial target, `n` times: microseconds each.
pub fn start_join(n: u64) -> Result<f64> {
    let seconds = timed(|| (0..n).try_for_each(|_| start_join_trivial()))?;
    Ok(seconds / n as f64 * 1e6)
}

/// `n` small structs from one producer process to one consumer process: messages per second.
pub fn queue_small(n: u64) -> Result<f64> {
    let queue: Queue<Small> = Queue::new()?;
    let (q_in, q_out) = (queue.clone(), queue.clone());
    drop(queue);
    let seconds = run_pair(
        move || (0..n).try_for_each(|i| q_in.put(Small::new(i))),
        move || {
            for i in 0..n {
                let got = q_out.get()?;
                if got != Small::new(i) {
                    return Err(Error::Wrong(format!("message {i} is {got:?}")));
                }
            }
            Ok(())
        },
    )?;
    Ok(n as f64 / seconds)
}

/// `n` messages of 1 MiB: MB/s.
pub fn queue_1mib(n: u64) -> Result<f64> {
    let queue: Queue<ByteBuf> = Queue::new()?;
    let (q_in, q_out) = (queue.clone(), queue.clone());
    drop(queue);
    let seconds = run_pair(
        move || (0..n).try_for_each(|i| q_in.put(ByteBuf::from(make_chunk(i)))),
        move || (0..n).try_for_each(|i| check_chunk(i, &q_out.get()?)),
    )?;
    Ok((n as usize * CHUNK) as f64 / seconds / 1e6)
}

/// `n` tiny tasks through a `JoinableQueue` to 4 consumer processes, until `join` returns:
/// tasks per second. Each consumer reports how many it did; they must add up to `n`.
pub fn joinable(n: u64) -> Result<f64> {
    const CONSUMERS: usize = 4;
    let tasks: JoinableQueue<Option<u64>> = JoinableQueue::new()?;
    let done: Queue<u64> = Queue::new()?;
    let mut workers: Vec<Process> = (0..CONSUMERS)
        .map(|_| {
            let (tasks, done) = (tasks.clone(), done.clone());
            Process::new(move || {
                let mut count = 0;
                while let Some(task) = tasks.get()? {
                    count += task;
                    tasks.task_done()?;
                }
                tasks.task_done()?;
                done.put(count)
            })
        })
        .collect();
    let started = Instant::now();
    for w in &mut workers {
        w.start()?;
    }
    for _ in 0..n {
        tasks.put(Some(1))?;
    }
    tasks.join()?;
    let seconds = started.elapsed().as_secs_f64();
    for _ in 0..CONSUMERS {
        tasks.put(None)?;
    }
    let total: u64 = (0..CONSUMERS).map(|_| done.get()).sum::<multiprocessing::Result<u64>>()?;
    workers.iter_mut().try_for_each(join_ok)?;
    if total != n {
        return Err(Error::Wrong(format!("{total} tasks done, {n} put")));
    }
    Ok(n as f64 / seconds)
}

/// Two `Event`s bounced between two processes `n` times: microseconds per round trip.
pub fn event_ping_pong(n: u64) -> Result<f64> {
    let (ping, pong) = (Event::new()?, Event::new()?);
    let mut other = {
        let (ping, pong) = (ping.clone(), pong.clone());
        Process::new(move || {
            for _ in 0..n {
                ping.wait();
                ping.clear();
                pong.set();
            }
        })
    };
    other.start()?;
    let started = Instant::now();
    for _ in 0..n {
        ping.set();
        pong.wait();
        pong.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    join_ok(&mut other)?;
    Ok(seconds / n as f64 * 1e6)
}

/// Two processes take turns through the crate's lock (a `Value`'s): each takes it, and if the
/// turn is its own, passes it and counts; `n` round trips. Microseconds per round trip.
pub fn lock_handoff(n: u64) -> Result<f64> {
    let turn = Value::new(0_u32)?;
    let side = move |me: u32, turn: &Value<u32>| -> Result<()> {
        let mut done = 0;
        while done < n {
            let mut whose = turn.lock()?;
            if *whose == me {
                *whose = 1 - me;
                done += 1;
            }
        }
        Ok(())
    };
    let mut other = {
        let turn = turn.clone();
        Process::new(move || side(1, &turn))
    };
    other.start()?;
    let started = Instant::now();
    side(0, &turn)?;
    join_ok(&mut other)?;
    Ok(started.elapsed().as_secs_f64() / n as f64 * 1e6)
}

/// Two processes each add 1 to a `Value` under its lock `n` times: nanoseconds per increment.
pub fn value_increment(n: u64) -> Result<f64> {
    let counter = Value::new(0_u64)?;
    let side = move |counter: &Value<u64>| -> Result<()> {
        for _ in 0..n {
            *counter.lock()? += 1;
        }
        Ok(())
    };
    let mut other = {
        let counter = counter.clone();
        Process::new(move || side(&counter))
    };
    other.start()?;
    let started = Instant::now();
    side(&counter)?;
    join_ok(&mut other)?;
    let seconds = started.elapsed().as_secs_f64();
    let total = counter.get()?;
    if total != 2 * n {
        return Err(Error::Wrong(format!("the counter is {total}, not {}", 2 * n)));
    }
    Ok(seconds / (2 * n) as f64 * 1e9)
}

/// The tiny task of the pool metrics: what `Pool::map` costs per task beyond the work itself.
pub fn square(x: u64) -> u64 {
    x * x
}

/// The CPU-bound task: `rounds` steps of a 64-bit mixing function (about 1 ns each), the same
/// arithmetic as the threads' version and CPython's (whose interpreter makes each step slower).
pub fn mix(rounds: u64) -> u64 {
    let mut x = rounds ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..rounds {
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 29;
    }
    x
}

/// Rounds per CPU-bound task: a few milliseconds each.
pub const MIX_ROUNDS: u64 = 2_000_000;

fn check_squares(results: &[u64], n: u64) -> Result<()> {
    if results.len() as u64 != n || results.iter().enumerate().any(|(i, &r)| r != (i as u64) * (i as u64)) {
        return Err(Error::Wrong("map's results are not the squares, in order".into()));
    }
    Ok(())
}

/// `Pool::map` of `n` tiny tasks on `cpu_count()` workers, the pool started beforehand (as
/// CPython's is): tasks per second.
pub fn pool_map_tiny(n: u64) -> Result<f64> {
    let pool = Pool::new(None)?;
    let started = Instant::now();
    let results = pool.map(square, 0..n)?;
    let seconds = started.elapsed().as_secs_f64();
    check_squares(&results, n)?;
    Ok(n as f64 / seconds)
}

/// `Pool::map` of `n` CPU-bound tasks: milliseconds for the whole map.
pub fn pool_map_cpu(n: u64) -> Result<f64> {
    let pool = Pool::new(None)?;
    let started = Instant::now();
    let results = pool.map(mix, std::iter::repeat_n(MIX_ROUNDS, n as usize))?;
    let seconds = started.elapsed().as_secs_f64();
    if results.len() as u64 != n || results.iter().any(|&r| r != mix(MIX_ROUNDS)) {
        return Err(Error::Wrong("map's results are wrong".into()));
    }
    Ok(seconds * 1e3)
}

/// The same maps on `cpu_count()` scoped threads, each taking an equal share of the inputs: the
/// comparison the exercise makes, with nothing to encode, send or decode.
pub fn threads_map_tiny(n: u64) -> Result<f64> {
    let started = Instant::now();
    let results = threads_map(square, (0..n).collect());
    let seconds = started.elapsed().as_secs_f64();
    check_squares(&results, n)?;
    Ok(n as f64 / seconds)
}

pub fn threads_map_cpu(n: u64) -> Result<f64> {
    let started = Instant::now();
    let results = threads_map(mix, vec![MIX_ROUNDS; n as usize]);
    let seconds = started.elapsed().as_secs_f64();
    if results.len() as u64 != n || results.iter().any(|&r| r != mix(MIX_ROUNDS)) {
        return Err(Error::Wrong("the threads' results are wrong".into()));
    }
    Ok(seconds * 1e3)
}

fn threads_map(f: fn(u64) -> u64, inputs: Vec<u64>) -> Vec<u64> {
    let threads = multiprocessing::cpu_count().max(1);
    let share = inputs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .chunks(share)
            .map(|chunk| scope.spawn(move || chunk.iter().map(|&x| f(x)).collect::<Vec<u64>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a map thread panicked")).collect()
    })
}

/// A `Manager` dict's `set` then `get` of the same key from this (client) process, `n` times:
/// microseconds per pair (two requests to the server process, each a socket round trip).
pub fn manager_set_get(n: u64) -> Result<f64> {
    let mgr = multiprocessing::Manager::new()?;
    let d = mgr.dict::<u64, u64>()?;
    let started = Instant::now();
    for i in 0..n {
        d.set(&i, &(i * 3))?;
        if d.get(&i)? != Some(i * 3) {
            return Err(Error::Wrong(format!("the dict gave another value for key {i}")));
        }
    }
    Ok(started.elapsed().as_secs_f64() / n as f64 * 1e6)
}
