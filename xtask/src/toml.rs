//! Just enough TOML to read and write Cargo manifests and lock files, without a dependency.
//!
//! It reads what Cargo files contain: tables and arrays of tables (`[a.b]`, `[[bin]]`), dotted
//! keys (`version.workspace = true`), strings of the four kinds, integers, booleans, arrays and
//! inline tables. Anything else (floats, dates) is refused with the line it is on, rather than
//! guessed at. Comments are not kept: [`Table::to_toml`] writes the document out afresh.

use std::fmt::Write as _;

/// A TOML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Boolean(bool),
    Array(Vec<Value>),
    Table(Table),
}

/// A table: its entries in the order they were written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub entries: Vec<(String, Value)>,
    /// Written inline (`{ a = 1 }`) rather than as a `[section]`.
    pub inline: bool,
}

impl Table {
    pub fn inline() -> Table {
        Table { entries: Vec::new(), inline: true }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value at a dotted path of keys (`["workspace", "package"]`).
    pub fn at(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let value = self.get(first)?;
        if rest.is_empty() { Some(value) } else { value.as_table()?.at(rest) }
    }

    pub fn table_at(&self, path: &[&str]) -> Option<&Table> {
        self.at(path).and_then(Value::as_table)
    }

    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).and_then(Value::as_str)
    }

    /// Sets `key`, in place if it exists, else at the end.
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(old) => *old = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1)
    }

    /// Parses a whole document.
    pub fn parse(source: &str) -> Result<Table, String> {
        Parser { chars: source.chars().collect(), pos: 0, line: 1 }.document()
    }

    /// Writes the table as a TOML document: plain keys first, then `[sections]`.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        write_section(&mut out, self, &[]);
        // One blank line between sections, none at the top.
        out.trim_start_matches('\n').to_string()
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_table_mut(&mut self) -> Option<&mut Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// An array of tables written as `[[section]]`s (not inline).
    fn is_array_of_sections(&self) -> bool {
        matches!(self, Value::Array(items) if all_sections(items))
    }

    fn is_section(&self) -> bool {
        matches!(self, Value::Table(t) if !t.inline) || self.is_array_of_sections()
    }
}

fn all_sections(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|v| matches!(v, Value::Table(t) if !t.inline))
}

