//! Framed bincode messages: how a value becomes bytes in a pipe and back.
//!
//! A frame is an 8-byte header followed by the body:
//!
//! ```text
//! +------------+---------------+---------------------------+
//! | magic (4)  | body length (4)| body: bincode 2 (standard)|
//! +------------+---------------+---------------------------+
//!   "MPQ1" LE     u32 LE          `length` bytes
//! ```
//!
//! The magic number catches a reader that is not at the start of a frame (a corrupted stream,
//! or a peer that died half-way); the length lets the reader take exactly one message out of a
//! byte stream that has no message boundaries of its own.
//!
//! Pipes carry bytes, not messages, and two rules from `os_pipe`'s documentation apply:
//!
//! 1. **A reader blocks until every write end is closed.** Every process forked after the queue
//!    was made holds a write end, so end-of-file alone cannot tell a reader that its peers are
//!    gone; the queue also keeps a table of the processes attached to it (see `queue.rs`).
//! 2. **A writer blocks when the pipe is full.** A message larger than the pipe's buffer is only
//!    written once a reader drains it; that is why `put` hands messages to a feeder thread
//!    instead of writing them itself.
//!
//! Writes of at most `PIPE_BUF` (4096) bytes are atomic, larger ones are not, and reads are never
//! message-atomic; so the queue holds a cross-process write lock for a whole frame and a read
//! lock for a whole frame. This module only turns values into frames and frames into values.
//!
//! Every bincode call of the crate is here, so that the codec can be changed in one file.

#[cfg(test)]
use std::io;
use std::io::Read;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The largest encoded message a queue accepts, in bytes (1 GiB). Larger ones are refused by
/// `put` with [`Error::MessageTooLarge`]; a header that claims more is reported as corrupt.
pub const MAX_MESSAGE_SIZE: usize = 1 << 30;

const MAGIC: [u8; 4] = *b"MPQ1";
pub(crate) const HEADER_LEN: usize = 8;

/// How much a reader allocates ahead of the bytes that arrived, on the word of a header: past
/// that the buffer grows only as bytes arrive.
const TRUSTED_ALLOCATION: usize = 1 << 20;

/// Appends one complete frame (header and body) for `value` to `buffer`. On error the buffer is
/// left as it was.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, buffer: &mut Vec<u8>) -> Result<()> {
    // Growing a buffer while encoding copies it again at every doubling: for a large message that
    // is more copying than the encoding itself. Unless the buffer already has ample room (the
    // reused buffer of small messages), measure the encoded size first and reserve it exactly.
    const AMPLE: usize = 64 << 10;
    if buffer.capacity() - buffer.len() < AMPLE {
        let mut size = bincode::enc::write::SizeWriter::default();
        bincode::serde::encode_into_writer(value, &mut size, bincode::config::standard())
            .map_err(|e| Error::Encode(e.to_string()))?;
        buffer.reserve((HEADER_LEN + size.bytes_written).max(AMPLE));
    }
    let start = buffer.len();
    buffer.extend_from_slice(&[0u8; HEADER_LEN]);
    let encoded = bincode::serde::encode_into_std_write(value, &mut *buffer, bincode::config::standard());
    let body_len = buffer.len() - start - HEADER_LEN;
    let checked = match encoded {
        Err(e) => Err(Error::Encode(e.to_string())),
        Ok(_) if body_len > MAX_MESSAGE_SIZE => {
            Err(Error::MessageTooLarge { size: body_len, limit: MAX_MESSAGE_SIZE })
        }
        Ok(_) => Ok(()),
    };
    if checked.is_err() {
        buffer.truncate(start);
        return checked;
    }
    buffer[start..start + 4].copy_from_slice(&MAGIC);
    buffer[start + 4..start + HEADER_LEN].copy_from_slice(&(body_len as u32).to_le_bytes());
    Ok(())
}

/// Encodes `value` into one complete frame (header and body), ready for a single write.
#[cfg(test)]
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut frame = Vec::new();
    encode_into(value, &mut frame)?;
    Ok(frame)
}

/// Checks a frame header; returns the body length it announces.
pub(crate) fn parse_header(header: &[u8; HEADER_LEN]) -> Result<usize> {
    if header[..4] != MAGIC {
        return Err(Error::CorruptFrame(format!(
            "bad magic {:02x?}: the reader is not at the start of a message",
            &header[..4]
        )));
    }
    let len = u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) as usize;
    if len > MAX_MESSAGE_SIZE {
        return Err(Error::CorruptFrame(format!(
            "header claims {len} bytes, over the limit of {MAX_MESSAGE_SIZE}"
        )));
    }
    Ok(len)
}

/// Reads the rest of a body that did not arrive whole: `body` holds what was already read, and
/// `len` bytes are expected in all. Never allocates more than [`TRUSTED_ALLOCATION`] ahead of
/// the bytes that actually arrive.
pub(crate) fn read_rest(reader: &mut impl Read, body: &mut Vec<u8>, len: usize) -> Result<()> {
    let missing = len - body.len();
    body.reserve(missing.min(TRUSTED_ALLOCATION));
    reader.take(missing as u64).read_to_end(body)?;
    if body.len() < len {
        return Err(Error::TruncatedFrame { expected: HEADER_LEN + len, received: HEADER_LEN + body.len() });
    }
    Ok(())
}

