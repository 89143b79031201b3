//! The proxies: typed handles whose every method is one request to the server.
//!
//! A proxy holds where the server is (an `Arc<Link>`) and the object's id; nothing of the
//! object itself. Cloning it, or capturing it in a process's closure, copies those two, so every
//! copy in every process names the same object. Each method encodes its arguments, sends one
//! request, and decodes the reply into the proxy's types: what you get is a copy of what the
//! server holds at that instant, and changing that copy changes nothing on the server (Python's
//! `ns.my_list.append(x)` is lost for the same reason).

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::wire;

use super::client::{Link, Reply, bad_reply, expect_ok};
use super::protocol::{MISSING, OK, OUT_OF_RANGE, Op};
use super::repr::write_repr;

/// Decodes the next value frame of a reply.
fn value<T: DeserializeOwned>(reply: &mut Reply<'_>) -> Result<T> {
    wire::decode(reply.fields.frame().map_err(bad_reply)?)
}

/// Decodes every remaining value frame of a reply.
fn values<T: DeserializeOwned>(mut reply: Reply<'_>) -> Result<Vec<T>> {
    expect_ok(&reply)?;
    let mut out = Vec::new();
    while !reply.fields.is_empty() {
        out.push(value(&mut reply)?);
    }
    Ok(out)
}

/// Reads a reply that is a count.
fn count(mut reply: Reply<'_>) -> Result<usize> {
    expect_ok(&reply)?;
    Ok(reply.fields.u64().map_err(bad_reply)? as usize)
}

/// Reads a reply that is a yes or no.
fn flag(mut reply: Reply<'_>) -> Result<bool> {
    expect_ok(&reply)?;
    Ok(reply.fields.byte().map_err(bad_reply)? != 0)
}

/// Reads a reply that is a value or nothing (`MISSING`).
fn maybe<T: DeserializeOwned>(mut reply: Reply<'_>) -> Result<Option<T>> {
    match reply.status {
        MISSING => Ok(None),
        _ => {
            expect_ok(&reply)?;
            value(&mut reply).map(Some)
        }
    }
}

