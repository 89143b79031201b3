//! `cargo xtask export EXAMPLE DIR`: a copy of an example that builds on its own, outside the
//! workspace, for students to take into their coursework.
//!
//! Copied as it is, an example does not build: its `Cargo.toml` takes its edition, its lints and
//! its dependencies from the workspace (`workspace = true`), and its `multiprocessing` is the
//! workspace's library, which is not on crates.io (`cargo add multiprocessing` brings an
//! unrelated crate). So `DIR` gets:
//!
//! - the package's files (sources, `expected/`) and its `Cargo.toml` with every value the
//!   workspace gave it written out (`manifest.rs` resolves them, as Cargo does);
//! - `DIR/multiprocessing/`: the library's `src/` and its own resolved `Cargo.toml` without its
//!   tests, dev-dependencies and fuzz target, used as `multiprocessing = { path = "multiprocessing" }`;
//! - the workspace's `Cargo.lock`, so every crate keeps the version the lecture tested (bincode
//!   2.0.1: `cargo add bincode` would take 3.0.0, an empty release that only fails to compile).
//!   Cargo drops the entries of the workspace's other crates (`cargo tree --offline` does it
//!   here); the copy is checked to have no version the workspace's lock does not;
//! - a `README.md` saying how to build and run it.
//!
//! `cargo xtask verify --exported` exports each example to a scratch directory, builds it there
//! with `cargo build --offline --locked` and checks its output against its transcript; with no
//! example named, it does the same for a crate made by `cargo xtask new` in a scratch copy of
//! the workspace. The builds share `target/exported/`, so the crates.io dependencies are built
//! once (the copies of the library are built once per copy).

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use crate::manifest::{self, Package, Workspace};
use crate::verify::{self, Example, Tally};
use crate::{DynError, project_root};

const PROGRAM_HEADER: &str = "\
# Exported from the lecture's workspace by `cargo xtask export`: what this package took from the
# workspace (`workspace = true`) is written out, and `multiprocessing` is the lecture's library,
# copied beside it (it is not on crates.io: see README.md).
";

const LIBRARY_HEADER: &str = "\
# The lecture's library, copied by `cargo xtask export` with what it needs to build (its tests,
# dev-dependencies and fuzz target stay in the lecture's workspace).
";

pub fn run(args: &[String]) -> Result<(), DynError> {
    let [example, dir] = args else {
        return Err(
            "export takes an example and a new directory: cargo xtask export examples-queue /tmp/tarefa"
                .into(),
        );
    };
    let workspace = Workspace::load(&project_root())?;
    let exported = export(&workspace, example, Path::new(dir))?;
    let dir = exported.dir.display();
    println!(
        "exported {example} to {dir}, with the multiprocessing library beside it in {dir}/multiprocessing/ (see {dir}/README.md)."
    );
    if let Some(note) = &exported.lock_note {
        println!("{note}");
    }
    println!(
        "Build and run it there: cd {dir} && cargo run   (add --offline when the network is out of reach)"
    );
    for bin in exported.bins.iter().filter(|b| Some(*b) != exported.default_bin.as_ref()) {
        println!("                        cargo run --bin {bin}");
    }
    Ok(())
}

/// What [`export`] made.
pub struct Exported {
    pub dir: PathBuf,
    pub bins: Vec<String>,
    pub default_bin: Option<String>,
    /// Set when the copied `Cargo.lock` could not be trimmed to the package's own crates.
    pub lock_note: Option<String>,
}

