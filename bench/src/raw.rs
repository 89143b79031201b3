//! The limits: the same workloads written directly against the OS, with nothing of the crate
//! but `Process` to start the two sides (the same for both, and outside the measured work).

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use harness::processes::join_ok;
use harness::{Error, Result, timed};
use multiprocessing::Process;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

use crate::workloads::{Small, check_chunk, make_chunk, run_pair};

/// `fork` + `_exit(0)` + `waitpid`, `n` times: microseconds per process.
pub fn start_join(n: u64) -> Result<f64> {
    let seconds = timed(|| (0..n).try_for_each(|_| fork_exit_wait()))?;
    Ok(seconds / n as f64 * 1e6)
}

/// One raw process: `fork`, the child `_exit(0)`s at once, the parent `waitpid`s and checks.
pub fn fork_exit_wait() -> Result<()> {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe, so it is sound
    // whatever other threads of the bench held at the time of the fork.
    match unsafe { fork() }? {
        ForkResult::Child => unsafe_exit(),
        ForkResult::Parent { child } => match waitpid(child, None)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(Error::Wrong(format!("a raw child ended with {other:?}"))),
        },
    }
}

fn unsafe_exit() -> ! {
    // SAFETY: `_exit` ends the process at once; nothing of the parent's state is touched.
    unsafe { libc::_exit(0) }
}

/// The best raw way to move small messages: the same `Small` struct encoded with bincode (as the
/// crate encodes it), length-prefixed, through a pipe with 64 KiB buffered writes and reads, so
/// one system call carries thousands of messages, as the crate's batching does. Messages per
/// second.
pub fn queue_small(n: u64) -> Result<f64> {
    let (reader, writer) = os_pipe::pipe()?;
    let config = bincode::config::standard();
    let seconds = run_pair(
        move || {
            let mut out = BufWriter::with_capacity(64 << 10, &writer);
            let mut body = Vec::with_capacity(64);
            for i in 0..n {
                body.clear();
                bincode::serde::encode_into_std_write(Small::new(i), &mut body, config)?;
                out.write_all(&(body.len() as u32).to_le_bytes())?;
                out.write_all(&body)?;
            }
            Ok::<(), Error>(out.flush()?)
        },
        move || {
            let mut input = BufReader::with_capacity(64 << 10, &reader);
            let mut body = Vec::with_capacity(64);
            for i in 0..n {
                let mut len = [0u8; 4];
                input.read_exact(&mut len)?;
                body.resize(u32::from_le_bytes(len) as usize, 0);
                input.read_exact(&mut body)?;
                let (got, _): (Small, usize) = bincode::serde::decode_from_slice(&body, config)?;
                if got != Small::new(i) {
                    return Err(Error::Wrong(format!("raw message {i} is wrong")));
                }
            }
            Ok(())
        },
    )?;
    Ok(n as f64 / seconds)
}

/// 1 MiB messages with `write_all`/`read_exact` through a pipe enlarged to 1 MiB. MB/s.
pub fn queue_1mib(n: u64) -> Result<f64> {
    let (reader, writer) = os_pipe::pipe()?;
    nix::fcntl::fcntl(writer.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20))?;
    let seconds = run_pair(
        move || {
            let mut out = &writer;
            (0..n).try_for_each(|i| out.write_all(&make_chunk(i)))
        },
        move || {
            let mut input = &reader;
            let mut chunk = vec![0u8; crate::workloads::CHUNK];
            (0..n).try_for_each(|i| {
                input.read_exact(&mut chunk)?;
                check_chunk(i, &chunk)
            })
        },
    )?;
    Ok((n as usize * crate::workloads::CHUNK) as f64 / seconds / 1e6)
}

/// A ping-pong on one futex word in shared memory, that the two sides store to in turn; each
/// side spins up to 20 us (as the crate's waits do) before it sleeps, the fastest raw way for two
/// processes to signal each other. Microseconds per round trip.
pub fn event_ping_pong(n: u64) -> Result<f64> {
    let word = SharedWord::new()?;
    let mut pong = {
        let word = word.clone();
        Process::new(move || {
            for i in 0..n {
                word.wait_for(2 * i + 1);
                word.store_and_wake(2 * i + 2);
            }
        })
    };
    pong.start()?;
    let started = Instant::now();
    for i in 0..n {
        word.store_and_wake(2 * i + 1);
        word.wait_for(2 * i + 2);
    }
    let seconds = started.elapsed().as_secs_f64();
    join_ok(&mut pong)?;
    Ok(seconds / n as f64 * 1e6)
}

