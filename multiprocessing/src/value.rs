//! `Value<T>` and `Array<T>`: plain numbers in shared memory, each with its lock.
//!
//! # How it works underneath
//!
//! A `Value` is a `T` in a page mapped with `mmap(MAP_SHARED | MAP_ANONYMOUS)` before the fork,
//! so a store by one process is the same bytes another process reads: no message, no copy. An
//! `Array` is `len` of them in one mapping. Next to the data there is a [`Lock`] (its own shared
//! page), and the data can only be reached while holding it: [`Value::lock`] returns a guard that
//! dereferences to the `T`, so `*guard += 1` is one read-modify-write that no other process can
//! interleave with. This is CPython's `multiprocessing.Value('i', 0)` with `lock=True`, its
//! default, where `with v.get_lock(): v.value += 1` is the safe increment.
//!
//! Each `Value` and `Array` has a lock of its own. CPython also lets several share one lock
//! (`Value('i', 0, lock=lock)`, an `RLock` taken again by each `.value`); here a guard is a
//! `&mut` to the data, and two guards of one value in one thread would be two `&mut` to the same
//! bytes, so instead numbers that change together go in one `Value` of an array, or one `Array`.
//!
//! Why only under the lock, and no lock-free `RawValue`: two processes writing the same bytes
//! at once is a data race, which Rust forbids in every form it can see; the lock is what makes
//! the access sound, not only correct. For a lock-free counter, an atomic is the right tool (and
//! the benchmark's "limit" for this type).
//!
//! # What may live there: [`Plain`]
//!
//! Only types whose every value is plain bits: integers, floats, `bool`, and arrays of them.
//! Not a `String` or a `Vec` (their bytes are a pointer into the heap of the process that made
//! them, meaningless in another), not a reference. CPython's typecodes (`'i'`, `'d'`, `'c'`...)
//! are exactly these.
//!
//! # A holder killed in the middle
//!
//! The lock is robust: when its holder is killed, the next `lock()` gets it and its guard says
//! so ([`ValueGuard::previous_holder_died`]). The data is then whatever the dead process had
//! stored: every element holds a value it or an earlier holder wrote (stores of plain numbers do
//! not leave invalid bits), but an update of several elements may be half done. CPython has no
//! such signal: its lock stays taken and the next process waits forever.
//!
//! # A guard copied by `fork`: a panic, not a race
//!
//! A guard moved into a child's closure (the value leaked to `'static`, a `OnceLock`: safe code
//! can) is copied by the fork. In the child it holds no lock: the parent's copy of the closure,
//! and of the guard, is dropped after `start`, and the parent may then write the value while the
//! child does, a data race on shared memory. So a guard remembers the fork generation of the
//! process that took the lock (`lifecycle.rs` counts the forks), and reaching the data through a
//! copy made by `fork` panics, with a sentence that says so. A panic and not an error, as
//! `RefCell::borrow_mut` panics: `*guard` has no way to return an error, and giving the
//! reference would be undefined behaviour. Dropping the copy releases nothing (see `lock.rs`).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

use crate::error::{Error, Result};
use crate::lock::{Lock, LockGuard};

/// Types that can live in a [`Value`] or an [`Array`]: plain bits, no pointers.
///
/// # Safety
///
/// Implement it only for `Copy` types with no pointers or references in them (their meaning
/// would not carry to another process) and with no bytes that some bit patterns make invalid,
/// besides `bool`'s single byte: a process killed while copying a value must leave, in each
/// element, bits that are a valid value (the old one, the new one, or a mix of their bytes).
/// Integers, floats, `bool`, and arrays and `#[repr(C)]` structs of them qualify; `char`
/// does not (a torn `char` can be an invalid one).
pub unsafe trait Plain: Copy + Send + Sync + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: every bit pattern of this primitive is a valid value; `bool` is one byte, which
        // a store writes whole, so only 0 and 1 are ever there. No pointers.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool);

