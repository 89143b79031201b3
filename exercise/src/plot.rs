//! `--plot FILE.svg`: the ratios per scenario, and the fork-cost curve, in one SVG file.
//!
//! The ratios are horizontal bars on a log scale centred on 1: a bar to the right means
//! processes were faster, to the left threads were, and "2x faster" is the same length either
//! way (which a linear scale would not give: 2 and 0.5 would look nothing alike). Horizontal
//! bars keep the scenario names horizontal and whole, beside their bars, never across an axis.
//! A ratio near 1 (a tie) has almost no length on any scale, so every bar is drawn at least
//! [`MIN_BAR_PX`] pixels long, and the measured ratio is written beside it: the length is for the
//! eye, the number is the value.

use std::path::Path;

use harness::plot::{Area, FONT, PALETTE};
use harness::{Curve, Result, Scale, Series, Stats};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::fork_cost::Point;
use crate::measure::{MARGIN, Verdict};
use crate::report::Report;

/// The shortest a bar is drawn, in pixels, so that a tie is still a visible bar.
pub const MIN_BAR_PX: i32 = 5;

/// Bar colours by verdict (Okabe-Ito: told apart with any colour vision). The plot uses them
/// for bars and their legend swatches only.
pub const PROCESSES: RGBColor = PALETTE[0];
pub const THREADS: RGBColor = PALETTE[1];
pub const TIE: RGBColor = RGBColor(0x88, 0x88, 0x88);
/// The band of ratios within the verdict's margin, where no verdict can be a win.
const BAND: RGBColor = RGBColor(0xE8, 0xE8, 0xE8);
/// The busy mark's swatch: no verdict's colour, since the mark goes with any of them.
const BUSY_SWATCH: RGBColor = RGBColor(0xD0, 0xD0, 0xD0);

fn colour(verdict: Verdict) -> RGBColor {
    match verdict {
        Verdict::Processes => PROCESSES,
        Verdict::Threads => THREADS,
        Verdict::Tie => TIE,
    }
}

/// One bar: a scenario, or CPython's row.
struct Bar {
    label: String,
    ratio: f64,
    verdict: Verdict,
    busy: bool,
}

fn bars(report: &Report) -> Vec<Bar> {
    let mut bars: Vec<Bar> = report
        .scenarios
        .iter()
        .map(|s| Bar { label: s.name.clone(), ratio: s.ratio, verdict: s.verdict, busy: s.busy })
        .collect();
    if let Some(py) = &report.python {
        bars.push(Bar {
            label: "CPython (GIL), same loop".into(),
            ratio: py.ratio,
            verdict: py.verdict,
            busy: py.busy,
        });
    }
    bars
}

fn text_style(size: u32, pos: Pos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(pos).color(&BLACK)
}

/// Draws the plot into `path`.
pub fn plot(report: &Report, path: &Path) -> Result<()> {
    let bars = bars(report);
    let height = 250 + 44 * bars.len().max(3) as u32;
    let root = SVGBackend::new(path, (1240, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(760);
    ratios(&left, &bars, report.python.is_some())?;
    harness::plot::draw(&right, &fork_curve(&report.fork_cost))?;
    root.present()?;
    Ok(())
}
type DrawResult<'a> =
    std::result::Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>>;

/// A legend swatch.
enum Swatch {
    /// A bar's colour.
    Bar(RGBColor),
    /// The margin's band, with the 1 line through it.
    Band,
    /// A bar measured on a busy machine: paler, with a dashed outline.
    Busy,
}

/// The legend: one swatch per verdict colour, the tie band, and the busy mark when a bar has it.
fn legend<'a>(area: &Area<'a>, any_busy: bool) -> DrawResult<'a> {
    let mut entries = vec![
        ("processes faster", Swatch::Bar(PROCESSES)),
        ("threads faster", Swatch::Bar(THREADS)),
        ("tie", Swatch::Bar(TIE)),
        ("within 10%: a tie", Swatch::Band),
    ];
    if any_busy {
        entries.push(("busy machine: may flip", Swatch::Busy));
    }
    let per_entry = (area.dim_in_pixel().0 as i32 - 20) / entries.len() as i32;
    for (i, (label, swatch)) in entries.into_iter().enumerate() {
        let (x, y) = (14 + i as i32 * per_entry, 8);
        let square = [(x, y), (x + 14, y + 14)];
        match swatch {
            Swatch::Bar(c) => area.draw(&Rectangle::new(square, c.filled()))?,
            Swatch::Band => {
                area.draw(&Rectangle::new(square, BAND.filled()))?;
                area.draw(&PathElement::new([(x + 7, y - 2), (x + 7, y + 16)], BLACK))?;
            }
            Swatch::Busy => {
                area.draw(&Rectangle::new(square, BUSY_SWATCH.filled()))?;
                let outline = [(x, y), (x + 14, y), (x + 14, y + 14), (x, y + 14), (x, y)];
                area.draw(&DashedPathElement::new(outline, 3, 2, BLACK.stroke_width(1)))?;
            }
        }
        let style = text_style(13, Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(label.to_string(), (x + 20, y + 7), style))?;
    }
    Ok(())
}