/// The Event program's protocol on raw futex words: a flag per direction; each side sets the
/// other's flag (store 1, a wake-up only if someone sleeps), waits for its own, and clears it
/// (store 0), as `ping.set(); pong.wait(); pong.clear()` does. The same cache-line moves as the
/// crate's `Event` (a set, the waiter's read, its clear), without its generation count or
/// sleepers' bookkeeping: how much of the gap to [`event_ping_pong`] is the program's protocol
/// rather than the crate. Microseconds per round trip.
pub fn event_ping_pong_flags(n: u64) -> Result<f64> {
    let (ping, pong) = (SharedWord::new()?, SharedWord::new()?);
    let mut other = {
        let (ping, pong) = (ping.clone(), pong.clone());
        Process::new(move || {
            for _ in 0..n {
                ping.wait_for(1);
                ping.clear();
                pong.store_and_wake(1);
            }
        })
    };
    other.start()?;
    let started = Instant::now();
    for _ in 0..n {
        ping.store_and_wake(1);
        pong.wait_for(1);
        pong.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    join_ok(&mut other)?;
    Ok(seconds / n as f64 * 1e6)
}

/// An `AtomicU32` in a shared anonymous mapping, and a count of the processes asleep on it (on
/// another cache line), so that a wake-up is a system call only when someone sleeps.
#[derive(Clone)]
pub struct SharedWord {
    word: &'static AtomicU32,
    sleepers: &'static AtomicU32,
}

impl SharedWord {
    /// Both words 0, in a fresh shared page.
    pub fn new() -> Result<SharedWord> {
        // SAFETY: a fresh anonymous shared mapping of one page: zeroed, page-aligned, aliasing
        // nothing. It is never unmapped, so the `'static` reference stays valid (one page per
        // bench round, a deliberate leak in a short-lived program).
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                std::num::NonZeroUsize::new(4096).expect("non-zero"),
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
            )
        }?;
        let words = ptr.cast::<AtomicU32>();
        // SAFETY: the mapping is valid, aligned and zeroed, and zero is a valid AtomicU32; the
        // second word is 128 bytes in, inside the page, on a cache line of its own.
        Ok(unsafe { SharedWord { word: words.as_ref(), sleepers: words.add(32).as_ref() } })
    }

    /// Returns once the word holds `target` (its low 32 bits): spins 20 us, then sleeps.
    pub fn wait_for(&self, target: u64) {
        let target = target as u32;
        // Already there: no clock, no spin (the crate's waits look first too).
        if self.word.load(Ordering::SeqCst) == target {
            return;
        }
        let spin_until = Instant::now() + std::time::Duration::from_micros(20);
        'spin: while spinning_pays() {
            for _ in 0..16 {
                if self.word.load(Ordering::SeqCst) == target {
                    return;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= spin_until {
                break 'spin;
            }
        }
        loop {
            let seen = self.word.load(Ordering::SeqCst);
            if seen == target {
                return;
            }
            // Counted before the futex checks the word, so a store after this point sees us.
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            // SAFETY: FUTEX_WAIT on a live, aligned word; no timeout; shared (not private).
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.word.as_ptr(),
                    libc::FUTEX_WAIT,
                    seen,
                    std::ptr::null::<u8>(),
                );
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Stores `value` (its low 32 bits) and wakes the sleepers, if any.
    pub fn store_and_wake(&self, value: u64) {
        self.word.store(value as u32, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            // SAFETY: FUTEX_WAKE on a live, aligned word.
            unsafe {
                libc::syscall(libc::SYS_futex, self.word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
            }
        }
    }

    /// Stores 0, waking nobody (a flag's clear).
    pub fn clear(&self) {
        self.word.store(0, Ordering::SeqCst);
    }

    /// Adds 1 (the floor of a counter's increment, under a lock that already orders it).
    pub fn add_one(&self) {
        self.word.fetch_add(1, Ordering::Relaxed);
    }

    /// The word's value.
    pub fn value(&self) -> u32 {
        self.word.load(Ordering::SeqCst)
    }
}

/// The smallest correct process-shared lock: one futex word, 0 free, 1 taken, 2 taken with
/// sleepers (Drepper's "Futexes Are Tricky", mutex 3), spinning up to 20 us before sleeping, as
/// the crate's waits do. Not robust: a holder that dies leaves it taken forever, which is the
/// work the crate's `Lock` does on top.
pub struct FutexLock {
    word: SharedWord,
}

impl FutexLock {
    /// A free lock in a fresh shared page.
    pub fn new() -> Result<FutexLock> {
        Ok(FutexLock { word: SharedWord::new()? })
    }

    /// Takes the lock: one compare-exchange when free, else spin 20 us, then sleep.
    pub fn lock(&self) {
        let word = self.word.word;
        if word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return;
        }
        // Spin: re-read the word (staying off the line in exclusive mode while it is taken) and
        // try only when it reads free; look at the clock every 16 reads.
        let spin_until = Instant::now() + std::time::Duration::from_micros(20);
        'spin: while spinning_pays() {
            for _ in 0..16 {
                if word.load(Ordering::Relaxed) == 0
                    && word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok()
                {
                    return;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= spin_until {
                break 'spin;
            }
        }
        while word.swap(2, Ordering::Acquire) != 0 {
            // SAFETY: FUTEX_WAIT on a live, aligned word; no timeout; shared (not private).
            unsafe {
                libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, 2, std::ptr::null::<u8>());
            }
        }
    }

    /// Releases it, waking one sleeper if any.
    pub fn unlock(&self) {
        if self.word.word.swap(0, Ordering::Release) == 2 {
            // SAFETY: FUTEX_WAKE on a live, aligned word.
            unsafe {
                libc::syscall(libc::SYS_futex, self.word.word.as_ptr(), libc::FUTEX_WAKE, 1);
            }
        }
    }
}

/// Two processes take turns through a raw futex lock: each takes it, and if the turn (a second
/// shared word) is its own, passes it and counts; `n` round trips (two hand-offs each).
/// Microseconds per round trip.
pub fn lock_handoff(n: u64) -> Result<f64> {
    let lock = FutexLock::new()?;
    let turn = SharedWord::new()?;
    let side = move |me: u32, lock: &FutexLock, turn: &SharedWord| {
        let mut done = 0;
        while done < n {
            lock.lock();
            if turn.word.load(Ordering::Relaxed) == me {
                turn.word.store(1 - me, Ordering::Relaxed);
                done += 1;
            }
            lock.unlock();
        }
    };
    let mut other = {
        let (lock, turn) = (FutexLock { word: lock.word.clone() }, turn.clone());
        Process::new(move || side(1, &lock, &turn))
    };
    other.start()?;
    let started = Instant::now();
    side(0, &lock, &turn);
    join_ok(&mut other)?;
    Ok(started.elapsed().as_secs_f64() / n as f64 * 1e6)
}

/// Two processes each add 1 to an atomic in shared memory `n` times: nanoseconds per increment.
pub fn value_increment(n: u64) -> Result<f64> {
    let counter = SharedWord::new()?;
    let side = move |counter: &SharedWord| {
        for _ in 0..n {
            counter.word.fetch_add(1, Ordering::Relaxed);
        }
    };
    let mut other = {
        let counter = counter.clone();
        Process::new(move || side(&counter))
    };
    other.start()?;
    let started = Instant::now();
    side(&counter);
    join_ok(&mut other)?;
    let seconds = started.elapsed().as_secs_f64();
    let total = counter.word.load(Ordering::SeqCst) as u64;
    if total != (2 * n) as u32 as u64 {
        return Err(Error::Wrong(format!("the raw counter is {total}, not {}", 2 * n)));
    }
    Ok(seconds / (2 * n) as f64 * 1e9)
}

/// Two request/response round trips over a Unix socket pair to a process that answers each
/// 24-byte request with a 16-byte reply, `n` times: what a Manager's `set` + `get` costs at the
/// least, with nothing stored. Both sides poll for up to 50 us before they sleep in `read`, as
/// the crate's manager does (a sleeping reader is woken through the kernel and the hypervisor,
/// tens of microseconds later on an idle VM). Microseconds per pair of round trips.
pub fn socket_request_response(n: u64) -> Result<f64> {
    let (mut client, mut server) = std::os::unix::net::UnixStream::pair()?;
    // The echo process answers exactly 2n requests: it cannot wait for the end of the stream,
    // because fork gave it a copy of the client's end too (see the crate's pipe module docs).
    let mut echo = Process::new(move || -> std::io::Result<()> {
        let mut request = [0u8; 24];
        for _ in 0..2 * n {
            spin_until_readable(&server);
            server.read_exact(&mut request)?;
            server.write_all(&request[..16])?;
        }
        Ok(())
    });
    echo.start()?;
    let started = Instant::now();
    let (mut request, mut reply) = ([0u8; 24], [0u8; 16]);
    for i in 0..2 * n {
        request[..8].copy_from_slice(&i.to_le_bytes());
        client.write_all(&request)?;
        spin_until_readable(&client);
        client.read_exact(&mut reply)?;
        if reply[..8] != i.to_le_bytes() {
            return Err(Error::Wrong(format!("reply {i} is not for its request")));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    join_ok(&mut echo)?;
    Ok(seconds / n as f64 * 1e6)
}

/// Whether waiting by spinning can pay: more than one CPU to run on (the crate's rule too; on one
/// CPU the other side cannot run while this one spins). Asked once: `available_parallelism`
/// reads cgroup files, tens of microseconds a call.
fn spinning_pays() -> bool {
    static PAYS: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1));
    *PAYS
}

/// Polls `stream` without sleeping until it can be read, for at most 50 us; not at all on one
/// CPU, where the other side cannot run meanwhile (as the crate's manager).
fn spin_until_readable(stream: &std::os::unix::net::UnixStream) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    if !spinning_pays() {
        return;
    }
    let started = Instant::now();
    while started.elapsed() < std::time::Duration::from_micros(50) {
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => std::hint::spin_loop(),
            _ => return,
        }
    }
}
