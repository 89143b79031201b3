//! Transcripts that are rules: `@rule NAME ...` for a program whose lines depend on timing so
//! much that no fixed text, even order-free, describes them, but whose *invariant* is exact.
//!
//! One rule so far, for PyMOTW's `multiprocessing_semaphore.py`:
//!
//! ```text
//! @rule active-list workers=0..=9 limit=3
//! ```
//!
//! Every line is `Activating NAME now running LIST` (one per worker of the range, each exactly
//! once, NAME in its own LIST) or `Now running LIST`, where LIST is a Python list of quoted names
//! (`['0', '3']`) holding at most `limit` workers of the range, each at most once; the last line
//! is `Now running []`. That is "at most 3 active at once, every worker ran, and all finished".

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use crate::transcript::{Mismatch, OutputLine};

#[derive(Debug)]
pub enum Rule {
    ActiveList { workers: RangeInclusive<i64>, limit: usize },
}

impl Rule {
    /// Parses the text after `@rule `.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let mut words = text.split_whitespace();
        match words.next() {
            Some("active-list") => {
                let (mut workers, mut limit) = (None, None);
                for word in words {
                    match word.split_once('=') {
                        Some(("workers", range)) => {
                            let (a, b) = range
                                .split_once("..=")
                                .ok_or_else(|| format!("workers={range}: expected A..=B"))?;
                            let parse =
                                |n: &str| n.parse::<i64>().map_err(|e| format!("workers={range}: {e}"));
                            workers = Some(parse(a)?..=parse(b)?);
                        }
                        Some(("limit", n)) => limit = Some(n.parse().map_err(|e| format!("limit={n}: {e}"))?),
                        _ => return Err(format!("@rule active-list: unknown argument {word:?}")),
                    }
                }
                Ok(Rule::ActiveList {
                    workers: workers.ok_or("@rule active-list needs workers=A..=B")?,
                    limit: limit.ok_or("@rule active-list needs limit=N")?,
                })
            }
            other => Err(format!("unknown rule {other:?}")),
        }
    }

    pub fn check(&self, lines: &[OutputLine]) -> Result<(), Mismatch> {
        match self {
            Rule::ActiveList { workers, limit } => check_active_list(workers, *limit, lines),
        }
    }
}

fn fail(reason: String) -> Result<(), Mismatch> {
    Err(Mismatch { reason })
}

fn check_active_list(
    workers: &RangeInclusive<i64>,
    limit: usize,
    lines: &[OutputLine],
) -> Result<(), Mismatch> {
    let mut activated = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let text = line.text.as_str();
        let (name, list) = if let Some(rest) = text.strip_prefix("Activating ") {
            let Some((name, list)) = rest.split_once(" now running ") else {
                return fail(format!("line {}: {text:?} is not `Activating NAME now running LIST`", i + 1));
            };
            (Some(name), list)
        } else if let Some(list) = text.strip_prefix("Now running ") {
            (None, list)
        } else {
            return fail(format!(
                "line {}: {text:?} is neither `Activating ...` nor `Now running ...`",
                i + 1
            ));
        };
        let Some(names) = python_list(list) else {
            return fail(format!("line {}: {list:?} is not a Python list of quoted names", i + 1));
        };
        let unique: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        if unique.len() != names.len() {
            return fail(format!("line {}: a worker is listed twice in {list}", i + 1));
        }
        if let Some(stranger) =
            names.iter().find(|n| n.parse::<i64>().map_or(true, |n| !workers.contains(&n)))
        {
            return fail(format!("line {}: {stranger:?} is not one of the workers", i + 1));
        }
        if names.len() > limit {
            return fail(format!(
                "line {}: {} workers active at once ({list}), the semaphore allows {limit}",
                i + 1,
                names.len()
            ));
        }
        if let Some(name) = name {
            if !names.iter().any(|n| n == name) {
                return fail(format!("line {}: worker {name} is not in its own list {list}", i + 1));
            }
            if !activated.insert(name.to_string()) {
                return fail(format!("line {}: worker {name} activated twice", i + 1));
            }
        }
    }
    let missing: Vec<String> =
        workers.clone().map(|n| n.to_string()).filter(|n| !activated.contains(n)).collect();
    if !missing.is_empty() {
        return fail(format!("workers {} never activated", missing.join(", ")));
    }
    if lines.last().map(|l| l.text.as_str()) != Some("Now running []") {
        return fail("the last line is not `Now running []`: not every worker finished".into());
    }
    Ok(())
}

/// `['0', '3']` as its names; `None` when it is not such a list.
fn python_list(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner.split(", ").map(|item| item.strip_prefix('\'')?.strip_suffix('\'').map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lines(text: &str) -> Vec<OutputLine> {
        text.lines().map(|t| OutputLine { text: t.to_string(), at: Duration::ZERO }).collect()
    }

    fn rule() -> Rule {
        Rule::parse("active-list workers=0..=3 limit=2").unwrap()
    }

    const GOOD: &str = "Activating 0 now running ['0']\nActivating 2 now running ['0', '2']\n\
                        Now running ['0', '2']\nActivating 1 now running ['2', '1']\n\
                        Activating 3 now running ['1', '3']\nNow running ['3']\nNow running []";

    #[test]
    fn a_run_that_keeps_the_invariant_passes() {
        rule().check(&lines(GOOD)).unwrap();
    }

    #[test]
    fn each_broken_invariant_is_caught() {
        let cases = [
            (GOOD.replace("['0', '2']\nActivating 1", "['0', '2', '3']\nActivating 1"), "allows 2"),
            (GOOD.replace("Activating 3 now running ['1', '3']\n", ""), "never activated"),
            (GOOD.replace("Now running []", "Now running ['3']"), "not every worker finished"),
            (
                GOOD.replace("Activating 1 now running ['2', '1']", "Activating 1 now running ['2']"),
                "own list",
            ),
            (
                GOOD.replace("Activating 3 now running ['1', '3']", "Activating 0 now running ['1', '0']"),
                "activated twice",
            ),
            (GOOD.replace("Now running ['3']", "Now running [3]"), "not a Python list"),
            (GOOD.replace("Now running ['3']", "Now running ['7']"), "not one of the workers"),
            (format!("{GOOD}\nsomething else"), "neither"),
        ];
        for (output, reason) in cases {
            let err = rule().check(&lines(&output)).unwrap_err();
            assert!(err.reason.contains(reason), "{reason}: {}", err.reason);
        }
    }

    /// CPython's own run of the program (its second of three, kept in testdata) keeps the rule.
    #[test]
    fn cpythons_run_passes_the_examples_rule() {
        let transcript = include_str!("../../examples-semaphore/expected/semaphore.txt");
        let line = transcript.lines().find_map(|l| l.strip_prefix("@rule ")).expect("the example has a rule");
        let run = include_str!("../testdata/cpython-semaphore.txt");
        Rule::parse(line).unwrap().check(&lines(run)).unwrap();
    }

    #[test]
    fn parsing_refuses_what_it_does_not_know() {
        assert!(Rule::parse("active-list workers=0..=9").is_err());
        assert!(Rule::parse("active-list limit=3 colour=blue").is_err());
        assert!(Rule::parse("other").is_err());
    }
}
