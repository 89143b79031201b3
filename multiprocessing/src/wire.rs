//! Framed bincode messages: how a value becomes bytes in a queue and back.
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
//! The queue's ring (`queue/ring.rs`) already keeps messages apart, so the header is a second
//! line of defence: the magic number catches bytes that are not a frame at all (a peer that wrote
//! garbage), and the check, a hash of the length, catches a damaged length, so that no reader
//! ever sizes anything by a corrupt one (random bytes pass both with odds of one in four billion).
//! The length also lets a reader decode a long message as its chunks arrive, knowing where it
//! ends. This module only turns values into frames and frames into values.
//!
//! Every bincode call of the crate is here, so that the codec can be changed in one file.

use std::io::Read;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, short_type_name};

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
///
/// A message over [`MAX_MESSAGE_SIZE`] is refused before the buffer grows for it: until its size
/// is known, the encoding goes through a writer that refuses to take the buffer past its capacity.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, buffer: &mut Vec<u8>) -> Result<()> {
    // Growing a buffer while encoding copies it again at every doubling: for a large message that
    // is more copying than the encoding itself. When the buffer already has ample room (the
    // reused buffer of small messages), encode straight into that room; a message that does not
    // fit is measured, refused if it is over the limit, and otherwise given exactly its room.
    const AMPLE: usize = 64 << 10;
    let room = buffer.capacity() - buffer.len();
    if (AMPLE..=HEADER_LEN + MAX_MESSAGE_SIZE).contains(&room) {
        match encode_body::<_, false>(value, buffer) {
            Err(Failure::NoRoom) => {} // larger than the room: measure it
            done => return done.map_err(|failure| failure.into_error(value)),
        }
    }
    let size = encoded_size(value)?;
    if size > MAX_MESSAGE_SIZE {
        return Err(Error::MessageTooLarge { size, limit: MAX_MESSAGE_SIZE });
    }
    buffer.reserve((HEADER_LEN + size).max(AMPLE));
    match encode_body::<_, false>(value, buffer) {
        // It encodes longer than it measured (a `Mutex` another thread writes to, say): let the
        // buffer grow as the bytes come, up to the limit.
        Err(Failure::NoRoom) => encode_body::<_, true>(value, buffer),
        done => done,
    }
    .map_err(|failure| failure.into_error(value))
}

/// The size of `value`'s body, counted without writing it anywhere.
fn encoded_size<T: Serialize + ?Sized>(value: &T) -> Result<usize> {
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut size, bincode::config::standard())
        .map_err(|e| encode_error::<T>(e))?;
    Ok(size.bytes_written)
}

/// Why [`encode_body`] failed.
enum Failure {
    /// The body does not fit in the buffer's capacity.
    NoRoom,
    /// The body is over [`MAX_MESSAGE_SIZE`].
    TooLarge,
    /// bincode or the value's `Serialize` failed.
    Encode(bincode::error::EncodeError),
}

impl Failure {
    fn into_error<T: Serialize + ?Sized>(self, value: &T) -> Error {
        match self {
            Failure::Encode(e) => encode_error::<T>(e),
            // Only for a value that encoded longer than it measured: measure it again.
            Failure::NoRoom | Failure::TooLarge => match encoded_size(value) {
                Ok(size) => {
                    Error::MessageTooLarge { size: size.max(MAX_MESSAGE_SIZE + 1), limit: MAX_MESSAGE_SIZE }
                }
                Err(e) => e,
            },
        }
    }
}

