//! What a proxy and the server say to each other, and the buffer both read frames into.
//!
//! Every request and every reply is one frame of the crate's format (`wire.rs`: an 8-byte header
//! with the length, then the body). Inside the body:
//!
//! ```text
//! request:  op (1 byte) | object id (u32 LE) | [index (u64 LE)] | argument frames...
//! reply:    status (1 byte) | payload (a u64 LE, or value frames, or an error's text)
//! ```
//!
//! An argument or a value is itself a whole frame, header and bincode body, nested in the outer
//! body: the header gives its length, so the server can cut a key from the value that follows it
//! without knowing either type. `wire::encode_into` writes such a frame straight into the
//! request's buffer, so a key is encoded once and never copied on the client.

use std::ops::Range;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::wire::{self, HEADER_LEN, MAX_MESSAGE_SIZE};

/// What a request asks the server to do: one byte on the wire. A namespace is a dict on the
/// server (its keys are the attribute names), so it needs no operations of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    /// Make an empty dict; the reply is its id.
    NewDict = 1,
    /// Make an empty list; the reply is its id.
    NewList,
    /// `d.get(key)`: the value frame, or `MISSING`.
    DictGet,
    /// `d[key] = value`.
    DictSet,
    /// `d.pop(key, None)`: the value frame, or `MISSING`.
    DictRemove,
    /// `key in d`: one byte, 0 or 1.
    DictContains,
    /// `len(d)`.
    DictLen,
    /// The keys, in insertion order.
    DictKeys,
    /// The values, in the keys' insertion order.
    DictValues,
    /// Key and value frames, alternating, in insertion order.
    DictItems,
    /// `d.clear()`.
    DictClear,
    /// `l.append(value)`.
    ListAppend,
    /// `l.extend(values)`: every argument frame.
    ListExtend,
    /// `l[index]`: the value frame, or `OUT_OF_RANGE`.
    ListGet,
    /// `l[index] = value`, or `OUT_OF_RANGE`.
    ListSet,
    /// `l.insert(index, value)`: an index past the end appends, as in Python.
    ListInsert,
    /// `l.remove(value)`: the first element with the same bytes, or `MISSING`.
    ListRemove,
    /// `l.pop()`: the last value frame, or `MISSING` for an empty list.
    ListPop,
    /// `value in l`: one byte, 0 or 1.
    ListContains,
    /// `len(l)`.
    ListLen,
    /// Every value frame, in order.
    ListItems,
    /// `l.clear()`.
    ListClear,
    /// Stop serving and exit. No reply.
    Shutdown,
}

impl Op {
    const ALL: [Op; 23] = [
        Op::NewDict,
        Op::NewList,
        Op::DictGet,
        Op::DictSet,
        Op::DictRemove,
        Op::DictContains,
        Op::DictLen,
        Op::DictKeys,
        Op::DictValues,
        Op::DictItems,
        Op::DictClear,
        Op::ListAppend,
        Op::ListExtend,
        Op::ListGet,
        Op::ListSet,
        Op::ListInsert,
        Op::ListRemove,
        Op::ListPop,
        Op::ListContains,
        Op::ListLen,
        Op::ListItems,
        Op::ListClear,
        Op::Shutdown,
    ];

    /// The operation a request's first byte names, if it names one.
    pub(super) fn from_byte(byte: u8) -> Option<Op> {
        Op::ALL.into_iter().find(|op| *op as u8 == byte)
    }
}

/// Reply status: done; the payload is the operation's answer.
pub(super) const OK: u8 = 0;
/// Reply status: no such key or attribute, or no such element (`remove`, `pop`).
pub(super) const MISSING: u8 = 1;
/// Reply status: the index is past the end; the payload is the list's length (u64 LE).
pub(super) const OUT_OF_RANGE: u8 = 2;
/// Reply status: the server could not make sense of the request; the payload is why (UTF-8).
pub(super) const REFUSED: u8 = 3;

