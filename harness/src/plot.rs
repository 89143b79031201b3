//! A curve as an SVG line chart (plotters): one line per series, the crate's solid and its
//! limit's dashed in the same colour, a dot at each median and a bar from min to max, so the
//! spread of the rounds shows. Logarithmic axes are drawn as linear axes of log2(x) and
//! log10(y), labelled with the values they stand for.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::curve::{Curve, Scale, tick};
use crate::error::Result;

/// Okabe-Ito colours: told apart with any colour vision. Series take them by index.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
];

/// The font of every text.
pub const FONT: &str = "sans-serif";

/// A drawing area of an SVG file, as `plot` and the exercise's panels use.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Writes `curve` alone into an SVG file of 900x560 pixels, with `footnote` (the machine, say)
/// under it.
pub fn write_svg(path: &Path, curve: &Curve, footnote: &str) -> Result<()> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (chart, foot) = root.split_vertically(536);
    draw(&chart, curve)?;
    foot.draw(&Text::new(
        footnote.to_string(),
        (foot.dim_in_pixel().0 as i32 / 2, 10),
        TextStyle::from((FONT, 12).into_font())
            .pos(Pos::new(HPos::Center, VPos::Center))
            .color(&BLACK.mix(0.7)),
    ))?;
    root.present()?;
    Ok(())
}

/// Draws `curve` into `area`: title, axes, one line per series, legend.
pub fn draw(area: &Area<'_>, curve: &Curve) -> Result<()> {
    let area = area.margin(0, 0, 10, 0);
    let points = || curve.series.iter().flat_map(|s| s.points.iter());
    if points().next().is_none() {
        let (w, h) = area.dim_in_pixel();
        area.draw(&Text::new(
            format!("{}: not measured in this run", curve.name),
            (w as i32 / 2, h as i32 / 2),
            TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Center)).color(&BLACK),
        ))?;
        return Ok(());
    }
    let fx = |x: f64| if curve.x_log { x.max(f64::MIN_POSITIVE).log2() } else { x };
    let fy = |y: f64| if curve.y_log { y.max(f64::MIN_POSITIVE).log10() } else { y };
    let (x_lo, x_hi) = bounds(points().map(|p| fx(p.x)));
    let (y_lo, y_hi) = bounds(points().flat_map(|p| [fy(p.y.min), fy(p.y.max)]));
    let x_range = if curve.x_log {
        x_lo.floor() - 0.3..x_hi.ceil() + 0.3
    } else {
        x_lo.min(0.0)..x_hi + (x_hi - x_lo.min(0.0)).max(1.0) * 0.05
    };
    let y_range =
        if curve.y_log { y_lo - 0.15..y_hi + 0.25 } else { y_lo.min(0.0)..y_hi * 1.2 + f64::EPSILON };
    let mut chart = ChartBuilder::on(&area)
        .caption(&curve.title, (FONT, 19))
        .margin(10)
        .margin_top(6)
        .margin_right(20)
        .x_label_area_size(52)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range.clone(), y_range)?;
    // A log axis is labelled at whole powers of 2 only; bytes at every other one (16 B, 64 B,
    // 256 B, 1 KiB...), which is enough to read them.
    let labelled =
        |x: f64| (x - x.round()).abs() < 1e-6 && (curve.x_scale != Scale::Bytes || x.round() as i64 % 2 == 0);
    let x_label = |x: &f64| {
        if !curve.x_log {
            curve.x_scale.format(*x)
        } else if labelled(*x) {
            curve.x_scale.format(2f64.powf(x.round()))
        } else {
            String::new()
        }
    };
    let y_label = |y: &f64| if curve.y_log { tick(round2(10f64.powf(*y))) } else { Scale::Plain.format(*y) };
    let x_ticks = if curve.x_log { (x_range.end - x_range.start).ceil() as usize + 1 } else { 10 };
    chart
        .configure_mesh()
        .max_light_lines(1)
        .x_labels(x_ticks)
        .x_desc(curve.x_label.as_str())
        .y_desc(curve.y_label.as_str())
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    for series in &curve.series {
        let colour = PALETTE[series.colour % PALETTE.len()];
        let line: Vec<(f64, f64)> = series.points.iter().map(|p| (fx(p.x), fy(p.y.median))).collect();
        let style = colour.stroke_width(2);
        let drawn = if series.limit {
            chart.draw_series(DashedLineSeries::new(line.clone(), 8, 5, style))?
        } else {
            chart.draw_series(LineSeries::new(line.clone(), style))?
        };
        // The legend's swatch: a 20 px line, in two pieces with a gap for a limit (dashed).
        let gap = if series.limit { (8, 12) } else { (10, 10) };
        drawn.label(series.name.as_str()).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new([(0, 0), (gap.0, 0)], colour.stroke_width(2))
                + PathElement::new([(gap.1, 0), (20, 0)], colour.stroke_width(2))
        });
        chart.draw_series(line.iter().map(|&pt| Circle::new(pt, 3, colour.filled())))?;
        chart.draw_series(series.points.iter().filter(|p| p.y.max > p.y.min).map(|p| {
            ErrorBar::new_vertical(
                fx(p.x),
                fy(p.y.min),
                fy(p.y.median),
                fy(p.y.max),
                colour.stroke_width(1),
                6,
            )
        }))?;
    }
    let first = &curve.series[0].points;
    let rising = first.len() < 2 || first[first.len() - 1].y.median >= first[0].y.median;
    chart
        .configure_series_labels()
        .position(if rising { SeriesLabelPosition::UpperLeft } else { SeriesLabelPosition::UpperRight })
        .label_font((FONT, 13))
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The lowest and highest of the values (0..1 when there are none).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo.is_finite() { (lo, hi.max(lo)) } else { (0.0, 1.0) }
}

/// `v` to two significant digits, so a log axis reads 3.2 M rather than 3.16 M.
fn round2(v: f64) -> f64 {
    if v <= 0.0 {
        return v;
    }
    let scale = 10f64.powi(v.log10().floor() as i32 - 1);
    (v / scale).round() * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_svg_with_every_series() {
        let path = std::env::temp_dir().join(format!("harness-plot-{}.svg", std::process::id()));
        write_svg(&path, &crate::curve::sample(), "a machine").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        for text in ["ours", "limit: a pipe", "16 B", "64 KiB", "a machine", "MB/s", "message size"] {
            assert!(texts.contains(&text), "{text:?} is not in the SVG");
        }
        assert_eq!(round2(3_162_277.0), 3_200_000.0);
    }
}