/// Appends a header and the body of `value` to `buffer`; on error leaves the buffer as it was.
/// Without `GROW` the buffer is never reallocated: a body that does not fit in its capacity is
/// [`Failure::NoRoom`]. With `GROW` it grows up to a body of [`MAX_MESSAGE_SIZE`].
fn encode_body<T: Serialize + ?Sized, const GROW: bool>(
    value: &T,
    buffer: &mut Vec<u8>,
) -> std::result::Result<(), Failure> {
    use bincode::Encode;
    let start = buffer.len();
    buffer.extend_from_slice(&[0u8; HEADER_LEN]);
    let end = buffer.len() + MAX_MESSAGE_SIZE;
    let writer = VecWriter::<GROW> { buffer, end, refused: false };
    let mut encoder = bincode::enc::EncoderImpl::new(writer, bincode::config::standard());
    let encoded = bincode::serde::Compat(value).encode(&mut encoder);
    let VecWriter { buffer, refused, .. } = encoder.into_writer();
    let body_len = buffer.len() - start - HEADER_LEN;
    // The refusal comes first: a `Serialize` could have swallowed the writer's error.
    let failure = match encoded {
        _ if refused && GROW => Failure::TooLarge,
        _ if refused => Failure::NoRoom,
        Err(e) => Failure::Encode(e),
        Ok(()) if body_len > MAX_MESSAGE_SIZE => Failure::TooLarge, // in a room larger than that
        Ok(()) => {
            buffer[start..start + HEADER_LEN].copy_from_slice(&header(body_len));
            return Ok(());
        }
    };
    buffer.truncate(start);
    Err(failure)
}

/// A bincode writer that appends to a `Vec` and refuses, without `GROW`, to take it past its
/// capacity, and with `GROW` to take it past `end` bytes.
struct VecWriter<'a, const GROW: bool> {
    buffer: &'a mut Vec<u8>,
    end: usize,
    refused: bool,
}

impl<const GROW: bool> bincode::enc::write::Writer for VecWriter<'_, GROW> {
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) -> std::result::Result<(), bincode::error::EncodeError> {
        // Without `GROW`, the same test as `extend_from_slice`'s own: the compiler merges the two,
        // and this writer costs no more than `Vec`'s `io::Write`.
        let limit = if GROW { self.end } else { self.buffer.capacity() };
        if bytes.len() > limit - self.buffer.len() {
            self.refused = true;
            return Err(bincode::error::EncodeError::Other("the message does not fit"));
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }
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
// Through serde, bincode counts *claims* against a limit. Every integer claims its in-memory size
// however few bytes it takes on the wire (at least one: a `u128` claims 16); a string or byte
// buffer claims the length it announces, and bincode allocates that length before it reads a byte
// of it. Sequences and maps claim nothing: serde preallocates at most 1 MiB for one and grows it
// as its elements arrive. So a valid body claims at most 16 times its length, and the decoder's
// limit is that (the frame's length passed its check), rounded up to a power of 4 because bincode
// takes the limit as a constant, and 1 MiB at least. A body that is not what its type expects can
// then make bincode allocate at most that much *address space* in one go (a string's zeroed
// buffer). Linux backs it with memory only as bytes arrive, but refuses outright an allocation
// larger than its memory and swap, and Rust then aborts: hence a limit as tight as valid bodies
// allow. (A damaged body in a frame longer than a sixteenth of memory and swap can still do it.)
//
// Two shapes of type escape the limit, and a queue should not carry them: a sequence whose
// elements take no bytes (`Vec<()>`) costs time in proportion to the length it claims, up to
// 2^64; a recursive type (`enum Tree { Leaf, Node(Box<Tree>) }`) nests a level per byte and can
// overflow the stack.

/// The decoder's limit for a body of `len` bytes: 16 times `len` rounded up to a power of 4,
/// between 1 MiB and 16 GiB (16 times [`MAX_MESSAGE_SIZE`]).
const fn decode_limit(len: usize) -> usize {
    let needed = len.saturating_mul(16);
    let mut limit = 1 << 20;
    while limit < needed && limit < 1 << 34 {
        limit <<= 2;
    }
    limit
}

macro_rules! with_limit_for {
    ($len:expr, $decode:ident, $($arg:expr),*) => {{
        let limit = decode_limit($len);
        if limit == 1 << 20 {
            $decode::<_, { 1 << 20 }>($($arg),*)
        } else if limit == 1 << 22 {
            $decode::<_, { 1 << 22 }>($($arg),*)
        } else if limit == 1 << 24 {
            $decode::<_, { 1 << 24 }>($($arg),*)
        } else if limit == 1 << 26 {
            $decode::<_, { 1 << 26 }>($($arg),*)
        } else if limit == 1 << 28 {
            $decode::<_, { 1 << 28 }>($($arg),*)
        } else if limit == 1 << 30 {
            $decode::<_, { 1 << 30 }>($($arg),*)
        } else if limit == 1 << 32 {
            $decode::<_, { 1 << 32 }>($($arg),*)
        } else {
            $decode::<_, { 1 << 34 }>($($arg),*)
        }
    }};
}

/// Decodes a whole frame body into a value.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let (value, used) =
        with_limit_for!(body.len(), slice_with_limit, body).map_err(|e| decode_error::<T>(e))?;
    if used != body.len() {
        return Err(left_over::<T>(body.len() - used));
    }
    Ok(value)
}

