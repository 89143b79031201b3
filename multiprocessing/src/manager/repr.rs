//! Python's `repr` of any `serde` value, for printing a proxy as `print(proxy)` prints it.
//!
//! `print(d)` of a `DictProxy` in Python prints the dict as Python writes it:
//! `{0: 0, 1: 2}`, `['0', '3']`, `{'a': [1, 2.5, None, True]}`. The values here are Rust
//! values, so this module walks them with `serde` (every value a manager holds is `Serialize`)
//! and writes what the matching Python value's `repr` would be:
//!
//! | Rust | Python `repr` |
//! |---|---|
//! | integers | `42`, `-7` |
//! | `f32`, `f64` | `2.5`, `1.0`, `1e+16`, `nan`, `inf` |
//! | `bool` | `True`, `False` |
//! | `String`, `&str`, `char` | `'text'` (in double quotes if it holds a `'` and no `"`) |
//! | bytes (`serde_bytes`) | `b'\x00ab'` |
//! | `None`, `()` | `None` |
//! | `Vec`, slices, sets | `[1, 2]` |
//! | tuples, arrays | `(1, 2)`, `(1,)` |
//! | maps | `{'a': 1}` |
//! | `struct Point { x, y }` | `Point(x=1, y=2)` (a dataclass's repr) |
//! | `enum` variants | `Red`, `Circle(2.0)`, `Move(x=1, y=2)` |

use std::fmt::{self, Write};

use serde::Serialize;
use serde::ser::{self, SerializeMap, SerializeSeq, SerializeStruct, SerializeTuple};

use crate::process::python_repr;

/// Writes Python's `repr` of `value` into `out`.
pub(super) fn write_repr<T: Serialize + ?Sized>(value: &T, out: &mut String) -> Result<(), ReprError> {
    value.serialize(Repr { out })
}

/// A value's `Serialize` failed while it was being printed.
#[derive(Debug)]
pub(super) struct ReprError(String);

impl fmt::Display for ReprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReprError {}

impl ser::Error for ReprError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ReprError(msg.to_string())
    }
}

/// The serializer: appends to `out`.
struct Repr<'a> {
    out: &'a mut String,
}

/// A compound value being written: its items are separated by `, ` and it ends with `close`.
struct Items<'a> {
    out: &'a mut String,
    first: bool,
    close: &'static str,
    /// A one-item tuple is `(x,)` in Python.
    tuple: bool,
}

impl Items<'_> {
    fn separate(&mut self) {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ReprError> {
        self.separate();
        value.serialize(Repr { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), ReprError> {
        self.separate();
        self.out.push_str(name);
        self.out.push('=');
        value.serialize(Repr { out: self.out })
    }

    fn end(self, items: usize) -> Result<(), ReprError> {
        if self.tuple && items == 1 {
            self.out.push(',');
        }
        self.out.push_str(self.close);
        Ok(())
    }
}

/// Counts a tuple's items, for the `(x,)` rule.
struct Tuple<'a> {
    items: Items<'a>,
    count: usize,
}

impl<'a> Repr<'a> {
    fn open(self, open: &str, close: &'static str, tuple: bool) -> Items<'a> {
        self.out.push_str(open);
        Items { out: self.out, first: true, close, tuple }
    }

    /// `Name(`: a named struct, tuple struct or variant, written as a call.
    fn call(self, name: &str) -> Items<'a> {
        self.out.push_str(name);
        self.open("(", ")", false)
    }
}

macro_rules! integers {
    ($($method:ident: $type:ty),*) => {$(
        fn $method(self, v: $type) -> Result<(), ReprError> {
            let _ = write!(self.out, "{v}");
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for Repr<'a> {
    type Ok = ();
    type Error = ReprError;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Tuple<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Items<'a>;
    type SerializeMap = Items<'a>;
    type SerializeStruct = Items<'a>;
    type SerializeStructVariant = Items<'a>;

    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
              serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
              serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, v: bool) -> Result<(), ReprError> {
        self.out.push_str(if v { "True" } else { "False" });
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), ReprError> {
        // The shortest digits that give back the f32, not those of the f64 it widens to.
        python_float(v.is_finite(), v.is_nan(), v < 0.0, format!("{v}"), format!("{v:e}"), self.out);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), ReprError> {
        python_float(v.is_finite(), v.is_nan(), v < 0.0, format!("{v}"), format!("{v:e}"), self.out);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), ReprError> {
        self.out.push_str(&python_repr(v.encode_utf8(&mut [0; 4])));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), ReprError> {
        self.out.push_str(&python_repr(v));
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), ReprError> {
        python_bytes(v, self.out);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), ReprError> {
        self.out.push_str("None");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ReprError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), ReprError> {
        self.out.push_str("None");
        Ok(())
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), ReprError> {
        self.out.push_str(name);
        self.out.push_str("()");
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), ReprError> {
        self.out.push_str(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), ReprError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), ReprError> {
        self.out.push_str(variant);
        self.out.push('(');
        value.serialize(Repr { out: self.out })?;
        self.out.push(')');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Items<'a>, ReprError> {
        Ok(self.open("[", "]", false))
    }

    fn serialize_tuple(self, _: usize) -> Result<Tuple<'a>, ReprError> {
        Ok(Tuple { items: self.open("(", ")", true), count: 0 })
    }

    fn serialize_tuple_struct(self, name: &'static str, _: usize) -> Result<Items<'a>, ReprError> {
        Ok(self.call(name))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Items<'a>, ReprError> {
        Ok(self.call(variant))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Items<'a>, ReprError> {
        Ok(self.open("{", "}", false))
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Items<'a>, ReprError> {
        Ok(self.call(name))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Items<'a>, ReprError> {
        Ok(self.call(variant))
    }
}

impl SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = ReprError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ReprError> {
        self.item(value)
    }
    fn end(self) -> Result<(), ReprError> {
        Items::end(self, 0)
    }
}

impl SerializeTuple for Tuple<'_> {
    type Ok = ();
    type Error = ReprError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ReprError> {
        self.count += 1;
        self.items.item(value)
    }
    fn end(self) -> Result<(), ReprError> {
        self.items.end(self.count)
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = ReprError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ReprError> {
        self.item(value)
    }
    fn end(self) -> Result<(), ReprError> {
        Items::end(self, 0)
    }
}

impl ser::SerializeTupleVariant for Items<'_> {
    type Ok = ();
    type Error = ReprError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ReprError> {
        self.item(value)
    }
    fn end(self) -> Result<(), ReprError> {
        Items::end(self, 0)
    }
}

impl SerializeMap for Items<'_> {
    type Ok = ();
    type Error = ReprError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ReprError> {
        self.item(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ReprError> {
        self.out.push_str(": ");
        value.serialize(Repr { out: self.out })
    }
    fn end(self) -> Result<(), ReprError> {
        Items::end(self, 0)
    }
}

impl SerializeStruct for Items<'_> {
    type Ok = ();
    type Error = ReprError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ReprError> {
        self.field(name, value)
    }
    fn end(self) -> Result<(), ReprError> {
        Items::end(self, 0)
    }
}

impl ser::SerializeStructVariant for Items<'_> {
    type Ok = ();
    type Error = ReprError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ReprError> {
        self.field(name, value)
    }
    fn end(self) -> Result<(), ReprError> {
        Items::end(self, 0)
    }
}

