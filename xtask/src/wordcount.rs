//! `@wordcount DIR` in a transcript: the top 20 it gives is checked against a plain count.
//!
//! The word-count example's transcript holds the top 20 that CPython's program printed on the
//! example's corpus. A transcript copied from a run can go stale when someone edits the corpus,
//! so `verify` also counts the words itself, in one process and the simplest way, with the rules
//! of PyMOTW's `multiprocessing_wordcount.py`, and refuses a transcript whose top 20 differs.

use std::collections::HashMap;
use std::path::Path;

/// The header line after which the transcript lists the top 20.
pub const HEADER: &str = "TOP 20 WORDS BY FREQUENCY";

/// The words the Python program leaves out.
const STOP_WORDS: [&str; 20] = [
    "a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is", "it", "of", "or", "py", "rst",
    "that", "the", "to", "with",
];

/// Counts the words of every `*.rst` file in `dir` as the Python program does: comment lines
/// (`..`) skipped, ASCII punctuation made spaces, lower-cased, only alphabetic words that are not
/// stop words. Returns the top 20 lines as the program prints them.
pub fn top20_lines(dir: &Path) -> Result<Vec<String>, String> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files = 0;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|ext| ext != "rst") {
            continue;
        }
        files += 1;
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for line in text.lines().filter(|line| !line.trim_start().starts_with("..")) {
            let line: String = line.chars().map(|c| if c.is_ascii_punctuation() { ' ' } else { c }).collect();
            for word in line.split_whitespace().map(str::to_lowercase) {
                if word.chars().all(char::is_alphabetic) && !STOP_WORDS.contains(&word.as_str()) {
                    *counts.entry(word).or_default() += 1;
                }
            }
        }
    }
    if files == 0 {
        return Err(format!("no .rst file in {}", dir.display()));
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // The Python program breaks ties by the order it first saw the words, which depends on the
    // order the folder lists its files in: a tie across the cut, or inside the top 20, would make
    // the transcript depend on the file system.
    if let Some(tie) = ranked.windows(2).take(20).find(|pair| pair[0].1 == pair[1].1) {
        return Err(format!(
            "the corpus gives `{}` and `{}` the same count ({}): its top 20 depends on file order",
            tie[0].0, tie[1].0, tie[0].1
        ));
    }
    ranked.truncate(20);
    let longest = ranked.iter().map(|(word, _)| word.chars().count()).max().unwrap_or(0);
    Ok(ranked.iter().map(|(word, count)| format!("{word:<width$}: {count:5}", width = longest + 1)).collect())
}

/// The top-20 lines a transcript gives: the non-empty, non-comment lines after [`HEADER`].
pub fn transcript_top20(transcript: &str) -> Vec<String> {
    transcript
        .lines()
        .skip_while(|line| line.trim() != HEADER)
        .skip(1)
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#') && !line.starts_with('@'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_as_the_python_program_does() {
        let dir = std::env::temp_dir().join(format!("xtask-wordcount-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from(".. a comment line: skipped skipped skipped\n");
        // 21 words with distinct counts 42, 40, ... 2, plus stop words and non-words.
        for (i, word) in "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi"
            .split(' ')
            .enumerate()
        {
            for _ in 0..(21 - i) {
                text.push_str(&format!("{word}, The {word}. and x2 "));
            }
            text.push('\n');
        }
        std::fs::write(dir.join("one.rst"), &text).unwrap();
        std::fs::write(dir.join("ignored.txt"), "alpha alpha alpha").unwrap();
        let lines = top20_lines(&dir).unwrap();
        assert_eq!(lines.len(), 20);
        assert_eq!(lines[0], "alpha   :    42");
        assert_eq!(lines[19], "upsilon :     4");
        assert!(!lines.iter().any(|l| l.starts_with("skipped") || l.starts_with("the ")));
        // A tie inside the top 20 is refused.
        std::fs::write(dir.join("two.rst"), "beta beta\n").unwrap();
        let err = top20_lines(&dir).unwrap_err();
        assert!(err.contains("`alpha` and `beta`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_the_top20_after_the_header() {
        let t =
            "x\n@unordered\n@end\n\nTOP 20 WORDS BY FREQUENCY\n\n# note\n@wordcount corpus\na : 2\nb : 1\n";
        assert_eq!(transcript_top20(t), ["a : 2", "b : 1"]);
    }
}
