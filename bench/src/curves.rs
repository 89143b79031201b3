//! `--curves`: how the costs grow, not single points. Three curves, each for the crate and, on
//! the same axis, its raw limit:
//!
//! - **message-size**: queue throughput (MB/s) from 16 B to 64 MiB messages, powers of 4. The
//!   limit is the same bytes, length-prefixed, through a pipe enlarged to 1 MiB with 64 KiB
//!   buffered writes and reads (a large message goes straight through: `BufWriter` and
//!   `BufReader` do not copy what is larger than their buffer), the consumer getting each message
//!   as its own `Vec`, as a queue's user does.
//! - **producers-consumers**: small messages per second with 1x1, 2x2, 4x4 and 8x8 producer and
//!   consumer processes on one queue. The limit is one pipe shared by all: each producer writes
//!   4 KiB blocks of whole bincode frames (a write of at most `PIPE_BUF` = 4096 bytes is atomic,
//!   so blocks never interleave) and each consumer reads whole blocks.
//! - **fork-heap**: process start + join against the parent's touched heap, 0 to 4 GiB, with 4
//!   KiB pages, with transparent huge pages, and in a shared mapping, for the crate and for raw
//!   fork + `_exit` + `waitpid`. `fork` copies the page tables of private memory: one entry per
//!   4 KiB page, or one per 2 MiB; those of shared memory it leaves for the child to fill.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::AsFd;

use harness::heap::{Pages, TouchedHeap};
use harness::processes::{join_ok, run_all, start_join_trivial};
use harness::{Context, Curve, Error, Mode, Point, Result, Rounds, Scale, Series, Stats, Variant, timed};
use multiprocessing::{Process, Queue};
use serde_bytes::ByteBuf;

use crate::raw;
use crate::workloads::{Small, run_pair};

/// The curves, by name, in the order they run.
pub const NAMES: [&str; 3] = ["message-size", "producers-consumers", "fork-heap"];

/// Measures the named curves (all when `names` is empty).
pub fn measure(names: &[String], mode: Mode, rounds: Rounds, tick: &mut dyn FnMut()) -> Result<Vec<Curve>> {
    let wanted = |name: &str| names.is_empty() || names.iter().any(|n| n == name);
    let mut curves = Vec::new();
    if wanted("message-size") {
        curves.push(message_size(mode, rounds, tick).context("message-size")?);
    }
    if wanted("producers-consumers") {
        curves.push(producers_consumers(mode, rounds, tick).context("producers-consumers")?);
    }
    if wanted("fork-heap") {
        curves.push(fork_heap(mode, rounds, tick).context("fork-heap")?);
    }
    Ok(curves)
}

/// Measures `ours` and `limit` at every x, rotating them each round; returns the two series.
fn ours_and_limit(
    xs: &[u64],
    rounds: Rounds,
    tick: &mut dyn FnMut(),
    ours: impl Fn(u64) -> Result<f64>,
    limit: impl Fn(u64) -> Result<f64>,
    limit_name: &str,
) -> Result<Vec<Series>> {
    let mut series = [("ours", false), (limit_name, true)].map(|(name, limit)| Series {
        name: name.into(),
        limit,
        colour: 0,
        points: Vec::new(),
    });
    for &x in xs {
        let stats = ours_vs_limit(rounds, tick, &mut || ours(x), &mut || limit(x)).context(x)?;
        for (s, y) in series.iter_mut().zip(stats) {
            s.points.push(Point { x: x as f64, y });
        }
    }
    Ok(series.into())
}

/// The rounds of one point: the crate and its limit, alternating.
fn ours_vs_limit(
    rounds: Rounds,
    tick: &mut dyn FnMut(),
    ours: &mut dyn FnMut() -> Result<f64>,
    limit: &mut dyn FnMut() -> Result<f64>,
) -> Result<[Stats; 2]> {
    let stats = rounds
        .run(&mut [Variant { name: "ours", run: ours }, Variant { name: "limit", run: limit }], tick)?;
    Ok([stats[0], stats[1]])
}

// ---------------------------------------------------------------------------------------------
// Message size

/// 16 B to 64 MiB, powers of 4 (quick: four of them).
fn message_sizes(mode: Mode) -> Vec<u64> {
    let all: Vec<u64> = (2..=13).map(|k| 1u64 << (2 * k)).collect();
    mode.pick(all, vec![16, 1 << 10, 64 << 10, 1 << 20])
}

