//! The fault suite: processes SIGKILLed at random instants, forks while other threads churn, bad
//! bytes. Each test runs in a fresh process (see harness/mod.rs) and prints one line of figures,
//! which the harness shows under the test's name, passed or failed:
//!
//! ```text
//! FIGURES <test>: messages=… kills=… lost=… duplicated=… hangs=… <details> seed=… time=…s -- <what>
//! ```
//!
//! Then it asserts what every test asserts (no more messages lost than kills of processes that
//! may have held one, nothing duplicated, nothing hung), and its own checks. How to count faults
//! rather than merely notice them:
//!
//! - A *hang* is an operation that has not returned after [`HANG`] (20 s). Whatever could hang is
//!   done in a child process that the test kills after the bound, or with a deadline: a hang is
//!   counted, never waited out by the harness.
//! - Messages carry a unique id. Consumers append the ids they got to a [`Ledger`], a file that
//!   survives their SIGKILL: lost and duplicated are exact counts.
//! - Random instants come from a generator seeded from the clock. The seed is printed;
//!   `FAULTS_SEED=<seed>` replays it (as far as the scheduler allows).
//! - The fork test makes the issue's 20,000 forks (about 10 s in a debug build on 2 cores), cut
//!   short by a 40 s budget on a slower machine. `FAULTS_FORKS=<n>` runs exactly `n` forks with
//!   no budget (and a time limit that grows with `n`). The figure line says which count ran.

mod harness;

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::RangeInclusive;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use multiprocessing::{Error, Event, JoinableQueue, Process, Queue};
use serde::{Deserialize, Serialize};

const TESTS: &[harness::Test] = &[
    ("consumers_killed_small_messages", consumers_killed_small_messages),
    ("consumers_killed_large_messages", consumers_killed_large_messages),
    ("producers_killed_mid_message", producers_killed_mid_message),
    ("bounded_queue_survives_consumer_kills", bounded_queue_survives_consumer_kills),
    ("joinable_consumer_dies_holding_a_task", joinable_consumer_dies_holding_a_task),
    ("event_setter_killed", event_setter_killed),
    ("fork_while_threads_churn_queues", fork_while_threads_churn_queues),
    ("garbage_in_the_queue", garbage_in_the_queue),
    ("more_than_256_holders", more_than_256_holders),
    ("disconnected_is_not_said_wrongly", disconnected_is_not_said_wrongly),
];

/// An operation that has not returned after this long counts as a hang.
const HANG: Duration = Duration::from_secs(20);

fn main() {
    harness::main_with_limit(TESTS, &[], time_limit);
}

// ------------------------------------------------------------------------------------------------
// A test's run: seed, counts, figures and checks.

/// One test's run: its random generator, its ledger, the kills and hangs it counted, what went
/// wrong on the way (printed under its figures) and its failed checks (reported together).
struct Run {
    test: &'static str,
    seed: u64,
    rng: Rng,
    started: Instant,
    ledger: Ledger,
    kills: u64,
    hangs: u64,
    problems: Vec<String>,
    failures: Vec<String>,
}

/// What a test counted besides its kills and hangs, for its line of figures.
struct Figures {
    messages: u64,
    lost: u64,
    duplicated: u64,
    details: String,
}

impl Run {
    /// Starts with the seed `FAULTS_SEED`, or one from the clock; prints it, for a replay.
    fn new(test: &'static str) -> Run {
        let seed =
            std::env::var("FAULTS_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or_else(|| {
                let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
                nanos ^ (u64::from(std::process::id()) << 40)
            });
        println!("{test}: seed {seed} (replay with FAULTS_SEED={seed} cargo test --test faults {test})");
        let (rng, started, ledger) = (Rng::new(seed), Instant::now(), Ledger::new(test));
        Run {
            test,
            seed,
            rng,
            started,
            ledger,
            kills: 0,
            hangs: 0,
            problems: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Counts what became of children the test SIGKILLed.
    fn count_kills(&mut self, kills: impl IntoIterator<Item = Kill>) {
        for kill in kills {
            match kill {
                Kill::Killed => self.kills += 1,
                Kill::Exited(code) => self.problems.push(format!("a child ended by itself with {code}")),
                Kill::Hung => self.hang(1, "a SIGKILLed child did not die".into()),
            }
        }
    }

    /// Counts `n` hangs (if `n` is not 0) and says what hung.
    fn hang(&mut self, n: u64, problem: String) {
        if n > 0 {
            self.hangs += n;
            self.problems.push(problem);
        }
    }

    /// If `next` has come, SIGKILLs a random one of `kids` and picks the next instant.
    fn kill_when_due(&mut self, kids: &mut Kids, next: &mut Instant, ms: RangeInclusive<u64>) {
        if Instant::now() >= *next {
            let kill = kids.kill_random(&mut self.rng);
            self.count_kills(kill);
            *next = Instant::now() + self.rng.ms(ms);
        }
    }

    /// Waits for `kids` to end by themselves, as long as one ends or a message arrives within
    /// [`HANG`]; then kills the rest, each a hang (`what` they failed to do). Returns how many.
    fn wait_for(&mut self, kids: &mut Kids, what: &str) -> u64 {
        let mut last = Instant::now();
        while !kids.is_empty() && last.elapsed() <= HANG {
            let running = kids.len();
            kids.reap();
            if self.ledger.poll() || kids.len() < running {
                last = Instant::now();
            }
            sleep(Duration::from_millis(2));
        }
        let stuck = kids.kill_all().len() as u64;
        self.hang(stuck, format!("{stuck} {what}"));
        self.ledger.poll();
        stuck
    }

    /// Runs `body` in a [`probe`] process; its report, or "hung" (a hang) after [`HANG`].
    fn probe(&mut self, what: &str, body: impl FnOnce() -> Result<String, Error> + 'static) -> String {
        probe(body).wait(HANG).unwrap_or_else(|| {
            self.hang(1, format!("{what} did not return within {}s", HANG.as_secs()));
            "hung".into()
        })
    }

    /// Prints the line of figures, the problems and the children's notes; checks what every test
    /// asserts.
    fn report(&mut self, what: &str, f: Figures) {
        println!(
            "FIGURES {}: messages={} kills={} lost={} duplicated={} hangs={} {} seed={} time={:.1}s -- {what}",
            self.test,
            f.messages,
            self.kills,
            f.lost,
            f.duplicated,
            self.hangs,
            f.details,
            self.seed,
            self.started.elapsed().as_secs_f64(),
        );
        print_notes("problem", &self.problems);
        print_notes("child", &self.ledger.notes());
        self.check(f.lost <= self.kills, format!("lost {}, more than the {} kills", f.lost, self.kills));
        self.check(f.duplicated == 0, format!("{} delivered twice", f.duplicated));
        self.check(self.hangs == 0, format!("{} hang(s)", self.hangs));
    }

    fn check(&mut self, ok: bool, failure: String) {
        if !ok {
            self.failures.push(failure);
        }
    }

    fn finish(self) {
        let n = self.failures.len();
        assert!(n == 0, "{n} check(s) failed:\n  - {}", self.failures.join("\n  - "));
    }
}

/// Prints a few distinct lines of what went wrong.
fn print_notes(label: &str, notes: &[String]) {
    let mut seen = HashSet::new();
    let distinct: Vec<&String> = notes.iter().filter(|n| seen.insert(n.as_str())).collect();
    for note in distinct.iter().take(6) {
        println!("  {label}: {note}");
    }
    if distinct.len() > 6 {
        println!("  {label}: ... and {} more distinct", distinct.len() - 6);
    }
}

/// xorshift64*: enough to pick instants and sizes, and replayable from its seed.
struct Rng(u64);

/// SplitMix64's mixer: spreads a seed (or an id) over all 64 bits.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }

    /// The generator of the `n`th child, independent of the parent's sequence.
    fn fork(seed: u64, n: u64) -> Rng {
        Rng::new(seed ^ splitmix(n.wrapping_add(0x5EED)))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `range` (near enough).
    fn pick(&mut self, range: RangeInclusive<u64>) -> u64 {
        range.start() + self.next() % (range.end() - range.start() + 1)
    }

    fn ms(&mut self, range: RangeInclusive<u64>) -> Duration {
        Duration::from_millis(self.pick(range))
    }

    fn us(&mut self, range: RangeInclusive<u64>) -> Duration {
        Duration::from_micros(self.pick(range))
    }

    fn percent(&mut self, p: u64) -> bool {
        self.pick(0..=99) < p
    }
}

/// The error classes a test counts.
const CLASS_NAMES: [&str; 7] =
    ["Empty", "CorruptFrame", "Decode", "TasksLost", "Disconnected", "Full", "other"];

fn class(e: &Error) -> u64 {
    match e {
        Error::Empty { .. } => 0,
        Error::CorruptFrame(_) => 1,
        Error::Decode(_) => 2,
        Error::TasksLost { .. } => 3,
        Error::Disconnected { .. } => 4,
        Error::Full { .. } => 5,
        _ => 6,
    }
}

fn class_name(e: &Error) -> &'static str {
    CLASS_NAMES[class(e) as usize]
}

/// `ok:<value>` or `err:<class>`, for results reported as text by child processes.
fn outcome<T: std::fmt::Display>(result: &Result<T, Error>) -> String {
    match result {
        Ok(v) => format!("ok:{v}"),
        Err(e) => format!("err:{}", class_name(e)),
    }
}

/// The value of `key=` in a probe's report of `key=value` pairs: "hung" if the probe hung, "?" if
/// the report has no such key.
fn field<'a>(report: &'a str, key: &str) -> &'a str {
    let value = report.split_whitespace().find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='));
    value.unwrap_or(if report == "hung" { "hung" } else { "?" })
}

fn number(report: &str, key: &str) -> Option<u64> {
    field(report, key).parse().ok()
}