fn slice_with_limit<T: DeserializeOwned, const LIMIT: usize>(
    body: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(body, bincode::config::standard().with_limit::<LIMIT>())
}

/// Decodes a frame body of `len` bytes as it is read from `reader` (the queue's path for large
/// messages: the bytes go from the queue's ring straight into the value). The caller checks that all
/// `len` bytes were used (see [`left_over`]) and consumes the rest if not.
pub(crate) fn decode_stream<T: DeserializeOwned, R: Read>(reader: &mut R, len: usize) -> Result<T> {
    with_limit_for!(len, stream_with_limit, reader).map_err(|e| decode_error::<T>(e))
}

fn stream_with_limit<T: DeserializeOwned, const LIMIT: usize>(
    reader: &mut impl Read,
) -> std::result::Result<T, bincode::error::DecodeError> {
    bincode::serde::decode_from_std_read(reader, bincode::config::standard().with_limit::<LIMIT>())
}

/// The error for a value of type `T` that bincode could not encode: it names the type.
fn encode_error<T: ?Sized>(e: impl std::fmt::Display) -> Error {
    Error::Encode(format!("a value of type {}: {e}", short_type_name(std::any::type_name::<T>())))
}

/// The error for a message that bincode could not decode as a `T`: it names the type.
fn decode_error<T>(e: impl std::fmt::Display) -> Error {
    Error::Decode(format!("a message as {}: {e}", short_type_name(std::any::type_name::<T>())))
}

/// The error for a body that decoded as a `T` before its end: it is not a `T`.
pub(crate) fn left_over<T>(bytes: usize) -> Error {
    let name = short_type_name(std::any::type_name::<T>());
    Error::Decode(format!(
        "a message as {name}: {bytes} bytes left over after the value, so it is not a {name}"
    ))
}