/// Python's `repr` of a float, from Rust's shortest digits (`plain`, `{}`, and `scientific`,
/// `{:e}`, which give back the same number): positional with at least one decimal when the
/// exponent is from -4 to 15, else `d.ddde+XX` with at least two exponent digits.
fn python_float(
    finite: bool,
    nan: bool,
    negative: bool,
    plain: String,
    scientific: String,
    out: &mut String,
) {
    if !finite {
        out.push_str(match (nan, negative) {
            (true, _) => "nan",
            (false, true) => "-inf",
            (false, false) => "inf",
        });
        return;
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        out.push_str(&plain);
        if !plain.contains('.') {
            out.push_str(".0");
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
}

/// Python's `repr` of `bytes`: `b'...'`, printable ASCII as it is, the rest as `\xNN`.
fn python_bytes(bytes: &[u8], out: &mut String) {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') { b'"' } else { b'\'' };
    out.push('b');
    out.push(quote as char);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b if b == quote => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push(quote as char);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    fn repr<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = String::new();
        write_repr(value, &mut out).unwrap();
        out
    }

    #[derive(Serialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[derive(Serialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Segment(Point, Point),
        Move { dx: i8 },
    }

    #[derive(Serialize)]
    struct Meters(f32);

    #[test]
    fn values_print_as_cpython_prints_the_matching_python_values() {
        // Each right-hand side is what CPython 3.11 printed for the matching Python value.
        assert_eq!(repr(&vec![0, 1, 2]), "[0, 1, 2]");
        assert_eq!(repr(&vec!["0", "3", "1"]), "['0', '3', '1']");
        assert_eq!(repr(&Vec::<String>::new()), "[]");
        assert_eq!(repr(&(1, "a")), "(1, 'a')");
        assert_eq!(repr(&(7,)), "(7,)");
        assert_eq!(repr(&()), "None");
        assert_eq!(repr(&[1u8, 2]), "(1, 2)");
        assert_eq!(repr(&BTreeMap::from([(0, 0), (1, 2)])), "{0: 0, 1: 2}");
        assert_eq!(repr(&BTreeMap::<i32, i32>::new()), "{}");
        assert_eq!(repr(&(Some(true), None::<u8>, false)), "(True, None, False)");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(
            repr("tab\there\n\u{1}\u{7f}é\u{2028}\u{1F600}"),
            "'tab\\there\\n\\x01\\x7fé\\u2028\u{1F600}'"
        );
        assert_eq!(repr(&'x'), "'x'");
        assert_eq!(repr(&-12i64), "-12");
        assert_eq!(repr(&u128::MAX), "340282366920938463463374607431768211455");
    }

    #[test]
    fn floats_print_as_python_floats() {
        for (value, python) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e300, "1.2345e+300"),
            (123456.789, "123456.789"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(repr(&value), python, "{value:?}");
        }
        // An f32 prints its own shortest digits, as numpy.float32's repr does.
        assert_eq!(repr(&0.1f32), "0.1");
        assert_eq!(repr(&Meters(2.0)), "2.0");
    }

    #[test]
    fn structs_and_enums_print_as_dataclasses_and_names() {
        assert_eq!(repr(&Point { x: 1, y: -2 }), "Point(x=1, y=-2)");
        assert_eq!(repr(&Shape::Empty), "Empty");
        assert_eq!(repr(&Shape::Circle(2.0)), "Circle(2.0)");
        assert_eq!(
            repr(&Shape::Segment(Point { x: 0, y: 0 }, Point { x: 1, y: 1 })),
            "Segment(Point(x=0, y=0), Point(x=1, y=1))"
        );
        assert_eq!(repr(&Shape::Move { dx: 3 }), "Move(dx=3)");
        assert_eq!(repr(&vec![(1, vec!["a"])]), "[(1, ['a'])]");
    }

    #[test]
    fn bytes_print_as_python_bytes() {
        let mut out = String::new();
        python_bytes(b"\x00ab'\\\n\xff", &mut out);
        assert_eq!(out, "b\"\\x00ab'\\\\\\n\\xff\"");
    }
}