// SAFETY: an array of plain elements is plain: each element keeps its own guarantee.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// `len` values of `T` in one anonymous shared mapping, inherited by every later fork.
struct SharedCells<T: Plain> {
    ptr: NonNull<UnsafeCell<T>>,
    len: usize,
}

// SAFETY: the cells are reached only through `Value`/`Array`, which hold the lock to read or
// write them; `T: Send + Sync` (from `Plain`).
unsafe impl<T: Plain> Send for SharedCells<T> {}
// SAFETY: as above.
unsafe impl<T: Plain> Sync for SharedCells<T> {}

impl<T: Plain> SharedCells<T> {
    fn new(len: usize, init: impl Fn(usize) -> T) -> Result<Self> {
        let bytes = size_of::<T>()
            .checked_mul(len)
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or(Error::InvalidState("Array is too large to map: its size overflows"))?;
        let length = std::num::NonZeroUsize::new(bytes.max(1)).expect("max(1) is non-zero");
        // SAFETY: a fresh anonymous mapping aliases no Rust object. mmap returns page-aligned
        // memory, aligned for every `T`. Nothing reads it before the loop below writes each cell.
        let ptr = unsafe {
            mmap_anonymous(None, length, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED)
        }
        .map_err(Error::os("mmap (a Value's or Array's shared memory)"))?;
        let cells = SharedCells::<T> { ptr: ptr.cast(), len };
        for i in 0..len {
            // SAFETY: `i < len`, inside the mapping; no other process exists yet that has it, so
            // this write races with nothing.
            unsafe { cells.ptr.add(i).as_ref().get().write(init(i)) };
        }
        Ok(cells)
    }

    /// All the cells, as a pointer: a guard makes a reference from it only after checking that
    /// its process holds the lock (module docs).
    fn cells(&self) -> NonNull<[T]> {
        NonNull::slice_from_raw_parts(self.ptr.cast::<T>(), self.len)
    }
}

impl<T: Plain> Drop for SharedCells<T> {
    fn drop(&mut self) {
        let bytes = (size_of::<T>() * self.len).max(1);
        // SAFETY: the mapping was made by `new` with this length, and no slice of it outlives
        // `self` (guards borrow the `Value`/`Array`). Other processes keep their own mapping.
        let _ = unsafe { munmap(self.ptr.cast(), bytes) };
    }
}

/// One `T` in shared memory, with its lock.
///
/// Equivalent to Python's `multiprocessing.Value(typecode, value)` (with its default lock).
/// Create it before starting the processes that use it, and give each a clone.
///
/// ```rust,no_run
/// use multiprocessing::{Process, Value};
///
/// let counter = Value::new(0_i64)?;
/// let mut workers: Vec<Process> = (0..4)
///     .map(|_| {
///         let counter = counter.clone();
///         Process::new(move || -> multiprocessing::Result<()> {
///             for _ in 0..1000 {
///                 *counter.lock()? += 1; // with counter.get_lock(): counter.value += 1
///             }
///             Ok(())
///         })
///     })
///     .collect();
/// for w in &mut workers {
///     w.start()?;
/// }
/// for w in &mut workers {
///     w.join()?;
/// }
/// assert_eq!(counter.get()?, 4000);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct Value<T: Plain> {
    cells: Arc<SharedCells<T>>,
    lock: Lock,
}

impl<T: Plain> Value<T> {
    /// A value in shared memory, starting at `value`, with a new lock.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shared pages cannot be mapped.
    pub fn new(value: T) -> Result<Value<T>> {
        crate::lifecycle::install();
        Ok(Value { cells: Arc::new(SharedCells::new(1, |_| value)?), lock: Lock::new()? })
    }

