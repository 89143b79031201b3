//! `cargo xtask new NAME`: a program crate of the student's own in the workspace, ready for
//! `cargo run -p NAME` and `cargo xtask verify NAME`.
//!
//! It writes `NAME/Cargo.toml`, `NAME/src/main.rs` and `NAME/expected/NAME.txt` from the
//! templates in `xtask/templates/new/`, and adds `NAME` to the root `Cargo.toml`'s members. The
//! program shows the shape most exercises need: a `Queue`, a `Process` whose closure uses `?`,
//! `start`, `get`, `join`. The template is compiled with xtask's tests (so it keeps up with the
//! library), and `cargo xtask verify --exported` runs it.

use std::path::{Path, PathBuf};

use crate::manifest::Workspace;
use crate::toml::{Table, Value};
use crate::{DynError, project_root};

const CARGO_TOML: &str = include_str!("../templates/new/Cargo.toml.in");
const MAIN_RS: &str = include_str!("../templates/new/main.rs");
const EXPECTED: &str = include_str!("../templates/new/expected.txt");

/// The template's program, compiled with the tests so that a change of the library's API that
/// breaks it fails here.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../templates/new/main.rs"]
mod template;

pub fn run(args: &[String]) -> Result<(), DynError> {
    let [name] = args else {
        return Err("new takes the name of the program to make: cargo xtask new tarefa".into());
    };
    create(&project_root(), name)?;
    println!(
        "created {name}/ and added it to the workspace's members:
  {name}/src/main.rs            the program: a Queue, a Process, start, get, join
  {name}/expected/{name}.txt    what it prints, which `cargo xtask verify {name}` checks
Run it:    cargo run -p {name}
Check it:  cargo xtask verify {name}
Take it out of the workspace: cargo xtask export {name} DIR
To remove it, delete {name}/ and its line in the root Cargo.toml's members."
    );
    Ok(())
}

/// Makes the crate `name` in the workspace at `root`. Returns its directory.
pub fn create(root: &Path, name: &str) -> Result<PathBuf, String> {
    validate_name(name)?;
    let workspace = Workspace::load(root)?;
    check_free(&workspace, name)?;
    let manifest_path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let updated = add_member(&text, name)?;

    let dir = root.join(name);
    let fill = |template: &str| template.replace("{{NAME}}", name);
    let files = [
        (dir.join("Cargo.toml"), fill(CARGO_TOML)),
        (dir.join("src").join("main.rs"), fill(MAIN_RS)),
        (dir.join("expected").join(format!("{name}.txt")), fill(EXPECTED)),
    ];
    let written = files.iter().try_for_each(|(path, text)| {
        std::fs::create_dir_all(path.parent().expect("a file in the crate"))
            .and_then(|()| std::fs::write(path, text))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    if let Err(e) = std::fs::write(&manifest_path, updated) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("cannot write {}: {e}", manifest_path.display()));
    }
    Ok(dir)
}

const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static",
    "struct", "super", "trait", "true", "try", "type", "typeof", "union", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Whether `name` can name a package (Cargo's rules, a little stricter: lower case only).
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("give the program a name: cargo xtask new tarefa".into());
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if !name.chars().all(allowed) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "{name:?} is not a valid package name: use lower-case letters, digits, `-` and `_`, starting with a letter (e.g. tarefa-1)"
        ));
    }
    if name.len() > 64 {
        return Err(format!("{name} is too long for a package name: 64 characters at most"));
    }
    let as_crate = name.replace('-', "_");
    if RUST_KEYWORDS.contains(&as_crate.as_str()) {
        return Err(format!("{name} cannot name a package: it is a Rust keyword"));
    }
    if ["std", "core", "alloc", "proc_macro", "test"].contains(&as_crate.as_str()) {
        return Err(format!("{name} cannot name a package: it is a crate of Rust's standard library"));
    }
    if ["deps", "examples", "build", "incremental", "debug", "release", "target"].contains(&name) {
        return Err(format!("{name} cannot name a package: cargo uses that name for a folder of its own"));
    }
    let windows = name.split(['-', '_']).next().unwrap_or(name);
    let reserved_on_windows = ["con", "prn", "aux", "nul"].contains(&windows)
        || (windows.len() == 4
            && (windows.starts_with("com") || windows.starts_with("lpt"))
            && windows.ends_with(|c: char| c.is_ascii_digit()));
    if reserved_on_windows && windows == name {
        return Err(format!("{name} cannot name a package: it is a reserved file name on Windows"));
    }
    Ok(())
}

