//! Tests for `pipe` and `Connection` across real processes. Each runs in a fresh process (see
//! harness/mod.rs).

mod harness;

use std::time::{Duration, Instant};

use multiprocessing::{Error, Process, pipe};

use harness::{Rng, clock_seed};

fn main() {
    harness::main(
        &[
            ("duplex_ping_pong_with_a_child", duplex_ping_pong_with_a_child),
            ("one_way_pipe_refuses_the_wrong_direction", one_way_pipe_refuses_the_wrong_direction),
            (
                "recv_says_end_of_file_after_the_last_message_of_an_exited_child",
                recv_says_end_of_file_after_the_last_message_of_an_exited_child,
            ),
            ("send_to_an_exited_reader_is_a_broken_pipe", send_to_an_exited_reader_is_a_broken_pipe),
            (
                "a_duplex_send_is_an_error_not_sigpipe_even_with_the_default_handler",
                a_duplex_send_is_an_error_not_sigpipe_even_with_the_default_handler,
            ),
            ("poll_waits_its_timeout_then_sees_a_message", poll_waits_its_timeout_then_sees_a_message),
            (
                "a_large_message_and_many_small_ones_arrive_intact",
                a_large_message_and_many_small_ones_arrive_intact,
            ),
            (
                "writer_killed_at_random_instants_leaves_an_in_order_prefix_then_an_error",
                writer_killed_at_random_instants_leaves_an_in_order_prefix_then_an_error,
            ),
        ],
        &[],
    );
}

fn duplex_ping_pong_with_a_child() {
    let (mut here, mut there) = pipe::<(u32, String)>(true).unwrap();
    let mut p = Process::new(move || -> multiprocessing::Result<()> {
        loop {
            let (n, text) = there.recv()?;
            if n == 0 {
                return Ok(());
            }
            there.send(&(n * 2, format!("{text}!")))?;
        }
    });
    p.start().unwrap();
    for n in 1..=100 {
        here.send(&(n, format!("n{n}"))).unwrap();
        assert_eq!(here.recv().unwrap(), (n * 2, format!("n{n}!")));
    }
    here.send(&(0, String::new())).unwrap();
    assert_eq!(p.join().unwrap(), 0);
}

fn one_way_pipe_refuses_the_wrong_direction() {
    let (mut reader, mut writer) = pipe::<u8>(false).unwrap();
    let err = reader.send(&1).unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = writer.recv().unwrap_err();
    assert!(err.to_string().contains("write-only"), "{err}");
    let err = writer.poll(Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("write-only"), "{err}");
    // And the right direction works, across a process.
    let mut p = Process::new(move || writer.send(&7));
    p.start().unwrap();
    assert_eq!(reader.recv().unwrap(), 7);
    assert_eq!(p.join().unwrap(), 0);
}

/// The child's end is closed in the parent by `start` (the closure's captures go to the child),
/// and in the child when it exits: then, after the messages it sent, `recv` says EOFError.
fn recv_says_end_of_file_after_the_last_message_of_an_exited_child() {
    for duplex in [true, false] {
        let (mut reader, mut writer) = pipe::<String>(duplex).unwrap();
        let mut p = Process::new(move || -> multiprocessing::Result<()> {
            for word in ["um", "dois", "três"] {
                writer.send(&word.to_string())?;
            }
            Ok(())
        });
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let got: Vec<String> = (0..3).map(|_| reader.recv().unwrap()).collect();
        assert_eq!(got, ["um", "dois", "três"]);
        let err = reader.recv().unwrap_err();
        assert!(matches!(err, Error::EndOfFile), "duplex={duplex}: {err}");
        assert!(err.to_string().contains("EOFError"), "{err}");
        // At the end of file, poll answers at once: there is something to report.
        assert!(reader.poll(Duration::from_secs(10)).unwrap());
    }
}

fn send_to_an_exited_reader_is_a_broken_pipe() {
    for duplex in [true, false] {
        let (reader, mut writer) = pipe::<Vec<u8>>(duplex).unwrap();
        let mut p = Process::new(move || drop(reader));
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        let err = writer.send(&vec![1; 10]).unwrap_err();
        assert!(matches!(err, Error::BrokenPipe), "duplex={duplex}: {err}");
        assert!(err.to_string().contains("BrokenPipeError"), "{err}");
    }
}

/// A program that restored SIGPIPE's default (as some do, to end quietly in a shell pipeline)
/// still gets `BrokenPipe` from a duplex pipe instead of being killed by the signal.
fn a_duplex_send_is_an_error_not_sigpipe_even_with_the_default_handler() {
    let (reader, mut writer) = pipe::<u32>(true).unwrap();
    drop(reader);
    let mut p = Process::new(move || {
        // SAFETY: setting a signal's disposition to its default is async-signal-safe and has no
        // other effect on this single-threaded child.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        match writer.send(&1) {
            Err(Error::BrokenPipe) => Ok(()),
            other => Err(format!("expected BrokenPipe, got {other:?}")),
        }
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0, "the child was killed by SIGPIPE (-13) or got another answer");
}

