//! Counts the words of a few text files with a map/reduce whose steps run in a pool of
//! worker processes, and prints the 20 most frequent.
//!
//! Reproduces PyMOTW's `multiprocessing_wordcount.py`. Run it with
//! `cargo run -p examples-mapreduce --bin wordcount`; it reads the `*.rst` files of the
//! example's `corpus/` folder (or of the folder given as its argument).

mod mapreduce;

use std::path::Path;

use multiprocessing::current_process;

use mapreduce::SimpleMapReduce;

/// Read a file and return a sequence of (word, occurences) values.
fn file_to_words(filename: String) -> Vec<(String, u32)> {
    const STOP_WORDS: [&str; 20] = [
        "a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is", "it", "of", "or", "py", "rst",
        "that", "the", "to", "with",
    ];

    println!("{} reading {}", current_process().name, filename);
    let mut output = Vec::new();

    // Python raises in the worker when the file cannot be read, and `map` raises it again; a
    // panic here does the same (the pool's `map` returns it as an error).
    let text = std::fs::read_to_string(&filename).unwrap_or_else(|e| panic!("{filename}: {e}"));
    for line in text.lines() {
        // Skip comment lines.
        if line.trim_start().starts_with("..") {
            continue;
        }
        // Strip punctuation (Python's `string.punctuation` is ASCII's).
        let line: String = line.chars().map(|c| if c.is_ascii_punctuation() { ' ' } else { c }).collect();
        for word in line.split_whitespace() {
            let word = word.to_lowercase();
            if word.chars().all(char::is_alphabetic) && !STOP_WORDS.contains(&word.as_str()) {
                output.push((word, 1));
            }
        }
    }
    output
}

/// Convert the partitioned data for a word to a tuple containing the word and the number of
/// occurences.
fn count_words((word, occurences): (String, Vec<u32>)) -> (String, u32) {
    (word, occurences.iter().sum())
}

fn main() -> multiprocessing::Result<()> {
    // Python reads the `*.rst` files of the folder it runs in. This port's texts are kept in
    // the example's own folder, so it goes there first: `cargo run` works from anywhere.
    let folder =
        std::env::args().nth(1).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/corpus").into());
    std::env::set_current_dir(&folder)?;
    let input_files = glob_rst(Path::new("."))?;

    let mapper = SimpleMapReduce::new(file_to_words, count_words, None)?;
    let mut word_counts = mapper.call(input_files)?;
    word_counts.sort_by_key(|&(_, count)| count);
    word_counts.reverse();

    println!("\nTOP 20 WORDS BY FREQUENCY\n");
    let top20 = &word_counts[..word_counts.len().min(20)];
    let longest = top20.iter().map(|(word, _)| word.len()).max().unwrap_or(0);
    for (word, count) in top20 {
        println!("{word:<len$}: {count:5}", len = longest + 1);
    }
    Ok(())
}

/// Python's `glob.glob('*.rst')`: the names in `folder` that end in `.rst`, not hidden, in the
/// order the folder lists them.
fn glob_rst(folder: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rst") && !name.starts_with('.') {
            names.push(name);
        }
    }
    Ok(names)
}
