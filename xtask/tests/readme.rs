//! README.md and its translation, README.pt-BR.md, give students the same commands.
//!
//! The rule: the set of commands in README.pt-BR.md equals the set of commands in README.md's
//! student part (everything before `## How it works underneath`; the translation leaves the
//! internals to README.md). A command is a line of a ```sh block, its `# comment` removed, or a
//! `cargo ...` code span in a table row. Equal sets, rather than "each file's commands appear
//! somewhere in the other", catch a command changed in one file only even when the old spelling
//! is still a substring of something else: the changed command is missing from one side and the
//! old one from the other, and the failure names both.
//!
//! Besides: every `cargo ...` code span in the translation's prose is one that README.md has
//! too (README.md may have more), each file links the other, and every link between them, or
//! within one, points at a heading that exists.
//!
//! And every variant of the crate's `Error` has a row in the translation's table of errors.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// Where README.md's student part ends.
const INTERNALS: &str = "\n## How it works underneath";

fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// README.md up to its internals.
fn student_part(readme: &str) -> &str {
    let end = readme
        .find(INTERNALS)
        .unwrap_or_else(|| panic!("README.md has no {:?} heading to end its student part", INTERNALS.trim()));
    &readme[..end]
}

/// A Markdown file split into the lines of its ```sh blocks and the text outside any block.
struct Doc {
    sh_lines: Vec<String>,
    outside: String,
}

fn parse(markdown: &str) -> Doc {
    let mut doc = Doc { sh_lines: Vec::new(), outside: String::new() };
    let mut fence: Option<(String, bool)> = None; // the fence's backticks, and whether it is sh
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        match &fence {
            None if trimmed.starts_with("```") => {
                let ticks: String = trimmed.chars().take_while(|&c| c == '`').collect();
                let lang = trimmed[ticks.len()..].trim();
                fence = Some((ticks, matches!(lang, "sh" | "bash" | "shell" | "console")));
            }
            None => {
                doc.outside.push_str(line);
                doc.outside.push('\n');
            }
            Some((ticks, _)) if trimmed.starts_with(ticks.as_str()) && trimmed.trim_end() == ticks => {
                fence = None;
            }
            Some((_, true)) => doc.sh_lines.push(line.to_string()),
            Some((_, false)) => {}
        }
    }
    assert!(fence.is_none(), "a ``` block is never closed");
    doc
}

/// Collapses runs of whitespace to one space, as Markdown renders them.
fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A shell line without its `# comment` (a `#` that starts a word outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

/// The commands of the ```sh blocks: one per line, `\` continuations joined.
fn sh_commands(doc: &Doc) -> Vec<String> {
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in &doc.sh_lines {
        let code = strip_comment(line).trim_end();
        if let Some(start) = code.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let command = normalize(&pending);
        pending.clear();
        if !command.is_empty() {
            commands.push(command);
        }
    }
    assert!(pending.trim().is_empty(), "a ```sh block ends with a `\\` continuation");
    commands
}

/// The code spans of Markdown text outside code blocks (CommonMark: a run of n backticks opens
/// one, the next run of exactly n closes it), whitespace collapsed.
fn code_spans(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let run_at = |i: usize| bytes[i..].iter().take_while(|&&b| b == b'`').count();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let open = run_at(i);
        let start = i + open;
        let mut j = start;
        let mut close = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let run = run_at(j);
                if run == open {
                    close = Some(j);
                    break;
                }
                j += run;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                spans.push(normalize(&text[start..end]));
                i = end + open;
            }
            None => i = start, // an unmatched run is literal text
        }
    }
    spans
}

fn is_cargo(span: &str) -> bool {
    span.starts_with("cargo ")
}

/// The `cargo ...` code spans in table rows (each row is one line).
fn table_commands(doc: &Doc) -> Vec<String> {
    doc.outside
        .lines()
        .filter(|line| line.trim_start().starts_with('|'))
        .flat_map(code_spans)
        .filter(|span| is_cargo(span))
        .collect()
}

/// Every command of a Markdown text: ```sh lines and `cargo ...` spans in table cells.
fn commands(markdown: &str) -> BTreeSet<String> {
    let doc = parse(markdown);
    sh_commands(&doc).into_iter().chain(table_commands(&doc)).collect()
}