fn dash(value: Option<u64>) -> String {
    value.map_or("-".into(), |v| v.to_string())
}

// ------------------------------------------------------------------------------------------------
// The ledger: what child processes report, in files that survive their SIGKILL.

/// Record kinds.
const GOT: u64 = 1; // a message arrived (or a task was done, a wait returned); value = id
const BAD: u64 = 2; // a message arrived with the wrong content; value = id
const ERROR: u64 = 3; // an operation failed; value = class
const TOOK: u64 = 4; // a task was taken; value = id

/// Two append-only files, 16-byte records and lines of text (notes), and counts of the records
/// read so far. Each record or note is one `write(2)` on an `O_APPEND` file, so those of many
/// processes never interleave, and a process killed at any instant has written one whole or not.
struct Ledger {
    writer: Writer,
    paths: [PathBuf; 2],
    offset: u64,
    /// Every record read so far.
    all: Vec<(u64, u64)>,
    /// How many times each id arrived (`GOT` or `BAD`).
    seen: HashMap<u64, u32>,
    delivered: u64,
    bad: u64,
    errors: [u64; CLASS_NAMES.len()],
}

/// What a child process holds to write to the ledger.
#[derive(Clone)]
struct Writer {
    records: Arc<File>,
    notes: Arc<File>,
}

fn temp_path(tag: &str, suffix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("mp-faults-{}-{tag}-{stamp}-{n}.{suffix}", std::process::id()))
}

impl Ledger {
    fn new(tag: &str) -> Ledger {
        let paths = [temp_path(tag, "records"), temp_path(tag, "notes")];
        let open = |path| {
            let file = OpenOptions::new().read(true).append(true).create_new(true).open(path);
            Arc::new(file.expect("create a ledger file"))
        };
        let writer = Writer { records: open(&paths[0]), notes: open(&paths[1]) };
        let (seen, errors) = (HashMap::new(), [0; CLASS_NAMES.len()]);
        Ledger { writer, paths, offset: 0, all: Vec::new(), seen, delivered: 0, bad: 0, errors }
    }

    /// Reads the records written since the last call; says whether a message arrived.
    fn poll(&mut self) -> bool {
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        let (first, delivered) = (self.all.len(), self.delivered);
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            let whole = self.writer.records.read_at(&mut buffer, self.offset).unwrap_or(0) / 16 * 16;
            self.all.extend(buffer[..whole].chunks_exact(16).map(|r| (word(&r[..8]), word(&r[8..]))));
            self.offset += whole as u64;
            if whole < buffer.len() {
                break;
            }
        }
        for &(kind, value) in &self.all[first..] {
            match kind {
                GOT | BAD => {
                    *self.seen.entry(value).or_default() += 1;
                    self.delivered += 1;
                    self.bad += u64::from(kind == BAD);
                }
                ERROR => self.errors[(value as usize).min(CLASS_NAMES.len() - 1)] += 1,
                _ => {}
            }
        }
        self.delivered != delivered
    }

    /// The values of the records of one kind read so far.
    fn values(&self, kind: u64) -> impl Iterator<Item = u64> + '_ {
        self.all.iter().filter(move |&&(k, _)| k == kind).map(|&(_, v)| v)
    }

    fn missing(&self, ids: impl IntoIterator<Item = u64>) -> u64 {
        ids.into_iter().filter(|id| !self.seen.contains_key(id)).count() as u64
    }

    /// Extra deliveries: a message delivered 3 times counts 2.
    fn duplicated(&self) -> u64 {
        self.seen.values().map(|&n| u64::from(n - 1)).sum()
    }

    fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    fn errors_text(&self) -> String {
        let parts: Vec<String> = CLASS_NAMES
            .iter()
            .zip(self.errors)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name}:{n}"))
            .collect();
        if parts.is_empty() { "0".into() } else { parts.join(",") }
    }

    fn notes(&self) -> Vec<String> {
        std::fs::read_to_string(&self.paths[1]).unwrap_or_default().lines().map(String::from).collect()
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Writer {
    fn record(&self, kind: u64, value: u64) {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&kind.to_le_bytes());
        bytes[8..].copy_from_slice(&value.to_le_bytes());
        let _ = (&*self.records).write(&bytes);
    }

    /// Records that message `id` arrived, its content right or not; returns which.
    fn arrived(&self, id: u64, right: bool) -> &'static str {
        self.record(if right { GOT } else { BAD }, id);
        if right { "right" } else { "WRONG" }
    }

    fn note(&self, text: &str) {
        let mut line: String = text.chars().take(300).map(|c| if c == '\n' { ' ' } else { c }).collect();
        line.push('\n');
        let _ = (&*self.notes).write(line.as_bytes());
    }
}

// ------------------------------------------------------------------------------------------------
// Children: started, killed and always reaped.

/// What became of a child the test SIGKILLed.
enum Kill {
    /// SIGKILL ended it (exit code -9).
    Killed,
    /// It had already ended by itself, with this code.
    Exited(i32),
    /// It did not end within `HANG` after SIGKILL.
    Hung,
}

fn kill_and_reap(p: &mut Process) -> Kill {
    if let Ok(Some(code)) = p.join_timeout(Duration::ZERO) {
        return Kill::Exited(code);
    }
    let _ = p.kill();
    // A SIGKILLed process is gone within microseconds: poll at that pace (`join_timeout`'s own
    // polling backs off to milliseconds), up to the bound.
    let deadline = Instant::now() + HANG;
    loop {
        match p.join_timeout(Duration::ZERO) {
            Ok(Some(-9)) => return Kill::Killed,
            Ok(Some(code)) => return Kill::Exited(code),
            Ok(None) if Instant::now() < deadline => sleep(Duration::from_micros(20)),
            _ => return Kill::Hung,
        }
    }
}

/// Running children. Dropping the set (also while a failed assertion unwinds) kills and reaps
/// whatever is left, so the test process never waits for them at exit.
#[derive(Default)]
struct Kids {
    procs: Vec<Process>,
    started: u64,
}

impl Kids {
    /// Starts `p`; returns its pid.
    fn start(&mut self, mut p: Process) -> u32 {
        p.start().expect("start a child process");
        self.started += 1;
        let pid = p.pid().expect("a started process has a pid");
        self.procs.push(p);
        pid
    }

    fn len(&self) -> usize {
        self.procs.len()
    }

    fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Reaps the children that ended.
    fn reap(&mut self) {
        self.procs.retain_mut(|p| !matches!(p.join_timeout(Duration::ZERO), Ok(Some(_))));
    }

    /// Reaps, then starts `make(number started so far)` until `n` run.
    fn top_up(&mut self, n: usize, mut make: impl FnMut(u64) -> Process) {
        self.reap();
        while self.len() < n {
            let p = make(self.started);
            self.start(p);
        }
    }

    fn kill_random(&mut self, rng: &mut Rng) -> Option<Kill> {
        let last = self.len().checked_sub(1)?;
        let mut p = self.procs.swap_remove(rng.pick(0..=last as u64) as usize);
        Some(kill_and_reap(&mut p))
    }

    fn kill_all(&mut self) -> Vec<Kill> {
        self.procs.drain(..).map(|mut p| kill_and_reap(&mut p)).collect()
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.join_timeout(Duration::from_secs(5));
        }
    }
}

/// A child process that runs `body` and leaves its report (text) in a file: for operations that
/// might hang, done where the test can kill them.
struct Probe {
    process: Process,
    out: PathBuf,
    started: Instant,
}

fn probe(body: impl FnOnce() -> Result<String, Error> + 'static) -> Probe {
    let out = temp_path("probe", "out");
    let path = out.clone();
    let mut process = Process::new(move || {
        let text = body().unwrap_or_else(|e| format!("setup-error={}", e.to_string().replace(' ', "_")));
        let _ = std::fs::write(&path, text);
    });
    process.start().expect("start a probe process");
    Probe { process, out, started: Instant::now() }
}

impl Probe {
    /// The probe's report, or `None` if it had not ended `bound` after it started (it is killed).
    fn wait(mut self, bound: Duration) -> Option<String> {
        let code = self.process.join_timeout(bound.saturating_sub(self.started.elapsed())).ok()??;
        Some(std::fs::read_to_string(&self.out).unwrap_or_else(|_| format!("no-report exit-code={code}")))
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // (The crate never signals a process it has reaped.)
        let _ = self.process.kill();
        let _ = self.process.join_timeout(Duration::from_secs(5));
        let _ = std::fs::remove_file(&self.out);
    }
}

// ------------------------------------------------------------------------------------------------
// Messages with an id and a content that can be checked.

#[derive(Serialize, Deserialize)]
enum Msg {
    Item { id: u64, data: String },
    Stop,
}

/// How a message's content follows from its id: `len(id)` bytes, between `min` and `max`, of a
/// 4 KiB block of the id's own pattern, repeated.
#[derive(Clone, Copy)]
struct Payload {
    seed: u64,
    min: usize,
    max: usize,
}

impl Payload {
    /// Messages with no content (only an id).
    fn empty(seed: u64) -> Payload {
        Payload { seed, min: 0, max: 0 }
    }

