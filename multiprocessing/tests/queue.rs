//! Tests for `Queue` and `JoinableQueue` across real processes. Each runs in a fresh process
//! (see harness/mod.rs).

mod harness;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use multiprocessing::{Error, JoinableQueue, MAX_MESSAGE_SIZE, Process, Queue};
use serde::{Deserialize, Serialize};

use harness::{join_all, start_all};

fn main() {
    harness::main(
        &[
            ("smoke", smoke),
            ("fifo_across_fork", fifo_across_fork),
            ("qsize_counts_items", qsize_counts_items),
            ("get_timeout_raises_empty", get_timeout_raises_empty),
            ("get_nowait_on_empty_queue", get_nowait_on_empty_queue),
            ("bounded_queue_reports_full", bounded_queue_reports_full),
            ("closed_queue_refuses_put_and_get", closed_queue_refuses_put_and_get),
            ("join_thread_before_close_is_an_error", join_thread_before_close_is_an_error),
            (
                "put_more_than_the_pipe_holds_before_anyone_reads",
                put_more_than_the_pipe_holds_before_anyone_reads,
            ),
            ("message_of_0_bytes", message_of_0_bytes),
            ("message_of_64_mib_both_ways", message_of_64_mib_both_ways),
            ("eight_producers_eight_consumers", eight_producers_eight_consumers),
            (
                "unencodable_value_is_refused_and_queue_still_works",
                unencodable_value_is_refused_and_queue_still_works,
            ),
            ("oversized_message_is_refused_at_put", oversized_message_is_refused_at_put),
            ("corrupt_frame_is_an_error", corrupt_frame_is_an_error),
            ("damaged_length_is_an_error", damaged_length_is_an_error),
            (
                "wrong_type_is_a_decode_error_and_the_next_message_arrives",
                wrong_type_is_a_decode_error_and_the_next_message_arrives,
            ),
            (
                "writer_killed_mid_message_drops_only_that_message",
                writer_killed_mid_message_drops_only_that_message,
            ),
            ("get_when_every_writer_is_gone_is_disconnected", get_when_every_writer_is_gone_is_disconnected),
            ("orphaned_consumer_does_not_hang", orphaned_consumer_does_not_hang),
            ("task_done_and_join", task_done_and_join),
            ("task_done_too_many_times", task_done_too_many_times),
            (
                "join_names_a_consumer_that_died_holding_a_task",
                join_names_a_consumer_that_died_holding_a_task,
            ),
            (
                "join_names_a_consumer_that_exited_without_task_done",
                join_names_a_consumer_that_exited_without_task_done,
            ),
            ("a_panicking_consumer_loses_only_itself", a_panicking_consumer_loses_only_itself),
            ("consumer_killed_while_waiting_does_not_poison", consumer_killed_while_waiting_does_not_poison),
            ("many_large_messages_keep_content_and_order", many_large_messages_keep_content_and_order),
            ("small_messages_buffered_for_another_process", small_messages_buffered_for_another_process),
            ("exit_does_not_wait_for_items_nobody_can_read", exit_does_not_wait_for_items_nobody_can_read),
            ("timeouts_of_duration_max_mean_no_deadline", timeouts_of_duration_max_mean_no_deadline),
            (
                "put_nowait_finds_room_while_another_process_is_counting",
                put_nowait_finds_room_while_another_process_is_counting,
            ),
            (
                "get_with_threads_waits_instead_of_disconnected",
                get_with_threads_waits_instead_of_disconnected,
            ),
        ],
        &[("unread_items_at_exit", scenario_unread_items_at_exit)],
    );
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct MyFancyClass {
    name: String,
}

fn smoke() {
    let queue = Queue::new().unwrap();
    queue.put(MyFancyClass { name: "Fancy Dan".into() }).unwrap();
    assert_eq!(queue.get().unwrap(), MyFancyClass { name: "Fancy Dan".into() });
}

fn fifo_across_fork() {
    // CPython's test_fork: items from the parent (put before the fork) and from the child arrive
    // in order 0..19.
    let queue = Queue::new().unwrap();
    for i in 0..10 {
        queue.put(i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100)); // let the feeder write them, as CPython's test
    let q = queue.clone();
    let mut p = Process::new(move || (10..20).try_for_each(|i| q.put(i)));
    p.start().unwrap();
    let got: Vec<i32> = (0..20).map(|_| queue.get().unwrap()).collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    assert_eq!(p.join().unwrap(), 0);
}

fn qsize_counts_items() {
    let queue = Queue::new().unwrap();
    let mut sizes = vec![queue.qsize()];
    queue.put(1).unwrap();
    sizes.push(queue.qsize());
    queue.put(2).unwrap();
    sizes.push(queue.qsize());
    queue.get().unwrap();
    sizes.push(queue.qsize());
    queue.get().unwrap();
    sizes.push(queue.qsize());
    assert_eq!(sizes, [0, 1, 2, 1, 0]);
    assert!(queue.empty());
}

fn get_timeout_raises_empty() {
    let queue: Queue<u8> = Queue::new().unwrap();
    let started = Instant::now();
    assert!(matches!(queue.get_timeout(Duration::from_millis(200)), Err(Error::Empty { .. })));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100), "gave up too early: {waited:?}");
    assert!(waited < Duration::from_secs(10), "gave up far too late: {waited:?}");
}

