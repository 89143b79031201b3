//! Move a lot of data from a producer to a consumer: 256 MiB in 1 MiB chunks.
//!
//! Between threads, a channel moves a `Vec`: a pointer, a length and a capacity; the bytes stay
//! where they are. Between processes there is no shared heap, so every byte is encoded, written
//! into the kernel's pipe buffer, and read out again into the consumer's memory: two copies, and
//! system calls. (Shared memory would avoid the copies, at the price of managing it by hand.)

use std::sync::mpsc;

use harness::processes::run_all;
use harness::{Error, Result};
use multiprocessing::{Process, Queue};
use serde_bytes::ByteBuf;

use super::{Size, thread_failed};

const CHUNK: usize = 1 << 20;

fn chunks(size: &Size) -> u64 {
    size.pick(256, 32)
}

/// The chunk the producer sends as number `i`: every byte is `i`, so the consumer can check.
fn make_chunk(i: u64) -> Vec<u8> {
    vec![i as u8; CHUNK]
}

fn check_chunk(i: u64, chunk: &[u8]) -> Result<()> {
    let fill = i as u8;
    if chunk.len() != CHUNK || chunk.first() != Some(&fill) || chunk.last() != Some(&fill) {
        return Err(Error::Wrong(format!("chunk {i} arrived damaged ({} bytes)", chunk.len())));
    }
    Ok(())
}

pub fn threads(size: &Size) -> Result<()> {
    let n = chunks(size);
    // A small bound, like a pipe's buffer: the producer cannot run far ahead.
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::scope(|s| {
        // A send or receive fails only when the other thread is gone: its own error says why.
        let producer = s.spawn(move || (0..n).try_for_each(|i| sender.send(make_chunk(i))).is_ok());
        let consumer = s.spawn(move || {
            (0..n).try_for_each(|i| {
                check_chunk(i, &receiver.recv().map_err(|_| thread_failed("the producer"))?)
            })
        });
        let consumed = consumer.join().map_err(|_| thread_failed("the consumer"))?;
        let produced = producer.join().map_err(|_| thread_failed("the producer"))?;
        consumed?;
        if produced { Ok(()) } else { Err(thread_failed("the consumer")) }
    })
}

pub fn processes(size: &Size) -> Result<()> {
    let n = chunks(size);
    // `ByteBuf` makes serde send the bytes as one block rather than as a sequence of numbers.
    let queue: Queue<ByteBuf> = Queue::new()?;
    let q = queue.clone();
    let producer = Process::new(move || (0..n).try_for_each(|i| q.put(ByteBuf::from(make_chunk(i)))));
    let q = queue.clone();
    let consumer = Process::new(move || (0..n).try_for_each(|i| check_chunk(i, &q.get()?)));
    drop(queue);
    run_all(&mut [producer, consumer])
}