/// Refuses a name that something of the workspace already has.
fn check_free(workspace: &Workspace, name: &str) -> Result<(), String> {
    let path = workspace.root.join(name);
    if path.symlink_metadata().is_ok() {
        return Err(format!("{name} already exists ({}): choose another name", path.display()));
    }
    let same = |other: &str| other.replace('_', "-") == name.replace('_', "-");
    if workspace.members()?.iter().any(|m| same(m)) {
        return Err(format!("{name} is already a member of the workspace: choose another name"));
    }
    for package in workspace.packages()? {
        if same(&package.name) {
            return Err(format!(
                "the workspace already has a package called {}: choose another name",
                package.name
            ));
        }
        if let Some(bin) = package.bins.iter().find(|b| same(b)) {
            return Err(format!(
                "the package {} already has a program called {bin} (both would be target/debug/{bin}): choose another name",
                package.name
            ));
        }
    }
    let shared = workspace.manifest.table_at(&["workspace", "dependencies"]);
    if let Some((dependency, _)) = shared.and_then(|t| t.entries.iter().find(|(d, _)| same(d))) {
        return Err(format!(
            "{dependency} is a crate the workspace depends on, and a package of that name could not use it: choose another name"
        ));
    }
    Ok(())
}

fn members(manifest: &Table) -> Vec<String> {
    manifest
        .at(&["workspace", "members"])
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect()
}

/// The root manifest `text` with `name` added at the end of `[workspace] members`, everything
/// else as it was written.
pub fn add_member(text: &str, name: &str) -> Result<String, String> {
    let by_hand = format!("add \"{name}\" to the members list of the root Cargo.toml by hand");
    let before = members(&Table::parse(text).map_err(|e| format!("Cargo.toml: {e}"))?);
    let open = members_array(text)
        .ok_or_else(|| format!("cannot find [workspace] members in Cargo.toml: {by_hand}"))?;
    let array = scan_array(text, open).ok_or_else(|| format!("cannot read the members list: {by_hand}"))?;
    let entry = format!("\"{name}\"");
    let mut out = text.to_string();
    let line_start = text[..array.close].rfind('\n').map_or(0, |i| i + 1);
    let multiline = text[open..array.close].contains('\n');
    if multiline && text[line_start..array.close].trim().is_empty() {
        // One member per line: a line of its own, indented like the last one.
        let indent: String = match array.last_item_end {
            Some(end) => {
                let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
                text[start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
            }
            None => "    ".into(),
        };
        out.insert_str(line_start, &format!("{indent}{entry},\n"));
        if let (Some(end), false) = (array.last_item_end, array.comma_after_last) {
            out.insert(end, ',');
        }
    } else {
        let insertion = match (array.last_item_end, array.comma_after_last) {
            (None, _) => entry,
            (Some(_), true) => format!(" {entry}"),
            (Some(_), false) => format!(", {entry}"),
        };
        out.insert_str(array.close, &insertion);
    }
    let after = members(&Table::parse(&out).map_err(|e| format!("{e}: {by_hand}"))?);
    let mut expected = before;
    expected.push(name.to_string());
    if after != expected {
        return Err(format!("adding {name} to the members list went wrong: {by_hand}"));
    }
    Ok(out)
}

/// Where the `[` of `members = [` under `[workspace]` is.
fn members_array(text: &str) -> Option<usize> {
    let mut offset = 0;
    let mut in_workspace = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_workspace = trimmed.split('#').next().unwrap_or("").trim() == "[workspace]";
        } else if in_workspace {
            if let Some(rest) = trimmed.strip_prefix("members") {
                let rest = rest.trim_start();
                if let Some(value) = rest.strip_prefix('=') {
                    let value_trimmed = value.trim_start();
                    if value_trimmed.starts_with('[') {
                        return Some(offset + (line.len() - value_trimmed.len()));
                    }
                }
            }
        }
        offset += line.len();
    }
    None
}

struct ArrayScan {
    /// Where the closing `]` is.
    close: usize,
    /// Just past the last item's closing quote.
    last_item_end: Option<usize>,
    comma_after_last: bool,
}

