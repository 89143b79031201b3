//! Cargo manifests: the workspace's members and their binaries, and a member's manifest
//! resolved so that it builds outside the workspace (what `cargo xtask export` writes).
//!
//! Resolving follows Cargo's rules for inheritance: `field.workspace = true` in `[package]` takes
//! `[workspace.package]`'s value; a dependency with `workspace = true` takes
//! `[workspace.dependencies]`' entry, adding its own `features` and `optional`; `[lints]
//! workspace = true` takes `[workspace.lints]`. Paths are handed to the caller to rewrite.

use std::path::{Path, PathBuf};

use crate::toml::{Table, Value};

/// The workspace: its root and its root manifest.
pub struct Workspace {
    pub root: PathBuf,
    pub manifest: Table,
}

/// A member package of the workspace.
pub struct Package {
    pub name: String,
    /// The member's directory.
    pub dir: PathBuf,
    pub manifest: Table,
    /// Its binaries, the one `cargo run` runs first.
    pub bins: Vec<String>,
    /// The binary `cargo run` runs without `--bin`, if there is one.
    pub default_bin: Option<String>,
}

pub fn read_manifest(path: &Path) -> Result<Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Table::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Workspace {
    pub fn load(root: &Path) -> Result<Workspace, String> {
        Ok(Workspace { root: root.to_path_buf(), manifest: read_manifest(&root.join("Cargo.toml"))? })
    }

    /// The `members` list of the root manifest, as written.
    pub fn members(&self) -> Result<Vec<String>, String> {
        let members = self
            .manifest
            .at(&["workspace", "members"])
            .and_then(Value::as_array)
            .ok_or("the root Cargo.toml has no [workspace] members list")?;
        members
            .iter()
            .map(|m| match m.as_str() {
                Some(s) if !s.contains(['*', '?', '[']) => Ok(s.to_string()),
                _ => Err(format!("workspace member {} is not a plain path", crate::toml::inline_value(m))),
            })
            .collect()
    }

    /// Every member package, in the order of the members list.
    pub fn packages(&self) -> Result<Vec<Package>, String> {
        self.members()?.iter().map(|member| Package::load(&self.root.join(member))).collect()
    }
}

impl Package {
    pub fn load(dir: &Path) -> Result<Package, String> {
        let manifest = read_manifest(&dir.join("Cargo.toml"))?;
        let name = manifest
            .str_at(&["package", "name"])
            .ok_or_else(|| format!("{}/Cargo.toml has no package name", dir.display()))?
            .to_string();
        let mut bins = binaries(&manifest, dir, &name);
        let default_bin = manifest
            .str_at(&["package", "default-run"])
            .map(str::to_string)
            .or_else(|| (bins.len() == 1).then(|| bins[0].clone()));
        // The default first, then the others in the order they are declared.
        if let Some(position) = default_bin.as_ref().and_then(|d| bins.iter().position(|b| b == d)) {
            let bin = bins.remove(position);
            bins.insert(0, bin);
        }
        Ok(Package { name, dir: dir.to_path_buf(), manifest, bins, default_bin })
    }
}