/// Writes one request (or reply) frame into a buffer: the header is filled in by [`finish`].
///
/// [`finish`]: FrameWriter::finish
pub(super) struct FrameWriter<'a> {
    buffer: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> FrameWriter<'a> {
    /// Starts a request frame for `op` on `object`.
    pub(super) fn request(buffer: &'a mut Vec<u8>, op: Op, object: u32) -> FrameWriter<'a> {
        let frame = FrameWriter::begin(buffer);
        frame.buffer.push(op as u8);
        frame.buffer.extend_from_slice(&object.to_le_bytes());
        frame
    }

    /// Starts a reply frame with `status`.
    pub(super) fn reply(buffer: &'a mut Vec<u8>, status: u8) -> FrameWriter<'a> {
        let frame = FrameWriter::begin(buffer);
        frame.buffer.push(status);
        frame
    }

    fn begin(buffer: &'a mut Vec<u8>) -> FrameWriter<'a> {
        let start = buffer.len();
        buffer.extend_from_slice(&[0; HEADER_LEN]);
        FrameWriter { buffer, start }
    }

    /// Appends a u64, little-endian (an index, a length, an id).
    pub(super) fn u64(&mut self, n: u64) {
        self.buffer.extend_from_slice(&n.to_le_bytes());
    }

    /// Appends one byte.
    pub(super) fn byte(&mut self, b: u8) {
        self.buffer.push(b);
    }

    /// Appends raw bytes (an error's text).
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Appends `value`, encoded, as a nested frame. On error nothing was appended.
    pub(super) fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        wire::encode_into(value, self.buffer)
    }

    /// Appends bytes that are already a body (a stored key or value) as a nested frame.
    pub(super) fn body(&mut self, body: &[u8]) {
        self.buffer.extend_from_slice(&wire::header(body.len()));
        self.buffer.extend_from_slice(body);
    }

    /// The frame's body length so far.
    pub(super) fn len(&self) -> usize {
        self.buffer.len() - self.start - HEADER_LEN
    }

    /// Fills in the header. A frame over [`MAX_MESSAGE_SIZE`] is taken back out of the buffer
    /// and refused.
    pub(super) fn finish(self) -> Result<()> {
        let len = self.len();
        if len > MAX_MESSAGE_SIZE {
            self.buffer.truncate(self.start);
            return Err(Error::MessageTooLarge { size: len, limit: MAX_MESSAGE_SIZE });
        }
        self.buffer[self.start..self.start + HEADER_LEN].copy_from_slice(&wire::header(len));
        Ok(())
    }

    /// Takes the unfinished frame back out of the buffer.
    pub(super) fn abandon(self) {
        self.buffer.truncate(self.start);
    }
}

/// Reads the fields of a frame's body, in order. Every read checks that the bytes are there, so
/// a short or damaged body is an error, never a panic.
pub(super) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(super) fn new(body: &'a [u8]) -> Fields<'a> {
        Fields { rest: body }
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!("the message ends {} bytes early", n - self.rest.len()));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    pub(super) fn byte(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    pub(super) fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// The body of the next nested frame.
    pub(super) fn frame(&mut self) -> std::result::Result<&'a [u8], String> {
        let header = self.take(HEADER_LEN)?.try_into().expect("a header's bytes");
        let len = wire::parse_header(header).map_err(|e| e.to_string())?;
        self.take(len)
    }

    /// Whatever is left (an error's text).
    pub(super) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Checks that nothing is left: a request with bytes over is not one this side understands.
    pub(super) fn end(&self) -> std::result::Result<(), String> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(format!("{n} bytes left over after the request")),
        }
    }
}

/// How much a reader takes from the kernel in one `read` (and the buffer's size at rest).
const CHUNK: usize = 64 << 10;

/// Where the frames coming from a socket are put together: one `read` takes whatever has
/// arrived (several small frames, or a piece of a large one), and whole frames are then handed
/// out in place, without copying.
///
/// The buffer is zeroed once, when made: reads go into its spare room, so a small request costs
/// no allocation and no clearing. It grows only for a frame larger than itself, and never past
/// twice the bytes that have actually arrived, so a header that announces a gigabyte and then
/// stops costs nothing until the bytes come.
pub(super) struct FrameBuffer {
    buffer: Vec<u8>,
    /// The first byte not yet handed out.
    start: usize,
    /// The end of the bytes read.
    end: usize,
}

impl FrameBuffer {
    pub(super) fn new() -> FrameBuffer {
        FrameBuffer { buffer: vec![0; CHUNK], start: 0, end: 0 }
    }