fn get_nowait_on_empty_queue() {
    let queue: Queue<u8> = Queue::new().unwrap();
    assert!(matches!(queue.get_nowait(), Err(Error::Empty { .. })));
    queue.put(5).unwrap();
    // The feeder writes in the background; get_timeout waits for it.
    assert_eq!(queue.get_timeout(Duration::from_secs(10)).unwrap(), 5);
}

fn bounded_queue_reports_full() {
    let queue: Queue<u8> = Queue::with_maxsize(2).unwrap();
    queue.put(1).unwrap();
    queue.put_nowait(2).unwrap();
    assert!(queue.full());
    assert!(matches!(queue.put_nowait(3), Err(Error::Full { .. })));
    let started = Instant::now();
    assert!(matches!(queue.put_timeout(3, Duration::from_millis(200)), Err(Error::Full { .. })));
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(queue.get().unwrap(), 1);
    queue.put_nowait(3).unwrap();
    assert_eq!((queue.get().unwrap(), queue.get().unwrap()), (2, 3));
}

fn closed_queue_refuses_put_and_get() {
    let queue: Queue<u8> = Queue::new().unwrap();
    queue.close();
    assert!(matches!(queue.put(1), Err(Error::Closed { .. })));
    assert!(matches!(queue.get_nowait(), Err(Error::Closed { .. })));
    match queue.put(1) {
        Err(e) => assert!(e.to_string().starts_with("put on Queue<u8>: the queue is closed"), "{e}"),
        Ok(()) => panic!("a closed queue took a put"),
    }
    let joinable: JoinableQueue<u8> = JoinableQueue::new().unwrap();
    joinable.close();
    assert!(matches!(joinable.put(1), Err(Error::Closed { .. })));
    assert!(matches!(joinable.get(), Err(Error::Closed { .. })));
}

fn join_thread_before_close_is_an_error() {
    let queue: Queue<u8> = Queue::new().unwrap();
    assert!(matches!(queue.join_thread(), Err(Error::InvalidState(_))));
    queue.close();
    queue.join_thread().unwrap();
}

fn put_more_than_the_pipe_holds_before_anyone_reads() {
    // 8 MiB in 4 KiB messages: far more than any pipe buffer, put before the reader starts.
    let queue: Queue<Vec<u8>> = Queue::new().unwrap();
    for i in 0..2048u32 {
        queue.put(vec![(i % 251) as u8; 4096]).unwrap();
    }
    let q = queue.clone();
    let mut reader = Process::new(move || {
        for i in 0..2048u32 {
            let message = q.get().map_err(|e| e.to_string())?;
            if message != vec![(i % 251) as u8; 4096] {
                return Err(format!("message {i} is wrong"));
            }
        }
        Ok(())
    });
    reader.start().unwrap();
    assert_eq!(reader.join().unwrap(), 0);
}