/// A package's binaries: its `[[bin]]` sections, then the ones Cargo finds on its own
/// (`src/main.rs`, `src/bin/*.rs`, `src/bin/*/main.rs`) unless `autobins = false`.
fn binaries(manifest: &Table, dir: &Path, package: &str) -> Vec<String> {
    let declared: Vec<&Table> = manifest
        .get("bin")
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_table)
        .collect();
    let mut bins: Vec<String> =
        declared.iter().filter_map(|b| b.str_at(&["name"]).map(str::to_string)).collect();
    let claimed: Vec<&str> = declared.iter().filter_map(|b| b.str_at(&["path"])).collect();
    if manifest.at(&["package", "autobins"]) == Some(&Value::Boolean(false)) {
        return bins;
    }
    let mut found = Vec::new();
    if dir.join("src/main.rs").is_file() && !claimed.contains(&"src/main.rs") {
        found.push(package.to_string());
    }
    let mut in_bin_dir = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) {
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = format!("src/bin/{}", entry.file_name().to_string_lossy());
            if path.extension().is_some_and(|e| e == "rs")
                && path.is_file()
                && !claimed.contains(&relative.as_str())
            {
                in_bin_dir.push(path.file_stem().unwrap_or_default().to_string_lossy().into_owned());
            } else if path.join("main.rs").is_file()
                && !claimed.contains(&format!("{relative}/main.rs").as_str())
            {
                in_bin_dir.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    in_bin_dir.sort();
    found.extend(in_bin_dir);
    for bin in found {
        if !bins.contains(&bin) {
            bins.push(bin);
        }
    }
    bins
}

/// How a path dependency is written in the resolved manifest: called with the dependency's
/// name and its directory; returns the path to write.
pub type PathRewrite<'a> = dyn FnMut(&str, &Path) -> Result<String, String> + 'a;

/// `manifest`, a member's manifest from `member_dir`, with everything it takes from the
/// workspace written out. For a `library_copy` (a library vendored beside a program), what only
/// its own tests need goes: dev-dependencies and `[[test]]`, `[[bench]]`, `[[example]]` targets.
pub fn resolve(
    manifest: &Table,
    workspace: &Workspace,
    member_dir: &Path,
    library_copy: bool,
    rewrite_path: &mut PathRewrite<'_>,
) -> Result<Table, String> {
    let mut out = manifest.clone();
    if let Some(package) = out.get_mut("package").and_then(Value::as_table_mut) {
        // `package.workspace = "path"` names the workspace this copy no longer belongs to.
        if package.get("workspace").is_some_and(|v| v.as_str().is_some()) {
            package.remove("workspace");
        }
        for (key, value) in &mut package.entries {
            if !inherits(value) {
                continue;
            }
            if only_workspace_key(value).is_err() {
                return Err(format!("package.{key}: `workspace = true` cannot be combined with other keys"));
            }
            if matches!(key.as_str(), "readme" | "license-file") {
                return Err(format!(
                    "package.{key} comes from the workspace and is a path: write it out by hand"
                ));
            }
            *value = workspace
                .manifest
                .at(&["workspace", "package", key])
                .ok_or_else(|| {
                    format!("package.{key}.workspace = true, but [workspace.package] has no {key}")
                })?
                .clone();
        }
    }

    if library_copy {
        for key in ["dev-dependencies", "dev_dependencies", "test", "bench", "example"] {
            out.remove(key);
        }
        if let Some(targets) = out.get_mut("target").and_then(Value::as_table_mut) {
            for (_, target) in &mut targets.entries {
                if let Some(target) = target.as_table_mut() {
                    target.remove("dev-dependencies");
                    target.remove("dev_dependencies");
                }
            }
        }
    }

    let kinds =
        ["dependencies", "dev-dependencies", "dev_dependencies", "build-dependencies", "build_dependencies"];
    for kind in kinds {
        if let Some(deps) = out.get_mut(kind).and_then(Value::as_table_mut) {
            resolve_dependencies(deps, kind, workspace, member_dir, rewrite_path)?;
        }
    }
    if let Some(targets) = out.get_mut("target").and_then(Value::as_table_mut) {
        for (cfg, target) in &mut targets.entries {
            let Some(target) = target.as_table_mut() else { continue };
            for kind in kinds {
                if let Some(deps) = target.get_mut(kind).and_then(Value::as_table_mut) {
                    resolve_dependencies(
                        deps,
                        &format!("target.{cfg}.{kind}"),
                        workspace,
                        member_dir,
                        rewrite_path,
                    )?;
                }
            }
        }
    }

    if let Some(lints) = out.get_mut("lints") {
        if inherits(lints) {
            only_workspace_key(lints)
                .map_err(|_| "[lints]: `workspace = true` cannot be combined with other keys")?;
            let Some(Value::Table(shared)) = workspace.manifest.at(&["workspace", "lints"]) else {
                return Err("[lints] workspace = true, but the workspace has no [workspace.lints]".into());
            };
            *lints = Value::Table(as_sections(shared));
        }
    }

    if let Some(place) = find_workspace_key(&out, "") {
        return Err(format!("{place}: `workspace` is left after resolving; export cannot write it out"));
    }
    Ok(out)
}

fn resolve_dependencies(
    deps: &mut Table,
    kind: &str,
    workspace: &Workspace,
    member_dir: &Path,
    rewrite_path: &mut PathRewrite<'_>,
) -> Result<(), String> {
    for (name, dep) in &mut deps.entries {
        let mut resolved = match &*dep {
            Value::String(version) => {
                let mut t = Table::inline();
                t.insert("version", Value::String(version.clone()));
                t
            }
            Value::Table(own) if inherits(dep) => {
                let shared =
                    workspace.manifest.at(&["workspace", "dependencies", name]).ok_or_else(|| {
                        format!("{kind}.{name}.workspace = true, but [workspace.dependencies] has no {name}")
                    })?;
                let mut t = match shared {
                    Value::String(version) => {
                        let mut t = Table::inline();
                        t.insert("version", Value::String(version.clone()));
                        t
                    }
                    Value::Table(t) => Table { entries: t.entries.clone(), inline: true },
                    other => {
                        return Err(format!(
                            "workspace.dependencies.{name} is {}",
                            crate::toml::inline_value(other)
                        ));
                    }
                };
                if let Some(Value::String(path)) = t.get("path") {
                    let dir = workspace.root.join(path);
                    t.insert("path", Value::String(rewrite_path(name, &dir)?));
                }
                for (key, value) in &own.entries {
                    match key.as_str() {
                        "workspace" => {}
                        "features" => {
                            let mut features =
                                t.get("features").and_then(Value::as_array).unwrap_or(&[]).to_vec();
                            for feature in value.as_array().unwrap_or(&[]) {
                                if !features.contains(feature) {
                                    features.push(feature.clone());
                                }
                            }
                            t.insert("features", Value::Array(features));
                        }
                        // Cargo ignores a member's `default-features` unless the workspace's
                        // entry agrees, so the workspace's stands.
                        "default-features" | "default_features" => {}
                        "optional" | "public" => t.insert(key, value.clone()),
                        other => {
                            return Err(format!(
                                "{kind}.{name}: `{other}` cannot be combined with `workspace = true`"
                            ));
                        }
                    }
                }
                t
            }
            Value::Table(own) => {
                let mut t = Table { entries: own.entries.clone(), inline: true };
                if let Some(Value::String(path)) = t.get("path") {
                    let dir = member_dir.join(path);
                    t.insert("path", Value::String(rewrite_path(name, &dir)?));
                }
                t
            }
            other => return Err(format!("{kind}.{name} is {}", crate::toml::inline_value(other))),
        };
        // `serde = "1.0"` rather than `serde = { version = "1.0" }`.
        *dep = match resolved.entries.as_slice() {
            [(key, Value::String(version))] if key == "version" => Value::String(version.clone()),
            _ => {
                resolved.inline = true;
                Value::Table(resolved)
            }
        };
    }
    Ok(())
}

/// `{ workspace = true, ... }`: the value is inherited from the workspace.
fn inherits(value: &Value) -> bool {
    value.as_table().and_then(|t| t.get("workspace")) == Some(&Value::Boolean(true))
}

fn only_workspace_key(value: &Value) -> Result<(), ()> {
    match value.as_table() {
        Some(t) if t.entries.len() == 1 => Ok(()),
        _ => Err(()),
    }
}

/// A copy of `table` whose tables are all `[sections]`.
fn as_sections(table: &Table) -> Table {
    Table {
        entries: table
            .entries
            .iter()
            .map(|(k, v)| match v {
                Value::Table(t) => (k.clone(), Value::Table(as_sections(t))),
                other => (k.clone(), other.clone()),
            })
            .collect(),
        inline: false,
    }
}

/// Where a `workspace` key is left in `table`, if anywhere (as a dotted path).
pub fn find_workspace_key(table: &Table, path: &str) -> Option<String> {
    for (key, value) in &table.entries {
        let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        if key == "workspace" {
            return Some(here);
        }
        let found = match value {
            Value::Table(t) => find_workspace_key(t, &here),
            Value::Array(items) => {
                items.iter().filter_map(Value::as_table).find_map(|t| find_workspace_key(t, &here))
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// One `[[package]]` of a `Cargo.lock`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Locked {
    pub name: String,
    pub version: String,
    /// `None` for a path package (a member, or a vendored library).
    pub source: Option<String>,
}

pub fn read_lock(path: &Path) -> Result<Vec<Locked>, String> {
    let lock = read_manifest(path)?;
    let packages = lock.get("package").and_then(Value::as_array).unwrap_or(&[]);
    packages
        .iter()
        .map(|p| {
            let p =
                p.as_table().ok_or_else(|| format!("{}: a [[package]] is not a table", path.display()))?;
            Ok(Locked {
                name: p.str_at(&["name"]).unwrap_or_default().to_string(),
                version: p.str_at(&["version"]).unwrap_or_default().to_string(),
                source: p.str_at(&["source"]).map(str::to_string),
            })
        })
        .collect()
}

/// The crates of `exported` that the workspace's lock does not have at the same version: what
/// cargo upgraded or added behind our back. Path packages do not count.
pub fn lock_changes(workspace: &[Locked], exported: &[Locked]) -> Vec<String> {
    exported
        .iter()
        .filter(|p| p.source.is_some() && !workspace.contains(p))
        .map(|p| {
            let was: Vec<&str> =
                workspace.iter().filter(|w| w.name == p.name).map(|w| w.version.as_str()).collect();
            if was.is_empty() {
                format!("{} {} (not in the workspace's lock)", p.name, p.version)
            } else {
                format!("{} {} (the workspace has {})", p.name, p.version, was.join(", "))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real workspace: its root manifest is what export must write out.
    fn workspace() -> Workspace {
        Workspace::load(&crate::project_root()).unwrap()
    }

    fn resolve_member(member: &str, library_copy: bool) -> (Table, Vec<(String, PathBuf)>) {
        let ws = workspace();
        let dir = ws.root.join(member);
        let manifest = read_manifest(&dir.join("Cargo.toml")).unwrap();
        let mut paths = Vec::new();
        let resolved = resolve(&manifest, &ws, &dir, library_copy, &mut |name, dir| {
            paths.push((name.to_string(), dir.to_path_buf()));
            Ok(format!("vendored/{name}"))
        })
        .unwrap();
        (resolved, paths)
    }

    #[test]
    fn example_manifest_resolves_with_the_workspace_values() {
        let ws = workspace();
        let (resolved, paths) = resolve_member("examples-queue", false);
        let text = resolved.to_toml();
        assert!(!text.contains("workspace"), "{text}");
        for key in ["version", "edition", "rust-version", "license", "publish"] {
            assert_eq!(
                resolved.at(&["package", key]),
                ws.manifest.at(&["workspace", "package", key]),
                "package.{key}"
            );
        }
        assert_eq!(resolved.str_at(&["package", "edition"]), Some("2024"));
        // serde with the workspace's version and features.
        let serde = resolved.table_at(&["dependencies", "serde"]).unwrap();
        assert_eq!(serde.get("version"), ws.manifest.at(&["workspace", "dependencies", "serde", "version"]));
        assert_eq!(serde.get("features"), Some(&Value::Array(vec![Value::String("derive".into())])));
        // multiprocessing: a path the caller chose.
        assert_eq!(
            resolved.str_at(&["dependencies", "multiprocessing", "path"]),
            Some("vendored/multiprocessing")
        );
        assert_eq!(paths, [("multiprocessing".to_string(), ws.root.join("multiprocessing"))]);
        // The lints written out.
        assert_eq!(resolved.at(&["lints"]).map(|l| l.as_table().unwrap().inline), Some(false));
        assert_eq!(resolved.str_at(&["lints", "rust", "unsafe_op_in_unsafe_fn"]), Some("warn"));
        assert_eq!(resolved.str_at(&["lints", "clippy", "undocumented_unsafe_blocks"]), Some("warn"));
        // And it reads back the same.
        assert_eq!(Table::parse(&text).unwrap(), resolved);
    }

    #[test]
    fn library_copy_keeps_what_builds_and_pins_bincode() {
        let (resolved, paths) = resolve_member("multiprocessing", true);
        let text = resolved.to_toml();
        assert!(!text.contains("workspace"), "{text}");
        for gone in ["dev-dependencies", "test", "bench", "example"] {
            assert!(resolved.get(gone).is_none(), "{gone} is still there:\n{text}");
        }
        // Its dev-dependency on itself went with the dev-dependencies: no path left.
        assert!(paths.is_empty(), "{paths:?}");
        assert_eq!(resolved.str_at(&["dependencies", "bincode", "version"]), Some("2.0.1"));
        assert_eq!(
            resolved.at(&["dependencies", "bincode", "features"]),
            Some(&Value::Array(vec![Value::String("serde".into())]))
        );
        let nix = resolved.at(&["dependencies", "nix", "features"]).and_then(Value::as_array).unwrap();
        assert_eq!(nix.len(), 6);
        // A bare version stays a bare version.
        assert_eq!(resolved.at(&["dependencies", "libc"]).and_then(Value::as_str), Some("0.2.177"));
        // The feature its code tests for stays declared.
        assert!(resolved.table_at(&["features"]).unwrap().get("test-support").is_some());
    }

    #[test]
    fn member_features_add_to_the_workspace_ones() {
        let ws = Workspace {
            root: PathBuf::from("/ws"),
            manifest: Table::parse(
                "[workspace.package]\nedition = \"2024\"\n[workspace.dependencies]\nserde = { version = \"1.0\", features = [\"derive\"] }\nlocal = { path = \"local\" }\n",
            )
            .unwrap(),
        };
        let member = Table::parse(
            "[package]\nname = \"m\"\nedition.workspace = true\n\n[dependencies]\nserde = { workspace = true, features = [\"rc\", \"derive\"], optional = true }\n\n[dependencies.local]\nworkspace = true\n\n[target.'cfg(unix)'.dependencies]\nlocal.workspace = true\n",
        )
        .unwrap();
        let mut seen = Vec::new();
        let resolved = resolve(&member, &ws, Path::new("/ws/m"), false, &mut |_, dir| {
            seen.push(dir.to_path_buf());
            Ok("../local".into())
        })
        .unwrap();
        assert_eq!(
            inline_text(&resolved, &["dependencies", "serde"]),
            r#"{ version = "1.0", features = ["derive", "rc"], optional = true }"#
        );
        assert_eq!(inline_text(&resolved, &["dependencies", "local"]), r#"{ path = "../local" }"#);
        assert_eq!(
            inline_text(&resolved, &["target", "cfg(unix)", "dependencies", "local"]),
            r#"{ path = "../local" }"#
        );
        assert_eq!(seen, [PathBuf::from("/ws/local"), PathBuf::from("/ws/local")]);
        assert!(find_workspace_key(&resolved, "").is_none());
    }

    fn inline_text(table: &Table, path: &[&str]) -> String {
        crate::toml::inline_value(table.at(path).unwrap())
    }

    #[test]
    fn what_cannot_be_written_out_is_refused() {
        let ws = Workspace { root: PathBuf::from("/ws"), manifest: Table::parse("[workspace]\n").unwrap() };
        let mut keep = |_: &str, _: &Path| -> Result<String, String> { Ok(String::new()) };
        for (member, needle) in [
            ("[package]\nversion.workspace = true\n", "has no version"),
            ("[dependencies]\nserde.workspace = true\n", "has no serde"),
            ("[lints]\nworkspace = true\n", "no [workspace.lints]"),
        ] {
            let err = resolve(&Table::parse(member).unwrap(), &ws, Path::new("/ws/m"), false, &mut keep)
                .unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn binaries_and_the_default_one() {
        let ws = workspace();
        let logging = Package::load(&ws.root.join("examples-logging")).unwrap();
        assert_eq!(logging.bins, ["log_to_stderr", "get_logger", "own_format"]);
        assert_eq!(logging.default_bin.as_deref(), Some("log_to_stderr"));
        let queue = Package::load(&ws.root.join("examples-queue")).unwrap();
        assert_eq!(queue.bins, ["examples-queue"]);
        assert_eq!(queue.default_bin.as_deref(), Some("examples-queue"));
    }

    #[test]
    fn lock_changes_name_what_moved() {
        let locked = |name: &str, version: &str| Locked {
            name: name.into(),
            version: version.into(),
            source: Some("registry+https://github.com/rust-lang/crates.io-index".into()),
        };
        let workspace = [locked("bincode", "2.0.1"), locked("serde", "1.0.200")];
        let path_package = Locked { name: "mine".into(), version: "0.1.0".into(), source: None };
        assert!(lock_changes(&workspace, &[locked("bincode", "2.0.1"), path_package]).is_empty());
        assert_eq!(
            lock_changes(&workspace, &[locked("bincode", "3.0.0")]),
            ["bincode 3.0.0 (the workspace has 2.0.1)"]
        );
    }
}