    fn len(&self, id: u64) -> usize {
        let span = (self.max - self.min + 1) as u64;
        self.min + (splitmix(self.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % span) as usize
    }

    fn block(id: u64) -> Vec<u8> {
        let tag = format!("<{id}>");
        (0..4096usize)
            .map(|i| match tag.as_bytes().get(i) {
                Some(&b) => b,
                None => b'a' + ((id as usize).wrapping_mul(7).wrapping_add(i * 13) % 26) as u8,
            })
            .collect()
    }

    fn item(&self, id: u64) -> Msg {
        let len = self.len(id);
        if len == 0 {
            return Msg::Item { id, data: String::new() };
        }
        let mut bytes = Payload::block(id).repeat(len.div_ceil(4096));
        bytes.truncate(len);
        Msg::Item { id, data: String::from_utf8(bytes).expect("ASCII") }
    }

    fn is_right(&self, id: u64, data: &str) -> bool {
        if data.len() != self.len(id) {
            return false;
        }
        if data.is_empty() {
            return true;
        }
        let block = Payload::block(id);
        data.as_bytes().chunks(block.len()).all(|chunk| chunk == &block[..chunk.len()])
    }
}

/// A consumer child: takes messages until `Stop` and records each one's id in the ledger (`GOT`,
/// or `BAD` if its content is wrong). With `work`, it first works on a message for 0.2-2 ms: the
/// window in which a kill loses the message it took. An error is recorded and noted; the
/// `max_errors`th ends the consumer.
fn consumer(q: &Queue<Msg>, w: &Writer, payload: Payload, mut work: Option<Rng>, max_errors: u32) -> Process {
    let (q, w) = (q.clone(), w.clone());
    Process::new(move || {
        let mut errors = 0;
        loop {
            match q.get_timeout(Duration::from_secs(2)) {
                Ok(Msg::Item { id, data }) => {
                    if let Some(r) = &mut work {
                        sleep(r.us(200..=2_000));
                    }
                    w.arrived(id, payload.is_right(id, &data));
                }
                Ok(Msg::Stop) => return,
                Err(Error::Empty { .. }) => {}
                Err(e) => {
                    w.record(ERROR, class(&e));
                    w.note(&format!("consumer {}: get: {e}", std::process::id()));
                    errors += 1;
                    if errors == max_errors {
                        return;
                    }
                    sleep(Duration::from_millis(5));
                }
            }
        }
    })
}

// ------------------------------------------------------------------------------------------------
// 1, 2. Consumers SIGKILLed at random instants.

fn consumers_killed_small_messages() {
    consumers_killed(Churn {
        test: "consumers_killed_small_messages",
        what: "4 consumers, a random one SIGKILLed every 1-6 ms and replaced, small messages; \
               then 200 more must all arrive",
        messages: 40_000,
        after: 200,
        put_span: Duration::from_secs(10),
        window: 5_000,
        kill_ms: 1..=6,
        sizes: (0, 0),
    });
}

fn consumers_killed_large_messages() {
    consumers_killed(Churn {
        test: "consumers_killed_large_messages",
        what: "4 consumers, a random one SIGKILLed every 4-16 ms and replaced, 256 KiB-4 MiB \
               messages, content checked; then 8 more must all arrive",
        messages: 300,
        after: 8,
        put_span: Duration::from_secs(6),
        window: 6,
        kill_ms: 4..=16,
        sizes: (256 << 10, 4 << 20),
    });
}

/// How [`consumers_killed`] runs.
struct Churn {
    test: &'static str,
    what: &'static str,
    /// Put during the kills...
    messages: u64,
    /// ...and after they stopped: every one of these must arrive.
    after: u64,
    /// The messages are put evenly over this time...
    put_span: Duration,
    /// ...with at most this many put and neither delivered nor excused by a kill.
    window: u64,
    kill_ms: RangeInclusive<u64>,
    /// Sizes of the messages in bytes (0, 0: only an id).
    sizes: (usize, usize),
}

/// While messages are put, one of 4 consumers, at random, is SIGKILLed every few ms (whatever it
/// is doing: waiting, in the middle of a `get`, recording) and replaced. Then the kills stop and
/// more messages are put. Asserts: no more messages lost than kills (a consumer can die holding
/// one), none duplicated, none with a wrong content; no hang, no error, no refused put; and every
/// message put after the kills arrives. Why: a reader's death must cost at most the message it
/// held, never the queue: the next reader takes up where it stopped.
fn consumers_killed(spec: Churn) {
    const CONSUMERS: usize = 4;
    let mut run = Run::new(spec.test);
    let payload = Payload { seed: run.seed, min: spec.sizes.0, max: spec.sizes.1 };
    let queue: Queue<Msg> = Queue::new().expect("queue");
    queue.cancel_join_thread(); // exit must not wait for puts nobody may read
    let writer = run.ledger.writer.clone();
    let new_consumer = |_| consumer(&queue, &writer, payload, None, 1);
    let (mut kids, mut refused) = (Kids::default(), HashSet::new());

    let phase = Instant::now();
    let mut next_kill = phase + run.rng.ms(spec.kill_ms.clone());
    let (mut put, mut last_progress) = (0, phase);
    while put < spec.messages {
        if run.ledger.poll() {
            last_progress = Instant::now();
        }
        if run.ledger.errors_total() + refused.len() as u64 >= 200 {
            run.problems.push("kill phase stopped early: 200 errors".into());
            break;
        }
        kids.top_up(CONSUMERS, new_consumer);
        let due = (spec.messages as f64 * phase.elapsed().as_secs_f64() / spec.put_span.as_secs_f64()).ceil()
            as u64;
        while put < due.min(spec.messages)
            && put.saturating_sub(run.ledger.delivered + run.kills) < spec.window
        {
            if let Err(e) = queue.put(payload.item(put)) {
                run.problems.push(format!("put: {e}"));
                refused.insert(put);
            }
            put += 1;
        }
        run.kill_when_due(&mut kids, &mut next_kill, spec.kill_ms.clone());
        let outstanding = put - run.ledger.delivered.min(put);
        if outstanding > run.kills && last_progress.elapsed() > HANG {
            let secs = HANG.as_secs();
            run.hang(
                1,
                format!("kill phase: nothing delivered for {secs}s with {outstanding} messages outstanding"),
            );
            break;
        }
        sleep(Duration::from_millis(1));
    }
    let kill_phase = phase.elapsed();

    // The kills stop: fresh consumers, messages that must all arrive, one Stop per consumer.
    kids.top_up(CONSUMERS, new_consumer);
    let after = spec.messages..spec.messages + spec.after;
    for id in after.clone() {
        if let Err(e) = queue.put(payload.item(id)) {
            run.problems.push(format!("put after the kills: {e}"));
            refused.insert(id);
        }
    }
    for _ in 0..kids.len() {
        let _ = queue.put(Msg::Stop);
    }
    run.wait_for(&mut kids, "consumer(s) still running 20 s after the last delivery");

    let ledger = &run.ledger;
    let lost = ledger.missing((0..spec.messages).filter(|id| !refused.contains(id)));
    let lost_after = ledger.missing(after);
    let (errors, bad) = (ledger.errors_text(), ledger.bad);
    let details = format!(
        "lost_after_kills={lost_after} errors={errors} refused_puts={} bad_content={bad} \
         consumers_started={} kill_phase={:.1}s",
        refused.len(),
        kids.started,
        kill_phase.as_secs_f64()
    );
    let (messages, duplicated) = (spec.messages + spec.after, ledger.duplicated());
    run.report(spec.what, Figures { messages, lost, duplicated, details });
    run.check(lost_after == 0, format!("{lost_after} messages put after the kills stopped never arrived"));
    run.check(run.ledger.errors_total() == 0, format!("consumers got errors: {errors}"));
    run.check(refused.is_empty(), format!("{} puts were refused", refused.len()));
    run.check(bad == 0, format!("{bad} messages arrived with the wrong content"));
    run.finish();
}

// ------------------------------------------------------------------------------------------------
// 3. Producers SIGKILLed in the middle of large messages.

/// Producers (victims) put 1-4 MiB messages, which travel through the 1 MiB ring in chunks, and
/// are SIGKILLed at random instants, mostly in the middle of one; meanwhile 2 producers that are
/// never killed put theirs and 2 consumers check every message. Then `get_timeout(500 ms)` on the
/// idle queue right after a victim died mid-message, and one more put by a surviving producer.
/// Asserts: every message of the producers not killed arrives, whole and once; no hang; the idle
/// get comes back within 3 s; the late put is accepted and arrives. Why: a writer's death must
/// not leave half a message in the way of the others' messages.
fn producers_killed_mid_message() {
    const SURVIVORS: u64 = 2;
    const PER_SURVIVOR: u64 = 14;
    // Ids are `tag << 32 | seq`: survivors are tags 1 and 2, the late message tag 3, the last
    // victim 99, the others 100 and up.
    const LATE: u64 = 3 << 32;
    const LAST_VICTIM: u64 = 99 << 32;
    let mut run = Run::new("producers_killed_mid_message");
    let seed = run.seed;
    let payload = Payload { seed, min: 1 << 20, max: 4 << 20 };
    let queue: Queue<Msg> = Queue::new().expect("queue");
    queue.cancel_join_thread(); // exit must not wait for puts nobody may read
    let writer = run.ledger.writer.clone();

    // Consumers that are never killed: they check every message and keep going after errors.
    let new_consumer = |_| consumer(&queue, &writer, payload, None, 50);
    let mut consumers = Kids::default();
    consumers.top_up(2, new_consumer);
    // Survivors put their messages over ~4 s and are never killed.
    let mut survivors = Kids::default();
    for tag in 1..=SURVIVORS {
        let (q, w, mut r) = (queue.clone(), writer.clone(), Rng::fork(seed, tag));
        survivors.start(Process::new(move || {
            for seq in 0..PER_SURVIVOR {
                if let Err(e) = q.put(payload.item(tag << 32 | seq)) {
                    return w.note(&format!("survivor {tag}: put: {e}"));
                }
                sleep(r.ms(150..=400));
            }
        }));
    }
    // Meanwhile victims, two at a time, each putting 4 messages: one is SIGKILLed every 3-75 ms.
    let victim = |n: u64| {
        let q = queue.clone();
        Process::new(move || {
            for seq in 0..4 {
                let _ = q.put(payload.item((100 + n) << 32 | seq));
            }
            sleep(Duration::from_secs(60));
        })
    };
    let mut victims = Kids::default();
    let mut next_kill = Instant::now() + run.rng.ms(3..=75);
    // The survivors' last put comes after ~4 s; then their exit waits until it is written.
    let deadline = Instant::now() + Duration::from_secs(5) + HANG;
    loop {
        survivors.reap();
        if survivors.is_empty() || Instant::now() > deadline {
            break;
        }
        victims.top_up(2, victim);
        run.kill_when_due(&mut victims, &mut next_kill, 3..=75);
        sleep(Duration::from_millis(1));
    }
    let stuck = survivors.kill_all().len() as u64;
    run.hang(stuck, format!("{stuck} surviving producer(s) had not finished after 25 s"));
    run.count_kills(victims.kill_all());
    // The consumers take all that was put before their Stop.
    for _ in 0..consumers.len() {
        let _ = queue.put(Msg::Stop);
    }
    run.wait_for(&mut consumers, "consumer(s) never took their Stop");

    // The idle queue right after a producer died in the middle of a message (no reader is left,
    // and the message is more than the ring holds: it cannot have been written whole):
    // `get_timeout(500 ms)` must come back quickly.
    let putting = Event::new().expect("event");
    let (q, e) = (queue.clone(), putting.clone());
    let mut last_victim = Kids::default();
    last_victim.start(Process::new(move || {
        e.set();
        let _ = q.put(payload.item(LAST_VICTIM));
        sleep(Duration::from_secs(60));
    }));
    putting.wait_timeout(HANG);
    sleep(run.rng.ms(50..=250));
    run.count_kills(last_victim.kill_all());
    let (q, w) = (queue.clone(), writer.clone());
    let idle = run.probe("get_timeout(500 ms) after a producer died mid-message", move || {
        let t = Instant::now();
        let result = q.get_timeout(Duration::from_millis(500));
        let ms = t.elapsed().as_millis();
        let got = match &result {
            Ok(Msg::Item { id, data }) => format!("ok:{id}:{}", w.arrived(*id, payload.is_right(*id, data))),
            Ok(Msg::Stop) => "ok:stop".into(),
            Err(e) => format!("err:{}", class_name(e)),
        };
        Ok(format!("result={got} ms={ms}"))
    });

    // A surviving producer (this process) puts once more: a fresh consumer must get it, whole.
    let late_put = queue.put(payload.item(LATE));
    if let Err(e) = &late_put {
        run.problems.push(format!("the late put was refused: {e}"));
    }
    consumers.top_up(1, new_consumer);
    let _ = queue.put(Msg::Stop);
    run.wait_for(&mut consumers, "consumer(s) of the late message never took their Stop");

    let ledger = &run.ledger;
    let expected: Vec<u64> = (1..=SURVIVORS)
        .flat_map(|tag| (0..PER_SURVIVOR).map(move |seq| tag << 32 | seq))
        .chain([LATE])
        .collect();
    let (lost, duplicated, bad) = (ledger.missing(expected.iter().copied()), ledger.duplicated(), ledger.bad);
    let idle_ms = number(&idle, "ms");
    let details = format!(
        "victims={} victim_messages_delivered={} bad_content={bad} consumer_errors={} idle_get={} \
         idle_get_ms={} late_arrived={}",
        victims.started + 1,
        ledger.seen.keys().filter(|&&id| id >> 32 >= 99).count(),
        ledger.errors_text(),
        field(&idle, "result"),
        dash(idle_ms),
        ledger.seen.contains_key(&LATE),
    );
    let messages = expected.len() as u64;
    run.report(
        "2 producers put 1-4 MiB messages while others (victims) are SIGKILLed mid-message; \
         2 consumers check every message; then get_timeout(500 ms) on the idle queue right \
         after a victim died mid-message, then one more message from a survivor",
        Figures { messages, lost, duplicated, details },
    );
    run.check(lost == 0, format!("{lost} of {messages} messages from producers not killed never arrived"));
    run.check(bad == 0, format!("{bad} messages arrived with the wrong content"));
    run.check(
        idle == "hung" || idle_ms.is_some_and(|ms| ms <= 3_000),
        format!("get_timeout(500 ms) on the idle queue took {} ms", dash(idle_ms)),
    );
    run.check(late_put.is_ok(), "a surviving producer's put was refused".into());
    run.finish();
}

// ------------------------------------------------------------------------------------------------
// 4. A bounded queue whose consumers are killed between taking and processing.

/// A `Queue` of maxsize 8, kept full; its 3 consumers are SIGKILLed at random between taking a
/// message and recording it, and replaced, 400 times. Then a fresh process drains it, and the
/// empty queue must take 8 puts without `Full` and give them back. Asserts: no more lost than
/// kills, none duplicated, no hang and no error; `qsize` never above 8; the final 8 puts and
/// gets. Why: a consumer killed holding a message must not take a unit of the bound with it:
/// leaked capacity would in the end block every producer.
fn bounded_queue_survives_consumer_kills() {
    const MAXSIZE: u32 = 8;
    const PROBE_IDS: u64 = 1 << 40;
    let mut run = Run::new("bounded_queue_survives_consumer_kills");
    let (seed, payload) = (run.seed, Payload::empty(run.seed));
    let queue: Queue<Msg> = Queue::with_maxsize(MAXSIZE).expect("queue");
    queue.cancel_join_thread(); // exit must not wait for puts nobody may read
    let writer = run.ledger.writer.clone();
    let mut kids = Kids::default();
    let (mut put, mut put_errors, mut max_qsize) = (0u64, 0u64, 0usize);

    let mut next_kill = Instant::now() + run.rng.ms(2..=8);
    let mut last_room = Instant::now();
    while run.kills < 400 {
        run.ledger.poll();
        if run.ledger.errors_total() + put_errors >= 100 {
            run.problems.push("stopped early: 100 errors".into());
            break;
        }
        kids.top_up(3, |n| consumer(&queue, &writer, payload, Some(Rng::fork(seed, n)), 1));
        loop {
            match queue.put_nowait(payload.item(put)) {
                Ok(()) => {
                    put += 1;
                    last_room = Instant::now();
                }
                Err(Error::Full { .. }) => break,
                Err(e) => {
                    put_errors += 1;
                    run.problems.push(format!("put: {e}"));
                    break;
                }
            }
        }
        max_qsize = max_qsize.max(queue.qsize());
        if last_room.elapsed() > HANG {
            let qsize = queue.qsize();
            run.hang(1, format!("no room in the queue for {}s, qsize says {qsize}", HANG.as_secs()));
            break;
        }
        run.kill_when_due(&mut kids, &mut next_kill, 2..=8);
        sleep(Duration::from_micros(300));
    }
    run.count_kills(kids.kill_all());

    // Afterwards, from a fresh process: drain what is left, then the empty queue must take
    // MAXSIZE puts without Full and give them back.
    let (q, w) = (queue.clone(), writer.clone());
    let report = run.probe("the drain, 8 puts and 8 gets after the kills", move || {
        let (mut drained, mut errors) = (0, Vec::new());
        for _ in 0..64 {
            match q.get_timeout(Duration::from_millis(300)) {
                Ok(Msg::Item { id, .. }) => {
                    w.record(GOT, id);
                    drained += 1;
                }
                Ok(Msg::Stop) => {}
                Err(Error::Empty { .. }) => break,
                Err(e) => {
                    w.record(ERROR, class(&e));
                    errors.push(class_name(&e));
                    break;
                }
            }
        }
        let qsize_after_drain = q.qsize();
        let (mut ok, mut full, mut other) = (0, 0, 0);
        for i in 0..u64::from(MAXSIZE) {
            match q.put_nowait(payload.item(PROBE_IDS + i)) {
                Ok(()) => ok += 1,
                Err(Error::Full { .. }) => full += 1,
                Err(_) => other += 1,
            }
        }
        let qsize_after_puts = q.qsize();
        let mut back = 0;
        for _ in 0..ok {
            match q.get_timeout(Duration::from_secs(5)) {
                Ok(Msg::Item { id, .. }) if id >= PROBE_IDS => back += 1,
                Ok(_) => {}
                Err(e) => {
                    errors.push(class_name(&e));
                    break;
                }
            }
        }
        Ok(format!(
            "drained={drained} qsize_after_drain={qsize_after_drain} puts_ok={ok} full={full} \
             put_errors={other} qsize_after_puts={qsize_after_puts} got_back={back} errors={}",
            if errors.is_empty() { "0".into() } else { errors.join(",") }
        ))
    });
    run.ledger.poll();
    let puts_ok = number(&report, "puts_ok").unwrap_or(0);
    let got_back = number(&report, "got_back").unwrap_or(0);
    let qsize_after_drain = number(&report, "qsize_after_drain").unwrap_or(u64::MAX);

    let (lost, duplicated, errors) =
        (run.ledger.missing(0..put), run.ledger.duplicated(), run.ledger.errors_text());
    let details = format!(
        "max_qsize_seen={max_qsize} consumer_errors={errors} put_errors={put_errors} after: {report}"
    );
    run.report(
        "Queue(maxsize 8), 3 consumers SIGKILLed at random between taking and processing, \
         replaced; then the emptied queue must take 8 puts without Full",
        Figures { messages: put, lost, duplicated, details },
    );
    run.check(
        puts_ok == u64::from(MAXSIZE),
        format!("the emptied queue took only {puts_ok} of {MAXSIZE} puts"),
    );
    run.check(got_back == puts_ok, format!("{got_back} of the {puts_ok} final puts came back"));
    run.check(
        max_qsize <= MAXSIZE as usize && qsize_after_drain <= u64::from(MAXSIZE),
        format!("qsize is not sane: max seen {max_qsize}, after the drain {qsize_after_drain}"),
    );
    run.check(
        run.ledger.errors_total() + put_errors == 0,
        format!("errors: consumers {errors}, puts {put_errors}"),
    );
    run.finish();
}

// ------------------------------------------------------------------------------------------------
// 5. A JoinableQueue consumer killed while it holds a task.

/// A `JoinableQueue` of 40 tasks: one consumer takes a task and is SIGKILLed before `task_done`,
/// while 2 others work through the rest. Asserts: `join_timeout(300 ms)` says `Ok(false)` while
/// tasks are pending; `join()` comes back after the death, either `Ok` once the others are done
/// or `TasksLost` naming the dead pid and its 1 task; at the end `join_timeout` no longer waits
/// for the dead consumer's task; no task is done twice, none but that one is lost, nothing hangs.
/// Why: Python's `join()` waits for ever for a task whose consumer died.
fn joinable_consumer_dies_holding_a_task() {
    const TASKS: u64 = 40;
    const STOP: u64 = u64::MAX;
    let mut run = Run::new("joinable_consumer_dies_holding_a_task");
    let queue: JoinableQueue<u64> = JoinableQueue::new().expect("queue");
    queue.cancel_join_thread(); // exit must not wait for puts nobody may read
    let writer = run.ledger.writer.clone();
    for id in 0..TASKS {
        queue.put(id).expect("put a task");
    }

    // The doomed consumer takes one task and never marks it done.
    let mut doomed = Kids::default();
    let (q, w) = (queue.clone(), writer.clone());
    let doomed_pid = doomed.start(Process::new(move || match q.get() {
        Ok(id) => {
            w.record(TOOK, id);
            sleep(Duration::from_secs(60));
        }
        Err(e) => w.note(&format!("doomed consumer: get: {e}")),
    }));
    let deadline = Instant::now() + HANG;
    while run.ledger.values(TOOK).next().is_none() && Instant::now() < deadline {
        run.ledger.poll();
        sleep(Duration::from_millis(2));
    }
    let took = run.ledger.values(TOOK).next();
    if took.is_none() {
        run.hang(1, "the doomed consumer never got a task".into());
    }

    // Two workers that do their tasks (25 ms each), record them (GOT) and mark them done.
    let mut workers = Kids::default();
    workers.top_up(2, |_| {
        let (q, w) = (queue.clone(), writer.clone());
        Process::new(move || {
            loop {
                match q.get_timeout(Duration::from_secs(2)) {
                    Ok(STOP) => {
                        let _ = q.task_done();
                        return;
                    }
                    Ok(id) => {
                        sleep(Duration::from_millis(25));
                        w.record(GOT, id);
                        if let Err(e) = q.task_done() {
                            w.note(&format!("worker: task_done: {e}"));
                        }
                    }
                    Err(Error::Empty { .. }) => {}
                    Err(e) => {
                        w.record(ERROR, class(&e));
                        w.note(&format!("worker: get: {e}"));
                        return;
                    }
                }
            }
        })
    });

    // While tasks are pending, join_timeout must say so.
    let q = queue.clone();
    let pending = run.probe("join_timeout(300 ms) with tasks pending", move || {
        let t = Instant::now();
        let result = format!("{:?}", q.join_timeout(Duration::from_millis(300))).replace(' ', "");
        Ok(format!("result={result} ms={}", t.elapsed().as_millis()))
    });

    // The doomed consumer dies holding its task.
    sleep(run.rng.ms(0..=200));
    run.count_kills(doomed.kill_all());

    // join() must come back: Ok once the others are done, or TasksLost naming the dead process.
    let q = queue.clone();
    let joined = run.probe("join() after the consumer died", move || {
        let t = Instant::now();
        let result = match q.join() {
            Ok(()) => "Ok".to_string(),
            Err(Error::TasksLost { call: _, pid, tasks }) => format!("TasksLost/pid={pid}/tasks={tasks}"),
            Err(e) => format!("Err({})", class_name(&e)),
        };
        Ok(format!("result={result} ms={}", t.elapsed().as_millis()))
    });
    run.ledger.poll();
    let done_when_joined = run.ledger.seen.len() as u64;

    // Stop the workers; then a join must find nothing pending.
    for _ in 0..workers.len() {
        let _ = queue.put(STOP);
    }
    run.wait_for(&mut workers, "worker(s) never took their Stop");
    let after = if joined == "hung" {
        "skipped".to_string() // the same hang again would only cost another 20 s
    } else {
        let q = queue.clone();
        let report = run.probe("join_timeout(2 s) once every worker was done", move || {
            Ok(format!("result={}", format!("{:?}", q.join_timeout(Duration::from_secs(2))).replace(' ', "")))
        });
        field(&report, "result").to_string()
    };

    let (pending_result, joined_result) = (field(&pending, "result"), field(&joined, "result"));
    let details = format!(
        "dead_pid={doomed_pid} took={} join_timeout_while_pending={pending_result}/{}ms \
         join={joined_result}/{}ms done_when_join_returned={done_when_joined} join_timeout_at_end={after}",
        dash(took),
        field(&pending, "ms"),
        field(&joined, "ms"),
    );
    let (lost, duplicated) = (run.ledger.missing(0..TASKS), run.ledger.duplicated());
    run.report(
        "JoinableQueue, 40 tasks, one consumer SIGKILLed holding a task while 2 others work: \
         join_timeout while pending, join after the death, join_timeout at the end",
        Figures { messages: TASKS, lost, duplicated, details },
    );
    run.check(
        pending_result == "Ok(false)",
        format!("join_timeout(300 ms) with tasks pending returned {pending_result}, expected Ok(false)"),
    );
    let named_dead = joined_result == format!("TasksLost/pid={doomed_pid}/tasks=1");
    let ok_after_others = joined_result == "Ok" && done_when_joined >= TASKS - 1;
    run.check(
        joined_result == "hung" || named_dead || ok_after_others,
        format!(
            "join() returned {joined_result} with {done_when_joined} tasks done; expected Ok after the \
             others or TasksLost naming pid {doomed_pid} and 1 task"
        ),
    );
    run.check(
        matches!(after.as_str(), "Ok(true)" | "skipped" | "hung") || after.starts_with("Err(TasksLost"),
        format!("join_timeout at the end returned {after}: the dead consumer's task still counts"),
    );
    run.finish();
}

// ------------------------------------------------------------------------------------------------
// 6. The process that sets an Event is killed around set().

/// Round after round for 25 s, a setter process toggles an Event (clear long enough for waiters
/// to go to sleep, set, clear) and is SIGKILLed at a random instant, while a waiter process is in
/// `wait()` on it. If the event is clear after the kill, the test sets it; if it is set, the
/// waiter must come back on its own. Asserts: no waiter hangs, over at least 300 kills. Why: a
/// setter that dies in the middle of `set()` must not leave waiters asleep on an event that says
/// it is set.
fn event_setter_killed() {
    // Rounds per batch; each batch has its own events and waiter. (Batches keep the number of
    // events, each a mapping, small: mappings slow fork.)
    const BATCH: u64 = 40;
    const BUDGET: Duration = Duration::from_secs(25);
    let mut run = Run::new("event_setter_killed");
    let (mut set_at_kill, mut rounds) = (0u64, 0u64);

    'batches: while run.started.elapsed() < BUDGET {
        // Round `first + n` toggles events[n]; the waiter waits on it until overs[n] is set.
        let first = rounds;
        let events: Vec<Event> = (0..BATCH).map(|_| Event::new().expect("event")).collect();
        let overs: Vec<Event> = (0..BATCH).map(|_| Event::new().expect("event")).collect();
        let mut waiter = Kids::default();
        let (e, o, w) = (events.clone(), overs.clone(), run.ledger.writer.clone());
        waiter.start(Process::new(move || {
            for (n, (event, over)) in e.iter().zip(&o).enumerate() {
                loop {
                    event.wait();
                    if over.is_set() {
                        break;
                    }
                }
                w.record(GOT, first + n as u64);
            }
        }));
        for (event, over) in events.iter().zip(&overs) {
            if run.started.elapsed() >= BUDGET {
                break;
            }
            // One setter at a time: setters spin, and more would starve the test process of CPU
            // on 2 cores.
            let (e, mut r) = (event.clone(), Rng::fork(run.seed, rounds));
            let mut setter = Kids::default();
            setter.start(Process::new(move || toggle_forever(&e, &mut r)));
            sleep(run.rng.us(100..=1_000));
            run.count_kills(setter.kill_all());
            let was_set = event.is_set();
            set_at_kill += u64::from(was_set);
            over.set();
            if !was_set {
                event.set(); // nobody set it: a live process does
            }
            let deadline = Instant::now() + HANG;
            while !run.ledger.seen.contains_key(&rounds) && Instant::now() < deadline {
                run.ledger.poll();
                sleep(Duration::from_micros(100));
            }
            rounds += 1;
            if !run.ledger.seen.contains_key(&(rounds - 1)) {
                let how = if was_set { "SET" } else { "unset (then set by the test)" };
                let secs = HANG.as_secs();
                run.hang(
                    1,
                    format!(
                        "round {rounds}: the event was {how} when its setter was killed; its waiter \
                                     was still in wait() {secs}s later"
                    ),
                );
                break 'batches; // one stuck round is the finding; more would only cost time
            }
        }
        // Release the waiter from the rounds not run; it must then end.
        for (event, over) in events.iter().zip(&overs).skip((rounds - first) as usize) {
            over.set();
            event.set();
        }
        if run.wait_for(&mut waiter, "waiter did not get through the rounds left, all set") > 0 {
            break;
        }
    }

