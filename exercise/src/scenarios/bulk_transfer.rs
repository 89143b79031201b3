//! Move a lot of data from a producer to a consumer: 256 MiB in 1 MiB chunks.
//!
//! Between threads, a channel moves a `Vec`: a pointer, a length and a capacity; the bytes stay
//! where they are. Between processes there is no shared heap, so every byte is encoded, written
//! into the kernel's pipe buffer, and read out again into the consumer's memory: two copies, and
//! system calls. (Shared memory would avoid the copies, at the price of managing it by hand.)

use std::sync::mpsc;

use multiprocessing::{Process, Queue};
use serde_bytes::ByteBuf;

use super::Size;

const CHUNK: usize = 1 << 20;

fn chunks(size: &Size) -> u64 {
    size.pick(256, 32)
}

/// The chunk the producer sends as number `i`: every byte is `i`, so the consumer can check.
fn make_chunk(i: u64) -> Vec<u8> {
    vec![i as u8; CHUNK]
}

fn check_chunk(i: u64, chunk: &[u8]) -> Result<(), String> {
    let fill = i as u8;
    if chunk.len() != CHUNK || chunk.first() != Some(&fill) || chunk.last() != Some(&fill) {
        return Err(format!("chunk {i} arrived damaged ({} bytes)", chunk.len()));
    }
    Ok(())
}

pub fn threads(size: &Size) -> Result<(), String> {
    let n = chunks(size);
    // A small bound, like a pipe's buffer: the producer cannot run far ahead.
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::scope(|s| {
        let producer =
            s.spawn(move || (0..n).try_for_each(|i| sender.send(make_chunk(i))).map_err(|e| e.to_string()));
        let consumer = s.spawn(move || {
            (0..n).try_for_each(|i| check_chunk(i, &receiver.recv().map_err(|e| e.to_string())?))
        });
        producer.join().map_err(|_| "the producer panicked")??;
        consumer.join().map_err(|_| "the consumer panicked")?
    })
}

pub fn processes(size: &Size) -> Result<(), String> {
    let n = chunks(size);
    // `ByteBuf` makes serde send the bytes as one block rather than as a sequence of numbers.
    let queue: Queue<ByteBuf> = Queue::new().map_err(|e| e.to_string())?;
    let q = queue.clone();
    let mut producer = Process::new(move || {
        (0..n).try_for_each(|i| q.put(ByteBuf::from(make_chunk(i)))).map_err(|e| e.to_string())
    });
    let q = queue.clone();
    let mut consumer =
        Process::new(move || (0..n).try_for_each(|i| check_chunk(i, &q.get().map_err(|e| e.to_string())?)));
    drop(queue);
    for p in [&mut producer, &mut consumer] {
        p.start().map_err(|e| e.to_string())?;
    }
    for p in [&mut producer, &mut consumer] {
        let code = p.join().map_err(|e| e.to_string())?;
        if code != 0 {
            return Err(format!("{} exited with {code}", p.name()));
        }
    }
    Ok(())
}