fn message_of_0_bytes() {
    let queue: Queue<()> = Queue::new().unwrap();
    let q = queue.clone();
    let mut p = Process::new(move || q.put(()));
    p.start().unwrap();
    queue.get().unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

/// `len` letters, `a` to `z` over and over: the letter at `i` is `b'a' + i % 26`. Made by copying
/// (`repeat`), not letter by letter: 64 MiB one char at a time takes seconds in a debug build.
fn pattern(len: usize) -> String {
    let mut letters = "abcdefghijklmnopqrstuvwxyz".repeat(len.div_ceil(26));
    letters.truncate(len);
    letters
}

fn message_of_64_mib_both_ways() {
    let queue: Queue<String> = Queue::new().unwrap();
    let replies: Queue<bool> = Queue::new().unwrap();
    let (q, r) = (queue.clone(), replies.clone());
    let mut p = Process::new(move || {
        let got = q.get()?;
        r.put(got == pattern(64 << 20))?;
        q.put(pattern(64 << 20))
    });
    p.start().unwrap();
    queue.put(pattern(64 << 20)).unwrap();
    assert!(replies.get().unwrap(), "the child received a different 64 MiB message");
    let back = queue.get().unwrap();
    assert!(back == pattern(64 << 20), "the parent received a different 64 MiB message");
    assert_eq!(p.join().unwrap(), 0);
}

fn eight_producers_eight_consumers() {
    const PRODUCERS: u32 = 8;
    const CONSUMERS: usize = 8;
    const MESSAGES: u32 = 10_000;
    let queue: Queue<Option<(u32, u32)>> = Queue::new().unwrap();
    let results: Queue<Vec<(u32, u32)>> = Queue::new().unwrap();
    let mut consumers: Vec<Process> = (0..CONSUMERS)
        .map(|_| {
            let (q, r) = (queue.clone(), results.clone());
            Process::new(move || {
                let mut received = Vec::new();
                while let Some(item) = q.get()? {
                    received.push(item);
                }
                r.put(received)
            })
        })
        .collect();
    let mut producers: Vec<Process> = (0..PRODUCERS)
        .map(|producer| {
            let q = queue.clone();
            Process::new(move || (0..MESSAGES).try_for_each(|seq| q.put(Some((producer, seq)))))
        })
        .collect();
    start_all(&mut consumers);
    start_all(&mut producers);
    join_all(&mut producers);
    for _ in 0..CONSUMERS {
        queue.put(None).unwrap();
    }
    let mut seen: HashMap<(u32, u32), usize> = HashMap::new();
    for _ in 0..CONSUMERS {
        let received = results.get_timeout(Duration::from_secs(60)).unwrap();
        // Each consumer must see each producer's messages in the order they were put.
        let mut last: HashMap<u32, u32> = HashMap::new();
        for &(producer, seq) in &received {
            if let Some(&previous) = last.get(&producer) {
                assert!(seq > previous, "producer {producer}: {seq} after {previous}");
            }
            last.insert(producer, seq);
            *seen.entry((producer, seq)).or_default() += 1;
        }
    }
    join_all(&mut consumers);
    let duplicated = seen.values().filter(|&&n| n > 1).count();
    assert_eq!(duplicated, 0, "{duplicated} messages were delivered twice");
    assert_eq!(seen.len(), (PRODUCERS * MESSAGES) as usize, "messages were lost");
}

#[derive(Deserialize, Debug)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to be serialized"))
    }
}

#[derive(Serialize, Deserialize, Debug)]
enum Item {
    Good(u32),
    Bad(Unencodable),
}