    let (messages, details) = (run.kills, format!("rounds={rounds} set_at_kill={set_at_kill}"));
    run.report(
        "an Event toggled by a process SIGKILLed at a random instant, another process in wait() \
         on it, round after round; once is_set() is true the waiter must return",
        Figures { messages, lost: 0, duplicated: 0, details },
    );
    run.check(run.kills >= 300, format!("only {} setters were killed", run.kills));
    run.finish();
}

/// The setter of `event_setter_killed`: long enough unset that waiters go to sleep, then set,
/// then clear, until it is killed.
fn toggle_forever(e: &Event, r: &mut Rng) {
    loop {
        let until = Instant::now() + r.us(10..=80);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        e.set();
        for _ in 0..r.pick(0..=49) {
            std::hint::spin_loop();
        }
        e.clear();
    }
}

// ------------------------------------------------------------------------------------------------
// 7. Forks while other threads churn queues.

/// How many forks (by all threads) the fork test makes unless `FAULTS_FORKS` says otherwise: the
/// issue's goal is 0 hangs in 20,000...
const DEFAULT_FORKS: u64 = 20_000;

/// ...or fewer, if that count has not been reached after this long (a slow machine; with
/// `FAULTS_FORKS` there is no budget).
const DEFAULT_FORK_BUDGET: Duration = Duration::from_secs(40);