/// The frame codec for the fuzz target (`multiprocessing/fuzz`) and tests outside the crate: not
/// part of the API, and only built with the `test-support` feature.
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod test_support {
    use std::io::Read;

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::error::Result;

    /// The length of a frame header.
    pub const HEADER_LEN: usize = super::HEADER_LEN;

    /// The header of a frame whose body is `len` bytes.
    pub fn header(len: usize) -> [u8; HEADER_LEN] {
        super::header(len)
    }

    /// Checks a frame header; returns the body length it announces.
    pub fn parse_header(header: &[u8; HEADER_LEN]) -> Result<usize> {
        super::parse_header(header)
    }

    /// Appends one complete frame for `value` to `buffer`; on error the buffer is left as it was.
    pub fn encode_into<T: Serialize + ?Sized>(value: &T, buffer: &mut Vec<u8>) -> Result<()> {
        super::encode_into(value, buffer)
    }

    /// Decodes a whole frame body; bytes left over are an error.
    pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
        super::decode(body)
    }

    /// Decodes a body of `len` bytes from `reader`; does not check that all `len` were used.
    pub fn decode_stream<T: DeserializeOwned, R: Read>(reader: &mut R, len: usize) -> Result<T> {
        super::decode_stream(reader, len)
    }

    /// The decoder's limit for a body of `len` bytes: the largest string or byte buffer bincode
    /// allocates before reading it (sequences grow only as their elements arrive).
    pub fn decode_limit(len: usize) -> usize {
        super::decode_limit(len)
    }
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
    fn a_body_longer_than_its_value_names_the_type_it_is_not() {
        let mut body = Vec::new();
        encode_into(&(1_u64, 2_u64), &mut body).unwrap();
        match decode::<u64>(&body[HEADER_LEN..]) {
            Err(e @ Error::Decode(_)) => {
                let text = e.to_string();
                assert!(text.starts_with("cannot decode a message as u64: "), "{text}");
                assert!(text.ends_with("bytes left over after the value, so it is not a u64"), "{text}");
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_is_a_decode_error() {
        let frame = frame_of(&fancy());
        let (_, body) = split(&frame);
        assert!(matches!(decode::<u8>(body), Err(Error::Decode(_))));
    }

    #[test]
    fn enum_with_a_large_variant_decodes_despite_its_size() {
        // 10,000 small variants of an enum whose large variant is 1 KiB: 20 KB on the wire,
        // 10 MiB in memory. A sequence claims nothing against the decoder's limit.
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

    #[test]
    fn the_limit_admits_the_densest_claims() {
        // A `u128` in one byte claims 16: the most per byte of any type through serde. Bodies
        // around the limit's steps (1 MiB, 4 MiB) decode.
        for n in [65_000, 65_536, 70_000, 262_144, 300_000] {
            let zeros = vec![0u128; n];
            let frame = frame_of(&zeros);
            let (len, body) = split(&frame);
            assert_eq!(decode::<Vec<u128>>(body).unwrap(), zeros, "{n} zeros");
            assert_eq!(decode_stream::<Vec<u128>, _>(&mut &body[..], len).unwrap(), zeros, "{n} zeros");
        }
    }

    #[test]
    fn decode_limit_steps() {
        assert_eq!(decode_limit(0), 1 << 20);
        assert_eq!(decode_limit(1 << 16), 1 << 20);
        assert_eq!(decode_limit((1 << 16) + 1), 1 << 22);
        assert_eq!(decode_limit(1 << 18), 1 << 22);
        assert_eq!(decode_limit(MAX_MESSAGE_SIZE), 1 << 34);
        assert_eq!(decode_limit(usize::MAX), 1 << 34);
        for len in (0..40).map(|bits| 1usize << bits).flat_map(|n| [n - 1, n, n + 1]) {
            let limit = decode_limit(len);
            assert!(limit >= (16 * len).min(1 << 34) && limit.trailing_zeros() % 2 == 0, "{len}: {limit}");
        }
    }

    #[test]
    fn a_string_claim_over_the_limit_is_refused_before_it_is_allocated() {
        // A 64 MiB body whose string claims 60 GiB: more than many machines can even map, and
        // over the limit of 1 GiB. (Zeros from `vec!` cost no memory until touched.)
        let mut body = vec![0u8; 64 << 20];
        body[0] = 253; // varint marker for a u64
        body[1..9].copy_from_slice(&(60u64 << 30).to_le_bytes());
        for decoded in [decode::<String>(&body), decode_stream::<String, _>(&mut &body[..], body.len())] {
            match decoded {
                Err(Error::Decode(why)) => assert!(why.contains("LimitExceeded"), "{why}"),
                other => panic!("expected a decode error, got {other:?}"),
            }
        }
    }

    /// 1025 chunks of 1 MiB of zeros, all from one static array: 1 GiB and 5 KB encoded, nothing
    /// allocated to make them. Counts the chunks it serializes.
    struct Huge {
        chunks: std::cell::Cell<usize>,
    }

    const HUGE_CHUNKS: usize = 1025;
    const CHUNK: usize = 1 << 20;
    // 3 bytes of sequence length (251 and a u16), 5 of length (252 and a u32) before each chunk.
    const HUGE_SIZE: usize = 3 + HUGE_CHUNKS * (5 + CHUNK);

    impl Serialize for Huge {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            struct Chunk;
            impl Serialize for Chunk {
                fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                    static ZEROS: [u8; CHUNK] = [0; CHUNK];
                    s.serialize_bytes(&ZEROS)
                }
            }
            let mut seq = serializer.serialize_seq(Some(HUGE_CHUNKS))?;
            for _ in 0..HUGE_CHUNKS {
                self.chunks.set(self.chunks.get() + 1);
                seq.serialize_element(&Chunk)?;
            }
            seq.end()
        }
    }

    #[test]
    fn an_oversized_message_is_refused_before_it_is_encoded() {
        const { assert!(HUGE_SIZE > MAX_MESSAGE_SIZE) };
        // An empty buffer, a buffer short of room, and a reused buffer with ample room (whose
        // room is tried first): none grows, and none is written to.
        let mut full = frame_of(&fancy());
        full.shrink_to_fit();
        let mut roomy = frame_of(&fancy());
        roomy.reserve(1 << 20);
        for mut buffer in [Vec::new(), full, roomy] {
            let (before, capacity) = (buffer.clone(), buffer.capacity());
            let huge = Huge { chunks: 0.into() };
            match encode_into(&huge, &mut buffer) {
                Err(Error::MessageTooLarge { size, limit }) => {
                    assert_eq!((size, limit), (HUGE_SIZE, MAX_MESSAGE_SIZE))
                }
                other => panic!("expected MessageTooLarge, got {other:?}"),
            }
            assert_eq!(buffer, before);
            assert_eq!(buffer.capacity(), capacity, "the buffer grew");
            // One pass to measure, and at most the chunk that did not fit the room.
            assert!(huge.chunks.get() <= HUGE_CHUNKS + 1, "{} chunks serialized", huge.chunks.get());
        }
    }

    #[test]
    fn a_message_larger_than_the_room_is_measured_and_encoded() {
        let big = vec![7u8; 200 << 10];
        let mut buffer = frame_of(&fancy());
        buffer.reserve(100 << 10);
        let before = buffer.clone();
        encode_into(&big, &mut buffer).unwrap();
        assert_eq!(buffer[..before.len()], before[..]);
        assert_eq!(buffer[before.len()..], frame_of(&big)[..]);
        let (_, body) = split(&buffer[before.len()..]);
        assert_eq!(decode::<Vec<u8>>(body).unwrap(), big);
    }

    /// Counts how many times it is serialized.
    struct Counted<'a>(&'a std::cell::Cell<usize>);

    impl Serialize for Counted<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            self.0.set(self.0.get() + 1);
            s.serialize_str("small")
        }
    }

    #[test]
    fn a_small_message_into_a_roomy_buffer_takes_one_pass() {
        let passes = std::cell::Cell::new(0);
        let mut buffer = Vec::with_capacity(1 << 20);
        encode_into(&Counted(&passes), &mut buffer).unwrap();
        encode_into(&Counted(&passes), &mut buffer).unwrap();
        assert_eq!(passes.get(), 2, "one pass each");
        encode_into(&Counted(&passes), &mut Vec::new()).unwrap();
        assert_eq!(passes.get(), 4, "an empty buffer: measured, then encoded");
    }

    #[test]
    fn a_value_that_grows_between_passes_is_encoded_as_it_is_the_last_time() {
        // A value whose encoding is longer once it has been measured (a `Mutex` another thread
        // writes to, say): the buffer grows to hold it, and the frame says its true length.
        struct Growing(std::cell::Cell<usize>);
        impl Serialize for Growing {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let n = self.0.replace(100_000);
                s.collect_seq(std::iter::repeat_n(1u8, n))
            }
        }
        let mut buffer = Vec::new();
        encode_into(&Growing(std::cell::Cell::new(100)), &mut buffer).unwrap();
        let (len, body) = split(&buffer);
        assert_eq!(len, body.len());
        assert!(decode::<Vec<u8>>(body).unwrap() == vec![1u8; 100_000], "not the value's last encoding");
    }

    // Properties: whatever bytes arrive, a reader gets an error or a value, never a panic, and
    // every way of decoding a body agrees.

    use proptest::collection::vec as vec_of;
    use proptest::prelude::*;
    use proptest::sample::Index;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Record {
        names: Vec<String>,
        kind: Kind,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Kind {
        Empty,
        Count(u32),
        Point { x: i64, y: i16, visible: bool },
        Text(String),
        Blob(Vec<u8>),
        Wide(Option<u128>, char),
    }

    /// A valid value of one of the types the properties decode.
    #[derive(Debug, Clone)]
    enum Sample {
        Bytes(Vec<u8>),
        Text(String),
        Record(Record),
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Empty),
            any::<u32>().prop_map(Kind::Count),
            (any::<i64>(), any::<i16>(), any::<bool>()).prop_map(|(x, y, visible)| Kind::Point {
                x,
                y,
                visible
            }),
            ".{0,20}".prop_map(Kind::Text),
            vec_of(any::<u8>(), 0..64).prop_map(Kind::Blob),
            (any::<Option<u128>>(), any::<char>()).prop_map(|(n, c)| Kind::Wide(n, c)),
        ]
    }

    fn sample() -> impl Strategy<Value = Sample> {
        prop_oneof![
            vec_of(any::<u8>(), 0..300).prop_map(Sample::Bytes),
            ".{0,40}".prop_map(Sample::Text),
            (vec_of(".{0,12}", 0..8), kind())
                .prop_map(|(names, kind)| Sample::Record(Record { names, kind })),
        ]
    }

    impl Sample {
        fn frame(&self) -> Vec<u8> {
            match self {
                Sample::Bytes(v) => frame_of(v),
                Sample::Text(v) => frame_of(v),
                Sample::Record(v) => frame_of(v),
            }
        }
    }

    /// A reader that hands out at most 3 bytes a call, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Decodes `body` both ways (whole, and streamed as the queue does with what is left over
    /// checked); fails the case unless both agree, and give `expected` if there is one, and
    /// unless a decoded value encodes to a body that decodes to it again.
    fn check_body<T>(body: &[u8], expected: Option<&T>) -> std::result::Result<(), TestCaseError>
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let whole = decode::<T>(body);
        let mut reader = Trickle(body);
        let streamed =
            decode_stream::<T, _>(&mut reader, body.len()).and_then(|value| match reader.0.len() {
                0 => Ok(value),
                left => Err(left_over::<T>(left)),
            });
        match (&whole, &streamed) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(Error::Decode(_)), Err(Error::Decode(_))) => {}
            _ => prop_assert!(false, "decode and decode_stream disagree: {:?} / {:?}", whole, streamed),
        }
        if let Some(expected) = expected {
            prop_assert_eq!(whole.as_ref().ok(), Some(expected));
        }
        if let Ok(value) = whole {
            let again = frame_of(&value);
            prop_assert_eq!(decode::<T>(&again[HEADER_LEN..]).ok(), Some(value));
        }
        Ok(())
    }

    /// Reads `frame` as a queue's reader does, as each type. `original` is the value the frame
    /// was made from if its body is intact.
    fn check_frame(frame: &[u8], original: Option<&Sample>) -> std::result::Result<(), TestCaseError> {
        let Some(header_bytes) = frame.first_chunk::<HEADER_LEN>() else {
            return Ok(());
        };
        let len = match parse_header(header_bytes) {
            Ok(len) => len,
            Err(Error::CorruptFrame(_)) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(format!("parse_header: {other:?}"))),
        };
        prop_assert!(len <= MAX_MESSAGE_SIZE);
        prop_assert_eq!(&header(len), header_bytes, "a header that passes is the header of its length");
        let rest = &frame[HEADER_LEN..];
        if rest.len() < len {
            // Truncated: the start of a longer body. No value can use all `len` bytes, and the
            // queue reports the frame as truncated; here only a panic would be wrong.
            let _ = decode_stream::<Vec<u8>, _>(&mut Trickle(rest), len);
            let _ = decode_stream::<String, _>(&mut Trickle(rest), len);
            let _ = decode_stream::<Record, _>(&mut Trickle(rest), len);
            return Ok(());
        }
        let body = &rest[..len];
        let intact = if rest.len() == len { original } else { None };
        check_body::<Vec<u8>>(body, if let Some(Sample::Bytes(v)) = intact { Some(v) } else { None })?;
        check_body::<String>(body, if let Some(Sample::Text(v)) = intact { Some(v) } else { None })?;
        check_body::<Record>(body, if let Some(Sample::Record(v)) = intact { Some(v) } else { None })
    }

    fn config() -> ProptestConfig {
        // No regression files written into the source tree: a failure prints its input.
        ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn valid_frames_decode_to_their_value(sample in sample()) {
            check_frame(&sample.frame(), Some(&sample))?;
        }

        #[test]
        fn random_bytes_are_errors_or_values(bytes in vec_of(any::<u8>(), 0..600)) {
            // As a frame (almost always a bad header), as a body behind a good header, and as a
            // body on its own.
            check_frame(&bytes, None)?;
            let mut framed = header(bytes.len()).to_vec();
            framed.extend_from_slice(&bytes);
            check_frame(&framed, None)?;
        }

        #[test]
        fn truncated_frames_are_errors(sample in sample(), cut in any::<Index>()) {
            let frame = sample.frame();
            let short = &frame[..cut.index(frame.len())]; // strictly shorter
            if let Some(header_bytes) = short.first_chunk::<HEADER_LEN>() {
                let len = frame.len() - HEADER_LEN;
                prop_assert_eq!(parse_header(header_bytes).ok(), Some(len));
                // A body cut short never decodes whole as its own type: the value would end
                // where the full body's does, after the cut.
                let body = &short[HEADER_LEN..];
                let (whole, streamed) = match sample {
                    Sample::Bytes(_) => (
                        decode::<Vec<u8>>(body).is_ok(),
                        decode_stream::<Vec<u8>, _>(&mut Trickle(body), len).is_ok(),
                    ),
                    Sample::Text(_) => (
                        decode::<String>(body).is_ok(),
                        decode_stream::<String, _>(&mut Trickle(body), len).is_ok(),
                    ),
                    Sample::Record(_) => (
                        decode::<Record>(body).is_ok(),
                        decode_stream::<Record, _>(&mut Trickle(body), len).is_ok(),
                    ),
                };
                prop_assert!(!whole && !streamed, "a body cut at {} of {} decoded", body.len(), len);
            }
            check_frame(short, None)?;
        }

        #[test]
        fn mutated_frames_are_errors_or_values(
            sample in sample(),
            mutations in vec_of((any::<Index>(), any::<u8>(), any::<bool>()), 1..5),
        ) {
            // Bit flips and byte changes at random places. A header passes only if it is the
            // header of its length; a body decodes or fails the same way both ways; an intact
            // body behind a header that still passes is the original value.
            let mut frame = sample.frame();
            let mut body_touched = false;
            for (at, byte, flip) in mutations {
                let at = at.index(frame.len());
                body_touched |= at >= HEADER_LEN;
                if flip {
                    frame[at] ^= 1 << (byte % 8);
                } else {
                    frame[at] = byte;
                }
            }
            check_frame(&frame, if body_touched { None } else { Some(&sample) })?;
        }

        #[test]
        fn huge_claimed_lengths_fail_fast(
            claim in prop_oneof![4096u64..(1 << 20), (1u64 << 20)..(1 << 34), (1u64 << 34)..u64::MAX, Just(u64::MAX)],
            filler in vec_of(any::<u8>(), 0..2000),
        ) {
            // A length prefix (a u64 varint) that claims far more than the body holds: a string
            // over the limit is refused before it is allocated (bincode's claim), a sequence fails
            // when the body runs out (serde preallocates at most 1 MiB), and none takes long.
            let mut body = vec![253u8];
            body.extend_from_slice(&claim.to_le_bytes());
            body.extend_from_slice(&filler);
            // The length itself claims 8 bytes (a u64).
            let over_limit = claim.saturating_add(8) > decode_limit(body.len()) as u64;
            for decoded in [decode::<String>(&body), decode_stream::<String, _>(&mut Trickle(&body), body.len())] {
                match decoded {
                    Err(Error::Decode(why)) => prop_assert!(!over_limit || why.contains("LimitExceeded"), "{}", why),
                    other => prop_assert!(false, "a {} byte string in {} bytes: {:?}", claim, body.len(), other),
                }
            }
            prop_assert!(decode::<Vec<u8>>(&body).is_err());
            prop_assert!(decode::<Vec<String>>(&body).is_err());
            prop_assert!(decode_stream::<Vec<String>, _>(&mut Trickle(&body), body.len()).is_err());
            prop_assert!(decode::<Record>(&body).is_err());
        }
    }
}