/// The rule of this file (see the header). `Err` lists each difference.
fn compare(readme: &str, translation: &str) -> Result<(), String> {
    let english = commands(student_part(readme));
    let portuguese = commands(translation);
    let mut problems = Vec::new();
    for command in english.difference(&portuguese) {
        problems.push(format!("only in README.md: {command}"));
    }
    for command in portuguese.difference(&english) {
        problems.push(format!("only in README.pt-BR.md: {command}"));
    }

    let doc = parse(readme);
    let known: BTreeSet<String> =
        code_spans(&doc.outside).into_iter().filter(|s| is_cargo(s)).chain(commands(readme)).collect();
    for span in code_spans(&parse(translation).outside).into_iter().filter(|s| is_cargo(s)) {
        // Table cells are commands, compared above.
        if !portuguese.contains(&span) && !known.contains(&span) {
            problems.push(format!("README.pt-BR.md's prose names `{span}`, which README.md does not have"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    parse(markdown)
        .outside
        .lines()
        .filter_map(|line| {
            let hashes = line.chars().take_while(|&c| c == '#').count();
            (1..=6).contains(&hashes).then(|| line[hashes..].strip_prefix(' ')).flatten()
        })
        .map(slug)
        .collect()
}

/// The targets of the inline links `[text](target)` of a Markdown text.
fn link_targets(markdown: &str) -> Vec<String> {
    let outside = parse(markdown).outside;
    outside
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_string()))
        .collect()
}

#[test]
fn both_readmes_give_the_same_commands() {
    let readme = read("README.md");
    let translation = read("README.pt-BR.md");
    let english = commands(student_part(&readme));
    // The extraction found what it must: the two set-up commands and the examples' table.
    for expected in ["cargo xtask verify", "cargo test --workspace", "cargo run -p examples-event"] {
        assert!(english.contains(expected), "README.md's commands lack `{expected}`: {english:#?}");
    }
    if let Err(problems) = compare(&readme, &translation) {
        panic!("README.md and README.pt-BR.md disagree (change both):\n{problems}");
    }
}

#[test]
fn the_readmes_link_each_other_and_every_anchor_exists() {
    let files = [("README.md", read("README.md")), ("README.pt-BR.md", read("README.pt-BR.md"))];
    for (name, text) in &files {
        let other = if *name == "README.md" { "README.pt-BR.md" } else { "README.md" };
        let targets = link_targets(text);
        assert!(
            targets.iter().any(|t| t == other),
            "{name} has no link to {other} (a `[...]({other})`): {targets:?}"
        );
        for target in targets {
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = match file {
                "" => text,
                "README.md" | "README.pt-BR.md" => &files.iter().find(|(n, _)| *n == file).expect("listed").1,
                _ => continue,
            };
            assert!(
                anchor.is_empty() || anchors(linked).contains(anchor),
                "{name} links `{target}`, but {} has no heading with that anchor",
                if file.is_empty() { name } else { file }
            );
        }
    }
}

/// The rule fails when any one command is changed in one file only: each command of each file
/// is changed in turn, in that file's text alone.
#[test]
fn a_command_changed_in_one_file_only_is_caught() {
    let readme = read("README.md");
    let translation = read("README.pt-BR.md");
    if compare(&readme, &translation).is_err() {
        return; // the files disagree already: both_readmes_give_the_same_commands says how
    }
    for command in commands(&translation) {
        let changed = translation.replace(&command, &format!("{command}-x"));
        assert_ne!(changed, translation, "`{command}` is not written as it is extracted");
        let problems = compare(&readme, &changed).expect_err(&command);
        assert!(problems.contains(&format!("only in README.md: {command}")), "{problems}");
    }
    for command in commands(student_part(&readme)) {
        let changed = readme.replace(&command, &format!("{command}-x"));
        assert_ne!(changed, readme, "`{command}` is not written as it is extracted");
        let problems = compare(&changed, &translation).expect_err(&command);
        assert!(problems.contains(&format!("only in README.pt-BR.md: {command}")), "{problems}");
    }
}

#[test]
fn the_extraction_reads_blocks_comments_and_tables() {
    let markdown = "\
Prose with `cargo doc --open` is not a command.

```sh
# a comment line
cargo run -p a   # what it does
cargo run --release \\
    -p b -- --flag \"x # y\"
```

```rust
// cargo build is code here, not a command
```

| slide | command |
|---|---|
| `Process(target=f)` | `cargo run -p c` and `move \\|\\| f()` |
";
    let found: Vec<String> = commands(markdown).into_iter().collect();
    assert_eq!(found, ["cargo run --release -p b -- --flag \"x # y\"", "cargo run -p a", "cargo run -p c"]);
    assert_eq!(code_spans("a `` x ` y `` b `c\nd` `e"), ["x ` y", "c d"]);
    assert_eq!(slug("Reliability: what survives what"), "reliability-what-survives-what");
    assert_eq!(slug("Set-up: two commands"), "set-up-two-commands");
}

/// The Rust column of the Python-to-Rust table that follows `heading`: its code spans, with the
/// table's `\|` escapes undone.
fn rust_cells(markdown: &str, heading: &str) -> Vec<String> {
    let start = markdown.find(heading).unwrap_or_else(|| panic!("no {heading:?} heading"));
    let table = &markdown[start..];
    let end = table[heading.len()..].find("\n## ").map_or(table.len(), |i| i + heading.len());
    table[..end]
        .lines()
        .filter(|line| line.starts_with('|') && !line.starts_with("|---"))
        .skip(1) // the header row
        .filter_map(|row| {
            // The second cell: split on `|` not escaped as `\|`.
            let row = row.replace("\\|", "\u{1}");
            row.split('|').nth(2).map(|cell| cell.replace('\u{1}', "|"))
        })
        .flat_map(|cell| code_spans(&cell))
        .collect()
}

#[test]
fn every_rust_cell_of_the_table_is_in_a_program_that_compiles() {
    // multiprocessing/src/lib.rs holds `PythonTable`, a doc test (compiled by `cargo test`) that
    // uses every cell; a cell that is schematic (`...`) is left out.
    let lib = read("multiprocessing/src/lib.rs");
    let doc_test: String = lib
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("///"))
        .map(|line| normalize(line.strip_prefix(' ').unwrap_or(line).trim_start_matches("# ")))
        .collect::<Vec<_>>()
        .join("\n");
    for (file, heading) in [
        ("README.md", "## Python on the slides, Rust here"),
        ("README.pt-BR.md", "## Do Python dos slides ao Rust"),
    ] {
        let cells = rust_cells(&read(file), heading);
        assert!(cells.len() > 20, "{file}: only {} cells found in the table", cells.len());
        for cell in cells.iter().filter(|cell| !cell.contains("...")) {
            assert!(
                doc_test.contains(cell.as_str()),
                "{file}: `{cell}` is in no compiled example (PythonTable in lib.rs)"
            );
        }
    }
}

/// The variants of the crate's `Error`, read from its source: each line of the enum's body that
/// starts a variant (`    Name,`, `    Name(..),`, `    Name {`).
fn error_variants(source: &str) -> Vec<String> {
    let body_start = source.find("pub enum Error {").expect("error.rs declares `pub enum Error`");
    let body = &source[body_start..];
    let body = &body[..body.find("\n}\n").expect("the enum's body ends")];
    body.lines()
        .filter_map(|line| line.strip_prefix("    "))
        .filter(|line| line.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|line| line.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("").to_string())
        .collect()
}

/// The variants that `README.pt-BR.md`'s table of errors lacks.
fn variants_missing_from(translation: &str, variants: &[String]) -> Vec<String> {
    let table = translation.find("### Os erros, em português").map_or("", |at| &translation[at..]);
    variants.iter().filter(|v| !table.contains(&format!("| `Error::{v}` |"))).cloned().collect()
}

/// Every variant of `Error` has a row in the Portuguese table of errors, so a new error cannot
/// be added without its explanation for students.
#[test]
fn every_error_has_a_row_in_the_portuguese_table() {
    let variants = error_variants(&read("multiprocessing/src/error.rs"));
    // The reading itself: the enum has some thirty variants, among them these shapes.
    assert!(variants.len() > 25, "{variants:?}");
    for shape in ["Io", "Encode", "Empty", "EndOfFile", "ProcessState"] {
        assert!(variants.iter().any(|v| v == shape), "{shape} not read from error.rs: {variants:?}");
    }
    let translation = read("README.pt-BR.md");
    let missing = variants_missing_from(&translation, &variants);
    assert!(missing.is_empty(), "README.pt-BR.md's table of errors has no row for: {missing:?}");
    // And the check can fail: a table without the `Empty` row is caught.
    let without_empty = translation.replace("| `Error::Empty` |", "| `Error::Vazio` |");
    assert_eq!(variants_missing_from(&without_empty, &variants), vec!["Empty".to_string()]);
}