/// A child of the fork test that has not ended after this long is a hang.
const CHILD_BOUND: Duration = Duration::from_secs(10);

/// The number of forks, and whether `FAULTS_FORKS` set it.
fn forks_target() -> (u64, bool) {
    match std::env::var("FAULTS_FORKS").ok().and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) if n > 0 => (n, true),
        _ => (DEFAULT_FORKS, false),
    }
}

/// The harness's time limit, or more for the fork test when `FAULTS_FORKS` sets its count: 5 ms
/// a fork, several times what a debug build on 2 cores takes.
fn time_limit(test: &str) -> Duration {
    match forks_target() {
        (forks, true) if test == "fork_while_threads_churn_queues" => {
            harness::TEST_TIME_LIMIT.max(Duration::from_millis(60_000 + forks * 5))
        }
        _ => harness::TEST_TIME_LIMIT,
    }
}

/// What the threads of the fork test count, together.
#[derive(Default)]
struct Counts {
    stop: AtomicBool,
    /// Forks by all threads: the target counts these.
    forks: AtomicU64,
    items: AtomicU64,
    lost: AtomicU64,
    duplicated: AtomicU64,
    kills: AtomicU64,
    hangs: AtomicU64,
    crashed: AtomicU64,
    errors: AtomicU64,
    notes: Mutex<Vec<String>>,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::SeqCst);
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

