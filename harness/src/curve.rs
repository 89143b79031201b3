//! Curves: how a cost grows along an axis (message size, number of processes, the parent's
//! heap), several series on the same axis (the crate, its raw limit...), each point the
//! [`Stats`] of its rounds. A curve prints as a table ([`Curve::table`]), serialises as JSON and
//! draws as SVG (`plot.rs`).

use serde::Serialize;

use crate::rounds::Stats;

/// What the x values are, which decides how they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Bytes: `16 B`, `4 KiB`, `64 MiB`.
    Bytes,
    /// As many producers as consumers: `4x4`.
    Pairs,
    /// A plain number.
    Plain,
}

impl Scale {
    /// `x` as a reader expects it on this axis.
    pub fn format(self, x: f64) -> String {
        match self {
            Scale::Bytes => bytes(x),
            Scale::Pairs => format!("{x:.0}x{x:.0}"),
            Scale::Plain if x == x.round() && x.abs() < 1e4 => format!("{x:.0}"),
            Scale::Plain => number(x),
        }
    }
}

/// One point: the x value and the summary of the rounds measured there.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    /// Where on the axis.
    pub x: f64,
    /// What was measured there.
    pub y: Stats,
}

/// One line of a curve: the crate, or a limit, measured along the axis.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// `ours`, `limit: raw pipe`...
    pub name: String,
    /// A limit (drawn dashed), not the crate.
    pub limit: bool,
    /// Series that belong together (the crate and its limit) share a colour: its index.
    pub colour: usize,
    /// The points, in the order of the axis.
    pub points: Vec<Point>,
}

/// A measured curve.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    /// Short name, for `--curve NAME` and file names.
    pub name: String,
    /// What it shows, as a title.
    pub title: String,
    /// The x axis: what it is (`message size`).
    pub x_label: String,
    /// How x values read.
    pub x_scale: Scale,
    /// Whether the x axis is logarithmic (it must then have no x <= 0).
    pub x_log: bool,
    /// The y axis: what, in which unit (`MB/s`).
    pub y_label: String,
    /// Whether the y axis is logarithmic.
    pub y_log: bool,
    /// Whether a higher y is better (for the ratios' sense).
    pub higher_is_better: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// What was skipped and why, what the figures mean: printed under the table.
    pub notes: Vec<String>,
}

impl Curve {
    /// The medians, one row per x value, one column per series, then a "speed vs limit" column
    /// per pair of the crate and its limit (same colour): how many times faster the crate is
    /// (below 1: slower). Columns as wide as their widest cell.
    pub fn table(&self) -> String {
        let mut xs: Vec<f64> = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.x)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let pairs = self.pairs();
        let mut header = vec![self.x_label.clone()];
        header.extend(self.series.iter().map(|s| s.name.clone()));
        header.extend(pairs.iter().map(|&(ours, _)| match self.series[ours].name.split_once(", ") {
            Some((_, which)) if pairs.len() > 1 => format!("speed vs limit, {which}"),
            _ => "speed vs limit".to_string(),
        }));
        let mut rows = vec![header];
        for &x in &xs {
            let at = |s: &Series| s.points.iter().find(|p| p.x == x).map(|p| p.y);
            let mut row = vec![self.x_scale.format(x)];
            row.extend(self.series.iter().map(|s| at(s).map_or("-".into(), cell)));
            row.extend(pairs.iter().map(|&(a, b)| {
                let ratio = at(&self.series[a]).zip(at(&self.series[b])).map(|(a, b)| {
                    if self.higher_is_better { a.median / b.median } else { b.median / a.median }
                });
                ratio.map_or("-".into(), |r| format!("{r:.2}x"))
            }));
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!("{} ({}; median [min-max])\n", self.title, self.y_label);
        for row in &rows {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            out += cells.join("  ").trim_end();
            out += "\n";
        }
        for note in &self.notes {
            out += &format!("  note: {note}\n");
        }
        out
    }