fn poll_waits_its_timeout_then_sees_a_message() {
    let (mut here, mut there) = pipe::<u64>(true).unwrap();
    assert!(!here.poll(Duration::ZERO).unwrap());
    let started = Instant::now();
    assert!(!here.poll(Duration::from_millis(200)).unwrap());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(5), "{waited:?}");
    let mut p = Process::new(move || {
        std::thread::sleep(Duration::from_millis(300));
        there.send(&42)
    });
    p.start().unwrap();
    let started = Instant::now();
    assert!(here.poll(Duration::from_secs(30)).unwrap());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(here.recv().unwrap(), 42);
    assert_eq!(p.join().unwrap(), 0);
}

fn a_large_message_and_many_small_ones_arrive_intact() {
    let (mut reader, mut writer) = pipe::<Vec<u32>>(false).unwrap();
    let mut p = Process::new(move || -> multiprocessing::Result<()> {
        writer.send(&(0..3_000_000).collect())?; // 12 MB: many times the kernel's buffer
        for n in 0..10_000 {
            writer.send(&vec![n])?;
        }
        Ok(())
    });
    p.start().unwrap();
    let big = reader.recv().unwrap();
    assert_eq!(big.len(), 3_000_000);
    assert!(big.iter().enumerate().all(|(i, &v)| v == i as u32));
    for n in 0..10_000 {
        assert_eq!(reader.recv().unwrap(), vec![n]);
    }
    assert!(matches!(reader.recv(), Err(Error::EndOfFile)));
    assert_eq!(p.join().unwrap(), 0);
}

/// The letter message `n` is made of.
fn letter(n: u64) -> char {
    char::from(b'a' + (n % 26) as u8)
}

/// Whether `text` is message `n`'s letter only (compared at once, not letter by letter).
fn made_of(text: &str, n: u64) -> bool {
    text == letter(n).to_string().repeat(text.len())
}

/// A writer sends numbered messages of varied sizes without end and is SIGKILLed at a random
/// instant, many times. The reader must get 0, 1, 2, ... in order, each intact, and then either
/// the end of file (killed between two messages) or an error naming a cut message (killed in the
/// middle of one): never a wrong value, never a hang.
fn writer_killed_at_random_instants_leaves_an_in_order_prefix_then_an_error() {
    const KILLS: u64 = 60;
    let seed = clock_seed();
    let mut rng = Rng(seed);
    let (mut clean_ends, mut cut_messages, mut received) = (0, 0, 0u64);
    for kill in 0..KILLS {
        // The text of message `n`: its own letter, over and over. Text, not a `Vec<u8>`: the
        // encoding copies a string's bytes at once, and a vector's one element at a time, which
        // in a debug build made this test take seconds more.
        let (mut reader, mut writer) = pipe::<(u64, String)>(false).unwrap();
        // The writer soon fills the pipe and waits for room, and where it waits decides the
        // ending: inside a message larger than the room left (a cut message), or before a small
        // one, which the kernel writes whole or not at all (a clean end). Every other writer
        // sends small messages only, so that both endings come up.
        let big_ones = kill % 2 == 0;
        let mut p = Process::new(move || -> multiprocessing::Result<()> {
            for n in 0.. {
                // Sizes from a few bytes to 256 KiB: many messages span several writes.
                let len = ((n * 7919) % 300) as usize * if big_ones && n % 5 == 0 { 900 } else { 1 };
                writer.send(&(n, letter(n).to_string().repeat(len)))?;
            }
            Ok(())
        });
        p.start().unwrap();
        // Read a little before the kill, so that the kill lands anywhere in the stream.
        let read_first = rng.below(50);
        for n in 0..read_first {
            let (got, text) = reader.recv().unwrap();
            assert_eq!(got, n);
            assert!(made_of(&text, n));
        }
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        let mut next = read_first;
        let started = Instant::now();
        loop {
            match reader.recv() {
                Ok((got, text)) => {
                    assert_eq!(got, next, "messages out of order or lost");
                    assert!(made_of(&text, got), "message {got} damaged");
                    next += 1;
                }
                Err(Error::EndOfFile) => {
                    clean_ends += 1;
                    break;
                }
                Err(Error::CorruptFrame(why)) => {
                    assert!(why.contains("closed after"), "{why}");
                    cut_messages += 1;
                    break;
                }
                Err(other) => panic!("unexpected error after {next} messages: {other}"),
            }
            assert!(started.elapsed() < Duration::from_secs(30), "reading what was sent never ends");
        }
        received += next;
    }
    println!(
        "FIGURES pipe writer kills={KILLS} ended between messages={clean_ends} \
         cut in a message={cut_messages} messages received in order={received} seed={seed}"
    );
    assert_eq!(clean_ends + cut_messages, KILLS);
}