/// How many messages of `size` bytes: enough bytes to time (128 MiB, or 4 with `--quick`), no
/// more than 100,000 messages (the small ones are limited by the count, not the bytes), and at
/// least 4.
fn message_count(mode: Mode, size: u64) -> u64 {
    let (budget, most) = mode.pick((128 << 20, 100_000), (4 << 20, 5_000));
    (budget / size).clamp(4, most)
}

/// Message `i` of `size` bytes: its first 8 bytes (or fewer) are `i`, the rest `i as u8`.
fn make_message(i: u64, size: usize) -> Vec<u8> {
    let mut message = vec![i as u8; size];
    let head = size.min(8);
    message[..head].copy_from_slice(&i.to_le_bytes()[..head]);
    message
}

fn check_message(i: u64, size: usize, message: &[u8]) -> Result<()> {
    let head = size.min(8);
    let whole = message.len() == size
        && message[..head] == i.to_le_bytes()[..head]
        && (size <= 8 || message[size - 1] == i as u8)
        && (size / 2 < 8 || message[size / 2] == i as u8);
    if whole { Ok(()) } else { Err(Error::Wrong(format!("message {i} of {size} bytes arrived damaged"))) }
}

fn message_size(mode: Mode, rounds: Rounds, tick: &mut dyn FnMut()) -> Result<Curve> {
    let sizes = message_sizes(mode);
    let series = ours_and_limit(
        &sizes,
        rounds,
        tick,
        |size| queue_bytes(message_count(mode, size), size as usize),
        |size| pipe_bytes(message_count(mode, size), size as usize),
        "limit: pipe, 64 KiB buffered",
    )?;
    let mut notes = vec![format!(
        "messages per point: {} of 16 B down to {} of the largest; MB/s = 10^6 bytes of payload per second",
        message_count(mode, sizes[0]),
        message_count(mode, *sizes.last().unwrap_or(&16))
    )];
    if let Some(small) = series[0].points.first() {
        notes.push(format!(
            "at {}: {} messages/s (ours)",
            harness::curve::bytes(small.x),
            harness::curve::number(small.y.median * 1e6 / small.x)
        ));
    }
    Ok(Curve {
        name: "message-size".into(),
        title: "Queue throughput against message size, 1 producer, 1 consumer".into(),
        x_label: "message size".into(),
        x_scale: Scale::Bytes,
        x_log: true,
        y_label: "MB/s".into(),
        y_log: true,
        higher_is_better: true,
        series,
        notes,
    })
}

/// `n` messages of `size` bytes through a `Queue<ByteBuf>`: MB/s.
fn queue_bytes(n: u64, size: usize) -> Result<f64> {
    let queue: Queue<ByteBuf> = Queue::new()?;
    let (q_in, q_out) = (queue.clone(), queue.clone());
    drop(queue);
    let seconds = run_pair(
        move || (0..n).try_for_each(|i| q_in.put(ByteBuf::from(make_message(i, size)))),
        move || (0..n).try_for_each(|i| check_message(i, size, &q_out.get()?)),
    )?;
    Ok((n * size as u64) as f64 / seconds / 1e6)
}

/// The same through a pipe: a `u64` length, then the bytes; each message read into its own
/// `Vec`. MB/s.
fn pipe_bytes(n: u64, size: usize) -> Result<f64> {
    let (reader, writer) = os_pipe::pipe()?;
    nix::fcntl::fcntl(writer.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20))?;
    let seconds = run_pair(
        move || {
            let mut out = BufWriter::with_capacity(64 << 10, &writer);
            for i in 0..n {
                out.write_all(&(size as u64).to_le_bytes())?;
                out.write_all(&make_message(i, size))?;
            }
            out.flush()
        },
        move || {
            let mut input = BufReader::with_capacity(64 << 10, &reader);
            for i in 0..n {
                let mut len = [0u8; 8];
                input.read_exact(&mut len)?;
                let mut message = vec![0u8; u64::from_le_bytes(len) as usize];
                input.read_exact(&mut message)?;
                check_message(i, size, &message)?;
            }
            Ok::<(), Error>(())
        },
    )?;
    Ok((n * size as u64) as f64 / seconds / 1e6)
}

// ---------------------------------------------------------------------------------------------
// Producers x consumers

fn pair_counts(mode: Mode) -> Vec<u64> {
    mode.pick(vec![1, 2, 4, 8], vec![1, 2])
}