fn write_section(out: &mut String, table: &Table, path: &[String]) {
    let plain: Vec<&(String, Value)> = table.entries.iter().filter(|(_, v)| !v.is_section()).collect();
    // A table holding only sub-sections needs no header of its own ([lints] for [lints.rust]).
    let has_subsections = plain.len() < table.entries.len();
    if !path.is_empty() && (!plain.is_empty() || !has_subsections) {
        let _ = writeln!(out, "\n[{}]", dotted(path));
    }
    write_plain(out, &plain);
    for (key, value) in &table.entries {
        let mut sub = path.to_vec();
        sub.push(key.clone());
        match value {
            Value::Table(t) if !t.inline => write_section(out, t, &sub),
            Value::Array(items) if value.is_array_of_sections() => {
                for item in items {
                    let Value::Table(t) = item else { unreachable!("checked by is_array_of_sections") };
                    let _ = writeln!(out, "\n[[{}]]", dotted(&sub));
                    let plain: Vec<&(String, Value)> =
                        t.entries.iter().filter(|(_, v)| !v.is_section()).collect();
                    write_plain(out, &plain);
                    for (k, v) in &t.entries {
                        if let Value::Table(inner) = v {
                            if !inner.inline {
                                let mut deeper = sub.clone();
                                deeper.push(k.clone());
                                write_section(out, inner, &deeper);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn write_plain(out: &mut String, entries: &[&(String, Value)]) {
    for (key, value) in entries {
        let _ = writeln!(out, "{} = {}", quote_key(key), inline_value(value));
    }
}

fn dotted(path: &[String]) -> String {
    path.iter().map(|k| quote_key(k)).collect::<Vec<_>>().join(".")
}

fn quote_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        key.to_string()
    } else {
        quote_string(key)
    }
}

fn quote_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value written on one line (sub-tables inline).
pub fn inline_value(value: &Value) -> String {
    match value {
        Value::String(s) => quote_string(s),
        Value::Integer(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(inline_value).collect::<Vec<_>>().join(", "))
        }
        Value::Table(t) if t.entries.is_empty() => "{}".to_string(),
        Value::Table(t) => {
            let entries: Vec<String> =
                t.entries.iter().map(|(k, v)| format!("{} = {}", quote_key(k), inline_value(v))).collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Parser {
    fn error<T>(&self, what: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("line {}: {what}", self.line))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some('#') {
            while !matches!(self.peek(), None | Some('\n')) {
                self.bump();
            }
        }
    }

    /// Spaces, comments and newlines (between array items, between statements).
    fn skip_blank(&mut self) {
        loop {
            self.skip_spaces();
            self.skip_comment();
            match self.peek() {
                Some('\n') => {
                    self.bump();
                }
                Some('\r') if self.peek_at(1) == Some('\n') => {
                    self.bump();
                }
                _ => break,
            }
        }
    }

    /// The end of a statement: spaces, a comment, then a newline or the end.
    fn end_of_line(&mut self) -> Result<(), String> {
        self.skip_spaces();
        self.skip_comment();
        if self.peek() == Some('\r') {
            self.bump();
        }
        match self.peek() {
            None => Ok(()),
            Some('\n') => {
                self.bump();
                Ok(())
            }
            Some(c) => self.error(format!("unexpected {c:?} after a value")),
        }
    }

    fn document(mut self) -> Result<Table, String> {
        let mut root = Table::default();
        // Where the statements that follow go: a path from the root, through arrays' last tables.
        let mut current: Vec<String> = Vec::new();
        loop {
            self.skip_blank();
            let Some(c) = self.peek() else { break };
            if c == '[' {
                self.bump();
                let array = self.peek() == Some('[');
                if array {
                    self.bump();
                }
                self.skip_spaces();
                let path = self.key()?;
                self.skip_spaces();
                if self.bump() != Some(']') || (array && self.bump() != Some(']')) {
                    return self.error("a table header does not end with ']'");
                }
                let line = self.line;
                self.end_of_line()?;
                let (last, parents) = path.split_last().expect("a key has one part at least");
                let parent = descend(&mut root, parents, line)?;
                if array {
                    match parent.get_mut(last) {
                        None => parent
                            .entries
                            .push((last.clone(), Value::Array(vec![Value::Table(Table::default())]))),
                        Some(Value::Array(items)) if all_sections(items) => {
                            items.push(Value::Table(Table::default()))
                        }
                        Some(_) => {
                            return Err(format!("line {line}: [[{}]] redefines a key", path.join(".")));
                        }
                    }
                } else {
                    match parent.get(last) {
                        None => parent.entries.push((last.clone(), Value::Table(Table::default()))),
                        Some(Value::Table(t)) if !t.inline => {}
                        Some(_) => return Err(format!("line {line}: [{}] redefines a key", path.join("."))),
                    }
                }
                current = path;
                continue;
            }
            let line = self.line;
            let key = self.key()?;
            self.skip_spaces();
            if self.bump() != Some('=') {
                return self.error(format!("expected '=' after the key {}", key.join(".")));
            }
            self.skip_spaces();
            let value = self.value()?;
            self.end_of_line()?;
            let table = descend(&mut root, &current, line)?;
            let (last, parents) = key.split_last().expect("a key has one part at least");
            let table = descend(table, parents, line)?;
            if table.get(last).is_some() {
                return Err(format!("line {line}: the key {} is defined twice", key.join(".")));
            }
            table.entries.push((last.clone(), value));
        }
        Ok(root)
    }

    /// A dotted key: `a`, `a.b`, `"quoted".'literal'`.
    fn key(&mut self) -> Result<Vec<String>, String> {
        let mut parts = Vec::new();
        loop {
            self.skip_spaces();
            let part = match self.peek() {
                Some('"') => self.basic_string()?,
                Some('\'') => self.literal_string()?,
                _ => {
                    let mut bare = String::new();
                    while let Some(c) =
                        self.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    {
                        bare.push(c);
                        self.bump();
                    }
                    if bare.is_empty() {
                        return self.error(format!("expected a key, found {:?}", self.peek().unwrap_or(' ')));
                    }
                    bare
                }
            };
            parts.push(part);
            self.skip_spaces();
            if self.peek() == Some('.') {
                self.bump();
            } else {
                return Ok(parts);
            }
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some('"') | Some('\'') => self.string().map(Value::String),
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_blank();
                    if self.peek() == Some(']') {
                        self.bump();
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value()?);
                    self.skip_blank();
                    match self.bump() {
                        Some(',') => {}
                        Some(']') => return Ok(Value::Array(items)),
                        _ => return self.error("expected ',' or ']' in an array"),
                    }
                }
            }
            Some('{') => {
                self.bump();
                let mut table = Table::inline();
                self.skip_spaces();
                if self.peek() == Some('}') {
                    self.bump();
                    return Ok(Value::Table(table));
                }
                loop {
                    let key = self.key()?;
                    self.skip_spaces();
                    if self.bump() != Some('=') {
                        return self.error("expected '=' in an inline table");
                    }
                    self.skip_spaces();
                    let value = self.value()?;
                    let line = self.line;
                    let (last, parents) = key.split_last().expect("a key has one part at least");
                    let target = descend(&mut table, parents, line)?;
                    if target.get(last).is_some() {
                        return self.error(format!("the key {} is defined twice", key.join(".")));
                    }
                    target.entries.push((last.clone(), value));
                    self.skip_spaces();
                    match self.bump() {
                        Some(',') => {}
                        Some('}') => return Ok(Value::Table(table)),
                        _ => return self.error("expected ',' or '}' in an inline table"),
                    }
                }
            }
            _ if self.starts_with("true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            _ if self.starts_with("false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut text = String::new();
                while let Some(c) =
                    self.peek().filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | ',' | ']' | '}' | '#'))
                {
                    text.push(c);
                    self.bump();
                }
                match text.replace('_', "").parse() {
                    Ok(n) => Ok(Value::Integer(n)),
                    Err(_) => self.error(format!("{text:?}: only whole numbers are supported here")),
                }
            }
            Some(c) => self.error(format!("unexpected {c:?} where a value should be")),
            None => self.error("a value is missing at the end"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.starts_with("\"\"\"") {
            self.pos += 3;
            self.skip_first_newline();
            self.basic_body("\"\"\"")
        } else if self.starts_with("'''") {
            self.pos += 3;
            self.skip_first_newline();
            self.literal_body("'''")
        } else if self.peek() == Some('"') {
            self.basic_string()
        } else {
            self.literal_string()
        }
    }

    fn skip_first_newline(&mut self) {
        if self.peek() == Some('\r') && self.peek_at(1) == Some('\n') {
            self.bump();
        }
        if self.peek() == Some('\n') {
            self.bump();
        }
    }

    fn basic_string(&mut self) -> Result<String, String> {
        self.bump();
        self.basic_body("\"")
    }

    fn literal_string(&mut self) -> Result<String, String> {
        self.bump();
        self.literal_body("'")
    }

    fn literal_body(&mut self, end: &str) -> Result<String, String> {
        let mut out = String::new();
        loop {
            if self.starts_with(end) {
                self.pos += end.len();
                return Ok(out);
            }
            match self.bump() {
                Some('\n') if end.len() == 1 => return self.error("a string is not closed on its line"),
                Some(c) => out.push(c),
                None => return self.error("a string is not closed"),
            }
        }
    }

    fn basic_body(&mut self, end: &str) -> Result<String, String> {
        let multiline = end.len() == 3;
        let mut out = String::new();
        loop {
            if self.starts_with(end) {
                self.pos += end.len();
                return Ok(out);
            }
            match self.bump() {
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some(u @ ('u' | 'U')) => {
                        let len = if u == 'u' { 4 } else { 8 };
                        let hex: String = (0..len).filter_map(|_| self.bump()).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(c) => out.push(c),
                            None => return self.error(format!("bad escape \\{u}{hex}")),
                        }
                    }
                    // A line-ending backslash: skip the newline and the blanks after it.
                    Some(c) if multiline && c.is_whitespace() => {
                        while self.peek().is_some_and(char::is_whitespace) {
                            self.bump();
                        }
                    }
                    other => return self.error(format!("bad escape \\{}", other.unwrap_or(' '))),
                },
                Some('\n') if !multiline => return self.error("a string is not closed on its line"),
                Some(c) => out.push(c),
                None => return self.error("a string is not closed"),
            }
        }
    }
}

/// The table at `path` under `table`, created as needed; through an array of tables, its last.
fn descend<'a>(table: &'a mut Table, path: &[String], line: usize) -> Result<&'a mut Table, String> {
    let Some((first, rest)) = path.split_first() else { return Ok(table) };
    if table.get(first).is_none() {
        table
            .entries
            .push((first.clone(), Value::Table(Table { entries: Vec::new(), inline: table.inline })));
    }
    let next = match table.get_mut(first).expect("just inserted") {
        Value::Table(t) => t,
        Value::Array(items) => match items.last_mut() {
            Some(Value::Table(t)) => t,
            _ => return Err(format!("line {line}: {first} is not a table")),
        },
        _ => return Err(format!("line {line}: {first} is a value, not a table")),
    };
    descend(next, rest, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_manifests_contain() {
        let doc = Table::parse(
            r#"# a comment
[package]
name = "x" # trailing comment
version.workspace = true
publish = false
description = """
two \
  lines"""

[[bin]]
name = 'a'
path = "src/main.rs"

[[bin]]
name = "b"

[dependencies]
serde = { version = "1.0", features = ["derive", "std",] }
nix = { version = "0.32", features = [
    "process", # why
    "signal",
] }

[lints.rust]
unsafe_op_in_unsafe_fn = "warn"
"#,
        )
        .unwrap();
        assert_eq!(doc.str_at(&["package", "name"]), Some("x"));
        assert_eq!(doc.at(&["package", "version", "workspace"]), Some(&Value::Boolean(true)));
        assert_eq!(doc.str_at(&["package", "description"]), Some("two lines"));
        assert_eq!(doc.at(&["bin"]).and_then(Value::as_array).map(<[Value]>::len), Some(2));
        let serde = doc.table_at(&["dependencies", "serde"]).unwrap();
        assert!(serde.inline);
        assert_eq!(
            serde.get("features"),
            Some(&Value::Array(vec![Value::String("derive".into()), Value::String("std".into())]))
        );
        assert_eq!(doc.at(&["dependencies", "nix", "features"]).and_then(Value::as_array).unwrap().len(), 2);
    }

    #[test]
    fn writes_what_it_reads() {
        let source = "[package]\nname = \"x\"\n\n[[bin]]\nname = \"a\"\n\n[dependencies]\nserde = { version = \"1.0\", features = [\"derive\"] }\n\n[lints.rust]\nunsafe_op_in_unsafe_fn = \"warn\"\n";
        let doc = Table::parse(source).unwrap();
        assert_eq!(doc.to_toml(), source);
        assert_eq!(Table::parse(&doc.to_toml()).unwrap(), doc);
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(Table::parse("a = 1.5\n").unwrap_err().contains("line 1"));
        assert!(Table::parse("a = 1\na = 2\n").unwrap_err().contains("twice"));
        assert!(Table::parse("a = \"open\n").is_err());
        assert!(Table::parse("[a\n").is_err());
    }
}