/// Writes a standalone copy of the example package `name` into `dir`.
pub fn export(workspace: &Workspace, name: &str, dir: &Path) -> Result<Exported, String> {
    let examples = verify::examples(workspace)?;
    if !examples.iter().any(|e| e.package == name) {
        if let Some(e) = examples.iter().find(|e| e.bin == name) {
            return Err(format!(
                "{name} is a binary of the package {0}: export the package (cargo xtask export {0} DIR), then run it there with `cargo run --bin {name}`",
                e.package
            ));
        }
        return Err(format!("there is no example called {name}. {}", verify::known_examples(&examples)));
    }
    let package = workspace
        .packages()?
        .into_iter()
        .find(|p| p.name == name)
        .expect("every example is a package of the workspace");
    check_destination(dir, &workspace.root)?;
    let existed = dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let exported = fill(workspace, &package, &dir);
    if exported.is_err() {
        // Leave the directory as it was: gone, or empty.
        if existed {
            for entry in read_dir(&dir).unwrap_or_default() {
                let path = entry.path();
                let _ =
                    if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
            }
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    exported
}

/// Writes the copy of `package` into the empty directory `dir`.
fn fill(workspace: &Workspace, package: &Package, dir: &Path) -> Result<Exported, String> {
    let dir = dir.to_path_buf();

    // The package's own files; its Cargo.toml is written resolved below.
    for entry in read_dir(&package.dir)? {
        let file_name = entry.file_name();
        if ["Cargo.toml", "Cargo.lock", "target"].iter().any(|skip| file_name == *skip) {
            continue;
        }
        copy_all(&entry.path(), &dir.join(&file_name))?;
    }

    // Path dependencies (the library) are vendored beside the program, each in a folder named
    // after its directory; theirs go beside them too.
    let mut pending: Vec<PathBuf> = Vec::new();
    let resolved = manifest::resolve(&package.manifest, workspace, &package.dir, false, &mut |_, source| {
        pending.push(source.to_path_buf());
        slot(source)
    })?;
    write(&dir.join("Cargo.toml"), &format!("{PROGRAM_HEADER}\n{}", resolved.to_toml()))?;
    let mut vendored: Vec<(String, PathBuf)> = Vec::new();
    while let Some(source) = pending.pop() {
        let name = slot(&source)?;
        let canonical = source.canonicalize().map_err(|e| format!("{}: {e}", source.display()))?;
        match vendored.iter().find(|(n, _)| *n == name) {
            Some((_, done)) if *done == canonical => continue,
            Some(_) => return Err(format!("two path dependencies would both be copied to {name}/")),
            None => {}
        }
        if dir.join(&name).exists() {
            return Err(format!(
                "{} has a {name} of its own, where its dependency {name} would be copied",
                package.name
            ));
        }
        vendor(workspace, &source, &dir.join(&name), &mut pending)?;
        vendored.push((name, canonical));
    }

    let lock_note = copy_lock(workspace, &dir)?;
    let readme = if dir.join("README.md").exists() { "EXPORTED.md" } else { "README.md" };
    write(&dir.join(readme), &readme_text(package, &vendored))?;
    Ok(Exported { dir, bins: package.bins.clone(), default_bin: package.default_bin.clone(), lock_note })
}

/// Refuses a `dir` that holds something already, or that lies inside the workspace (cargo
/// would take the copy for a member that the workspace forgot to list, and refuse to build it).
fn check_destination(dir: &Path, root: &Path) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() {
        if !dir.is_dir() {
            return Err(format!(
                "{shown} exists and is not a directory: give export a new directory to create"
            ));
        }
        let mut entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if entries.next().is_some() {
            return Err(format!(
                "{shown} already exists and is not empty: export writes a whole package, so give it a new (or empty) directory"
            ));
        }
    }
    let absolute = std::path::absolute(dir).map_err(|e| format!("{shown}: {e}"))?;
    let mut lexical = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    // The nearest part of the path that exists, with its links resolved, and the rest after it.
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else { break };
        rest.push(name.to_os_string());
        existing = parent;
    }
    let mut real = existing.canonicalize().unwrap_or_else(|_| existing.to_path_buf());
    for part in rest.iter().rev() {
        real.push(part);
    }
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    if real.starts_with(&root) {
        return Err(format!(
            "{shown} is inside the lecture's workspace ({}): cargo would take the copy for a part of the workspace and refuse to build it. Export it outside, e.g. /tmp/tarefa or ~/tarefa",
            root.display()
        ));
    }
    Ok(())
}

/// The folder a path dependency is copied to: its directory's name.
fn slot(source: &Path) -> Result<String, String> {
    source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("the path dependency {} has no directory name", source.display()))
}