fn producers_consumers(mode: Mode, rounds: Rounds, tick: &mut dyn FnMut()) -> Result<Curve> {
    let total = mode.pick(200_000, 8_000);
    let series = ours_and_limit(
        &pair_counts(mode),
        rounds,
        tick,
        |k| queue_many(total, k as usize),
        |k| pipe_many(total, k as usize),
        "limit: one pipe, 4 KiB atomic blocks",
    )?;
    Ok(Curve {
        name: "producers-consumers".into(),
        title: "Queue throughput, small messages, N producers and N consumers on one queue".into(),
        x_label: "producers x consumers".into(),
        x_scale: Scale::Pairs,
        x_log: true,
        y_label: "messages/s".into(),
        y_log: true,
        higher_is_better: true,
        series,
        notes: vec![format!(
            "{total} messages per point, shared equally by the producers; {} CPUs: from 2x2 on, the processes take turns",
            multiprocessing::cpu_count()
        )],
    })
}

/// What a consumer saw: messages, the sum of their ids.
type Tally = (u64, u64);

/// Checks a consumer's messages as they come: each producer's ids must arrive in increasing
/// order (a queue is FIFO per producer), and each message must be whole.
struct OrderCheck {
    per_producer: u64,
    last: Vec<Option<u64>>,
    tally: Tally,
}

impl OrderCheck {
    fn new(producers: usize, per_producer: u64) -> OrderCheck {
        OrderCheck { per_producer, last: vec![None; producers], tally: (0, 0) }
    }

    fn see(&mut self, message: Small) -> Result<()> {
        let producer = (message.id / self.per_producer) as usize;
        let in_order = self.last.get(producer).is_some_and(|last| last.is_none_or(|l| l < message.id));
        if !in_order || message != Small::new(message.id) {
            return Err(Error::Wrong(format!("message {message:?} is out of order or damaged")));
        }
        self.last[producer] = Some(message.id);
        self.tally = (self.tally.0 + 1, self.tally.1 + message.id);
        Ok(())
    }
}

/// Checks that the consumers together got every message once.
fn check_tallies(tallies: &[Tally], total: u64) -> Result<()> {
    let (count, sum) = tallies.iter().fold((0, 0), |(c, s), t| (c + t.0, s + t.1));
    if count != total || sum != total * (total - 1) / 2 {
        return Err(Error::Wrong(format!(
            "the consumers got {count} messages (ids summing to {sum}), {total} were sent"
        )));
    }
    Ok(())
}

/// `total` small messages from `k` producer processes to `k` consumer processes through one
/// `Queue`; the parent ends each consumer with a `None` once the producers are done. Messages
/// per second, from the start of all to the end of all.
fn queue_many(total: u64, k: usize) -> Result<f64> {
    let per_producer = total / k as u64;
    let queue: Queue<Option<Small>> = Queue::new()?;
    let tallies: Queue<Tally> = Queue::new()?;
    let mut consumers: Vec<Process> = (0..k)
        .map(|_| {
            let (queue, tallies) = (queue.clone(), tallies.clone());
            Process::new(move || {
                let mut check = OrderCheck::new(k, per_producer);
                while let Some(message) = queue.get()? {
                    check.see(message)?;
                }
                Ok::<(), Error>(tallies.put(check.tally)?)
            })
        })
        .collect();
    let mut producers: Vec<Process> = (0..k as u64)
        .map(|p| {
            let queue = queue.clone();
            Process::new(move || {
                (p * per_producer..(p + 1) * per_producer).try_for_each(|id| queue.put(Some(Small::new(id))))
            })
        })
        .collect();
    let seconds = timed(|| {
        for c in &mut consumers {
            c.start()?;
        }
        run_all(&mut producers)?;
        (0..k).try_for_each(|_| queue.put(None))?;
        consumers.iter_mut().try_for_each(join_ok)
    })?;
    let got: Vec<Tally> = (0..k).map(|_| tallies.get()).collect::<multiprocessing::Result<_>>()?;
    check_tallies(&got, per_producer * k as u64)?;
    Ok((per_producer * k as u64) as f64 / seconds)
}

/// The size of a block, and of every write and read on the shared pipe: `PIPE_BUF`, the most
/// a write can carry atomically.
const BLOCK: usize = 4096;