/// The left panel: one horizontal bar per scenario (and CPython), log scale centred on 1.
fn ratios<'a>(area: &Area<'a>, bars: &[Bar], with_python: bool) -> DrawResult<'a> {
    let (title, rest) = area.split_vertically(34);
    title.draw(&Text::new(
        "threads' time / processes' time, per scenario (medians)",
        (title.dim_in_pixel().0 as i32 / 2, 20),
        text_style(19, Pos::new(HPos::Center, VPos::Center)),
    ))?;
    let (legend_area, rest) = rest.split_vertically(30);
    legend(&legend_area, bars.iter().any(|b| b.busy))?;
    let footnote_at = rest.dim_in_pixel().1 as i32 - 22;
    let (chart_area, footnote) = rest.split_vertically(footnote_at);
    footnote.draw(&Text::new(
        format!(
            "Every bar is drawn at least {MIN_BAR_PX} px long, so that a tie shows; the number beside it is the measured ratio."
        ),
        (footnote.dim_in_pixel().0 as i32 / 2, 9),
        TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Center)).color(&BLACK.mix(0.7)),
    ))?;

    let rows = bars.len().max(1);
    // Symmetric range in log2 units, whole powers of 2 at least to 1/4 and 4.
    let widest = bars.iter().map(|b| b.ratio.log2().abs()).fold(0.0f64, f64::max);
    let k = (widest + 0.3).ceil().max(2.0);
    let mut chart = ChartBuilder::on(&chart_area)
        .margin_left(10)
        .margin_right(25)
        .margin_top(22)
        .x_label_area_size(52)
        .y_label_area_size(195)
        .build_cartesian_2d(-k..k, -0.5..rows as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels((2.0 * k) as usize + 1)
        .max_light_lines(0)
        .x_label_formatter(&|x| ratio_tick(*x))
        .x_label_style((FONT, 14))
        .x_desc("threads' time / processes' time  (log scale; 1 = the same time)")
        .axis_desc_style((FONT, 15))
        .draw()?;

    // The band where the medians are within the margin: whatever the runs, a tie.
    let band = MARGIN.log2();
    chart.draw_series([Rectangle::new([(-band, -0.5), (band, rows as f64 - 0.5)], BAND.filled())])?;

    // Bars are drawn in pixels, from the 1 line to the ratio, at least MIN_BAR_PX long.
    let (bx, by) = area.get_base_pixel();
    let px = |x: f64, y: f64| {
        let (px, py) = chart.backend_coord(&(x, y));
        (px - bx, py - by)
    };
    let y_of = |i: usize| (rows - 1 - i) as f64;
    for (i, bar) in bars.iter().enumerate() {
        let y = y_of(i);
        let length = bar.ratio.log2();
        let (x0, top) = px(0.0, y + 0.3);
        let (mut x1, bottom) = px(length, y - 0.3);
        let min = MIN_BAR_PX;
        if length < 0.0 {
            x1 = x1.min(x0 - min);
        } else {
            x1 = x1.max(x0 + min);
        }
        let fill = colour(bar.verdict);
        let corners = [(x0.min(x1), top), (x0.max(x1), bottom)];
        if bar.busy {
            area.draw(&Rectangle::new(corners, fill.mix(0.45).filled()))?;
            let [(l, t), (r, b)] = corners;
            let outline = [(l, t), (r, t), (r, b), (l, b), (l, t)];
            area.draw(&DashedPathElement::new(outline, 4, 3, BLACK.stroke_width(1)))?;
        } else {
            area.draw(&Rectangle::new(corners, fill.filled()))?;
        }
        // The value, on the other side of the 1 line, where this row has no bar.
        let (cx, cy) = px(0.0, y);
        let busy = if bar.busy { ", busy" } else { "" };
        let value = format!("{:.2} {}{busy}", bar.ratio, bar.verdict);
        let (dx, h) = if length < 0.0 { (8, HPos::Left) } else { (-8, HPos::Right) };
        area.draw(&Text::new(value, (cx + dx, cy), text_style(15, Pos::new(h, VPos::Center))))?;
        // The name, left of the plot.
        let (left_edge, _) = px(-k, y);
        let label_style = if with_python && i == bars.len() - 1 {
            TextStyle::from((FONT, 16).into_font().style(FontStyle::Italic))
                .pos(Pos::new(HPos::Right, VPos::Center))
        } else {
            text_style(16, Pos::new(HPos::Right, VPos::Center))
        };
        area.draw(&Text::new(bar.label.clone(), (left_edge - 10, cy), label_style))?;
    }
    area.draw(&PathElement::new([px(0.0, -0.5), px(0.0, rows as f64 - 0.5)], BLACK.stroke_width(1)))?;
    if with_python && rows > 1 {
        // CPython is another language, not another scenario: a line sets it apart.
        area.draw(&DashedPathElement::new([px(-k, 0.5), px(k, 0.5)], 6, 4, BLACK.mix(0.6)))?;
    }
    // Which way is which, at the top of the plot.
    let (l, t) = px(-k, rows as f64 - 0.5);
    let (r, _) = px(k, rows as f64 - 0.5);
    area.draw(&Text::new(
        "\u{2190} threads faster",
        (l + 4, t - 11),
        text_style(14, Pos::new(HPos::Left, VPos::Center)),
    ))?;
    area.draw(&Text::new(
        "processes faster \u{2192}",
        (r - 4, t - 11),
        text_style(14, Pos::new(HPos::Right, VPos::Center)),
    ))?;
    Ok(())
}