/// Reads an array of strings from its `[` at `open`, skipping comments.
fn scan_array(text: &str, open: usize) -> Option<ArrayScan> {
    let bytes = text.as_bytes();
    let mut i = open + 1;
    let mut scan = ArrayScan { close: 0, last_item_end: None, comma_after_last: false };
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if quote == b'"' && bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                scan.last_item_end = Some(i + 1);
                scan.comma_after_last = false;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b',' => scan.comma_after_last = true,
            b']' => {
                scan.close = i;
                return Some(scan);
            }
            b'[' | b'{' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::make_scratch_workspace;
    use crate::manifest;
    use crate::transcript::Transcript;

    #[test]
    fn names_that_are_refused() {
        for (name, needle) in [
            ("", "give the program a name"),
            ("Tarefa", "not a valid package name"),
            ("1tarefa", "not a valid package name"),
            ("tarefa 1", "not a valid package name"),
            ("tarefa.rs", "not a valid package name"),
            ("-x", "not a valid package name"),
            ("ção", "not a valid package name"),
            ("fn", "Rust keyword"),
            ("self", "Rust keyword"),
            ("std", "standard library"),
            ("proc-macro", "standard library"),
            ("deps", "folder of its own"),
            ("nul", "reserved file name on Windows"),
            ("com1", "reserved file name on Windows"),
        ] {
            let err = validate_name(name).unwrap_err();
            assert!(err.contains(needle), "{name:?}: {err}");
        }
        let long = "a".repeat(65);
        assert!(validate_name(&long).unwrap_err().contains("too long"));
        for name in ["tarefa", "tarefa-1", "tarefa_2", "a", "console", "com10", "nul-pointer", "t3"] {
            validate_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn names_the_workspace_has_are_refused() {
        let ws = Workspace::load(&project_root()).unwrap();
        for (name, needle) in [
            ("examples-queue", "already exists"),
            ("get_logger", "already has a program called get_logger"),
            ("get-logger", "already has a program called get_logger"),
            ("serde", "a crate the workspace depends on"),
            ("multiprocessing", "already exists"),
            ("os-pipe", "a crate the workspace depends on"),
        ] {
            let err = check_free(&ws, name).unwrap_err();
            assert!(err.contains(needle), "{name}: {err}");
        }
        check_free(&ws, "tarefa-not-there").unwrap();
    }

    #[test]
    fn a_member_is_added_to_the_real_manifest() {
        let text = std::fs::read_to_string(project_root().join("Cargo.toml")).unwrap();
        let out = add_member(&text, "tarefa").unwrap();
        assert!(out.contains("    \"xtask\",\n    \"tarefa\",\n]"), "{out}");
        // Nothing else changed.
        assert_eq!(out.replace("    \"tarefa\",\n", ""), text);
    }

    #[test]
    fn a_member_is_added_to_lists_written_otherwise() {
        for (text, expected) in [
            ("[workspace]\nmembers = []\n", "[workspace]\nmembers = [\"t\"]\n"),
            ("[workspace]\nmembers = [\"a\"]\n", "[workspace]\nmembers = [\"a\", \"t\"]\n"),
            ("[workspace]\nmembers = [\"a\", \"b\",]\n", "[workspace]\nmembers = [\"a\", \"b\", \"t\"]\n"),
            (
                "[package]\nmembers = 1\n[workspace]\nresolver = \"3\"\nmembers = [\n  \"a\", # the first\n  \"b\" # no comma\n] # end\n",
                "[package]\nmembers = 1\n[workspace]\nresolver = \"3\"\nmembers = [\n  \"a\", # the first\n  \"b\", # no comma\n  \"t\",\n] # end\n",
            ),
            (
                "[workspace]\nmembers = [\n  \"a\",\n  \"b\"]\n",
                "[workspace]\nmembers = [\n  \"a\",\n  \"b\", \"t\"]\n",
            ),
        ] {
            assert_eq!(add_member(text, "t").unwrap(), expected, "from {text:?}");
        }
        assert!(add_member("[package]\nname = \"x\"\n", "t").unwrap_err().contains("by hand"));
    }

    /// `cargo xtask new` in a scratch copy of the workspace: what it writes, and that it refuses
    /// to write it twice. (`cargo xtask verify --exported` also builds and runs it.)
    #[test]
    fn new_makes_a_crate_that_verify_and_export_understand() {
        let scratch = std::env::temp_dir().join(format!("xtask-test-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        make_scratch_workspace(&project_root(), &scratch).unwrap();
        let name = "tarefa-ci-check";
        let dir = create(&scratch, name).unwrap();
        assert_eq!(dir, scratch.join(name));
        for file in ["Cargo.toml", "src/main.rs", "expected/tarefa-ci-check.txt"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(!text.contains("{{"), "{file} has a placeholder left:\n{text}");
        }
        let ws = Workspace::load(&scratch).unwrap();
        assert_eq!(ws.members().unwrap().last().map(String::as_str), Some(name));
        // verify finds it, with its command.
        let examples = crate::verify::examples(&ws).unwrap();
        let mine: Vec<_> = examples.iter().filter(|e| e.package == name).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].command(true), "cargo run -p tarefa-ci-check");
        // Its transcript parses and says what the template prints.
        let transcript = crate::verify::load_transcript(mine[0]).unwrap();
        let printed = [
            "main: starting Process-1",
            "Process-1: computing 7 * 7",
            "main: got 49 from Process-1",
            "main: Process-1 exited with code 0",
        ];
        assert_eq!(transcript.expected_lines(), printed);
        assert!(Transcript::parse(EXPECTED, &Default::default()).is_ok());
        // Its manifest resolves against the workspace.
        let manifest = manifest::read_manifest(&dir.join("Cargo.toml")).unwrap();
        let resolved =
            manifest::resolve(&manifest, &ws, &dir, false, &mut |_, _| Ok("multiprocessing".into())).unwrap();
        assert!(manifest::find_workspace_key(&resolved, "").is_none());
        // A second time is refused, and the real workspace was not touched.
        assert!(create(&scratch, name).unwrap_err().contains("already exists"));
        assert!(!project_root().join(name).exists());
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
