//! CPython, run as `python3 -c SCRIPT ARGS...`: the script is compiled into the program
//! (`include_str!`), so nothing has to be found on disk, and it answers with one JSON object on
//! stdout, after checking its own results.

use std::process::Command;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// `Python 3.11.7`, or `None` when `python3` cannot be run.
pub fn version() -> Option<String> {
    let output = Command::new("python3").arg("--version").output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs `python3 -c script args...` and reads its stdout as JSON. [`Error::Missing`] when
/// `python3` cannot be started; [`Error::Tool`] with its stderr when the script fails.
pub fn run<T: DeserializeOwned>(script: &str, args: &[String]) -> Result<T> {
    let output = Command::new("python3").arg("-c").arg(script).args(args).output().map_err(|e| {
        Error::Missing(format!("python3 could not be run ({e}): install CPython 3 to compare"))
    })?;
    if !output.status.success() {
        return Err(Error::Tool(format!(
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::Tool(format!("cannot read python3's results: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_back_or_a_clear_error() {
        if version().is_none() {
            let missing = run::<serde_json::Value>("print(1)", &[]).unwrap_err();
            assert!(missing.is_missing() && missing.to_string().contains("python3"), "{missing}");
            return;
        }
        let value: serde_json::Value =
            run("import json, sys; print(json.dumps({'x': int(sys.argv[1]) * 2}))", &["21".into()]).unwrap();
        assert_eq!(value["x"], 42);
        let failed = run::<serde_json::Value>("raise SystemExit('no such metric')", &[]).unwrap_err();
        assert!(failed.to_string().contains("no such metric"), "{failed}");
    }
}