/// A tick of the log2 axis, as the ratio it stands for: 1/4, 1/2, 1, 2, 4; nothing between.
fn ratio_tick(x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 {
        return String::new();
    }
    let power = x.round() as i32;
    if power >= 0 { format!("{}", 1u64 << power) } else { format!("1/{}", 1u64 << -power) }
}

/// The right panel: start + join one worker against the parent's heap, in milliseconds.
fn fork_curve(points: &[Point]) -> Curve {
    let series = |name: &str, colour: usize, pick: fn(&Point) -> Stats| Series {
        name: name.into(),
        limit: false,
        colour,
        points: points
            .iter()
            .map(|p| harness::Point { x: p.heap_mib as f64, y: pick(p).scaled(1e3) })
            .collect(),
    };
    Curve {
        name: "fork-cost".into(),
        title: "start + join one worker".into(),
        x_label: "parent's touched heap (MiB)".into(),
        x_scale: Scale::Plain,
        x_log: false,
        y_label: "milliseconds (median)".into(),
        y_log: false,
        higher_is_better: false,
        series: vec![series("process (fork)", 0, |p| p.process), series("thread", 1, |p| p.thread)],
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_ratios() {
        assert_eq!(ratio_tick(0.0), "1");
        assert_eq!(ratio_tick(2.0), "4");
        assert_eq!(ratio_tick(-3.0), "1/8");
        assert_eq!(ratio_tick(0.5), "");
    }
}