impl Counts {
    /// Counts one in `counter` and notes why.
    fn count(&self, counter: &AtomicU64, why: String) {
        add(counter, 1);
        self.note(why);
    }

    fn note(&self, text: String) {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if notes.len() < 50 {
            notes.push(text);
        }
    }
}

/// Makes, uses and drops queues in a loop; every third round also starts a short process (until
/// all threads together made `target` forks).
fn churn_queues(c: &Counts, mut r: Rng, target: u64) {
    let mut round = 0u64;
    while !c.stop.load(Ordering::SeqCst) {
        round += 1;
        let q: Queue<u64> = match Queue::new() {
            Ok(q) => q,
            Err(e) => {
                c.count(&c.errors, format!("churn: Queue::new: {e}"));
                sleep(Duration::from_millis(10));
                continue;
            }
        };
        let n = r.pick(1..=30);
        add(&c.items, n);
        for i in 0..n {
            if let Err(e) = q.put(i) {
                c.count(&c.errors, format!("churn: put: {e}"));
            }
        }
        for i in 0..n {
            match q.get_timeout(CHILD_BOUND) {
                Ok(v) if v == i => {}
                Ok(v) => c.count(&c.errors, format!("churn: expected {i}, got {v}")),
                Err(Error::Empty { .. }) => {
                    c.count(&c.hangs, format!("churn: item {i} of {n} not there after 10 s"));
                    break;
                }
                Err(e) => {
                    add(&c.lost, n - i);
                    c.count(&c.errors, format!("churn: get of this thread's own item {i}: {e}"));
                    break;
                }
            }
        }
        if round % 3 != 0 || load(&c.forks) >= target {
            continue;
        }
        let qc = q.clone();
        let mut p = Process::new(move || qc.put(4242));
        if let Err(e) = p.start() {
            c.count(&c.errors, format!("churn: start: {e}"));
            continue;
        }
        add(&c.forks, 1);
        add(&c.items, 1);
        let killed = match p.join_timeout(CHILD_BOUND) {
            Ok(Some(0)) => false,
            Ok(Some(code)) => {
                c.count(&c.crashed, format!("churn: short child exited with {code}"));
                false
            }
            _ => {
                c.count(&c.hangs, "churn: short child still running after 10 s".into());
                if let Kill::Killed = kill_and_reap(&mut p) {
                    add(&c.kills, 1);
                }
                true
            }
        };
        match q.get_timeout(if killed { Duration::from_millis(500) } else { CHILD_BOUND }) {
            Ok(4242) => {}
            Ok(v) => c.count(&c.errors, format!("churn: expected 4242, got {v}")),
            Err(_) if killed => add(&c.lost, 1),
            Err(e) => c.count(&c.lost, format!("churn: the short child's item: {e}")),
        }
    }
}

/// Starts children that each put their number into one queue (a third of them end with
/// `std::process::exit(3)`), until all threads together made `target` forks or `budget` passed.
/// Returns how many it started.
fn fork_children(c: &Counts, mut r: Rng, target: u64, budget: Option<Duration>) -> u64 {
    let started = Instant::now();
    let q: Queue<u64> = Queue::new().expect("queue");
    // Per child: how many times its number arrived, and whether it had to be killed.
    let (mut received, mut killed): (Vec<u32>, Vec<bool>) = (Vec::new(), Vec::new());
    let mut in_flight: Vec<(Process, usize, Instant, i32)> = Vec::new();
    let more = || load(&c.forks) < target && budget.is_none_or(|b| started.elapsed() < b);
    let take = |received: &mut Vec<u32>, v: u64| match received.get_mut(v as usize) {
        Some(n) => *n += 1,
        None => c.count(&c.errors, format!("forker: {v}: no child has that number")),
    };
    while more() || !in_flight.is_empty() {
        while more() && in_flight.len() < 6 {
            let (qc, i, exit3) = (q.clone(), received.len(), r.percent(33));
            let mut p = Process::new(move || {
                qc.put(i as u64)?;
                if exit3 {
                    std::process::exit(3);
                }
                Ok::<(), Error>(())
            });
            if let Err(e) = p.start() {
                c.count(&c.errors, format!("forker: start: {e}"));
                sleep(Duration::from_millis(20));
                break;
            }
            add(&c.forks, 1);
            received.push(0);
            killed.push(false);
            in_flight.push((p, i, Instant::now(), if exit3 { 3 } else { 0 }));
        }
        in_flight.retain_mut(|(p, i, at, expected)| match p.join_timeout(Duration::ZERO) {
            Ok(Some(code)) => {
                if code != *expected {
                    c.count(&c.crashed, format!("forker: child {i} exited with {code}, expected {expected}"));
                }
                false
            }
            _ if at.elapsed() > CHILD_BOUND => {
                c.count(
                    &c.hangs,
                    format!("forker: child {i} (exit({expected}) at the end) still running after 10 s"),
                );
                if let Kill::Killed = kill_and_reap(p) {
                    add(&c.kills, 1);
                    killed[*i] = true;
                }
                false
            }
            _ => true,
        });
        loop {
            match q.get_timeout(Duration::from_millis(1)) {
                Ok(v) => take(&mut received, v),
                Err(Error::Empty { .. } | Error::Disconnected { .. }) => break,
                Err(e) => {
                    c.count(&c.errors, format!("forker: get: {e}"));
                    break;
                }
            }
        }
    }
    // Everything a child that ended by itself put must arrive.
    let deadline = Instant::now() + CHILD_BOUND;
    let waiting = |received: &[u32]| received.iter().zip(&killed).any(|(&n, &k)| n == 0 && !k);
    while waiting(&received) && Instant::now() < deadline {
        match q.get_timeout(Duration::from_millis(250)) {
            Ok(v) => take(&mut received, v),
            Err(Error::Empty { .. }) => {}
            Err(Error::Disconnected { .. }) => break,
            Err(e) => {
                c.count(&c.errors, format!("forker: final get: {e}"));
                break;
            }
        }
    }
    add(&c.items, received.len() as u64);
    add(&c.lost, received.iter().filter(|&&n| n == 0).count() as u64);
    add(&c.duplicated, received.iter().map(|&n| u64::from(n.saturating_sub(1))).sum());
    received.len() as u64
}

/// Forks while other threads use queues: 2 threads make, use and drop queues, and every third
/// round start a short process that puts one item; a 3rd thread starts children that put one
/// item each (a third end with `exit(3)`); 20,000 forks in all (see the top of the file). Asserts:
/// every child ends within 10 s, with the code expected; no item lost (but a killed child's) or
/// duplicated. Why: a fork copies only the thread that forks; a lock another thread held at that
/// instant must not hang the child.
fn fork_while_threads_churn_queues() {
    let mut run = Run::new("fork_while_threads_churn_queues");
    let (target, from_env) = forks_target();
    let counts = Arc::new(Counts::default());
    let churners: Vec<_> = (1..=2)
        .map(|n| {
            let (c, r) = (Arc::clone(&counts), Rng::fork(run.seed, n));
            std::thread::spawn(move || churn_queues(&c, r, target))
        })
        .collect();
    let (c, r, budget) =
        (Arc::clone(&counts), Rng::fork(run.seed, 99), (!from_env).then_some(DEFAULT_FORK_BUDGET));
    let forker = std::thread::spawn(move || fork_children(&c, r, target, budget));
    let forker_children = forker.join().unwrap_or_else(|_| {
        counts.note("the forking thread panicked".into());
        0
    });
    counts.stop.store(true, Ordering::SeqCst);
    for churner in churners {
        if churner.join().is_err() {
            counts.note("a churning thread panicked".into());
        }
    }

    let c = &*counts;
    (run.kills, run.hangs) = (load(&c.kills), load(&c.hangs));
    run.problems = c.notes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (forks, crashed) = (load(&c.forks), load(&c.crashed));
    let which = match (from_env, forks >= target) {
        (true, _) => "set by FAULTS_FORKS, no time budget".to_string(),
        (false, true) => "the default: the issue's full count".to_string(),
        (false, false) => format!(
            "the default, CUT SHORT by its {}s budget; FAULTS_FORKS=20000 runs it all",
            DEFAULT_FORK_BUDGET.as_secs()
        ),
    };
    let details = format!(
        "forks={forks} target={target} ({which}) forker_children={forker_children} crashed={crashed} \
         errors={}",
        load(&c.errors)
    );
    let (messages, lost, duplicated) = (load(&c.items), load(&c.lost), load(&c.duplicated));
    run.report(
        "2 threads make/put/get/drop queues and start short processes while a 3rd thread starts \
         children that put one item (a third end with exit(3)); a child not ended in 10 s is a hang",
        Figures { messages, lost, duplicated, details },
    );
    run.check(crashed == 0, format!("{crashed} children ended with an unexpected code"));
    run.finish();
}