/// The same through one pipe: producers fill 4 KiB blocks with `u32`-length-prefixed bincode
/// frames (a block starts with the `u32` count of its bytes; 0 means "stop"), consumers read
/// whole blocks; the tallies come back through a second pipe, 16 bytes per consumer.
fn pipe_many(total: u64, k: usize) -> Result<f64> {
    let per_producer = total / k as u64;
    let (reader, writer) = os_pipe::pipe()?;
    nix::fcntl::fcntl(writer.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20))?;
    let (tally_reader, tally_writer) = os_pipe::pipe()?;
    let config = bincode::config::standard();
    let mut consumers: Vec<Process> = (0..k)
        .map(|_| {
            let (reader, tally_writer) = (reader.try_clone(), tally_writer.try_clone());
            Process::new(move || {
                let (mut input, mut tally_out) = (reader?, tally_writer?);
                let mut check = OrderCheck::new(k, per_producer);
                let mut block = [0u8; BLOCK];
                loop {
                    input.read_exact(&mut block)?;
                    let used = u32::from_le_bytes(block[..4].try_into().expect("4 bytes")) as usize;
                    if used == 0 {
                        break;
                    }
                    let mut at = 4;
                    while at < used {
                        let len = u32::from_le_bytes(block[at..at + 4].try_into().expect("4 bytes")) as usize;
                        let (message, _): (Small, usize) =
                            bincode::serde::decode_from_slice(&block[at + 4..at + 4 + len], config)?;
                        check.see(message)?;
                        at += 4 + len;
                    }
                }
                let mut tally = [0u8; 16];
                tally[..8].copy_from_slice(&check.tally.0.to_le_bytes());
                tally[8..].copy_from_slice(&check.tally.1.to_le_bytes());
                Ok::<(), Error>(tally_out.write_all(&tally)?)
            })
        })
        .collect();
    let mut producers: Vec<Process> = (0..k as u64)
        .map(|p| {
            let writer = writer.try_clone();
            Process::new(move || {
                let mut out = writer?;
                let mut block = [0u8; BLOCK];
                let mut used = 4;
                let mut frame = Vec::with_capacity(64);
                for id in p * per_producer..(p + 1) * per_producer {
                    frame.clear();
                    bincode::serde::encode_into_std_write(Small::new(id), &mut frame, config)?;
                    if used + 4 + frame.len() > BLOCK {
                        block[..4].copy_from_slice(&(used as u32).to_le_bytes());
                        out.write_all(&block)?;
                        used = 4;
                    }
                    block[used..used + 4].copy_from_slice(&(frame.len() as u32).to_le_bytes());
                    block[used + 4..used + 4 + frame.len()].copy_from_slice(&frame);
                    used += 4 + frame.len();
                }
                if used > 4 {
                    block[..4].copy_from_slice(&(used as u32).to_le_bytes());
                    out.write_all(&block)?;
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    let seconds = timed(|| {
        for c in &mut consumers {
            c.start()?;
        }
        run_all(&mut producers)?;
        let stop = [0u8; BLOCK];
        (0..k).try_for_each(|_| (&writer).write_all(&stop))?;
        consumers.iter_mut().try_for_each(join_ok)
    })?;
    drop(tally_writer);
    let mut tallies = vec![0u8; 16 * k];
    (&tally_reader).read_exact(&mut tallies)?;
    let got: Vec<Tally> = tallies
        .chunks(16)
        .map(|t| {
            let word = |r: std::ops::Range<usize>| u64::from_le_bytes(t[r].try_into().expect("8 bytes"));
            (word(0..8), word(8..16))
        })
        .collect();
    check_tallies(&got, per_producer * k as u64)?;
    Ok((per_producer * k as u64) as f64 / seconds)
}

// ---------------------------------------------------------------------------------------------
// Fork against the parent's heap

/// 0, 64 MiB, 256 MiB, 1 GiB, 2 GiB, 4 GiB (quick: 0 and 64 MiB), in MiB.
fn heap_sizes(mode: Mode) -> Vec<u64> {
    mode.pick(vec![0, 64, 256, 1024, 2048, 4096], vec![0, 64])
}

fn fork_heap(mode: Mode, rounds: Rounds, tick: &mut dyn FnMut()) -> Result<Curve> {
    let mut notes = Vec::new();
    let available_mib = harness::machine::available_memory().map(|b| b >> 20);
    // Room for the heap and for the rest of the machine: at most 3/4 of what is available.
    let fits = |mib: u64| available_mib.is_none_or(|a| mib <= a * 3 / 4);
    let (sizes, skipped): (Vec<u64>, Vec<u64>) = heap_sizes(mode).into_iter().partition(|&m| fits(m));
    if !skipped.is_empty() {
        notes.push(format!(
            "skipped {} MiB: more than 3/4 of the {} MiB this machine has available",
            skipped.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            available_mib.unwrap_or(0)
        ));
    }
    let thp = harness::machine::transparent_hugepages();
    let mut kinds = vec![(Pages::Small, "4 KiB", 0)];
    match thp.as_deref() {
        Some("always") | Some("madvise") => kinds.push((Pages::Huge, "THP", 1)),
        other => notes.push(format!(
            "no huge-page series: transparent huge pages are {}",
            other.unwrap_or("not in this kernel")
        )),
    }
    kinds.push((Pages::Shared, "MAP_SHARED", 2));
    let mut series = Vec::new();
    for &(pages, label, colour) in &kinds {
        let mut ours = Series { name: format!("ours, {label}"), limit: false, colour, points: Vec::new() };
        let mut limit =
            Series { name: format!("limit: raw fork, {label}"), limit: true, colour, points: Vec::new() };
        for &mib in &sizes {
            let heap = TouchedHeap::new((mib as usize) << 20, pages).context(format!("a {mib} MiB heap"))?;
            if pages == Pages::Huge && mib > 0 {
                let huge = heap.huge_bytes().unwrap_or(0) >> 20;
                if huge < mib * 9 / 10 {
                    notes.push(format!(
                        "{mib} MiB with THP: the kernel backed only {huge} MiB with huge pages"
                    ));
                }
            }
            // Several starts per sample where one is short, so a sample is not the clock's noise.
            let starts = if mib == 0 { mode.pick(50, 10) } else { mode.pick(4, 2) };
            let per_start = |once: fn() -> Result<()>| {
                move || timed(|| (0..starts).try_for_each(|_| once())).map(|s| s / starts as f64 * 1e3)
            };
            let stats = ours_vs_limit(
                rounds,
                tick,
                &mut per_start(start_join_trivial),
                &mut per_start(raw::fork_exit_wait),
            )
            .context(format!("{mib} MiB, {label}"))?;
            ours.points.push(Point { x: mib as f64, y: stats[0] });
            limit.points.push(Point { x: mib as f64, y: stats[1] });
        }
        series.push(ours);
        series.push(limit);
    }
    for s in &series {
        if let (Some(slope), Some(last)) = (per_gib(&s.points), s.points.last()) {
            notes.push(format!(
                "{}: {slope:.1} ms per GiB of touched heap (least squares, 0 to {} MiB)",
                s.name, last.x
            ));
        }
    }
    Ok(Curve {
        name: "fork-heap".into(),
        title: "Process start + join against the parent's touched heap".into(),
        x_label: "parent's touched heap (MiB)".into(),
        x_scale: Scale::Plain,
        x_log: false,
        y_label: "ms per start + join".into(),
        y_log: true,
        higher_is_better: false,
        series,
        notes,
    })
}

/// The least-squares slope of the medians, in ms per GiB (x in MiB): what each GiB of touched
/// heap adds, less swayed by one noisy point than the slope between two of them.
fn per_gib(points: &[Point]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.x).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.y.median).sum::<f64>() / n;
    let variance: f64 = points.iter().map(|p| (p.x - mean_x).powi(2)).sum();
    let covariance: f64 = points.iter().map(|p| (p.x - mean_x) * (p.y.median - mean_y)).sum();
    (points.len() >= 2 && variance > 0.0).then(|| covariance / variance * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f64, y: f64) -> Point {
        Point { x, y: Stats { median: y, min: y, max: y } }
    }

    #[test]
    fn slope_per_gib() {
        let line = [point(0.0, 0.2), point(1024.0, 33.2), point(2048.0, 66.2)];
        assert!((per_gib(&line).unwrap() - 33.0).abs() < 1e-9);
        assert_eq!(per_gib(&[point(0.0, 1.0)]), None);
    }

    #[test]
    fn messages_are_checked() {
        for size in [16, 64, 4096] {
            let message = make_message(7, size);
            assert!(check_message(7, size, &message).is_ok());
            assert!(check_message(8, size, &message).is_err());
            assert!(check_message(7, size, &message[..size - 1]).is_err());
            let mut damaged = message.clone();
            damaged[size - 1] ^= 1;
            assert!(check_message(7, size, &damaged).is_err());
        }
        let mut order = OrderCheck::new(2, 10);
        assert!(order.see(Small::new(0)).is_ok() && order.see(Small::new(10)).is_ok());
        assert!(order.see(Small::new(5)).is_ok());
        assert!(order.see(Small::new(3)).is_err(), "producer 0's 3 after its 5");
        assert!(check_tallies(&[(2, 10), (1, 5)], 3).is_err());
        assert!(check_tallies(&[(2, 1), (1, 2)], 3).is_ok());
    }
}