/// Decodes a frame body into a value.
///
/// bincode allocates a container's claimed length before reading it, so a corrupt length inside
/// the body could ask for gigabytes. The decoder's limit stops that: it is at most 32 times the
/// body that actually arrived (a valid message never claims more than that: the in-memory size
/// of its containers), rounded up to a size class because bincode takes the limit as a constant.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let needed = body.len().saturating_mul(32);
    let decoded = if needed <= 1 << 16 {
        decode_with_limit::<T, { 1 << 16 }>(body)
    } else if needed <= 1 << 22 {
        decode_with_limit::<T, { 1 << 22 }>(body)
    } else if needed <= 1 << 28 {
        decode_with_limit::<T, { 1 << 28 }>(body)
    } else {
        decode_with_limit::<T, { 1 << 35 }>(body)
    };
    let (value, used) = decoded.map_err(|e| Error::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(Error::Decode(format!(
            "{} bytes left over after the value: the message is not of this queue's type",
            body.len() - used
        )));
    }
    Ok(value)
}

fn decode_with_limit<T: DeserializeOwned, const LIMIT: usize>(
    body: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(body, bincode::config::standard().with_limit::<LIMIT>())
}

/// Reads one whole frame body from `reader`, the plain way (the queue reads through a shared
/// buffer instead, see `queue.rs`; this version is what the unit tests drive).
///
/// Returns [`Error::Disconnected`] on end-of-file before the first byte (no writer is left),
/// [`Error::TruncatedFrame`] on end-of-file inside a frame, and [`Error::CorruptFrame`] when the
/// header is not one this module wrote. Never allocates more than [`TRUSTED_ALLOCATION`] on the
/// word of a header: past that the buffer grows only as bytes arrive.
#[cfg(test)]
pub(crate) fn read_frame(reader: &mut impl Read) -> Result<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    let got = read_full(reader, &mut header)?;
    if got == 0 {
        return Err(Error::Disconnected);
    }
    if got < HEADER_LEN {
        return Err(Error::TruncatedFrame { expected: HEADER_LEN, received: got });
    }
    let len = parse_header(&header)?;
    let mut body = Vec::new();
    read_rest(reader, &mut body, len)?;
    Ok(body)
}

/// Like `read_exact`, but says how many bytes arrived before end-of-file instead of failing.
#[cfg(test)]
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Fancy {
        name: String,
        values: Vec<u32>,
    }

    fn fancy() -> Fancy {
        Fancy { name: "Fancy Dan".into(), values: vec![1, 2, 3] }
    }

    #[test]
    fn smoke() {
        let frame = encode(&fancy()).unwrap();
        let body = read_frame(&mut &frame[..]).unwrap();
        assert_eq!(decode::<Fancy>(&body).unwrap(), fancy());
    }

    #[test]
    fn empty_message_is_a_header_alone() {
        let frame = encode(&()).unwrap();
        assert_eq!(frame.len(), HEADER_LEN);
        let body = read_frame(&mut &frame[..]).unwrap();
        decode::<()>(&body).unwrap();
    }

    #[test]
    fn end_of_file_before_a_frame_is_disconnected() {
        assert!(matches!(read_frame(&mut &[][..]), Err(Error::Disconnected)));
    }

    #[test]
    fn truncated_header_and_body_are_reported() {
        let frame = encode(&fancy()).unwrap();
        match read_frame(&mut &frame[..5]) {
            Err(Error::TruncatedFrame { expected: 8, received: 5 }) => {}
            other => panic!("expected a truncated header, got {other:?}"),
        }
        let cut = frame.len() - 3;
        match read_frame(&mut &frame[..cut]) {
            Err(Error::TruncatedFrame { expected, received }) => {
                assert_eq!((expected, received), (frame.len(), cut));
            }
            other => panic!("expected a truncated body, got {other:?}"),
        }
    }

    #[test]
    fn bad_magic_is_corrupt() {
        let mut frame = encode(&fancy()).unwrap();
        frame[0] ^= 0xff;
        assert!(matches!(read_frame(&mut &frame[..]), Err(Error::CorruptFrame(_))));
    }

    #[test]
    fn huge_claimed_length_is_corrupt_without_allocating() {
        let mut frame = MAGIC.to_vec();
        frame.extend_from_slice(&u32::MAX.to_le_bytes());
        match read_frame(&mut &frame[..]) {
            Err(Error::CorruptFrame(why)) => assert!(why.contains("over the limit"), "{why}"),
            other => panic!("expected corrupt, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_inner_length_is_a_decode_error_not_an_allocation() {
        // A Vec<u8> whose bincode length prefix claims 2^40 bytes, in a 10-byte body.
        let mut body = vec![253u8]; // varint marker for a u64 length
        body.extend_from_slice(&(1u64 << 40).to_le_bytes());
        body.push(0);
        assert!(matches!(decode::<Vec<u8>>(&body), Err(Error::Decode(_))));
    }

    #[test]
    fn wrong_type_is_a_decode_error() {
        let frame = encode(&fancy()).unwrap();
        let body = read_frame(&mut &frame[..]).unwrap();
        assert!(matches!(decode::<u8>(&body), Err(Error::Decode(_))));
    }

    #[test]
    fn value_that_cannot_be_encoded_is_refused() {
        struct Unencodable;
        impl Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("this value refuses to be serialized"))
            }
        }
        match encode(&Unencodable) {
            Err(Error::Encode(why)) => assert!(why.contains("refuses"), "{why}"),
            other => panic!("expected an encode error, got {other:?}"),
        }
    }
}