// ------------------------------------------------------------------------------------------------
// 8. Garbage in the queue.

/// A frame header as wire.rs lays it out today ("MQ", u32 LE length, 16-bit check of the length),
/// to make a frame that is valid as far as its header goes.
fn header_today(len: u32) -> Vec<u8> {
    let mut header = b"MQ".to_vec();
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(&((len.wrapping_mul(0x9E37_79B1) >> 16) as u16).to_le_bytes());
    header
}

enum Garbage {
    /// Written as they are (`write_raw_bytes_for_tests`).
    Bytes(Vec<u8>),
    /// Written behind a valid header (`write_raw_frame_for_tests`).
    Frame(Vec<u8>),
}

/// Garbage written into a queue: random bytes, a bad magic, a bad length check, a length over
/// the limit, a truncated frame, bodies of the wrong type, empty or with bytes left over. Each
/// case on a queue of its own, in a process of its own. Asserts: the first get gives a clear
/// error (CorruptFrame or Decode) within 5 s; a good message put afterwards
/// arrives, and nothing after it; nothing hangs. Why: bad bytes must be reported, and must not
/// hang a reader or poison the queue for good.
fn garbage_in_the_queue() {
    let mut run = Run::new("garbage_in_the_queue");
    let mut cases: Vec<(String, Garbage)> = Vec::new();
    for k in 0..4 {
        let len = run.rng.pick(1..=600);
        let mut bytes: Vec<u8> = (0..len).map(|_| run.rng.next() as u8).collect();
        if bytes[0] == b'M' {
            bytes[0] = b'm';
        }
        cases.push((format!("random_bytes_{k}_len{len}"), Garbage::Bytes(bytes)));
    }
    let bad_magic = [&b"XQ"[..], &header_today(16)[2..], &[7; 16]].concat();
    let mut bad_check = header_today(1 << 20);
    bad_check[6] ^= 0x5a;
    let truncated = [header_today(100), vec![1; 10]].concat();
    cases.extend([
        ("bad_magic".into(), Garbage::Bytes(bad_magic)),
        ("bad_length_check".into(), Garbage::Bytes(bad_check)),
        ("length_over_the_limit".into(), Garbage::Bytes(header_today(u32::MAX))),
        ("truncated_frame_10_of_100".into(), Garbage::Bytes(truncated)),
        ("wrong_type_body".into(), Garbage::Frame(vec![0xff, 0xff, 0xff])),
        ("empty_body".into(), Garbage::Frame(Vec::new())),
        ("trailing_bytes".into(), Garbage::Frame(vec![5, 0, 0])),
    ]);

    // Each case on a queue of its own, in a probe of its own, all at once. This process keeps
    // its handle of each queue, so that the queue has a live peer, as a queue in use does.
    let mut queues: Vec<Queue<u64>> = Vec::new();
    let probes: Vec<(String, Probe)> = cases
        .into_iter()
        .enumerate()
        .map(|(n, (name, garbage))| {
            let q: Queue<u64> = Queue::new().expect("queue");
            queues.push(q.clone());
            let good = 1_000 + n as u64;
            let p = probe(move || {
                match &garbage {
                    Garbage::Bytes(b) => q.write_raw_bytes_for_tests(b)?,
                    Garbage::Frame(b) => q.write_raw_frame_for_tests(b)?,
                }
                let t = Instant::now();
                let first = q.get_timeout(Duration::from_secs(2));
                let first_ms = t.elapsed().as_millis();
                let put = match q.put(good) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("err:{}", class_name(&e)),
                };
                // The good message must come; clear errors on the way are tolerated (at most 3).
                let deadline = Instant::now() + Duration::from_secs(5);
                let (mut between, mut recovered) = (Vec::new(), false);
                while Instant::now() < deadline && between.len() < 3 && !recovered {
                    match q.get_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(v) if v == good => recovered = true,
                        other => between.push(outcome(&other)),
                    }
                }
                let after = outcome(&q.get_timeout(Duration::from_millis(200)));
                Ok(format!(
                    "first={} first_ms={first_ms} put={put} recovered={recovered} between={} after={after}",
                    outcome(&first),
                    if between.is_empty() { "-".into() } else { between.join(",") }
                ))
            });
            (name, p)
        })
        .collect();

    let (total, mut lost, mut duplicated, mut unclear, mut slow) = (probes.len() as u64, 0, 0, 0, 0);
    let mut lines = Vec::new();
    for (name, p) in probes {
        let Some(report) = p.wait(HANG) else {
            lost += 1;
            run.hang(1, format!("{name}: the get did not return within 20 s"));
            lines.push(format!("{name}: HUNG (killed after 20 s)"));
            continue;
        };
        lines.push(format!("{name}: {report}"));
        let first = field(&report, "first");
        if !matches!(first, "err:CorruptFrame" | "err:Decode") {
            unclear += 1;
            run.problems.push(format!("{name}: the first get gave {first}, not a clear error"));
        }
        if number(&report, "first_ms").is_none_or(|ms| ms > 5_000) {
            slow += 1;
            run.problems.push(format!("{name}: the first get took {} ms", field(&report, "first_ms")));
        }
        if field(&report, "recovered") != "true" {
            lost += 1;
            run.problems.push(format!("{name}: the good message put afterwards did not arrive"));
        }
        let after = field(&report, "after");
        if after.starts_with("ok:") {
            duplicated += 1;
            run.problems.push(format!("{name}: one more get returned {after}"));
        }
    }
    drop(queues);
    run.report(
        "random bytes, bad headers, a truncated frame, wrong-type bodies written into a queue: \
         a clear error each, then a good message put afterwards must arrive",
        Figures {
            messages: total,
            lost,
            duplicated,
            details: format!("cases={total} not_a_clear_error={unclear}"),
        },
    );
    for line in &lines {
        println!("  case {line}");
    }
    run.check(unclear == 0, format!("{unclear} case(s) without a clear error"));
    run.check(slow == 0, format!("{slow} case(s) where the first get took over 5 s"));
    run.finish();
}

// ------------------------------------------------------------------------------------------------
// 9. More than 256 processes attached to one queue over its life.

const PUTTER: u64 = 10; // child n will put n
const IDLER: u64 = 11; // child n will not put
const KILLED: u64 = 12;
const EXITED: u64 = 13;
const EXITED_BADLY: u64 = 14;
const STUCK: u64 = 15;
const CHILD_PID: u64 = 16;
const FINAL_START: u64 = 17;
const FINAL_CLASS: u64 = 18; // value = class, or 99 for "returned items forever"
const FINAL_MS: u64 = 19;

