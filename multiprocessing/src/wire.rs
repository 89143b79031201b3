//! Framed bincode messages: how a value becomes bytes in a pipe and back.
//!
//! A frame is an 8-byte header followed by the body:
//!
//! ```text
//! +-----------+-----------------+-----------+----------------------------+
//! | magic (2) | body length (4) | check (2) | body: bincode 2 (standard) |
//! +-----------+-----------------+-----------+----------------------------+
//!    "MQ"        u32 LE            u16 LE      `length` bytes
//! ```
//!
//! The magic number catches a reader that is not at the start of a frame (a corrupted stream,
//! or a peer that died half-way); the check, a hash of the length, catches a damaged length, so
//! that no reader ever sizes anything by a corrupt one (random bytes pass both with odds of one
//! in four billion). The length lets the reader take exactly one message out of a byte stream
//! that has no message boundaries of its own.
//!
//! Pipes carry bytes, not messages, and two rules from `os_pipe`'s documentation apply:
//!
//! 1. **A reader blocks until every write end is closed.** Every process forked after the queue
//!    was made holds a write end, so end-of-file alone cannot tell a reader that its peers are
//!    gone; the queue also keeps a table of the processes attached to it (see `queue/`).
//! 2. **A writer blocks when the pipe is full.** A message larger than the pipe's buffer is only
//!    written once a reader drains it; that is why `put` hands messages to a feeder thread
//!    instead of writing them itself.
//!
//! Writes of at most `PIPE_BUF` (4096) bytes are atomic, larger ones are not, and reads are never
//! message-atomic; so the queue holds a cross-process write lock for a whole frame and a read
//! lock for a whole frame. This module only turns values into frames and frames into values.
//!
//! Every bincode call of the crate is here, so that the codec can be changed in one file.

use std::io::Read;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The largest encoded message a queue accepts, in bytes (1 GiB). Larger ones are refused by
/// `put` with [`Error::MessageTooLarge`]; a header that claims more is reported as corrupt.
pub const MAX_MESSAGE_SIZE: usize = 1 << 30;

const MAGIC: [u8; 2] = *b"MQ";
pub(crate) const HEADER_LEN: usize = 8;

/// The header's check of a body length: 16 bits of a multiplicative hash.
fn check(len: u32) -> [u8; 2] {
    ((len.wrapping_mul(0x9E37_79B1) >> 16) as u16).to_le_bytes()
}

/// The header of a frame whose body is `len` bytes.
pub(crate) fn header(len: usize) -> [u8; HEADER_LEN] {
    let len = len as u32;
    let mut header = [0u8; HEADER_LEN];
    header[..2].copy_from_slice(&MAGIC);
    header[2..6].copy_from_slice(&len.to_le_bytes());
    header[6..].copy_from_slice(&check(len));
    header
}

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
    buffer[start..start + HEADER_LEN].copy_from_slice(&header(body_len));
    Ok(())
}

/// Checks a frame header; returns the body length it announces.
pub(crate) fn parse_header(header: &[u8; HEADER_LEN]) -> Result<usize> {
    if header[..2] != MAGIC {
        return Err(Error::CorruptFrame(format!(
            "bad magic {:02x?}: the reader is not at the start of a message",
            &header[..2]
        )));
    }
    let len = u32::from_le_bytes(header[2..6].try_into().expect("4 bytes"));
    if header[6..] != check(len) {
        return Err(Error::CorruptFrame(format!("the length field ({len}) fails its check: it is damaged")));
    }
    let len = len as usize;
    if len > MAX_MESSAGE_SIZE {
        return Err(Error::CorruptFrame(format!(
            "header claims {len} bytes, over the limit of {MAX_MESSAGE_SIZE}"
        )));
    }
    Ok(len)
}

// Decoding, and what bincode may allocate.
//
// bincode reserves a container's claimed length before it reads the elements. In a valid message
// no claim exceeds the value's in-memory size, which can be far larger than its encoded size
// (an enum whose big variant is 1 KiB takes 1 byte on the wire when it holds a small variant).
// The decoder's limit is 1024 times the frame's length (whose check passed), rounded up to a
// power of 4 because bincode takes the limit as a constant. A body that is not what its type
// expects can then make bincode reserve at most that much *address space*: Linux backs it with
// memory only as bytes actually arrive.

macro_rules! with_limit_for {
    ($len:expr, $decode:ident, $($arg:expr),*) => {{
        let needed = ($len as u64).saturating_mul(1024).max(1 << 20);
        if needed <= 1 << 20 {
            $decode::<_, { 1 << 20 }>($($arg),*)
        } else if needed <= 1 << 22 {
            $decode::<_, { 1 << 22 }>($($arg),*)
        } else if needed <= 1 << 24 {
            $decode::<_, { 1 << 24 }>($($arg),*)
        } else if needed <= 1 << 26 {
            $decode::<_, { 1 << 26 }>($($arg),*)
        } else if needed <= 1 << 28 {
            $decode::<_, { 1 << 28 }>($($arg),*)
        } else if needed <= 1 << 30 {
            $decode::<_, { 1 << 30 }>($($arg),*)
        } else if needed <= 1 << 32 {
            $decode::<_, { 1 << 32 }>($($arg),*)
        } else if needed <= 1 << 34 {
            $decode::<_, { 1 << 34 }>($($arg),*)
        } else if needed <= 1 << 36 {
            $decode::<_, { 1 << 36 }>($($arg),*)
        } else if needed <= 1 << 38 {
            $decode::<_, { 1 << 38 }>($($arg),*)
        } else {
            $decode::<_, { 1 << 40 }>($($arg),*)
        }
    }};
}

