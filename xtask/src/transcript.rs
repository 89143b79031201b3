//! The transcript matcher: does a program's output match the expected transcript?
//!
//! An expected transcript is the slide's output, line for line, with a little markup where the
//! slide cannot be taken literally:
//!
//! ```text
//! # A comment line.
//! Creating [CONSUMERS] consumers      [NAME]: the value of a variable (the consumer count)
//! Consumer-[..]: 0 * 0                [..]: any text inside the line
//! Consumer-[1..=CONSUMERS]: Exiting   [A..=B]: one line for each number from A to B
//! @unordered per-process              a block whose lines may come in any order, except that
//! ...                                 lines of one process (the text before the first ':')
//! @end                                keep their order; `@unordered` alone: any order at all
//! main: event is set  @at 3s          arrives 3 s after the start (-0.05 s, +1 s)
//! {[in any order: 0: 0, 1: 2]}         these items, each once, joined by ", ", in any order
//! ```
//!
//! Outside blocks, lines must come exactly in order. Blocks follow one another: every line of a
//! block comes before any line of the next, which is how "everything printed after a `join()`
//! comes after everything printed before it" is checked. A bracketed text that is none of these
//! tokens (`[INFO/Process-1]`) is literal. A transcript may instead be one rule (`@rule ...`,
//! see `rules.rs`), for a program whose output only an invariant describes.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// How late a timed line may be, past its `@at` time.
const LATE: Duration = Duration::from_millis(1000);
/// How early a timed line may be (clock granularity, not real earliness).
const EARLY: Duration = Duration::from_millis(50);

/// One line of output and when it arrived, counted from the program's start.
#[derive(Debug, Clone)]
pub struct OutputLine {
    pub text: String,
    pub at: Duration,
}

/// A parsed expected transcript.
#[derive(Debug)]
pub struct Transcript {
    sections: Vec<Section>,
    /// `@rule ...`: the transcript is a rule instead of lines (see `rules.rs`).
    rule: Option<crate::rules::Rule>,
}

#[derive(Debug)]
struct Section {
    order: Order,
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    Exact,
    Any,
    PerProcess,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The line as written, after variables and ranges were substituted.
    text: String,
    pieces: Vec<Piece>,
    at: Option<Duration>,
    /// Line number in the expected file, for messages.
    source_line: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Any,
    /// `[in any order: a, b, c]`: these items, each once, joined by ", ", in any order.
    AnyOrder(Vec<String>),
}

