//! The messages between a pool and its workers, as bytes on their pipes.
//!
//! Every message is one frame of the crate's format (`wire.rs`: an 8-byte header with the body's
//! length and a check of it), so a reader always knows where a message ends. The bodies are
//! laid out by hand, fixed fields first, because the pool reads their fields before it knows the
//! types of the values inside (a worker learns them from the task's trampoline):
//!
//! ```text
//! task   (pool -> worker): key u64 | 1 | job u64 | chunk u64 | trampoline u64 | func u64 | args
//! stop   (pool -> worker): key u64 | 2
//! reply  (worker -> pool): kind u8 | job u64 | chunk u64 | payload
//! ```
//!
//! `args` is a whole `wire` frame of the chunk's `Vec<T>`; a `Done` reply's payload is a whole
//! frame of its `Vec<R>`; the payload of the other replies is a UTF-8 text (why it failed).
//! Integers are little-endian.
//!
//! The *key* is a random number the pool draws when it starts; its workers inherit it. A worker
//! runs a task only if the key matches, so that bytes that are not this pool's task (a stray
//! write into a pipe some other process inherited) are refused before the worker reads a code
//! address from them (see `call.rs`).

use crate::error::{Error, Result};
use crate::pool::call::Call;
use crate::wire;

const TASK: u8 = 1;
const STOP: u8 = 2;

/// What a worker is told.
#[derive(Debug, PartialEq)]
pub(crate) enum Order<'a> {
    /// Run `call` on the arguments `args` (a frame body), for chunk `chunk` of job `job`.
    Task { job: u64, chunk: u64, call: Call, args: &'a [u8] },
    /// Exit once the tasks before this one are done (CPython's `None` sentinel).
    Stop,
}

/// What a worker answers, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// The initializer returned; the worker takes tasks.
    Ready = 1,
    /// The initializer failed (returned an error or panicked); the text says how. The worker
    /// exits.
    InitializerFailed = 2,
    /// The chunk's results, a frame of `Vec<R>`.
    Done = 3,
    /// The chunk's arguments could not be decoded, or its results encoded; the text says why.
    /// The worker goes on.
    Failed = 4,
    /// The function panicked; the text is the panic's message. The worker exits.
    Panicked = 5,
}

/// A worker's answer, borrowed from the bytes it came in.
#[derive(Debug, PartialEq)]
pub(crate) struct Reply<'a> {
    pub(crate) kind: Kind,
    pub(crate) job: u64,
    pub(crate) chunk: u64,
    pub(crate) payload: &'a [u8],
}

impl Reply<'_> {
    /// The payload as text (for every kind but `Done`).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(self.payload).into_owned()
    }
}

/// Appends a task frame to `out`. `args` is a whole `wire` frame (header and body).
pub(crate) fn write_task(out: &mut Vec<u8>, key: u64, job: u64, chunk: u64, call: Call, args: &[u8]) {
    let start = begin(out);
    out.extend_from_slice(&key.to_le_bytes());
    out.push(TASK);
    for word in [job, chunk].into_iter().chain(call.to_words()) {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(args);
    finish(out, start);
}

/// Appends a stop frame to `out`.
pub(crate) fn write_stop(out: &mut Vec<u8>, key: u64) {
    let start = begin(out);
    out.extend_from_slice(&key.to_le_bytes());
    out.push(STOP);
    finish(out, start);
}

/// Reads a task or stop frame's body (without its header).
pub(crate) fn parse_order(body: &[u8], key: u64) -> Result<Order<'_>> {
    let mut fields = Fields(body);
    if fields.word()? != key {
        return Err(corrupt("a task whose pool key is not this pool's: it was not written by the pool"));
    }
    match fields.byte()? {
        STOP if fields.0.is_empty() => Ok(Order::Stop),
        TASK => {
            let (job, chunk) = (fields.word()?, fields.word()?);
            let call = Call::from_words([fields.word()?, fields.word()?]);
            let args = whole_frame_body(fields.0)?;
            Ok(Order::Task { job, chunk, call, args })
        }
        other => Err(corrupt(&format!("a task frame of unknown kind {other}"))),
    }
}

/// Starts a reply frame in `out` (which the caller cleared); the payload is appended after it,
/// then [`finish_reply`] writes the header. Returns where the frame starts.
pub(crate) fn begin_reply(out: &mut Vec<u8>, kind: Kind, job: u64, chunk: u64) -> usize {
    let start = begin(out);
    out.push(kind as u8);
    out.extend_from_slice(&job.to_le_bytes());
    out.extend_from_slice(&chunk.to_le_bytes());
    start
}

/// Writes the header of the reply frame begun at `start`.
pub(crate) fn finish_reply(out: &mut [u8], start: usize) -> Result<()> {
    let len = out.len() - start - wire::HEADER_LEN;
    if len > wire::MAX_MESSAGE_SIZE {
        return Err(Error::MessageTooLarge { size: len, limit: wire::MAX_MESSAGE_SIZE });
    }
    finish(out, start);
    Ok(())
}

/// Appends a whole reply frame whose payload is a text.
pub(crate) fn write_text_reply(out: &mut Vec<u8>, kind: Kind, job: u64, chunk: u64, text: &str) {
    let start = begin_reply(out, kind, job, chunk);
    // A text cut to a size no frame refuses: it is an explanation, not data.
    let mut end = text.len().min(64 << 10);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&text.as_bytes()[..end]);
    finish(out, start);
}