    /// (crate series, limit series) of each colour that has both.
    fn pairs(&self) -> Vec<(usize, usize)> {
        let find = |colour: usize, limit: bool| {
            self.series.iter().position(|s| s.colour == colour && s.limit == limit)
        };
        let mut colours: Vec<usize> = self.series.iter().map(|s| s.colour).collect();
        colours.dedup();
        colours.into_iter().filter_map(|c| find(c, false).zip(find(c, true))).collect()
    }
}

/// `median [min-max]`, each as [`number`].
pub fn cell(stats: Stats) -> String {
    format!("{} [{}-{}]", number(stats.median), number(stats.min), number(stats.max))
}

/// A figure in three or four significant digits: `3.10 M`, `912 k`, `238`, `0.4`.
pub fn number(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0} k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 0.1 || v == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A tick of a logarithmic axis, in two significant digits: `0.16`, `2.5`, `320`, `32 k`,
/// `6.3 M`.
pub fn tick(v: f64) -> String {
    if v <= 0.0 {
        return number(v);
    }
    let (scale, suffix) = [(1e9, " G"), (1e6, " M"), (1e4, " k")]
        .into_iter()
        .find(|&(scale, _)| v >= scale)
        .map_or((1.0, ""), |(scale, suffix)| (if scale == 1e4 { 1e3 } else { scale }, suffix));
    let v = v / scale;
    let decimals = (1 - v.log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}{suffix}")
}

/// Bytes in binary units: `16 B`, `4 KiB`, `1.5 MiB`, `4 GiB`.
pub fn bytes(v: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = v;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if (value - value.round()).abs() < 0.05 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// A curve of two series for the tests: ours and a limit, at 16 B, 1 KiB and 64 KiB; the
/// limit twice as fast; each point's rounds 10% either side of the median.
#[cfg(test)]
pub(crate) fn sample() -> Curve {
    let series = |name: &str, limit: bool, scale: f64| Series {
        name: name.into(),
        limit,
        colour: 0,
        points: [16.0, 1024.0, 65536.0]
            .iter()
            .map(|&x| Point { x, y: Stats { median: x * scale, min: x * scale * 0.9, max: x * scale * 1.1 } })
            .collect(),
    };
    Curve {
        name: "message-size".into(),
        title: "throughput".into(),
        x_label: "message size".into(),
        x_scale: Scale::Bytes,
        x_log: true,
        y_label: "MB/s".into(),
        y_log: true,
        higher_is_better: true,
        series: vec![series("ours", false, 1.0), series("limit: a pipe", true, 2.0)],
        notes: vec!["64 MiB skipped".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_well() {
        assert_eq!(bytes(16.0), "16 B");
        assert_eq!(bytes(4096.0), "4 KiB");
        assert_eq!(bytes(64.0 * 1024.0 * 1024.0), "64 MiB");
        assert_eq!(bytes(1.5 * 1024.0 * 1024.0), "1.5 MiB");
        assert_eq!(Scale::Pairs.format(4.0), "4x4");
        assert_eq!(number(3_100_000.0), "3.10 M");
        assert_eq!(number(912_345.0), "912 k");
        assert_eq!(number(0.4), "0.4");
        assert_eq!(number(0.012), "0.012");
        assert_eq!(Scale::Plain.format(64.0), "64");
        assert_eq!(Scale::Plain.format(0.5), "0.5");
        assert_eq!(
            [tick(0.158), tick(2.5), tick(1.0), tick(320.0), tick(32.0)],
            ["0.16", "2.5", "1.0", "320", "32"]
        );
        assert_eq!([tick(3_200_000.0), tick(63_000_000.0), tick(32_000.0)], ["3.2 M", "63 M", "32 k"]);
    }

    #[test]
    fn table_has_a_row_per_x_and_ratios_per_pair() {
        let table = sample().table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(
            lines[1].starts_with("message size  ours") && lines[1].ends_with("speed vs limit"),
            "{table}"
        );
        assert!(lines[2].starts_with("16 B  ") && lines[2].contains("[14.4-17.6]"), "{table}");
        assert!(lines[4].starts_with("64 KiB") && lines[4].ends_with("0.50x"), "{table}");
        assert_eq!(lines[5], "  note: 64 MiB skipped");
    }
}