    /// The room to read into next: at least part of what the frame being read still lacks.
    pub(super) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            if self.buffer.len() > CHUNK {
                // Do not keep a large frame's room for the life of the connection.
                self.buffer = vec![0; CHUNK];
            }
        }
        // What the frame at `start` needs in all, as far as its header says.
        let pending = self.end - self.start;
        let needed = match self.buffer[self.start..self.end].first_chunk::<HEADER_LEN>() {
            Some(header) => wire::parse_header(header).map_or(HEADER_LEN, |len| HEADER_LEN + len),
            None => HEADER_LEN,
        };
        if self.start > 0 && (self.end == self.buffer.len() || self.start + needed > self.buffer.len()) {
            // Move the partial frame to the front, where the whole of it may fit.
            self.buffer.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, pending);
        }
        if self.end == self.buffer.len() {
            // Full, and the frame is not whole: grow, to twice what has arrived at most, or to
            // the whole frame if that is less.
            let grown = needed.min(self.buffer.len() * 2).max(self.end + 1);
            self.buffer.resize(grown, 0);
        }
        &mut self.buffer[self.end..]
    }

    /// Records that `n` bytes were read into [`spare`](FrameBuffer::spare).
    pub(super) fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// The byte range of the next whole frame's body, if one has arrived; it stays valid until
    /// the next [`spare`](FrameBuffer::spare). A header that is not a frame's is an error: the
    /// stream cannot be followed any further.
    pub(super) fn next_frame(&mut self) -> Result<Option<Range<usize>>> {
        let Some(header) = self.buffer[self.start..self.end].first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = wire::parse_header(header)?;
        let body = self.start + HEADER_LEN..self.start + HEADER_LEN + len;
        if body.end > self.end {
            return Ok(None);
        }
        self.start = body.end;
        Ok(Some(body))
    }

    /// The bytes of a range [`next_frame`](FrameBuffer::next_frame) returned.
    pub(super) fn body(&self, range: Range<usize>) -> &[u8] {
        &self.buffer[range]
    }

    /// Whether bytes of an unfinished frame are waiting.
    #[cfg(test)]
    fn has_partial(&self) -> bool {
        self.start != self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(values: &[&str]) -> Vec<u8> {
        let mut buffer = Vec::new();
        let mut frame = FrameWriter::request(&mut buffer, Op::ListExtend, 7);
        for v in values {
            frame.value(v).unwrap();
        }
        frame.finish().unwrap();
        buffer
    }

    #[test]
    fn every_op_reads_back_from_its_byte() {
        for op in Op::ALL {
            assert_eq!(Op::from_byte(op as u8), Some(op));
        }
        assert_eq!(Op::from_byte(0), None);
        assert_eq!(Op::from_byte(200), None);
    }

    #[test]
    fn a_request_reads_back_field_by_field() {
        let frame = request(&["um", "dois"]);
        let mut reader = FrameBuffer::new();
        reader.spare()[..frame.len()].copy_from_slice(&frame);
        reader.filled(frame.len());
        let body = reader.next_frame().unwrap().expect("a whole frame");
        let mut fields = Fields::new(reader.body(body));
        assert_eq!(Op::from_byte(fields.byte().unwrap()), Some(Op::ListExtend));
        assert_eq!(fields.u32().unwrap(), 7);
        let first = fields.frame().unwrap();
        assert_eq!(wire::decode::<String>(first).unwrap(), "um");
        assert_eq!(wire::decode::<String>(fields.frame().unwrap()).unwrap(), "dois");
        fields.end().unwrap();
        assert!(fields.frame().is_err(), "reading past the end is an error");
        assert!(!reader.has_partial());
    }

    #[test]
    fn frames_arriving_a_byte_at_a_time_and_many_at_once_come_out_whole() {
        let big = "x".repeat(200_000); // larger than the buffer at rest
        let mut stream = Vec::new();
        for i in 0..50 {
            stream.extend(request(&[&format!("{i}")]));
        }
        stream.extend(request(&[&big]));
        stream.extend(request(&["last"]));
        for step in [1, 7, 4096, 1 << 20] {
            let mut reader = FrameBuffer::new();
            let (mut fed, mut bodies) = (0, Vec::new());
            while fed < stream.len() {
                let room = reader.spare();
                let n = room.len().min(step).min(stream.len() - fed);
                room[..n].copy_from_slice(&stream[fed..fed + n]);
                reader.filled(n);
                fed += n;
                while let Some(range) = reader.next_frame().unwrap() {
                    let mut fields = Fields::new(reader.body(range));
                    fields.byte().unwrap();
                    fields.u32().unwrap();
                    bodies.push(wire::decode::<String>(fields.frame().unwrap()).unwrap());
                }
            }
            assert_eq!(bodies.len(), 52, "step {step}");
            assert_eq!(bodies[49], "49");
            assert_eq!(bodies[50], big);
            assert_eq!(bodies[51], "last");
            assert!(!reader.has_partial());
        }
    }

    #[test]
    fn a_header_announcing_a_huge_frame_grows_the_buffer_only_as_bytes_arrive() {
        let mut reader = FrameBuffer::new();
        let header = wire::header(MAX_MESSAGE_SIZE);
        reader.spare()[..HEADER_LEN].copy_from_slice(&header);
        reader.filled(HEADER_LEN);
        for _ in 0..3 {
            let room = reader.spare().len();
            assert!(room <= 4 * CHUNK, "{room} bytes of room for {HEADER_LEN} bytes read");
            reader.filled(room);
            assert_eq!(reader.next_frame().unwrap(), None);
        }
        assert!(reader.buffer.len() <= 8 * CHUNK);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut reader = FrameBuffer::new();
        reader.spare()[..12].copy_from_slice(b"GET / HTTP/1");
        reader.filled(12);
        assert!(matches!(reader.next_frame(), Err(Error::CorruptFrame(_))));
        // A body too short for its fields.
        let mut fields = Fields::new(&[1, 2]);
        assert!(fields.u32().is_err());
        let mut fields = Fields::new(&[0xff; 20]);
        assert!(fields.frame().is_err());
    }

    #[test]
    fn an_abandoned_frame_is_taken_back_out() {
        let mut buffer = b"kept".to_vec();
        let mut frame = FrameWriter::reply(&mut buffer, OK);
        frame.raw(&[0; 10]);
        frame.abandon();
        assert_eq!(buffer, b"kept");
    }
}