/// Reads a reply frame's body (without its header).
pub(crate) fn parse_reply(body: &[u8]) -> Result<Reply<'_>> {
    let mut fields = Fields(body);
    let kind = match fields.byte()? {
        1 => Kind::Ready,
        2 => Kind::InitializerFailed,
        3 => Kind::Done,
        4 => Kind::Failed,
        5 => Kind::Panicked,
        other => return Err(corrupt(&format!("a reply of unknown kind {other}"))),
    };
    let (job, chunk) = (fields.word()?, fields.word()?);
    let payload = if kind == Kind::Done { whole_frame_body(fields.0)? } else { fields.0 };
    Ok(Reply { kind, job, chunk, payload })
}

/// The length of the frame at the start of `bytes`, header included, once all of it is there;
/// `None` while it is incomplete.
pub(crate) fn complete_frame(bytes: &[u8]) -> Result<Option<usize>> {
    let Some(header) = bytes.first_chunk::<{ wire::HEADER_LEN }>() else { return Ok(None) };
    let len = wire::HEADER_LEN + wire::parse_header(header)?;
    Ok((bytes.len() >= len).then_some(len))
}

/// Reserves room for a header; returns where the frame starts.
fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; wire::HEADER_LEN]);
    start
}

fn finish(out: &mut [u8], start: usize) {
    let len = out.len() - start - wire::HEADER_LEN;
    out[start..start + wire::HEADER_LEN].copy_from_slice(&wire::header(len));
}

/// The body of the one whole frame that `bytes` must be.
fn whole_frame_body(bytes: &[u8]) -> Result<&[u8]> {
    match complete_frame(bytes)? {
        Some(len) if len == bytes.len() => Ok(&bytes[wire::HEADER_LEN..]),
        _ => Err(corrupt("a value whose frame does not fill the rest of the message")),
    }
}

fn corrupt(why: &str) -> Error {
    Error::CorruptFrame(format!("pool message: {why}"))
}

/// A cursor over the fixed fields of a body.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn byte(&mut self) -> Result<u8> {
        let (&first, rest) = self.0.split_first().ok_or_else(|| corrupt("a message cut short"))?;
        self.0 = rest;
        Ok(first)
    }

    fn word(&mut self) -> Result<u64> {
        let (word, rest) = self.0.split_first_chunk::<8>().ok_or_else(|| corrupt("a message cut short"))?;
        self.0 = rest;
        Ok(u64::from_le_bytes(*word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u64) -> u64 {
        x * 2
    }

    fn body(frame: &[u8]) -> &[u8] {
        assert_eq!(complete_frame(frame).unwrap(), Some(frame.len()));
        &frame[wire::HEADER_LEN..]
    }

    #[test]
    fn a_task_reads_back_as_written() {
        let mut args = Vec::new();
        wire::encode_into(&[1u64, 2, 3][..], &mut args).unwrap();
        let mut frame = Vec::new();
        write_task(&mut frame, 77, 5, 9, Call::new(double), &args);
        let order = parse_order(body(&frame), 77).unwrap();
        assert_eq!(order, Order::Task { job: 5, chunk: 9, call: Call::new(double), args: &args[8..] });
        let mut stop = Vec::new();
        write_stop(&mut stop, 77);
        assert_eq!(parse_order(body(&stop), 77).unwrap(), Order::Stop);
    }

    #[test]
    fn a_task_of_another_pool_or_cut_short_is_refused() {
        let mut frame = Vec::new();
        write_task(&mut frame, 77, 5, 9, Call::new(double), &[]);
        assert!(matches!(parse_order(body(&frame), 78), Err(Error::CorruptFrame(_))));
        // The args are not a frame at all.
        assert!(matches!(parse_order(body(&frame), 77), Err(Error::CorruptFrame(_))));
        let whole = body(&frame);
        for cut in 0..whole.len() {
            assert!(parse_order(&whole[..cut], 77).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn replies_read_back_as_written() {
        let mut frame = Vec::new();
        let start = begin_reply(&mut frame, Kind::Done, 3, 4);
        wire::encode_into(&vec![2u64, 4], &mut frame).unwrap();
        finish_reply(&mut frame, start).unwrap();
        let reply = parse_reply(body(&frame)).unwrap();
        assert_eq!((reply.kind, reply.job, reply.chunk), (Kind::Done, 3, 4));
        assert_eq!(wire::decode::<Vec<u64>>(reply.payload).unwrap(), [2, 4]);

        let mut frame = Vec::new();
        write_text_reply(&mut frame, Kind::Panicked, 1, 2, "boom");
        let reply = parse_reply(body(&frame)).unwrap();
        assert_eq!((reply.kind, reply.text().as_str()), (Kind::Panicked, "boom"));
        // A long text is cut on a character boundary.
        let mut frame = Vec::new();
        write_text_reply(&mut frame, Kind::Failed, 1, 2, &"é".repeat(40_000));
        assert_eq!(parse_reply(body(&frame)).unwrap().text().chars().count(), 32 << 10);
    }

    #[test]
    fn an_incomplete_frame_waits_and_a_bad_header_is_an_error() {
        let mut frame = Vec::new();
        write_text_reply(&mut frame, Kind::Ready, 0, 0, "");
        for cut in 0..frame.len() {
            assert_eq!(complete_frame(&frame[..cut]).unwrap(), None);
        }
        frame.extend_from_slice(b"next");
        assert_eq!(complete_frame(&frame).unwrap(), Some(frame.len() - 4));
        assert!(complete_frame(b"garbage!").is_err());
    }
}