fn unencodable_value_is_refused_and_queue_still_works() {
    let queue: Queue<Item> = Queue::new().unwrap();
    queue.put(Item::Good(1)).unwrap();
    match queue.put(Item::Bad(Unencodable)) {
        Err(Error::Encode(why)) => assert!(why.contains("refuses"), "{why}"),
        other => panic!("expected an encode error, got {other:?}"),
    }
    queue.put(Item::Good(2)).unwrap();
    assert!(matches!(queue.get().unwrap(), Item::Good(1)));
    assert!(matches!(queue.get().unwrap(), Item::Good(2)));
    assert_eq!(queue.qsize(), 0, "the refused item must not be counted");
}

fn oversized_message_is_refused_at_put() {
    let queue: Queue<String> = Queue::new().unwrap();
    let huge = "x".repeat(MAX_MESSAGE_SIZE + 1);
    match queue.put(huge) {
        Err(Error::MessageTooLarge { size, limit }) => {
            assert!(size > limit);
            assert_eq!(limit, MAX_MESSAGE_SIZE);
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    queue.put("small".into()).unwrap();
    assert_eq!(queue.get().unwrap(), "small");
}

fn corrupt_frame_is_an_error() {
    let queue: Queue<u32> = Queue::new().unwrap();
    queue.write_raw_bytes_for_tests(b"this is not a frame at all").unwrap();
    match queue.get_timeout(Duration::from_secs(10)) {
        Err(Error::CorruptFrame(why)) => assert!(why.contains("magic"), "{why}"),
        other => panic!("expected a corrupt frame, got {other:?}"),
    }
    // The bad message was one record of the ring: it is gone, and the queue goes on.
    assert_eq!(queue.qsize(), 0, "the bad message was taken");
    queue.put(7).unwrap();
    assert_eq!(queue.get_timeout(Duration::from_secs(10)).unwrap(), 7, "the queue recovers");
}

fn damaged_length_is_an_error() {
    // A frame whose length field lost a bit on the way: the header's check catches it, before
    // anything is sized by that length.
    let raw: Queue<u32> = Queue::new().unwrap();
    let mut damaged = b"MQ".to_vec();
    damaged.extend_from_slice(&(1u32 << 20).to_le_bytes()); // a 1 MiB length...
    damaged.extend_from_slice(&[0, 0]); // ...with a check that does not match it
    raw.write_raw_bytes_for_tests(&damaged).unwrap();
    match raw.get_timeout(Duration::from_secs(10)) {
        Err(Error::CorruptFrame(why)) => assert!(why.contains("check"), "{why}"),
        other => panic!("expected a corrupt frame, got {other:?}"),
    }
}

fn wrong_type_is_a_decode_error_and_the_next_message_arrives() {
    let strings: Queue<String> = Queue::new().unwrap();
    // A frame that is whole but does not hold a String.
    strings.write_raw_frame_for_tests(&[0xff, 0xff, 0xff]).unwrap();
    strings.put("after".into()).unwrap();
    assert!(matches!(strings.get(), Err(Error::Decode(_))));
    assert_eq!(strings.get().unwrap(), "after", "a bad message must not take the next one with it");
    assert_eq!(strings.qsize(), 0, "the bad message was taken, and counted as taken");
}

fn writer_killed_mid_message_drops_only_that_message() {
    let queue: Queue<String> = Queue::new().unwrap();
    let putting = multiprocessing::Event::new().unwrap();
    let (q, e) = (queue.clone(), putting.clone());
    // 64 MiB cannot fit the ring: the child's service thread stops part-way through the message,
    // holding the write lock, until a reader makes room.
    let mut writer = Process::new(move || {
        q.put("before".to_string())?;
        let message = pattern(64 << 20);
        e.set();
        q.put(message)?;
        std::thread::sleep(Duration::from_secs(60));
        Ok::<(), Error>(())
    });
    writer.start().unwrap();
    assert!(putting.wait_timeout(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(500));
    writer.kill().unwrap();
    assert_eq!(writer.join().unwrap(), -9);
    // Another writer comes after the dead one: its message must arrive whole.
    let q = queue.clone();
    let mut after = Process::new(move || q.put("after".to_string()));
    after.start().unwrap();
    assert_eq!(after.join().unwrap(), 0);
    assert_eq!(queue.get_timeout(Duration::from_secs(30)).unwrap(), "before");
    let started = Instant::now();
    assert_eq!(
        queue.get_timeout(Duration::from_secs(30)).unwrap(),
        "after",
        "the partial message is dropped"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(matches!(queue.get_timeout(Duration::from_secs(30)), Err(Error::Disconnected { .. })));
}

fn get_when_every_writer_is_gone_is_disconnected() {
    let queue: Queue<u32> = Queue::new().unwrap();
    let q = queue.clone();
    let mut p = Process::new(move || q.put(1));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(queue.get().unwrap(), 1, "what was sent before the writer left still arrives");
    let started = Instant::now();
    assert!(matches!(queue.get(), Err(Error::Disconnected { .. })));
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn orphaned_consumer_does_not_hang() {
    // A consumer whose producer (the test process's child) was killed learns it from `get`.
    let report: Queue<String> = Queue::new().unwrap();
    let r = report.clone();
    let mut middle = Process::new(move || {
        let queue: Queue<u32> = Queue::new()?;
        let (q, r) = (queue.clone(), r.clone());
        let mut consumer = Process::new(move || {
            let outcome = match q.get() {
                Err(Error::Disconnected { .. }) => "disconnected".to_string(),
                other => format!("{other:?}"),
            };
            r.put(outcome)
        });
        consumer.start()?;
        // The producer dies without putting anything and without running its exit steps.
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).ok();
        Ok::<(), Error>(())
    });
    middle.start().unwrap();
    assert_eq!(middle.join().unwrap(), -9);
    assert_eq!(report.get_timeout(Duration::from_secs(30)).unwrap(), "disconnected");
}

fn task_done_and_join() {
    // CPython's test_task_done: 4 workers run `for obj in iter(q.get, None): q.task_done()`.
    let queue: JoinableQueue<Option<u32>> = JoinableQueue::new().unwrap();
    let mut workers: Vec<Process> = (0..4)
        .map(|_| {
            let q = queue.clone();
            Process::new(move || {
                while q.get()?.is_some() {
                    std::thread::sleep(Duration::from_millis(10));
                    q.task_done()?;
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    start_all(&mut workers);
    for i in 0..10 {
        queue.put(Some(i)).unwrap();
    }
    queue.join().unwrap();
    assert_eq!(queue.unfinished(), 0);
    for _ in &workers {
        queue.put(None).unwrap();
    }
    join_all(&mut workers);
}

fn task_done_too_many_times() {
    let queue: JoinableQueue<u8> = JoinableQueue::new().unwrap();
    queue.put(1).unwrap();
    queue.get().unwrap();
    queue.task_done().unwrap();
    match queue.task_done() {
        Err(e @ Error::TaskDoneTooManyTimes { .. }) => {
            assert!(
                e.to_string()
                    .starts_with("task_done on JoinableQueue<u8>: task_done() called too many times"),
                "{e}"
            )
        }
        other => panic!("expected TaskDoneTooManyTimes, got {other:?}"),
    }
    queue.join().unwrap();
}

fn join_names_a_consumer_that_died_holding_a_task() {
    let queue: JoinableQueue<u8> = JoinableQueue::new().unwrap();
    let q = queue.clone();
    let mut consumer = Process::new(move || {
        q.get()?; // takes the task and dies before task_done
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).ok();
        Ok::<(), Error>(())
    });
    consumer.start().unwrap();
    let pid = consumer.pid().unwrap();
    queue.put(1).unwrap();
    assert_eq!(consumer.join().unwrap(), -9);
    match queue.join() {
        Err(Error::TasksLost { call: _, pid: dead, tasks: 1 }) => assert_eq!(dead, pid),
        other => panic!("expected TasksLost for pid {pid}, got {other:?}"),
    }
    // Written off: a second join has nothing to wait for.
    assert!(queue.join_timeout(Duration::from_secs(10)).unwrap());
}

/// A consumer that takes three tasks, marks two done and exits (no kill): `join` reports the task
/// it took with it, every time, whether the exit comes before, during or after the join's start. (It once returned `Ok` in
/// up to 6 runs of 10: the exiting consumer's tasks were written off, waking `join`, before the
/// loss was recorded.)
fn join_names_a_consumer_that_exited_without_task_done() {
    let mut outcomes: HashMap<String, u32> = HashMap::new();
    for _ in 0..30 {
        let queue: JoinableQueue<u8> = JoinableQueue::new().unwrap();
        let q = queue.clone();
        let mut consumer = Process::new(move || -> multiprocessing::Result<()> {
            for i in 0..3 {
                q.get()?;
                if i != 2 {
                    q.task_done()?; // and forgets the third
                }
            }
            Ok(())
        });
        consumer.start().unwrap();
        let pid = consumer.pid().unwrap();
        // Put while the consumer runs, and join at once: its exit races the join's first looks.
        for i in 0..3 {
            queue.put(i).unwrap();
        }
        let outcome = match queue.join() {
            Err(Error::TasksLost { call: _, pid: dead, tasks: 1 }) if dead == pid => "TasksLost".to_string(),
            other => format!("{other:?}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
        assert_eq!(consumer.join().unwrap(), 0);
        // Nothing is left to report: a later join succeeds at once.
        assert!(matches!(queue.join_timeout(Duration::from_secs(10)), Ok(true)));
    }
    assert_eq!(outcomes, HashMap::from([("TasksLost".to_string(), 30)]));
}

fn a_panicking_consumer_loses_only_itself() {
    let queue: Queue<u32> = Queue::new().unwrap();
    let q = queue.clone();
    let mut crasher = Process::new(move || -> () {
        let _ = q.get();
        panic!("consumer crashed after one item");
    });
    crasher.start().unwrap();
    for i in 0..3 {
        queue.put(i).unwrap();
    }
    assert_eq!(crasher.join().unwrap(), 1);
    let rest: Vec<u32> = (0..2).map(|_| queue.get().unwrap()).collect();
    assert_eq!(rest, [1, 2]);
}

fn consumer_killed_while_waiting_does_not_poison() {
    // A consumer blocked in `get` holds the read lock; killing it hands the (robust) lock to the
    // next reader, and since it was not in the middle of a message, the queue stays usable.
    let queue: Queue<u32> = Queue::new().unwrap();
    let q = queue.clone();
    let mut waiting = Process::new(move || q.get().map(|_| ()));
    waiting.start().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    waiting.kill().unwrap();
    assert_eq!(waiting.join().unwrap(), -9);
    queue.put(42).unwrap();
    assert_eq!(queue.get_timeout(Duration::from_secs(10)).unwrap(), 42);
}

fn many_large_messages_keep_content_and_order() {
    // Large frames travel as their own buffers, which the feeder hands back for reuse: every
    // message must still arrive whole, with its own content, in order.
    let queue: Queue<Vec<u64>> = Queue::new().unwrap();
    let q = queue.clone();
    let mut producer =
        Process::new(move || (0..40u64).try_for_each(|i| q.put(vec![i; 100_000 + i as usize])));
    producer.start().unwrap();
    for i in 0..40u64 {
        let message = queue.get_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(message.len(), 100_000 + i as usize, "message {i} has the wrong length");
        assert!(message.iter().all(|&x| x == i), "message {i} holds another message's bytes");
    }
    assert_eq!(producer.join().unwrap(), 0);
}

fn small_messages_buffered_for_another_process() {
    // One read(2) takes many small frames into the shared read buffer; a different process must
    // be able to take the rest from there.
    let queue: Queue<u32> = Queue::new().unwrap();
    for i in 0..1000 {
        queue.put(i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(queue.get().unwrap(), 0, "this get pulls the whole burst into the shared buffer");
    let q = queue.clone();
    let mut other = Process::new(move || {
        for i in 1..1000 {
            let got = q.get().map_err(|e| e.to_string())?;
            if got != i {
                return Err(format!("expected {i}, got {got}"));
            }
        }
        Ok(())
    });
    other.start().unwrap();
    assert_eq!(other.join().unwrap(), 0);
}

fn scenario_unread_items_at_exit() {
    // 8 MiB put and never read, in a program with no other process: nobody could ever make room,
    // so the exit must not wait for it (CPython's feeder would block at exit forever).
    let queue: Queue<Vec<u8>> = Queue::new().unwrap();
    for _ in 0..8 {
        queue.put(vec![0; 1 << 20]).unwrap();
    }
    println!("put 8 MiB");
}

fn exit_does_not_wait_for_items_nobody_can_read() {
    let started = Instant::now();
    let (status, output) = harness::scenario("unread_items_at_exit");
    assert!(status.success(), "{output}");
    assert!(output.contains("put 8 MiB"), "{output}");
    assert!(started.elapsed() < Duration::from_secs(30), "exit took {:?}", started.elapsed());
}

fn timeouts_of_duration_max_mean_no_deadline() {
    let queue: Queue<u8> = Queue::with_maxsize(1).unwrap();
    queue.put_timeout(1, Duration::MAX).unwrap();
    assert_eq!(queue.get_timeout(Duration::MAX).unwrap(), 1);
    let joinable: JoinableQueue<u8> = JoinableQueue::new().unwrap();
    assert!(joinable.join_timeout(Duration::MAX).unwrap());
}

fn get_with_threads_waits_instead_of_disconnected() {
    // A queue used between two threads of this process, after an unrelated child came and went:
    // the other thread may still put, so a get must wait for it, not say Disconnected.
    let queue: Queue<u8> = Queue::new().unwrap();
    let q = queue.clone();
    let mut unrelated = Process::new(move || drop(q));
    unrelated.start().unwrap();
    assert_eq!(unrelated.join().unwrap(), 0);
    let q = queue.clone();
    let putter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        q.put(9).unwrap();
    });
    assert_eq!(queue.get_timeout(Duration::from_secs(30)).unwrap(), 9);
    putter.join().unwrap();
}

/// A bounded queue with plenty of room: `put_nowait` must never say Full, even while another
/// process keeps taking the queue's room lock to count (it once did, when the lock was taken
/// with the caller's deadline, already past).
fn put_nowait_finds_room_while_another_process_is_counting() {
    let queue: Queue<u32> = Queue::with_maxsize(1_000).unwrap();
    let stop = multiprocessing::Event::new().unwrap();
    let (q, s) = (queue.clone(), stop.clone());
    let mut churner = Process::new(move || -> multiprocessing::Result<()> {
        // One in, one out: the queue stays far from its bound, and each put takes the room lock.
        while !s.is_set() {
            q.put(7)?;
            let _ = q.get_timeout(Duration::from_millis(100));
        }
        Ok(())
    })
    .with_daemon(true);
    churner.start().unwrap();
    let (mut full, mut tries) = (0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        // Keep the queue far from its bound: take what the churner put.
        while queue.qsize() > 100 {
            let _ = queue.get_nowait();
        }
        match queue.put_nowait(1) {
            Ok(()) => {}
            Err(multiprocessing::Error::Full { .. }) => full += 1,
            Err(other) => panic!("{other}"),
        }
        tries += 1;
    }
    stop.set();
    while queue.get_timeout(Duration::from_millis(200)).is_ok() {}
    let _ = churner.join_timeout(Duration::from_secs(10));
    println!("FIGURES put_nowait with room: {full} Full answers in {tries} tries");
    assert_eq!(full, 0, "put_nowait said Full {full} times while the queue had room");
    assert!(tries > 100);
}