/// Decodes a whole frame body into a value.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let (value, used) =
        with_limit_for!(body.len(), slice_with_limit, body).map_err(|e| Error::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(left_over(body.len() - used));
    }
    Ok(value)
}

fn slice_with_limit<T: DeserializeOwned, const LIMIT: usize>(
    body: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(body, bincode::config::standard().with_limit::<LIMIT>())
}

/// Decodes a frame body of `len` bytes as it is read from `reader` (the queue's path for large
/// messages: the bytes go from the pipe straight into the value). The caller checks that all
/// `len` bytes were used (see [`left_over`]) and consumes the rest if not.
pub(crate) fn decode_stream<T: DeserializeOwned, R: Read>(reader: &mut R, len: usize) -> Result<T> {
    with_limit_for!(len, stream_with_limit, reader).map_err(|e| Error::Decode(e.to_string()))
}

fn stream_with_limit<T: DeserializeOwned, const LIMIT: usize>(
    reader: &mut impl Read,
) -> std::result::Result<T, bincode::error::DecodeError> {
    bincode::serde::decode_from_std_read(reader, bincode::config::standard().with_limit::<LIMIT>())
}

/// The error for a body that decoded before its end.
pub(crate) fn left_over(bytes: usize) -> Error {
    Error::Decode(format!("{bytes} bytes left over after the value: the message is not of this queue's type"))
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

    fn frame_of<T: Serialize>(value: &T) -> Vec<u8> {
        let mut frame = Vec::new();
        encode_into(value, &mut frame).unwrap();
        frame
    }

    fn split(frame: &[u8]) -> (usize, &[u8]) {
        let len = parse_header(frame[..HEADER_LEN].try_into().unwrap()).unwrap();
        (len, &frame[HEADER_LEN..])
    }

    #[test]
    fn smoke() {
        let frame = frame_of(&fancy());
        let (len, body) = split(&frame);
        assert_eq!(len, body.len());
        assert_eq!(decode::<Fancy>(body).unwrap(), fancy());
        assert_eq!(decode_stream::<Fancy, _>(&mut &body[..], len).unwrap(), fancy());
    }

    #[test]
    fn empty_message_is_a_header_alone() {
        let frame = frame_of(&());
        assert_eq!(frame.len(), HEADER_LEN);
        let (len, body) = split(&frame);
        assert_eq!(len, 0);
        decode::<()>(body).unwrap();
    }

    #[test]
    fn encode_appends_and_leaves_the_buffer_alone_on_error() {
        let mut buffer = frame_of(&1u8);
        let before = buffer.clone();
        struct Unencodable;
        impl Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("this value refuses to be serialized"))
            }
        }
        match encode_into(&Unencodable, &mut buffer) {
            Err(Error::Encode(why)) => assert!(why.contains("refuses"), "{why}"),
            other => panic!("expected an encode error, got {other:?}"),
        }
        assert_eq!(buffer, before);
        encode_into(&2u8, &mut buffer).unwrap();
        assert_eq!(buffer.len(), 2 * before.len());
    }

    #[test]
    fn bad_magic_is_corrupt() {
        let mut frame = frame_of(&fancy());
        frame[0] ^= 0xff;
        match parse_header(frame[..HEADER_LEN].try_into().unwrap()) {
            Err(Error::CorruptFrame(why)) => assert!(why.contains("magic"), "{why}"),
            other => panic!("expected corrupt, got {other:?}"),
        }
    }

    #[test]
    fn damaged_length_fails_its_check() {
        let mut frame = frame_of(&fancy());
        frame[3] ^= 0x40; // one bit of the length: 16 KiB more
        match parse_header(frame[..HEADER_LEN].try_into().unwrap()) {
            Err(Error::CorruptFrame(why)) => assert!(why.contains("check"), "{why}"),
            other => panic!("expected corrupt, got {other:?}"),
        }
    }

    #[test]
    fn length_over_the_limit_is_corrupt() {
        match parse_header(&header(u32::MAX as usize)) {
            Err(Error::CorruptFrame(why)) => assert!(why.contains("over the limit"), "{why}"),
            other => panic!("expected corrupt, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_inner_length_is_a_decode_error() {
        // A Vec<u8> whose bincode length prefix claims 2^40 bytes, in a 10-byte body.
        let mut body = vec![253u8]; // varint marker for a u64 length
        body.extend_from_slice(&(1u64 << 40).to_le_bytes());
        body.push(0);
        assert!(matches!(decode::<Vec<u8>>(&body), Err(Error::Decode(_))));
        assert!(matches!(decode_stream::<Vec<u8>, _>(&mut &body[..], body.len()), Err(Error::Decode(_))));
    }

    #[test]
    fn wrong_type_is_a_decode_error() {
        let frame = frame_of(&fancy());
        let (_, body) = split(&frame);
        assert!(matches!(decode::<u8>(body), Err(Error::Decode(_))));
    }

    #[test]
    fn enum_with_a_large_variant_decodes_despite_its_claims() {
        // 10,000 small variants of an enum whose large variant is 1 KiB: 10 KiB on the wire,
        // 10 MiB claimed in memory. The decoder's limit must allow it.
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)] // the large variant is the point of the test
        enum Item {
            Small(u8),
            #[allow(dead_code)]
            Large([u64; 32], [u64; 32], [u64; 32], [u64; 32]),
        }
        let items: Vec<Item> = (0..10_000).map(|i| Item::Small(i as u8)).collect();
        let frame = frame_of(&items);
        let (len, body) = split(&frame);
        assert_eq!(decode::<Vec<Item>>(body).unwrap(), items);
        assert_eq!(decode_stream::<Vec<Item>, _>(&mut &body[..], len).unwrap(), items);
    }
}