/// 1,200 processes attach to one queue over its life, in waves of 25 (more than the 1,024 slots of
/// the queue's table of processes, so the slots of the dead must be reused): half of them put an item,
/// 3/4 of them are SIGKILLed. All of it happens in a middle process, which then drains the queue
/// and calls `get()` once more, with no live peer left. Asserts: every child that ended by itself
/// delivered its item (and no more lost than putters killed), none duplicated; no child failed or
/// hung; at least 1,100 children ran; and the last `get()` says Disconnected within 5 s. Why: the
/// queue keeps a table of the processes attached to it; killed ones cannot detach themselves,
/// and the queue must still tell when none is left alive.
fn more_than_256_holders() {
    const CHILDREN: u64 = 1_200;
    const WAVE: u64 = 25;
    let mut run = Run::new("more_than_256_holders");
    let (w, seed) = (run.ledger.writer.clone(), run.seed);

    // The whole life of the queue happens in a middle process, so that at the end the queue has
    // no live peer at all (the test process never holds it).
    let mut middle = Process::new(move || {
        let q: Queue<u64> = match Queue::new() {
            Ok(q) => q,
            Err(e) => return w.note(&format!("Queue::new: {e}")),
        };
        let mut r = Rng::new(seed);
        for wave in 0..CHILDREN / WAVE {
            let mut kids = Vec::new();
            for n in wave * WAVE..(wave + 1) * WAVE {
                let (puts, doomed, qc) = (r.percent(50), r.percent(75), q.clone());
                let mut p = Process::new(move || {
                    if puts {
                        qc.put(n)?;
                    }
                    if doomed {
                        sleep(Duration::from_secs(60));
                    }
                    Ok::<(), Error>(())
                });
                if let Err(e) = p.start() {
                    w.note(&format!("start: {e}"));
                    continue;
                }
                w.record(CHILD_PID, u64::from(p.pid().unwrap_or(0)));
                w.record(if puts { PUTTER } else { IDLER }, n);
                kids.push((p, n, doomed));
            }
            sleep(r.ms(2..=20));
            for (mut p, n, doomed) in kids {
                if doomed {
                    let _ = p.kill();
                }
                match p.join_timeout(HANG) {
                    Ok(Some(-9)) => w.record(KILLED, n),
                    Ok(Some(0)) => w.record(EXITED, n),
                    Ok(Some(code)) => {
                        w.record(EXITED_BADLY, n);
                        w.note(&format!("child {n} exited with {code}"));
                    }
                    _ => {
                        w.record(STUCK, n);
                        let _ = p.kill();
                        let _ = p.join_timeout(Duration::from_secs(5));
                    }
                }
            }
        }
        // Drain, then one more get with nobody left: Disconnected.
        loop {
            match q.get_timeout(Duration::from_secs(1)) {
                Ok(v) => w.record(GOT, v),
                Err(Error::Empty { .. } | Error::Disconnected { .. }) => break,
                Err(e) => {
                    w.record(ERROR, class(&e));
                    w.note(&format!("drain: {e}"));
                    break;
                }
            }
        }
        w.record(FINAL_START, 0);
        let t = Instant::now();
        let mut extra = 0;
        let last = loop {
            match q.get() {
                Ok(v) => {
                    w.record(GOT, v);
                    extra += 1;
                    if extra > CHILDREN {
                        break 99;
                    }
                }
                Err(e) => break class(&e),
            }
        };
        w.record(FINAL_CLASS, last);
        w.record(FINAL_MS, t.elapsed().as_millis() as u64);
    });
    middle.start().expect("start the middle process");

    let mut final_seen: Option<Instant> = None;
    loop {
        run.ledger.poll();
        if let Ok(Some(code)) = middle.join_timeout(Duration::from_millis(20)) {
            if code != 0 {
                run.problems.push(format!("the middle process exited with {code}"));
            }
            break;
        }
        if final_seen.is_none() && run.ledger.values(FINAL_START).next().is_some() {
            final_seen = Some(Instant::now());
        }
        if Instant::now() > final_seen.map_or(run.started + Duration::from_secs(60), |t| t + HANG) {
            let what = match final_seen {
                Some(_) => format!("get() on the emptied queue did not return within {}s", HANG.as_secs()),
                None => "the middle process did not get through its 1,200 children in 60 s".into(),
            };
            run.hang(1, what);
            let _ = kill_and_reap(&mut middle);
            for pid in run.ledger.values(CHILD_PID).filter(|&pid| pid > 0) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            break;
        }
    }
    run.ledger.poll();
    let ledger = &run.ledger;
    let of = |kind| ledger.values(kind).collect::<HashSet<u64>>();
    let (putters, killed, exited, badly) = (of(PUTTER), of(KILLED), of(EXITED), of(EXITED_BADLY));
    let lost = ledger.missing(putters.iter().copied());
    let lost_from_clean_exits = ledger.missing(putters.intersection(&exited).copied());
    let killed_putters = putters.intersection(&killed).count() as u64;
    let final_ms = ledger.values(FINAL_MS).next();
    let final_get = match ledger.values(FINAL_CLASS).next() {
        Some(99) => "items-forever",
        Some(c) => CLASS_NAMES.get(c as usize).unwrap_or(&"?"),
        None => "hung",
    };
    let (stuck, children, duplicated) =
        (of(STUCK).len() as u64, putters.len() + of(IDLER).len(), ledger.duplicated());
    run.hang(stuck, format!("{stuck} children did not end"));
    run.kills = killed.len() as u64;
    let details = format!(
        "children={children} exited={} killed_putters={killed_putters} \
         lost_from_clean_exits={lost_from_clean_exits} exited_badly={} final_get={final_get} final_get_ms={}",
        exited.len(),
        badly.len(),
        dash(final_ms)
    );
    run.report(
        "1,200 processes attach to one queue over time (half put, 3/4 SIGKILLed), then get() on the \
         emptied queue with no live peer must say Disconnected within a few seconds",
        Figures { messages: putters.len() as u64, lost, duplicated, details },
    );
    run.check(children >= 1_100, format!("only {children} children were started"));
    run.check(
        final_get == "Disconnected",
        format!("get() on the emptied queue with no live peer gave {final_get}, expected Disconnected"),
    );
    run.check(final_ms.is_none_or(|ms| ms <= 5_000), format!("Disconnected took {} ms", dash(final_ms)));
    run.check(
        lost <= killed_putters && lost_from_clean_exits == 0,
        format!(
            "lost {lost} items ({lost_from_clean_exits} from children that exited cleanly); \
             {killed_putters} putters were killed"
        ),
    );
    run.check(badly.is_empty(), format!("{} children failed", badly.len()));
    run.finish();
}

// ------------------------------------------------------------------------------------------------
// 10. Disconnected only when it is true.

/// `get` says Disconnected only when it is true. (a) A process starts a child that puts after
/// ~300 ms and exits; the parent's `get()` must return the item (120 rounds, 12 at a time; every
/// other round first runs an unrelated child to its end). (b) A queue used between two threads
/// of one process, after an unrelated child ran and exited: a get with a timeout gets the item
/// (or Empty), and while the other thread is still there, one more get says Empty. Asserts:
/// those results, and no hang. Why: `get` concludes Disconnected from the peers it finds alive;
/// a child that is about to put, or a thread of the same process, must not be missed.
fn disconnected_is_not_said_wrongly() {
    const ROUNDS_A: u64 = 120;
    const AT_ONCE: u64 = 12;
    let mut run = Run::new("disconnected_is_not_said_wrongly");
    let (mut lost, mut wrong_disconnected) = (0u64, 0);
    let mut lines = Vec::new();

    // (b), in a probe while (a) runs.
    let b = probe(move || {
        let q: Queue<u64> = Queue::new()?;
        let mut unrelated = Process::new(|| ());
        unrelated.start()?;
        unrelated.join()?;
        // The other thread puts after 500 ms, then stays alive (it could put again) until told
        // to end.
        let qc = q.clone();
        let (end, ended) = std::sync::mpsc::channel::<()>();
        let putter = std::thread::spawn(move || {
            sleep(Duration::from_millis(500));
            let put = qc.put(9);
            let _ = ended.recv_timeout(Duration::from_secs(10));
            put
        });
        let first = q.get_timeout(Duration::from_secs(3));
        let second = q.get_timeout(Duration::from_millis(300));
        let _ = end.send(());
        let put = match putter.join() {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => format!("err:{}", class_name(&e)),
            Err(_) => "panicked".to_string(),
        };
        Ok(format!("get={} then={} put={put}", outcome(&first), outcome(&second)))
    });

    // (a) The child puts 298-302 ms after it starts: on a 100 ms liveness tick of the waiting
    // get, where a race was seen. The "parent" is a probe, so that the test process is not one
    // more live peer.
    let mut rounds_a = 0;
    // After a hang, no more waves: the same hang again would only cost another 20 s.
    while rounds_a < ROUNDS_A && run.hangs == 0 {
        let wave: Vec<(u64, u64, Probe)> = (rounds_a..(rounds_a + AT_ONCE).min(ROUNDS_A))
            .map(|round| {
                let delay = run.rng.pick(298..=302);
                let p = probe(move || {
                    let q: Queue<u64> = Queue::new()?;
                    if round % 2 == 1 {
                        let mut unrelated = Process::new(|| ());
                        unrelated.start()?;
                        unrelated.join()?;
                    }
                    let qc = q.clone();
                    let mut child = Process::new(move || {
                        sleep(Duration::from_millis(delay));
                        qc.put(7)
                    });
                    child.start()?;
                    let t = Instant::now();
                    let result = q.get();
                    let ms = t.elapsed().as_millis();
                    let code = child.join()?;
                    // If the get failed: was the item there all the same?
                    let again = match result {
                        Ok(_) => "-".to_string(),
                        Err(_) => outcome(&q.get_timeout(Duration::from_millis(500))),
                    };
                    Ok(format!("get={} ms={ms} child_exit={code} next_get={again}", outcome(&result)))
                });
                (round, delay, p)
            })
            .collect();
        for (round, delay, p) in wave {
            rounds_a += 1;
            let name = format!("a{round} (put after {delay} ms)");
            let Some(report) = p.wait(HANG) else {
                lost += 1;
                run.hang(1, format!("{name}: did not finish within 20 s"));
                lines.push(format!("{name}: HUNG"));
                continue;
            };
            wrong_disconnected += report.matches("err:Disconnected").count();
            let get = field(&report, "get");
            if get != "ok:7" {
                lost += 1;
                lines.push(format!("{name}: {report}"));
                run.problems.push(format!("({name}) the parent's get() returned {get}, expected the item 7"));
            }
        }
    }
    lines.push(format!("a: {} of {rounds_a} rounds got the item", rounds_a - lost.min(rounds_a)));

    match b.wait(HANG) {
        None => {
            lost += 1;
            run.hang(1, "(b) did not finish within 20 s".into());
            lines.push("b: HUNG".into());
        }
        Some(report) => {
            lines.push(format!("b: {report}"));
            wrong_disconnected += report.matches("err:Disconnected").count();
            let get = field(&report, "get");
            if get != "ok:9" && get != "err:Empty" {
                lost += 1;
                run.problems
                    .push(format!("(b) get_timeout(3 s) returned {get}, expected the item 9 or Empty"));
            }
            // With nothing more put and the other thread still there, the next get must say
            // Empty (or give the item, if the first did not), never Disconnected.
            let then = field(&report, "then");
            run.check(
                then == "err:Empty" || (then == "ok:9" && get != "ok:9"),
                format!(
                    "(b) a second get_timeout(300 ms), the other thread still running, returned {then}, \
                     expected Empty"
                ),
            );
        }
    }
    run.report(
        "(a) get() while a child puts after ~300 ms and exits must return the item (120 rounds); \
         (b) a queue between two threads, after an unrelated child exited, must not say Disconnected",
        Figures {
            messages: rounds_a + 1,
            lost,
            duplicated: 0,
            details: format!("wrong_disconnected={wrong_disconnected}"),
        },
    );
    for line in &lines {
        println!("  case {line}");
    }
    run.finish();
}