/// A dict that lives in a [`Manager`](crate::Manager)'s server process, shared by every process
/// that holds a copy of this proxy.
///
/// Equivalent to the `DictProxy` that Python's `Manager().dict()` returns. Keys and values are
/// any `serde` types; each method is one round trip to the server. Keys keep their insertion
/// order, as in a Python dict. Two keys are the same key when they encode to the same bytes (the
/// `manager` module's docs say what that means for floats and maps).
///
/// `println!("{d}")` prints the dict as Python's `print(d)` does: `{0: 0, 1: 2}`.
///
/// ```rust,no_run
/// use multiprocessing::{Manager, Process};
///
/// let manager = Manager::new()?;
/// let d = manager.dict::<String, u32>()?;
/// let mut p = Process::new({
///     let d = d.clone();
///     move || d.set("answer", &42)
/// });
/// p.start()?;
/// p.join()?;
/// assert_eq!(d.get("answer")?, Some(42));
/// println!("{d}"); // {'answer': 42}
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct DictProxy<K, V> {
    link: Arc<Link>,
    id: u32,
    /// The types this proxy reads and writes; `fn() -> _` so that the proxy is `Send` and `Sync`
    /// whatever they are (it holds none of them).
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for DictProxy<K, V> {
    fn clone(&self) -> Self {
        DictProxy { link: Arc::clone(&self.link), id: self.id, _types: PhantomData }
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    pub(super) fn new(link: Arc<Link>, id: u32) -> Self {
        DictProxy { link, id, _types: PhantomData }
    }

    /// Sets `key` to `value`. Equivalent to Python's `d[key] = value`.
    ///
    /// `key` may be a borrowed form of `K` (a `&str` for a `String` key), as with a `HashMap`;
    /// likewise `value`.
    pub fn set<Q, W>(&self, key: &Q, value: &W) -> Result<()>
    where
        K: Borrow<Q>,
        V: Borrow<W>,
        Q: Serialize + ?Sized,
        W: Serialize + ?Sized,
    {
        self.link.call(
            Op::DictSet,
            self.id,
            |request| {
                request.value(key)?;
                request.value(value)
            },
            |reply| expect_ok(&reply),
        )
    }

    /// The value of `key`, or `None`. Equivalent to Python's `d.get(key)`.
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
    {
        self.link.call(Op::DictGet, self.id, |request| request.value(key), maybe)
    }

    /// Removes `key` and returns its value, or `None` if it was not there. Equivalent to
    /// Python's `d.pop(key, None)`.
    pub fn remove<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
    {
        self.link.call(Op::DictRemove, self.id, |request| request.value(key), maybe)
    }

    /// Whether `key` is in the dict. Equivalent to Python's `key in d`.
    pub fn contains_key<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
    {
        self.link.call(Op::DictContains, self.id, |request| request.value(key), flag)
    }

    /// The number of keys. Equivalent to Python's `len(d)`.
    pub fn len(&self) -> Result<usize> {
        self.link.call(Op::DictLen, self.id, |_| Ok(()), count)
    }

    /// Whether the dict has no keys. Equivalent to Python's `not d`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The keys, in insertion order. Equivalent to Python's `list(d.keys())`.
    pub fn keys(&self) -> Result<Vec<K>> {
        self.link.call(Op::DictKeys, self.id, |_| Ok(()), values)
    }

    /// The values, in their keys' insertion order. Equivalent to Python's `list(d.values())`.
    pub fn values(&self) -> Result<Vec<V>> {
        self.link.call(Op::DictValues, self.id, |_| Ok(()), values)
    }

    /// The keys and values, in insertion order: a copy of the whole dict. Equivalent to
    /// Python's `list(d.items())`.
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        self.link.call(
            Op::DictItems,
            self.id,
            |_| Ok(()),
            |mut reply| {
                expect_ok(&reply)?;
                let mut items = Vec::new();
                while !reply.fields.is_empty() {
                    let key = value(&mut reply)?;
                    items.push((key, value(&mut reply)?));
                }
                Ok(items)
            },
        )
    }

    /// Removes every key. Equivalent to Python's `d.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.link.call(Op::DictClear, self.id, |_| Ok(()), |reply| expect_ok(&reply))
    }

    /// Python's `str(d)`: the dict as Python writes it, or the error that prevented it.
    fn python_str(&self) -> Result<String> {
        let items = self.items()?;
        let mut out = String::from("{");
        for (i, (key, value)) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_repr(key, &mut out).map_err(|e| Error::Encode(format!("a value's Python repr: {e}")))?;
            out.push_str(": ");
            write_repr(value, &mut out).map_err(|e| Error::Encode(format!("a value's Python repr: {e}")))?;
        }
        out.push('}');
        Ok(out)
    }
}

/// Python's `print(d)`: asks the server for the items and writes them as Python writes a dict,
/// `{0: 0, 4: 8}`. If the server cannot be asked (it is gone), writes the error in angle
/// brackets instead, since printing cannot fail.
impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> fmt::Display for DictProxy<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.python_str() {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "<DictProxy object, typeid 'dict': {e}>"),
        }
    }
}

/// Python's `repr(d)`: which object of which manager, without asking the server.
impl<K, V> fmt::Debug for DictProxy<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<DictProxy object, typeid 'dict', id {} of the manager at {:?}>",
            self.id, self.link.socket
        )
    }
}