/// Why a program's output does not match.
#[derive(Debug)]
pub struct Mismatch {
    pub reason: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl Transcript {
    /// Parses an expected transcript, substituting `vars`.
    pub fn parse(source: &str, vars: &HashMap<&str, i64>) -> Result<Transcript, String> {
        let mut sections = vec![Section { order: Order::Exact, patterns: Vec::new() }];
        let mut in_block = false;
        let mut rule = None;
        for (index, raw) in source.lines().enumerate() {
            let line_no = index + 1;
            if raw.starts_with('#') {
                continue;
            }
            if let Some(text) = raw.strip_prefix("@rule ") {
                rule = Some(crate::rules::Rule::parse(text).map_err(|e| format!("line {line_no}: {e}"))?);
                continue;
            }
            if let Some(directive) = raw.strip_prefix('@') {
                let order = match directive.trim() {
                    "unordered" => Order::Any,
                    "unordered per-process" => Order::PerProcess,
                    "end" if in_block => {
                        in_block = false;
                        sections.push(Section { order: Order::Exact, patterns: Vec::new() });
                        continue;
                    }
                    other => return Err(format!("line {line_no}: unknown directive @{other}")),
                };
                if in_block {
                    return Err(format!("line {line_no}: blocks do not nest"));
                }
                in_block = true;
                sections.push(Section { order, patterns: Vec::new() });
                continue;
            }
            let (body, at) = split_timing(raw).map_err(|e| format!("line {line_no}: {e}"))?;
            let section = sections.last_mut().expect("there is always a section");
            for text in expand(body, vars).map_err(|e| format!("line {line_no}: {e}"))? {
                section.patterns.push(Pattern { pieces: pieces(&text), text, at, source_line: line_no });
            }
        }
        if in_block {
            return Err("an @unordered block has no @end".into());
        }
        sections.retain(|s| !s.patterns.is_empty());
        if rule.is_some() && !sections.is_empty() {
            return Err("a transcript with @rule has no lines of its own: the rule checks every line".into());
        }
        Ok(Transcript { sections, rule })
    }

    /// The expected lines, for a diff against the actual ones.
    pub fn expected_lines(&self) -> Vec<String> {
        self.sections.iter().flat_map(|s| s.patterns.iter().map(|p| p.text.clone())).collect()
    }

    /// Checks `actual` against the transcript.
    pub fn check(&self, actual: &[OutputLine]) -> Result<(), Mismatch> {
        if let Some(rule) = &self.rule {
            return rule.check(actual);
        }
        let expected_count: usize = self.sections.iter().map(|s| s.patterns.len()).sum();
        let mut next = 0;
        for section in &self.sections {
            let end = next + section.patterns.len();
            if end > actual.len() {
                let missing =
                    &section.patterns[actual.len().saturating_sub(next).min(section.patterns.len())];
                return Err(mismatch(format!(
                    "the output has {} lines, {} expected; missing from line {} of the transcript: {:?}",
                    actual.len(),
                    expected_count,
                    missing.source_line,
                    missing.text
                )));
            }
            let lines = &actual[next..end];
            match section.order {
                Order::Exact => check_exact(&section.patterns, lines, next)?,
                Order::Any | Order::PerProcess => check_unordered(section, lines, next)?,
            }
            next = end;
        }
        if actual.len() > next {
            return Err(mismatch(format!(
                "unexpected extra output from line {}: {:?}",
                next + 1,
                actual[next].text
            )));
        }
        Ok(())
    }
}

fn mismatch(reason: String) -> Mismatch {
    Mismatch { reason }
}

fn check_exact(patterns: &[Pattern], lines: &[OutputLine], offset: usize) -> Result<(), Mismatch> {
    for (i, (pattern, line)) in patterns.iter().zip(lines).enumerate() {
        if !pattern.matches(&line.text) {
            return Err(mismatch(format!(
                "line {}: expected {:?} (transcript line {}), got {:?}",
                offset + i + 1,
                pattern.text,
                pattern.source_line,
                line.text
            )));
        }
        pattern.check_timing(line, offset + i)?;
    }
    Ok(())
}

/// Matches a block's lines to its patterns, one to one, in any order; then checks per-process
/// order and timing on that assignment.
fn check_unordered(section: &Section, lines: &[OutputLine], offset: usize) -> Result<(), Mismatch> {
    let patterns = &section.patterns;
    // Which patterns each line can match.
    let candidates: Vec<Vec<usize>> = lines
        .iter()
        .map(|line| (0..patterns.len()).filter(|&p| patterns[p].matches(&line.text)).collect())
        .collect();
    if let Some(i) = candidates.iter().position(Vec::is_empty) {
        return Err(mismatch(format!(
            "line {}: {:?} is none of the lines expected at this point (transcript lines {}-{})",
            offset + i + 1,
            lines[i].text,
            patterns[0].source_line,
            patterns[patterns.len() - 1].source_line
        )));
    }
    // Maximum bipartite matching (Kuhn's augmenting paths): wildcards may fit several lines.
    let mut owner: Vec<Option<usize>> = vec![None; patterns.len()];
    for (line, output) in lines.iter().enumerate() {
        let mut visited = vec![false; patterns.len()];
        if !augment(line, &candidates, &mut owner, &mut visited) {
            return Err(mismatch(format!(
                "line {}: {:?} appears more often than expected in the block at transcript lines {}-{}",
                offset + line + 1,
                output.text,
                patterns[0].source_line,
                patterns[patterns.len() - 1].source_line
            )));
        }
    }
    let mut assigned = vec![0usize; lines.len()];
    for (pattern, line) in owner.iter().enumerate() {
        assigned[line.expect("a perfect matching")] = pattern;
    }
    // Patterns with the same text are interchangeable: give them out in the order the lines came.
    let mut by_text: HashMap<&str, Vec<usize>> = HashMap::new();
    for (line, &pattern) in assigned.iter().enumerate() {
        by_text.entry(patterns[pattern].text.as_str()).or_default().push(line);
    }
    for lines_of_text in by_text.values() {
        let mut pats: Vec<usize> = lines_of_text.iter().map(|&l| assigned[l]).collect();
        pats.sort_unstable();
        for (&line, pattern) in lines_of_text.iter().zip(pats) {
            assigned[line] = pattern;
        }
    }
    if section.order == Order::PerProcess {
        let mut last: HashMap<&str, (usize, usize)> = HashMap::new();
        for (line, &pattern) in assigned.iter().enumerate() {
            let key = process_key(&lines[line].text);
            if let Some(&(prev_line, prev_pattern)) = last.get(key) {
                if pattern < prev_pattern {
                    return Err(mismatch(format!(
                        "{key}: its lines are out of order: {:?} (line {}) came after {:?} (line {})",
                        lines[line].text,
                        offset + line + 1,
                        lines[prev_line].text,
                        offset + prev_line + 1
                    )));
                }
            }
            last.insert(key, (line, pattern));
        }
    }
    for (line, &pattern) in assigned.iter().enumerate() {
        patterns[pattern].check_timing(&lines[line], offset + line)?;
    }
    Ok(())
}

fn augment(
    line: usize,
    candidates: &[Vec<usize>],
    owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for &pattern in &candidates[line] {
        if visited[pattern] {
            continue;
        }
        visited[pattern] = true;
        if owner[pattern].is_none_or(|other| augment(other, candidates, owner, visited)) {
            owner[pattern] = Some(line);
            return true;
        }
    }
    false
}

/// The process a line belongs to: the text before its first ':' (`Consumer-3`, `main`).
fn process_key(line: &str) -> &str {
    line.split(':').next().unwrap_or(line)
}

impl Pattern {
    fn matches(&self, text: &str) -> bool {
        matches_pieces(&self.pieces, text)
    }

