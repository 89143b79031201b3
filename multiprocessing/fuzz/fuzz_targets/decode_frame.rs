//! Feeds arbitrary bytes to the queue's frame decoder, as a reader would meet them in a pipe.
//!
//! The input is read three ways: as a frame (header, then body); as a frame whose header is made
//! to pass its check, so that the fuzzer need not find the check's hash (most of these are
//! truncated: the header announces more than follows); and as a body behind the header made for
//! it. Every body is decoded as several types, whole and streamed. The target fails on a panic,
//! and also when:
//!
//! - a header passes its check but is not the header of the length it gives;
//! - decoding a body whole and streaming it disagree (one fails and not the other, or they give
//!   values that encode differently);
//! - a decoded value does not encode back to bytes that decode to the same value;
//! - a decode makes a single allocation larger than the bincode limit for the body's length,
//!   allowing for the sequences a valid value of that many bytes can hold.
//!
//! Types with no bound on their decoding cost are left out: sequences of zero-sized elements
//! (`Vec<()>`) and recursive types (see "Decoding, and what bincode may allocate" in wire.rs).

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::Read;
use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use multiprocessing::wire_test_support::{
    HEADER_LEN, decode, decode_limit, decode_stream, encode_into, header, parse_header,
};
use multiprocessing::{Error, MAX_MESSAGE_SIZE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The system allocator, keeping the size of the largest single allocation since it was reset.
struct Watched;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to `System` unchanged; only sizes are noted on the way.
unsafe impl GlobalAlloc for Watched {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `alloc` are `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Watched = Watched;

#[derive(Serialize, Deserialize, Debug)]
struct Record {
    names: Vec<String>,
    kind: Kind,
    scores: Vec<(u16, f64)>,
    parent: Option<Box<Kind>>,
    tags: BTreeMap<String, i32>,
}

#[derive(Serialize, Deserialize, Debug)]
enum Kind {
    Empty,
    Count(u32),
    Point { x: i64, y: i16, visible: bool },
    Text(String),
    Blob(Vec<u8>),
    Wide(Option<u128>, char),
}

/// An enum whose large variant is 1 KiB: one byte on the wire can stand for a 1 KiB element.
#[derive(Serialize, Deserialize, Debug)]
#[allow(clippy::large_enum_variant)]
enum Item {
    Small(u8),
    Large([u64; 32], [u64; 32], [u64; 32], [u64; 32]),
}

/// A reader that hands out at most `chunk` bytes a call, as a pipe may.
struct Trickle<'a> {
    bytes: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.bytes.len()).min(self.chunk);
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// The body of `value`'s frame.
fn body_of<T: Serialize>(value: &T) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_into(value, &mut frame).expect("a decoded value encodes");
    frame.split_off(HEADER_LEN)
}

/// The largest single allocation decoding `len` bytes as a type may make: bincode's limit (a
/// string's or byte buffer's claimed length is allocated before it is read), or what sequences
/// of that many bytes hold: serde preallocates up to 1 MiB for one, then it doubles as elements
/// arrive, each of at most `element` bytes in memory and at least one on the wire.
fn allowed(len: usize, element: usize) -> usize {
    decode_limit(len).max(4 * (len * element).max(1 << 20))
}

/// Decodes `body` as `T` whole and streamed, and checks the results (see the top of the file).
fn check_body<T: Serialize + DeserializeOwned + std::fmt::Debug>(body: &[u8], chunk: usize, element: usize) {
    let allowed = allowed(body.len(), element);

    LARGEST.store(0, Ordering::Relaxed);
    let whole = decode::<T>(body);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest <= allowed, "decode allocated {largest} bytes for a {} byte body", body.len());

    let mut reader = Trickle { bytes: body, chunk };
    LARGEST.store(0, Ordering::Relaxed);
    let streamed = decode_stream::<T, _>(&mut reader, body.len());
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest <= allowed, "decode_stream allocated {largest} bytes for a {} byte body", body.len());
    let left_over = reader.bytes.len();

    match (whole, streamed) {
        (Ok(whole), Ok(streamed)) => {
            assert_eq!(left_over, 0, "decode used the whole body, decode_stream did not");
            let again = body_of(&whole);
            assert_eq!(again, body_of(&streamed), "decode and decode_stream gave different values");
            let decoded = decode::<T>(&again).expect("a value's own encoding decodes");
            assert_eq!(body_of(&decoded), again, "a value does not survive encoding and decoding");
        }
        (Err(Error::Decode(_)), Ok(_)) => assert!(left_over > 0, "decode failed, decode_stream did not"),
        (Err(Error::Decode(_)), Err(Error::Decode(_))) => {}
        (whole, streamed) => panic!("unexpected results: {whole:?} / {streamed:?}"),
    }
}

/// Decodes `body` as every type.
fn check_body_as_every_type(body: &[u8], chunk: usize) {
    check_body::<Vec<u8>>(body, chunk, 1);
    check_body::<String>(body, chunk, 1);
    check_body::<Record>(body, chunk, size_of::<String>().max(size_of::<(u16, f64)>()));
    check_body::<Vec<Item>>(body, chunk, size_of::<Item>());
    check_body::<(u128, char, bool, i64, Option<String>)>(body, chunk, 1);
    check_body::<BTreeMap<u32, Vec<String>>>(body, chunk, size_of::<String>());
}

/// Reads a frame as the queue's reader does: the header, then the body if it is all there, or
/// what there is of it, streamed, if it is not.
fn check_frame(head: &[u8; HEADER_LEN], rest: &[u8], chunk: usize) {
    let len = match parse_header(head) {
        Ok(len) => len,
        Err(Error::CorruptFrame(_)) => return,
        Err(other) => panic!("parse_header: {other:?}"),
    };
    assert_eq!(&header(len), head, "a header that passes is the header of its length");
    if rest.len() >= len {
        check_body_as_every_type(&rest[..len], chunk);
        return;
    }
    // Truncated: a value may end before the bytes do (the queue then reports the bytes left
    // over), or the reader runs out; either way, no panic and no allocation beyond the limit.
    // Strings may claim up to the limit for `len`; sequences hold only what arrived.
    let allowed = decode_limit(len).max(allowed(rest.len(), size_of::<Item>()));
    LARGEST.store(0, Ordering::Relaxed);
    let record = decode_stream::<Record, _>(&mut Trickle { bytes: rest, chunk }, len);
    let items = decode_stream::<Vec<Item>, _>(&mut Trickle { bytes: rest, chunk }, len);
    let text = decode_stream::<String, _>(&mut Trickle { bytes: rest, chunk }, len);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest <= allowed, "decode_stream allocated {largest} bytes for a {len} byte frame");
    for result in [record.map(drop), items.map(drop), text.map(drop)] {
        assert!(matches!(result, Ok(()) | Err(Error::Decode(_))), "{result:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let chunk = data.first().map_or(1, |&b| usize::from(b % 16) + 1);

    // As a frame: almost always a bad header (the fuzzer does not find the check's hash).
    if let Some(head) = data.first_chunk::<HEADER_LEN>() {
        check_frame(head, &data[HEADER_LEN..], chunk);
    }

    // As a frame whose header is made good: the input's length field, cut to 1 MiB so that the
    // limit (16 MiB) stays under libFuzzer's malloc limit, with its check. Mostly truncated.
    if let Some(field) = data.get(2..6) {
        let field = u32::from_le_bytes(field.try_into().expect("4 bytes"));
        let over = parse_header(&header(field as usize));
        assert_eq!(over.is_ok(), field as usize <= MAX_MESSAGE_SIZE, "{field}: {over:?}");
        let len = field as usize & ((1 << 20) - 1);
        check_frame(&header(len), data.get(HEADER_LEN..).unwrap_or_default(), chunk);
    }

    // As a body, behind the header made for it.
    let mut framed = header(data.len()).to_vec();
    framed.extend_from_slice(data);
    let head = framed.first_chunk::<HEADER_LEN>().expect("a header");
    assert_eq!(parse_header(head).ok(), Some(data.len()), "a header made for a length gives it back");
    check_body_as_every_type(&framed[HEADER_LEN..], chunk);
});