/// A list that lives in a [`Manager`](crate::Manager)'s server process, shared by every process
/// that holds a copy of this proxy.
///
/// Equivalent to the `ListProxy` that Python's `Manager().list()` returns. Elements are any
/// `serde` type; each method is one round trip to the server. `println!("{l}")` prints the list
/// as Python's `print(l)` does: `['0', '3', '1']`.
///
/// ```rust,no_run
/// use multiprocessing::Manager;
///
/// let manager = Manager::new()?;
/// let active = manager.list::<String>()?;
/// active.append("0")?;
/// active.append("3")?;
/// active.remove("0")?;
/// println!("Now running {active}"); // Now running ['3']
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct ListProxy<T> {
    link: Arc<Link>,
    id: u32,
    /// The type this proxy reads and writes (it holds none).
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for ListProxy<T> {
    fn clone(&self) -> Self {
        ListProxy { link: Arc::clone(&self.link), id: self.id, _type: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    pub(super) fn new(link: Arc<Link>, id: u32) -> Self {
        ListProxy { link, id, _type: PhantomData }
    }

    /// Adds `value` at the end. Equivalent to Python's `l.append(value)`. `value` may be a
    /// borrowed form of `T` (a `&str` for a `String` list).
    pub fn append<W: Serialize + ?Sized>(&self, value: &W) -> Result<()>
    where
        T: Borrow<W>,
    {
        self.link.call(Op::ListAppend, self.id, |request| request.value(value), |reply| expect_ok(&reply))
    }

    /// Adds every value at the end, in one request. Equivalent to Python's `l.extend(values)`.
    pub fn extend<I>(&self, values: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Borrow<T>,
    {
        self.link.call(
            Op::ListExtend,
            self.id,
            |request| values.into_iter().try_for_each(|v| request.value(v.borrow())),
            |reply| expect_ok(&reply),
        )
    }

    /// The element at `index`. Equivalent to Python's `l[index]`; past the end it is
    /// [`Error::ListIndexOutOfRange`] (Python's `IndexError`).
    pub fn get(&self, index: usize) -> Result<T> {
        self.link.call(
            Op::ListGet,
            self.id,
            |request| {
                request.u64(index as u64);
                Ok(())
            },
            |mut reply| match reply.status {
                OUT_OF_RANGE => Err(out_of_range(index, &mut reply)),
                _ => {
                    expect_ok(&reply)?;
                    value(&mut reply)
                }
            },
        )
    }

    /// Replaces the element at `index`. Equivalent to Python's `l[index] = value`; past the end
    /// it is [`Error::ListIndexOutOfRange`].
    pub fn set<W: Serialize + ?Sized>(&self, index: usize, value: &W) -> Result<()>
    where
        T: Borrow<W>,
    {
        self.link.call(
            Op::ListSet,
            self.id,
            |request| {
                request.u64(index as u64);
                request.value(value)
            },
            |mut reply| match reply.status {
                OUT_OF_RANGE => Err(out_of_range(index, &mut reply)),
                _ => expect_ok(&reply),
            },
        )
    }

    /// Inserts `value` before `index`; an index past the end appends. Equivalent to Python's
    /// `l.insert(index, value)`.
    pub fn insert<W: Serialize + ?Sized>(&self, index: usize, value: &W) -> Result<()>
    where
        T: Borrow<W>,
    {
        self.link.call(
            Op::ListInsert,
            self.id,
            |request| {
                request.u64(index as u64);
                request.value(value)
            },
            |reply| expect_ok(&reply),
        )
    }

    /// Removes the first element equal to `value` (the same bytes once encoded). Equivalent to
    /// Python's `l.remove(value)`; when there is none it is [`Error::NotInList`] (Python's
    /// `ValueError`).
    pub fn remove<W: Serialize + ?Sized>(&self, value: &W) -> Result<()>
    where
        T: Borrow<W>,
    {
        self.link.call(
            Op::ListRemove,
            self.id,
            |request| request.value(value),
            |reply| match reply.status {
                MISSING => Err(Error::NotInList),
                _ => expect_ok(&reply),
            },
        )
    }

    /// Removes and returns the last element, or `None` for an empty list. Equivalent to
    /// Python's `l.pop()` (which raises `IndexError` on an empty list).
    pub fn pop(&self) -> Result<Option<T>> {
        self.link.call(Op::ListPop, self.id, |_| Ok(()), maybe)
    }

    /// Whether an element equals `value`. Equivalent to Python's `value in l`.
    pub fn contains<W: Serialize + ?Sized>(&self, value: &W) -> Result<bool>
    where
        T: Borrow<W>,
    {
        self.link.call(Op::ListContains, self.id, |request| request.value(value), flag)
    }

    /// The number of elements. Equivalent to Python's `len(l)`.
    pub fn len(&self) -> Result<usize> {
        self.link.call(Op::ListLen, self.id, |_| Ok(()), count)
    }

    /// Whether the list is empty. Equivalent to Python's `not l`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of the whole list. Equivalent to Python's `l[:]` (or `list(l)`).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.link.call(Op::ListItems, self.id, |_| Ok(()), values)
    }

    /// Removes every element. Equivalent to Python's `l.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.link.call(Op::ListClear, self.id, |_| Ok(()), |reply| expect_ok(&reply))
    }
}

fn out_of_range(index: usize, reply: &mut Reply<'_>) -> Error {
    match reply.fields.u64() {
        Ok(len) => Error::ListIndexOutOfRange { index, len: len as usize },
        Err(why) => bad_reply(why),
    }
}

/// Python's `print(l)`: asks the server for the elements and writes them as Python writes a
/// list, `['0', '3', '1']`; if the server cannot be asked, the error in angle brackets.
impl<T: Serialize + DeserializeOwned> fmt::Display for ListProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_vec().and_then(|list| {
            let mut out = String::new();
            write_repr(&list, &mut out).map_err(|e| Error::Encode(format!("a value's Python repr: {e}")))?;
            Ok(out)
        });
        match text {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "<ListProxy object, typeid 'list': {e}>"),
        }
    }
}