/// Copies the library at `source` to `dest`: what it needs to build, and its resolved manifest.
fn vendor(
    workspace: &Workspace,
    source: &Path,
    dest: &Path,
    pending: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let manifest = manifest::read_manifest(&source.join("Cargo.toml"))?;
    let resolved = manifest::resolve(&manifest, workspace, source, true, &mut |_, dependency| {
        pending.push(dependency.to_path_buf());
        Ok(format!("../{}", slot(dependency)?))
    })?;
    if let Some(lib_path) = resolved.str_at(&["lib", "path"]) {
        if !lib_path.starts_with("src/") {
            return Err(format!(
                "{}: [lib] path {lib_path} is outside src/, which export copies",
                source.display()
            ));
        }
    }
    std::fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    copy_all(&source.join("src"), &dest.join("src"))?;
    let build_script = resolved.str_at(&["package", "build"]).unwrap_or("build.rs");
    if source.join(build_script).is_file()
        && resolved.at(&["package", "build"]) != Some(&crate::toml::Value::Boolean(false))
    {
        copy_all(&source.join(build_script), &dest.join(build_script))?;
    }
    write(&dest.join("Cargo.toml"), &format!("{LIBRARY_HEADER}\n{}", resolved.to_toml()))
}

/// Copies the workspace's `Cargo.lock` into `dir`, lets cargo drop the entries the copy does not
/// use, and checks that no version moved. Returns a note when cargo could not trim it offline.
fn copy_lock(workspace: &Workspace, dir: &Path) -> Result<Option<String>, String> {
    let source = workspace.root.join("Cargo.lock");
    if !source.exists() {
        return Ok(Some("the workspace has no Cargo.lock to copy: cargo will choose the versions".into()));
    }
    let lock = dir.join("Cargo.lock");
    std::fs::copy(&source, &lock).map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
    // `cargo tree` resolves with the lock file as it is (an update would move versions) and
    // writes it back without the crates the package does not use.
    let trimmed = verify::cargo()
        .current_dir(dir)
        .args(["tree", "--offline", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let note = (!trimmed.status.success()).then(|| {
        let why = String::from_utf8_lossy(&trimmed.stderr);
        format!(
            "note: Cargo.lock still lists the workspace's other crates (cargo could not trim it offline: {}); cargo drops them at the first build, without changing any version",
            why.lines().find(|l| !l.trim().is_empty()).unwrap_or("no reason given").trim()
        )
    });
    let changes = manifest::lock_changes(&manifest::read_lock(&source)?, &manifest::read_lock(&lock)?);
    if !changes.is_empty() {
        return Err(format!(
            "cargo changed versions in the exported Cargo.lock, so the copy would not build what the lecture tested: {}",
            changes.join(", ")
        ));
    }
    Ok(note)
}

fn readme_text(package: &Package, vendored: &[(String, PathBuf)]) -> String {
    let name = &package.name;
    let mut text = format!("# {name}\n\n");
    if let Some(description) = package.manifest.str_at(&["package", "description"]) {
        let _ = writeln!(text, "{description}.\n");
    }
    let _ = writeln!(
        text,
        "Exported from the lecture's workspace with `cargo xtask export {name}`: a package of its own,\n\
         to build and change anywhere. Linux only (the library forks, and uses futexes and `/proc`).\n\n\
         ## Build and run\n\n\
         ```sh\n\
         cargo run              # build it, then run it\n\
         cargo run --offline    # the same without network, when the crates are already in ~/.cargo\n\
         ```\n"
    );
    let others: Vec<&String> =
        package.bins.iter().filter(|b| Some(*b) != package.default_bin.as_ref()).collect();
    if !others.is_empty() {
        let _ = writeln!(text, "Its other programs:\n\n```sh");
        for bin in &others {
            let _ = writeln!(text, "cargo run --bin {bin}");
        }
        let _ = writeln!(text, "```\n");
    }
    let _ = writeln!(
        text,
        "`expected/` holds what each program must print (for the lecture's examples, what the slides\n\
         print): `#` lines are comments, `[..]` stands for any text, and the lines between `@unordered`\n\
         and `@end` may come in any order.\n"
    );
    if vendored.iter().any(|(n, _)| n == "multiprocessing") {
        let _ = writeln!(
            text,
            "## The `multiprocessing` library\n\n\
             `multiprocessing/` is the lecture's library, copied here and used through a path in\n\
             `Cargo.toml`: `multiprocessing = {{ path = \"multiprocessing\" }}`. It is not on crates.io:\n\
             `cargo add multiprocessing` brings an unrelated crate of the same name, with which this\n\
             program does not build. To use the library in another project, copy the `multiprocessing/`\n\
             folder and write the same `path` dependency to where you put it.\n\n\
             `Cargo.lock` keeps the exact versions the lecture tested: keep it with the program. If you add\n\
             bincode to a project of your own, ask for 2.0.1 (`cargo add bincode@2.0.1 --features serde`):\n\
             `cargo add bincode` takes 3.0.0, an empty release that only fails to compile."
        );
    }
    // The same, shorter, for the course's students (the lecture is in Portuguese).
    let _ = writeln!(
        text,
        "\n## Em português\n\n\
         Copiado do workspace da aula com `cargo xtask export {name}`: um pacote independente, para\n\
         compilar e mudar onde quiser (só Linux). `cargo run` compila e roda; `cargo run --offline`\n\
         faz o mesmo sem rede, com as dependências já no cache do cargo. `expected/` guarda o que cada\n\
         programa deve imprimir. A biblioteca `multiprocessing/` vem junto, usada por caminho no\n\
         `Cargo.toml`: ela não está no crates.io, e `cargo add multiprocessing` traz outro crate, sem\n\
         relação. Guarde o `Cargo.lock` com o programa; num projeto seu, peça o bincode 2.0.1\n\
         (`cargo add bincode@2.0.1 --features serde`), porque a 3.0.0 só dá erro de compilação."
    );
    text
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut entries: Vec<_> =
        entries.collect::<Result<_, _>>().map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// Copies a file, or a directory and everything in it.
fn copy_all(source: &Path, dest: &Path) -> Result<(), String> {
    if source.is_dir() {
        std::fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        for entry in read_dir(source)? {
            copy_all(&entry.path(), &dest.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(source, dest)
            .map(|_| ())
            .map_err(|e| format!("cannot copy {} to {}: {e}", source.display(), dest.display()))
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `cargo xtask verify --exported`: each selected example exported to a scratch directory,
/// built there offline and checked against its transcript; with `with_new`, also a crate made by
/// `cargo xtask new` in a scratch copy of the workspace.
pub fn verify_exported(
    workspace: &Workspace,
    selected: &[&Example],
    runs: usize,
    with_new: bool,
) -> Result<(), DynError> {
    let scratch = std::env::temp_dir().join(format!("xtask-exported-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch); // a leftover of an earlier process with this id
    std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let target = verify::target_dir(&workspace.root).join("exported");
    println!(
        "exporting the examples to {} and building each there with `cargo build --offline --locked` (target dir {}; the first time takes a minute)...",
        scratch.display(),
        target.display()
    );
    let mut tally = Tally::default();
    let mut packages: Vec<&str> = Vec::new();
    for example in selected {
        if !packages.contains(&example.package.as_str()) {
            packages.push(&example.package);
        }
    }
    for package in packages {
        let examples: Vec<&Example> = selected.iter().copied().filter(|e| e.package == package).collect();
        let label = format!("exported {package}");
        check_exported(
            workspace,
            package,
            &examples,
            &scratch.join(package),
            &target,
            runs,
            &label,
            &mut tally,
        );
    }
    if with_new {
        let name = "tarefa-ci-check";
        let label = format!("cargo xtask new {name}, exported");
        match new_in_scratch_workspace(&workspace.root, &scratch.join("workspace"), name) {
            Ok((copy, examples)) => {
                let mine: Vec<&Example> = examples.iter().collect();
                check_exported(&copy, name, &mine, &scratch.join(name), &target, runs, &label, &mut tally);
            }
            Err(e) => tally.fail_unrun(&label, runs, &e),
        }
    }
    let result = tally.finish();
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        println!("the exported copies are left in {} for a look", scratch.display());
    }
    result
}

/// A scratch workspace: a copy of the root manifest and lock, the rest linked to the real one;
/// then `cargo xtask new NAME` in it. Returns it and the new crate's examples.
fn new_in_scratch_workspace(
    root: &Path,
    scratch: &Path,
    name: &str,
) -> Result<(Workspace, Vec<Example>), String> {
    make_scratch_workspace(root, scratch)?;
    crate::new::create(scratch, name)?;
    let copy = Workspace::load(scratch)?;
    let examples: Vec<Example> = verify::examples(&copy)?.into_iter().filter(|e| e.package == name).collect();
    if examples.is_empty() {
        return Err(format!("cargo xtask new {name} made no example that verify finds"));
    }
    Ok((copy, examples))
}

/// `scratch` as a copy of the workspace at `root` that `new` may change: its own `Cargo.toml`
/// and `Cargo.lock`, everything else a link to the real one (no `target/`, no `.git`).
pub fn make_scratch_workspace(root: &Path, scratch: &Path) -> Result<(), String> {
    std::fs::create_dir_all(scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    for entry in read_dir(root)? {
        let name = entry.file_name();
        let (from, to) = (entry.path(), scratch.join(&name));
        if name == "Cargo.toml" || name == "Cargo.lock" {
            std::fs::copy(&from, &to).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        } else if name != "target" && name != ".git" {
            std::os::unix::fs::symlink(&from, &to)
                .map_err(|e| format!("cannot link {}: {e}", to.display()))?;
        }
    }
    Ok(())
}

/// Exports `package` to `dest`, builds it there offline into `target`, and checks each of
/// `examples` (its binaries) against the copy's own transcript.
#[allow(clippy::too_many_arguments)]
fn check_exported(
    workspace: &Workspace,
    package: &str,
    examples: &[&Example],
    dest: &Path,
    target: &Path,
    runs: usize,
    label: &str,
    tally: &mut Tally,
) {
    let labels: Vec<String> = examples.iter().map(|e| format!("{label}: {}", e.command(false))).collect();
    let fail_all = |tally: &mut Tally, why: &str| {
        for l in &labels {
            tally.fail_unrun(l, runs, why);
        }
    };
    let started = Instant::now();
    if let Err(e) = export(workspace, package, dest) {
        return fail_all(tally, &format!("export failed: {e}"));
    }
    let built = verify::cargo()
        .current_dir(dest)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--offline", "--locked", "--quiet"])
        .stdin(Stdio::null())
        .status();
    if !built.is_ok_and(|s| s.success()) {
        return fail_all(
            tally,
            "the copy did not build with `cargo build --offline --locked` (cargo's messages are above)",
        );
    }
    let locks = manifest::read_lock(&workspace.root.join("Cargo.lock"))
        .and_then(|ws| Ok((ws, manifest::read_lock(&dest.join("Cargo.lock"))?)));
    match locks {
        Ok((ws, copy)) if manifest::lock_changes(&ws, &copy).is_empty() => {}
        Ok((ws, copy)) => {
            let changes = manifest::lock_changes(&ws, &copy).join(", ");
            return fail_all(tally, &format!("the build changed versions in Cargo.lock: {changes}"));
        }
        Err(e) => return fail_all(tally, &e),
    }
    println!("{label}: exported and built in {:.1}s", started.elapsed().as_secs_f64());
    for (example, label) in examples.iter().zip(&labels) {
        let copy = Example { dir: dest.to_path_buf(), ..(*example).clone() };
        match verify::load_transcript(&copy) {
            Ok(transcript) => {
                let executable = target.join("debug").join(&copy.bin);
                tally.check_runs(label, &executable, dest, &transcript, runs, &copy.transcript_path());
            }
            Err(e) => tally.fail_unrun(label, runs, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml::Table;

    /// A fresh directory under the system's temporary one.
    pub fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn destinations_that_are_refused() {
        let root = project_root();
        let full = scratch("full");
        std::fs::create_dir_all(&full).unwrap();
        std::fs::write(full.join("x"), "").unwrap();
        let err = check_destination(&full, &root).unwrap_err();
        assert!(err.contains("already exists and is not empty"), "{err}");
        let inside = root.join("target").join("tarefa");
        let err = check_destination(&inside, &root).unwrap_err();
        assert!(err.contains("inside the lecture's workspace"), "{err}");
        let empty = scratch("empty");
        std::fs::create_dir_all(&empty).unwrap();
        check_destination(&empty, &root).unwrap();
        check_destination(&scratch("new").join("deeper"), &root).unwrap();
        let _ = std::fs::remove_dir_all(full);
        let _ = std::fs::remove_dir_all(empty);
    }

    #[test]
    fn unknown_examples_are_refused() {
        let ws = Workspace::load(&project_root()).unwrap();
        let dir = scratch("unknown");
        let err = export(&ws, "tarefa", &dir).err().unwrap();
        assert!(err.starts_with("there is no example called tarefa. The examples are "), "{err}");
        let err = export(&ws, "get_logger", &dir).err().unwrap();
        assert!(err.contains("is a binary of the package examples-logging"), "{err}");
        assert!(!dir.exists());
    }

    #[test]
    fn a_failed_export_leaves_the_directory_as_it_was() {
        // A workspace whose library cannot be written out: its manifest names a dependency
        // the workspace does not have.
        let ws_dir = scratch("broken-ws");
        make_scratch_workspace(&project_root(), &ws_dir).unwrap();
        std::fs::remove_file(ws_dir.join("multiprocessing")).unwrap();
        std::fs::create_dir_all(ws_dir.join("multiprocessing/src")).unwrap();
        std::fs::write(ws_dir.join("multiprocessing/src/lib.rs"), "").unwrap();
        std::fs::write(
            ws_dir.join("multiprocessing/Cargo.toml"),
            "[package]\nname = \"multiprocessing\"\n[dependencies]\nnope.workspace = true\n",
        )
        .unwrap();
        let ws = Workspace::load(&ws_dir).unwrap();
        let new_dir = scratch("broken-new");
        let err = export(&ws, "examples-queue", &new_dir).err().unwrap();
        assert!(err.contains("has no nope"), "{err}");
        assert!(!new_dir.exists());
        let empty = scratch("broken-empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(export(&ws, "examples-queue", &empty).is_err());
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(ws_dir);
        let _ = std::fs::remove_dir_all(empty);
    }

    #[test]
    fn an_export_holds_what_a_student_needs_and_nothing_of_the_workspace() {
        let ws = Workspace::load(&project_root()).unwrap();
        let dir = scratch("export");
        let exported = export(&ws, "examples-logging", &dir).unwrap();
        assert_eq!(exported.bins, ["log_to_stderr", "get_logger", "own_format"]);
        for file in [
            "Cargo.toml",
            "Cargo.lock",
            "README.md",
            "src/main.rs",
            "src/bin/get_logger.rs",
            "expected/log_to_stderr.txt",
            "expected/get_logger.txt",
            "multiprocessing/Cargo.toml",
            "multiprocessing/src/lib.rs",
        ] {
            assert!(dir.join(file).is_file(), "{file} is missing");
        }
        for gone in ["multiprocessing/tests", "multiprocessing/fuzz", "target"] {
            assert!(!dir.join(gone).exists(), "{gone} was copied");
        }
        for manifest in ["Cargo.toml", "multiprocessing/Cargo.toml"] {
            let text = std::fs::read_to_string(dir.join(manifest)).unwrap();
            let parsed = Table::parse(&text).unwrap();
            assert!(manifest::find_workspace_key(&parsed, "").is_none(), "{manifest}:\n{text}");
        }
        let program = manifest::read_manifest(&dir.join("Cargo.toml")).unwrap();
        assert_eq!(program.str_at(&["dependencies", "multiprocessing", "path"]), Some("multiprocessing"));
        assert_eq!(program.str_at(&["package", "default-run"]), Some("log_to_stderr"));
        let lock = manifest::read_lock(&dir.join("Cargo.lock")).unwrap();
        let bincode: Vec<&str> =
            lock.iter().filter(|p| p.name == "bincode").map(|p| p.version.as_str()).collect();
        assert_eq!(bincode, ["2.0.1"]);
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        for needle in [
            "cargo run --offline",
            "cargo add multiprocessing",
            "not on crates.io",
            "cargo run --bin get_logger",
            "## Em português",
            "cargo add bincode@2.0.1 --features serde`), porque",
        ] {
            assert!(readme.contains(needle), "README.md does not say {needle:?}:\n{readme}");
        }
        // A second export to the same place is refused.
        assert!(export(&ws, "examples-logging", &dir).err().unwrap().contains("not empty"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