    /// Takes the lock and gives the value: read it with `*guard`, change it with `*guard = x` or
    /// `*guard += 1`. The lock is released when the guard is dropped. Equivalent to Python's
    /// `with v.get_lock():` followed by uses of `v.value`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the lock cannot be taken (a system error).
    pub fn lock(&self) -> Result<ValueGuard<'_, T>> {
        let held = self.lock.acquire()?;
        Ok(ValueGuard { value: self.cells.cells().cast::<T>(), held, _data: PhantomData })
    }

    /// Reads the value, under the lock. Equivalent to reading Python's `v.value`.
    ///
    /// # Errors
    ///
    /// As [`Value::lock`].
    pub fn get(&self) -> Result<T> {
        Ok(*self.lock()?)
    }

    /// Replaces the value, under the lock. Equivalent to Python's `v.value = x`.
    ///
    /// # Errors
    ///
    /// As [`Value::lock`].
    pub fn set(&self, value: T) -> Result<()> {
        *self.lock()? = value;
        Ok(())
    }

    /// The lock that guards the value. Equivalent to Python's `v.get_lock()`.
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // CPython prints `<Synchronized wrapper for c_int(7)>`; reading needs the lock, and a
        // `Debug` that could wait on another process would surprise: say only what it is.
        write!(f, "<Value<{}> in shared memory>", std::any::type_name::<T>())
    }
}

/// The value of a [`Value`], held under its lock; the lock is released when this is dropped.
///
/// Not `Send`, as the lock's guard. A copy of the guard in a child made by `fork` (moved into
/// the child's closure) panics when used: it holds no lock there (module docs).
pub struct ValueGuard<'a, T: Plain> {
    /// The value in the shared mapping, which lives as long as the `Value` borrowed for `'a`.
    value: NonNull<T>,
    held: LockGuard<'a>,
    /// The guard gives `&mut T` for `'a`.
    _data: PhantomData<&'a mut T>,
}

impl<T: Plain> ValueGuard<'_, T> {
    /// Whether the process that held the lock before died holding it: the value is what it had
    /// stored when it died (module docs).
    pub fn previous_holder_died(&self) -> bool {
        self.held.previous_holder_died()
    }
}

impl<T: Plain> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        refuse_a_copy(&self.held, "ValueGuard");
        // SAFETY: the pointer is to the value in a mapping that lives as long as the borrowed
        // `Value`; this process holds the lock that guards it (checked just above), until the
        // guard is dropped, so no other process or thread reaches the value meanwhile; the
        // reference borrows the guard.
        unsafe { self.value.as_ref() }
    }
}

impl<T: Plain> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        refuse_a_copy(&self.held, "ValueGuard");
        // SAFETY: as in `deref`; the `&mut self` borrow makes this the only reference.
        unsafe { self.value.as_mut() }
    }
}

/// Panics for a guard copied into a child by `fork`: it holds no lock in this process, and the
/// reference it would give could race with the process that does (module docs: why a panic).
fn refuse_a_copy(held: &LockGuard<'_>, guard: &str) {
    if !held.taken_in_this_process() {
        panic!(
            "a {guard} was copied into a child process by fork (moved into the child's closure): \
             it holds no lock in the child, so its data cannot be reached through it; take the \
             lock in the child with lock()"
        );
    }
}

/// A fixed number of `T`s in shared memory, with their lock.
///
/// Equivalent to Python's `multiprocessing.Array(typecode, size_or_initializer)` (with its
/// default lock).
///
/// ```rust,no_run
/// use multiprocessing::{Array, Process};
///
/// let squares = Array::new(10, 0_u64)?;
/// let child_squares = squares.clone();
/// let mut p = Process::new(move || -> multiprocessing::Result<()> {
///     for (i, x) in child_squares.lock()?.iter_mut().enumerate() {
///         *x = (i * i) as u64;
///     }
///     Ok(())
/// });
/// p.start()?;
/// p.join()?;
/// assert_eq!(squares.to_vec()?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct Array<T: Plain> {
    cells: Arc<SharedCells<T>>,
    lock: Lock,
}