    fn check_timing(&self, line: &OutputLine, index: usize) -> Result<(), Mismatch> {
        let Some(at) = self.at else { return Ok(()) };
        let earliest = at.saturating_sub(EARLY);
        let latest = at + LATE;
        if line.at < earliest || line.at > latest {
            return Err(mismatch(format!(
                "line {}: {:?} arrived {:.2}s after the start, expected about {:.1}s ({:.2}s to {:.2}s)",
                index + 1,
                line.text,
                line.at.as_secs_f64(),
                at.as_secs_f64(),
                earliest.as_secs_f64(),
                latest.as_secs_f64()
            )));
        }
        Ok(())
    }
}

fn matches_pieces(pieces: &[Piece], text: &str) -> bool {
    match pieces.split_first() {
        None => text.is_empty(),
        Some((Piece::Literal(lit), rest)) => {
            text.strip_prefix(lit.as_str()).is_some_and(|t| matches_pieces(rest, t))
        }
        Some((Piece::Any, rest)) => {
            (0..=text.len()).filter(|&i| text.is_char_boundary(i)).any(|i| matches_pieces(rest, &text[i..]))
        }
        Some((Piece::AnyOrder(items), rest)) => (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .any(|i| is_permutation(&text[..i], items) && matches_pieces(rest, &text[i..])),
    }
}

/// Whether `text` is `items` joined by ", " in some order, each exactly once.
fn is_permutation(text: &str, items: &[String]) -> bool {
    let mut got: Vec<&str> = if text.is_empty() { Vec::new() } else { text.split(", ").collect() };
    let mut want: Vec<&str> = items.iter().map(String::as_str).collect();
    got.sort_unstable();
    want.sort_unstable();
    got == want
}

/// A line's pieces: literal text, `[..]` and `[in any order: ...]`.
fn pieces(text: &str) -> Vec<Piece> {
    const ANY_ORDER: &str = "[in any order: ";
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let any = rest.find("[..]");
        let order = rest.find(ANY_ORDER);
        let (at, piece, len) = match (any, order) {
            (Some(a), Some(o)) if o < a => order_piece(rest, o, ANY_ORDER),
            (None, Some(o)) => order_piece(rest, o, ANY_ORDER),
            (Some(a), _) => (a, Some(Piece::Any), 4),
            (None, None) => (rest.len(), None, 0),
        };
        if at > 0 {
            out.push(Piece::Literal(rest[..at].to_string()));
        }
        out.extend(piece);
        rest = &rest[at + len..];
    }
    out
}

/// The `[in any order: ...]` token at `at` (up to its `]`), or, unclosed, a literal `[`.
fn order_piece(text: &str, at: usize, opening: &str) -> (usize, Option<Piece>, usize) {
    match text[at..].find(']') {
        Some(close) => {
            let inner = &text[at + opening.len()..at + close];
            (at, Some(Piece::AnyOrder(inner.split(", ").map(str::to_string).collect())), close + 1)
        }
        None => (at, Some(Piece::Literal("[".into())), 1),
    }
}

/// Splits a trailing `@at 2s` off a line.
fn split_timing(raw: &str) -> Result<(&str, Option<Duration>), String> {
    let Some(pos) = raw.rfind("@at ") else { return Ok((raw, None)) };
    let spec = raw[pos + 4..].trim();
    let seconds: f64 = spec
        .strip_suffix('s')
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad timing {spec:?}: write it as `@at 2s`"))?;
    Ok((raw[..pos].trim_end(), Some(Duration::from_secs_f64(seconds))))
}

/// Substitutes `[NAME]` variables and expands an `[A..=B]` range into one line per number.
fn expand(line: &str, vars: &HashMap<&str, i64>) -> Result<Vec<String>, String> {
    let mut text = line.to_string();
    for (name, value) in vars {
        text = text.replace(&format!("[{name}]"), &value.to_string());
    }
    let Some(start) = find_range(&text) else { return Ok(vec![text]) };
    let end = start + text[start..].find(']').expect("find_range saw the bracket");
    let (low, high) = text[start + 1..end].split_once("..=").expect("find_range saw the dots");
    let value = |s: &str| -> Result<i64, String> {
        s.parse().or_else(|_| vars.get(s).copied().ok_or_else(|| format!("unknown variable {s}")))
    };
    let (low, high) = (value(low)?, value(high)?);
    let mut lines = Vec::new();
    for n in low..=high {
        lines.extend(expand(&format!("{}{n}{}", &text[..start], &text[end + 1..]), vars)?);
    }
    Ok(lines)
}

/// Where a `[A..=B]` token starts, if the line has one.
fn find_range(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(offset) = text[from..].find('[') {
        let start = from + offset;
        let end = start + text[start..].find(']')?;
        let inner = &text[start + 1..end];
        let is_bound = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if let Some((a, b)) = inner.split_once("..=") {
            if is_bound(a) && is_bound(b) {
                return Some(start);
            }
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    //! The matcher must fail where it must: each test changes one thing in an output that
    //! passes, and checks that the matcher notices.

    use super::*;

    fn vars(consumers: i64) -> HashMap<&'static str, i64> {
        HashMap::from([("CONSUMERS", consumers)])
    }

    fn lines(text: &str) -> Vec<OutputLine> {
        text.lines().map(|t| OutputLine { text: t.to_string(), at: Duration::ZERO }).collect()
    }

    /// An exact transcript's lines without its comments: the output it describes.
    fn uncommented(text: &str) -> Vec<OutputLine> {
        lines(text).into_iter().filter(|l| !l.text.starts_with('#')).collect()
    }

    fn timed(entries: &[(&str, f64)]) -> Vec<OutputLine> {
        entries
            .iter()
            .map(|(t, at)| OutputLine { text: t.to_string(), at: Duration::from_secs_f64(*at) })
            .collect()
    }

    const CONSUMERS_EXPECTED: &str = include_str!("../../examples-consumers/expected/examples-consumers.txt");
    const EVENT_EXPECTED: &str = include_str!("../../examples-event/expected/examples-event.txt");
    const LOG_EXPECTED: &str = include_str!("../../examples-logging/expected/log_to_stderr.txt");
    const SUBCLASS_EXPECTED: &str = include_str!("../../examples-subclass/expected/examples-subclass.txt");

    // CPython's own runs of the lecture's programs on a 2-core machine, copied from the
    // reference material: run 3 is clean; run 1 has two lines that CPython's print merged.
    const CPYTHON_CONSUMERS_CLEAN: &str = include_str!("../testdata/cpython-producer-consumer-clean.txt");
    const CPYTHON_CONSUMERS_TORN: &str = include_str!("../testdata/cpython-producer-consumer-torn.txt");

    fn consumers() -> Transcript {
        Transcript::parse(CONSUMERS_EXPECTED, &vars(4)).unwrap()
    }

    /// A correct 4-consumer output, CPython's clean run.
    fn good_consumer_output() -> Vec<OutputLine> {
        lines(CPYTHON_CONSUMERS_CLEAN)
    }

    fn assert_fails(transcript: &Transcript, output: &[OutputLine], needle: &str) {
        match transcript.check(output) {
            Ok(()) => panic!("the matcher accepted a wrong output"),
            Err(m) => assert!(m.reason.contains(needle), "reason {:?} does not mention {needle:?}", m.reason),
        }
    }

    #[test]
    fn cpython_clean_run_passes() {
        consumers().check(&good_consumer_output()).unwrap();
    }

    #[test]
    fn cpython_torn_line_fails() {
        assert_fails(&consumers(), &lines(CPYTHON_CONSUMERS_TORN), "none of the lines expected");
    }

    #[test]
    fn changed_word_fails() {
        let log = Transcript::parse(LOG_EXPECTED, &vars(4)).unwrap();
        let good = uncommented(LOG_EXPECTED);
        log.check(&good).unwrap();
        let mut bad = good.clone();
        bad[1].text = "Doing some other work".into();
        assert_fails(&log, &bad, "line 2");
    }

    #[test]
    fn missing_line_fails() {
        let mut output = good_consumer_output();
        output.remove(3);
        assert_fails(&consumers(), &output, "");
    }

    #[test]
    fn extra_line_fails() {
        let mut output = good_consumer_output();
        output.push(OutputLine { text: "Result: 10 * 10 = 100".into(), at: Duration::ZERO });
        assert_fails(&consumers(), &output, "extra output");
    }

    #[test]
    fn line_moved_where_order_is_fixed_fails() {
        let log = Transcript::parse(LOG_EXPECTED, &vars(4)).unwrap();
        let mut output = uncommented(LOG_EXPECTED);
        log.check(&output).unwrap();
        output.swap(0, 1);
        assert_fails(&log, &output, "line 1");
    }

    #[test]
    fn wrong_consumer_count_fails() {
        // Output of a 4-consumer run checked on a machine where the count must be 8.
        let eight = Transcript::parse(CONSUMERS_EXPECTED, &vars(8)).unwrap();
        assert_fails(&eight, &good_consumer_output(), "line 1");
    }

    #[test]
    fn result_before_exiting_fails() {
        let mut output = good_consumer_output();
        let exiting = output.iter().position(|l| l.text.ends_with("Exiting")).unwrap();
        let result = output.iter().position(|l| l.text.starts_with("Result:")).unwrap();
        let line = output.remove(result);
        output.insert(exiting, line);
        assert_fails(&consumers(), &output, "none of the lines expected");
    }

    #[test]
    fn consumer_lines_out_of_their_own_order_fail() {
        let mut output = good_consumer_output();
        // Consumer-1 says it exits before it prints its first task.
        let task = output
            .iter()
            .position(|l| l.text.starts_with("Consumer-1: ") && !l.text.ends_with("Exiting"))
            .unwrap();
        let exit = output.iter().position(|l| l.text == "Consumer-1: Exiting").unwrap();
        let moved = output.remove(exit);
        output.insert(task, moved);
        assert_fails(&consumers(), &output, "out of order");
    }

    #[test]
    fn duplicated_line_fails_even_when_count_matches() {
        let mut output = good_consumer_output();
        let exit = output.iter().position(|l| l.text == "Consumer-2: Exiting").unwrap();
        output[exit].text = "Consumer-1: Exiting".into();
        assert_fails(&consumers(), &output, "more often");
    }

    #[test]
    fn subclass_lines_in_any_order_pass() {
        let t = Transcript::parse(SUBCLASS_EXPECTED, &vars(4)).unwrap();
        t.check(&lines("In Worker-2\nIn Worker-1\nIn Worker-3\nIn Worker-5\nIn Worker-4\n")).unwrap();
        assert_fails(
            &t,
            &lines("In Worker-2\nIn Worker-1\nIn Worker-3\nIn Worker-5\nIn Worker-5\n"),
            "more often",
        );
    }

    fn event_output(false_at: f64, set_at: f64) -> Vec<OutputLine> {
        timed(&[
            ("wait_for_event: starting", 0.01),
            ("main: waiting before calling Event.set()", 0.01),
            ("wait_for_event_timeout: starting", 0.01),
            ("wait_for_event_timeout: e.is_set()-> False", false_at),
            ("main: event is set", set_at),
            ("wait_for_event: e.is_set()-> True", set_at),
        ])
    }

    #[test]
    fn event_timing_is_checked() {
        let t = Transcript::parse(EVENT_EXPECTED, &vars(4)).unwrap();
        t.check(&event_output(2.0, 3.0)).unwrap();
        assert_fails(&t, &event_output(0.5, 3.0), "expected about 2.0s");
        assert_fails(&t, &event_output(2.0, 5.0), "expected about 3.0s");
    }

    #[test]
    fn event_cpython_orders_pass() {
        // CPython run 2 printed the waiter's True before main's "event is set".
        let t = Transcript::parse(EVENT_EXPECTED, &vars(4)).unwrap();
        let mut output = event_output(2.0, 3.0);
        output.swap(4, 5);
        t.check(&output).unwrap();
    }

    #[test]
    fn ranges_and_variables_expand() {
        let t =
            Transcript::parse("Creating [CONSUMERS] consumers\nC-[1..=CONSUMERS]: x\n", &vars(2)).unwrap();
        assert_eq!(t.expected_lines(), ["Creating 2 consumers", "C-1: x", "C-2: x"]);
        let literal = Transcript::parse("[INFO/Process-1] child\n", &vars(2)).unwrap();
        assert_eq!(literal.expected_lines(), ["[INFO/Process-1] child"]);
    }

    #[test]
    fn wildcard_matches_any_text() {
        let p = pieces("Consumer-[..]: 1 * 1");
        assert!(matches_pieces(&p, "Consumer-12: 1 * 1"));
        assert!(!matches_pieces(&p, "Consumer-12: 1 * 1 extra"));
        assert!(!matches_pieces(&p, "Producer-1: 1 * 1"));
    }

    #[test]
    fn bad_markup_is_reported() {
        assert!(Transcript::parse("@unordered\nx\n", &vars(1)).is_err());
        assert!(Transcript::parse("@sideways\n", &vars(1)).is_err());
        assert!(Transcript::parse("x @at soon\n", &vars(1)).is_err());
    }

    #[test]
    fn in_any_order_takes_each_item_once_in_any_order() {
        let pattern = Pattern {
            text: String::new(),
            pieces: pieces("Results: {[in any order: 0: 0, 1: 2, 2: 4]}"),
            at: None,
            source_line: 1,
        };
        assert!(pattern.matches("Results: {0: 0, 1: 2, 2: 4}"));
        assert!(pattern.matches("Results: {2: 4, 0: 0, 1: 2}"));
        assert!(!pattern.matches("Results: {2: 4, 0: 0}"), "an item missing");
        assert!(!pattern.matches("Results: {2: 4, 0: 0, 1: 2, 1: 2}"), "an item twice");
        assert!(!pattern.matches("Results: {2: 4, 0: 0, 1: 3}"), "a changed value");
        assert!(!pattern.matches("Results: {2: 4,0: 0, 1: 2}"), "another separator");
        // A bracket that opens no token stays literal.
        assert!(matches_pieces(&pieces("a [in any order: b"), "a [in any order: b"));
    }
}