/// Python's `repr(l)`: which object of which manager, without asking the server.
impl<T> fmt::Debug for ListProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<ListProxy object, typeid 'list', id {} of the manager at {:?}>",
            self.id, self.link.socket
        )
    }
}

/// A namespace that lives in a [`Manager`](crate::Manager)'s server process: named attributes,
/// each of any `serde` type, shared by every process that holds a copy of this proxy.
///
/// Equivalent to the proxy that Python's `Manager().Namespace()` returns. Python's
/// `ns.value = x` is `ns.set("value", &x)`, and `ns.value` is `ns.get::<T>("value")`, which
/// returns a *copy*: pushing onto a list read from the namespace changes nothing on the server,
/// as in Python. Set the whole value again instead.
///
/// ```rust,no_run
/// use multiprocessing::Manager;
///
/// let manager = Manager::new()?;
/// let ns = manager.namespace()?;
/// ns.set("my_list", &Vec::<String>::new())?;
/// ns.get::<Vec<String>>("my_list")?.push("lost".into()); // a copy: the server's list is unchanged
/// assert!(ns.get::<Vec<String>>("my_list")?.is_empty());
/// assert!(ns.get::<String>("missing").is_err()); // 'Namespace' object has no attribute 'missing'
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Clone)]
pub struct Namespace {
    link: Arc<Link>,
    id: u32,
}

impl Namespace {
    pub(super) fn new(link: Arc<Link>, id: u32) -> Self {
        Namespace { link, id }
    }

    /// Sets the attribute `name`. Equivalent to Python's `ns.name = value`.
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        self.link.call(
            Op::DictSet,
            self.id,
            |request| {
                request.value(name)?;
                request.value(value)
            },
            |reply| expect_ok(&reply),
        )
    }

    /// A copy of the attribute `name`. Equivalent to Python's `ns.name`; an attribute that was
    /// never set is [`Error::NoAttribute`] (Python's `AttributeError`), and one set with another
    /// type is usually [`Error::Decode`].
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        self.link.call(
            Op::DictGet,
            self.id,
            |request| request.value(name),
            |reply| maybe(reply)?.ok_or_else(|| Error::NoAttribute { name: name.to_string() }),
        )
    }

    /// Removes the attribute `name`. Equivalent to Python's `del ns.name`
    /// ([`Error::NoAttribute`] if it is not there).
    pub fn remove(&self, name: &str) -> Result<()> {
        self.link.call(
            Op::DictRemove,
            self.id,
            |request| request.value(name),
            |reply| match reply.status {
                MISSING => Err(Error::NoAttribute { name: name.to_string() }),
                OK => Ok(()),
                _ => expect_ok(&reply),
            },
        )
    }

    /// Whether the attribute `name` is set. Equivalent to Python's `hasattr(ns, name)`.
    pub fn contains(&self, name: &str) -> Result<bool> {
        self.link.call(Op::DictContains, self.id, |request| request.value(name), flag)
    }

    /// The names of the attributes, in the order they were first set.
    pub fn names(&self) -> Result<Vec<String>> {
        self.link.call(Op::DictKeys, self.id, |_| Ok(()), values)
    }
}

/// Which object of which manager, without asking the server (the values' types are not known
/// here, so Python's `Namespace(value=...)` cannot be written).
impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<NamespaceProxy object, typeid 'Namespace', id {} of the manager at {:?}>",
            self.id, self.link.socket
        )
    }
}