impl<T: Plain> Array<T> {
    /// `len` elements, each `fill` (Python's `Array('i', 10)` gives ten zeros).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the shared pages cannot be mapped; [`Error::InvalidState`] when `len`
    /// elements would not fit in memory's address range.
    pub fn new(len: usize, fill: T) -> Result<Array<T>> {
        crate::lifecycle::install();
        Ok(Array { cells: Arc::new(SharedCells::new(len, |_| fill)?), lock: Lock::new()? })
    }

    /// The elements of `values`, copied into shared memory (Python's `Array('i', [1, 2, 3])`).
    ///
    /// # Errors
    ///
    /// As [`Array::new`].
    pub fn from_slice(values: &[T]) -> Result<Array<T>> {
        crate::lifecycle::install();
        Ok(Array { cells: Arc::new(SharedCells::new(values.len(), |i| values[i])?), lock: Lock::new()? })
    }

    /// How many elements there are. Equivalent to Python's `len(a)`.
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Takes the lock and gives the elements as a slice (`guard[i]`, `guard.iter_mut()`,
    /// `guard.copy_from_slice(..)`). The lock is released when the guard is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the lock cannot be taken (a system error).
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>> {
        let held = self.lock.acquire()?;
        Ok(ArrayGuard { elements: self.cells.cells(), held, _data: PhantomData })
    }

    /// Element `index`, under the lock. Equivalent to Python's `a[i]`.
    ///
    /// # Errors
    ///
    /// [`Error::IndexOutOfRange`] when `index >= len()` (Python's `IndexError`); otherwise as
    /// [`Array::lock`].
    pub fn get(&self, index: usize) -> Result<T> {
        let len = self.len();
        self.lock()?.get(index).copied().ok_or(Error::IndexOutOfRange { index, len })
    }

    /// Replaces element `index`, under the lock. Equivalent to Python's `a[i] = x`.
    ///
    /// # Errors
    ///
    /// As [`Array::get`].
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let len = self.len();
        let mut elements = self.lock()?;
        let slot = elements.get_mut(index).ok_or(Error::IndexOutOfRange { index, len })?;
        *slot = value;
        Ok(())
    }

    /// A copy of every element, taken under the lock. Equivalent to Python's `a[:]`.
    ///
    /// # Errors
    ///
    /// As [`Array::lock`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        Ok(self.lock()?.to_vec())
    }

    /// The lock that guards the elements. Equivalent to Python's `a.get_lock()`.
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }
}

impl<T: Plain> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Array<{}> of {} in shared memory>", std::any::type_name::<T>(), self.len())
    }
}

/// The elements of an [`Array`], held under its lock; the lock is released when this is dropped.
///
/// Not `Send`, as the lock's guard. A copy of the guard in a child made by `fork` panics when
/// used, as a [`ValueGuard`]'s does.
pub struct ArrayGuard<'a, T: Plain> {
    /// The elements in the shared mapping, which lives as long as the `Array` borrowed for `'a`.
    elements: NonNull<[T]>,
    held: LockGuard<'a>,
    /// The guard gives `&mut [T]` for `'a`.
    _data: PhantomData<&'a mut [T]>,
}

impl<T: Plain> ArrayGuard<'_, T> {
    /// Whether the process that held the lock before died holding it (see [`Value`]'s module
    /// docs: the elements are what it had stored when it died).
    pub fn previous_holder_died(&self) -> bool {
        self.held.previous_holder_died()
    }
}

impl<T: Plain> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        refuse_a_copy(&self.held, "ArrayGuard");
        // SAFETY: as in `ValueGuard::deref`: `len` initialised elements in a mapping that lives
        // as long as the borrowed `Array`, guarded by the lock this process holds (checked).
        unsafe { self.elements.as_ref() }
    }
}

impl<T: Plain> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        refuse_a_copy(&self.held, "ArrayGuard");
        // SAFETY: as in `deref`; the `&mut self` borrow makes this the only reference.
        unsafe { self.elements.as_mut() }
    }
}
