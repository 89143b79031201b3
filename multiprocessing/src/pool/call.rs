//! How a task names its function: two code addresses, valid in every worker because every
//! worker is a fork of the process that sends them.
//!
//! A task is "call `func` on these arguments". The arguments travel as bytes (bincode, through
//! `wire.rs`); the function cannot: code is not data that serde can encode. CPython sends the
//! function's *name* (pickle stores `module.qualname`) and the worker looks it up in its copy of
//! the module. Rust has no names at run time, but it has something as good in a forked worker:
//! addresses. `fork` copies the whole address space, and no `exec` follows, so the executable's
//! code sits at the same addresses in the worker as in the parent. A `fn(T) -> R` is such an
//! address. So a task carries two numbers:
//!
//! - `func`: the address of the user's `fn(T) -> R`;
//! - `trampoline`: the address of [`trampoline::<T, R>`], the one function of this crate that
//!   knows the types `T` and `R` of that `func`: it decodes a `Vec<T>` from the bytes, calls
//!   `func` on each element, and encodes the `Vec<R>`. The compiler writes one copy of it for
//!   each pair of types a program sends, and the pool takes the address of the copy that
//!   matches `func`'s types in the same expression that takes `func`'s ([`Call::new`]).
//!
//! Turning a number back into a function pointer is `unsafe`: Rust cannot check that the number
//! is the address of a function of that type. Three things make it true here, and they are the
//! SAFETY argument of [`Call::run`]:
//!
//! 1. The two numbers were made by [`Call::new`] from real functions of matching types, in the
//!    pool's process. Nothing else writes tasks: the pipes are the pool's own, and a task whose
//!    pool key (a random number each pool draws when it starts, see `frames.rs`) is wrong is
//!    refused before its addresses are read.
//! 2. The worker was forked from that process after the program was loaded, and runs the same
//!    executable without `exec`: the code at those addresses is the same code.
//! 3. A function pointer is a plain address on Linux (no tags, no descriptors), the size of a
//!    `usize`.
//!
//! What it cannot cover: code loaded with `dlopen` *after* a worker was forked is not in that
//! worker. Rust programs rarely load code at run time; a pool's functions should be in the
//! program itself.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::wire;

/// The shape of every trampoline: the user's function's address, the encoded arguments (one
/// `wire` frame body of a `Vec<T>`), and the buffer to append the encoded results to (one
/// complete `wire` frame of a `Vec<R>`).
type Trampoline = unsafe fn(usize, &[u8], &mut Vec<u8>) -> Result<()>;

/// A function a worker can call: the address of the user's `fn(T) -> R` and of the trampoline
/// that knows `T` and `R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call {
    trampoline: usize,
    func: usize,
}

impl Call {
    /// The call of `func`, with the trampoline of its own argument and result types.
    pub(crate) fn new<T: DeserializeOwned, R: Serialize>(func: fn(T) -> R) -> Call {
        Call { trampoline: trampoline::<T, R> as Trampoline as usize, func: func as usize }
    }

    /// The two addresses, for a task frame.
    pub(crate) fn to_words(self) -> [u64; 2] {
        [self.trampoline as u64, self.func as u64]
    }

    /// The call a task frame names.
    pub(crate) fn from_words([trampoline, func]: [u64; 2]) -> Call {
        Call { trampoline: trampoline as usize, func: func as usize }
    }

    /// Decodes the arguments, calls the function on each, and appends the encoded results to
    /// `out` (one complete `wire` frame). Decoding and encoding errors are returned; a panic of
    /// the function unwinds out of here.
    ///
    /// # Safety
    ///
    /// `self` must come from [`Call::new`] in this process, or in a process this one was forked
    /// from (not `exec`ed since), and must not have been altered on the way (module docs).
    pub(crate) unsafe fn run(self, args: &[u8], out: &mut Vec<u8>) -> Result<()> {
        // SAFETY: by the caller's contract, `self.trampoline` is `trampoline::<T, R> as usize`
        // for some `T` and `R`, taken in this address space or in one this process is a fork
        // of, where the same code sits at the same address (module docs, points 1 to 3). A
        // `usize` and a function pointer have the same size on Linux.
        let trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(self.trampoline) };
        // SAFETY: `trampoline` is the instance made for `self.func`'s types, which is what its
        // own contract asks (same argument as above).
        unsafe { trampoline(self.func, args, out) }
    }
}

/// Decodes a `Vec<T>` from `args`, calls `func` on each element in order, and appends the
/// `Vec<R>` of results to `out` as one frame.
///
/// # Safety
///
/// `func` must be the address of an `fn(T) -> R` of exactly these `T` and `R`, valid in this
/// process ([`Call::new`] pairs the two).
unsafe fn trampoline<T: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    // SAFETY: by this function's contract `func` is the address of an `fn(T) -> R` in this
    // address space; a function pointer is an address of `usize` size on Linux.
    let func = unsafe { std::mem::transmute::<usize, fn(T) -> R>(func) };
    let args: Vec<T> = wire::decode(args)?;
    let results: Vec<R> = args.into_iter().map(func).collect();
    wire::encode_into(&results, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u64) -> u64 {
        x * 2
    }

    fn describe((name, n): (String, u32)) -> String {
        format!("{name}={n}")
    }

    /// Runs `call` on `args` in this process, as a worker would, and decodes the results.
    fn run<T: Serialize, R: DeserializeOwned>(call: Call, args: &[T]) -> Result<Vec<R>> {
        let mut frame = Vec::new();
        wire::encode_into(args, &mut frame)?;
        let mut out = Vec::new();
        // SAFETY: `call` comes from `Call::new` in this very process.
        unsafe { call.run(&frame[wire::HEADER_LEN..], &mut out)? };
        let header: &[u8; wire::HEADER_LEN] = out[..wire::HEADER_LEN].try_into().expect("a header");
        assert_eq!(wire::parse_header(header)?, out.len() - wire::HEADER_LEN);
        wire::decode(&out[wire::HEADER_LEN..])
    }

    #[test]
    fn a_call_survives_the_trip_through_words() {
        let call = Call::new(double);
        assert_eq!(Call::from_words(call.to_words()), call);
        assert_eq!(run::<u64, u64>(Call::from_words(call.to_words()), &[1, 2, 3]).unwrap(), [2, 4, 6]);
    }

    #[test]
    fn each_pair_of_types_has_its_own_trampoline() {
        let words = Call::new(describe).to_words();
        assert_ne!(words[0], Call::new(double).to_words()[0]);
        let got: Vec<String> = run(Call::from_words(words), &[("a".to_string(), 1u32)]).unwrap();
        assert_eq!(got, ["a=1"]);
        // A non-capturing closure is a function too.
        let call = Call::new(|s: String| s.len());
        assert_eq!(run::<String, usize>(call, &["abc".to_string()]).unwrap(), [3]);
    }

    #[test]
    fn arguments_of_another_type_are_a_decode_error_not_a_crash() {
        let err = run::<String, u64>(Call::new(double), &["not a number".to_string()]).unwrap_err();
        assert!(matches!(err, crate::Error::Decode(_)), "{err}");
    }
}
