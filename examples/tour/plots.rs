//! The tour's plots, drawn with plotters into PNG files: the notebook's `plt.plot` and
//! `plt.bar`. Text uses the DejaVu Sans font shipped with rask (`rask::visualize::FONT`), through
//! plotters' pure-Rust `ab_glyph` path: no system font libraries.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

/// matplotlib's first colour (`C0`).
const C0: RGBColor = RGBColor(31, 119, 180);
/// The notebook's `plt.rcParams['figure.figsize'] = (12, 8)`, at 100 dpi.
const SIZE: (u32, u32) = (1200, 800);

fn font() -> Result<(), Box<dyn Error>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, rask::visualize::FONT)
        .map_err(|_| "the shipped font is not a valid TrueType font".into())
}

/// A range around `lo..hi` with a margin, and some height when all values are equal.
fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad)..(hi + pad)
}

/// `plt.plot(ys)`: `ys` against their index.
pub fn line(path: &Path, title: &str, ys: &[f64]) -> Result<(), Box<dyn Error>> {
    font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..ys.len().max(1) as f64, padded(lo, hi))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 16))
        .draw()?;
    chart.draw_series(LineSeries::new(
        ys.iter().enumerate().map(|(i, y)| (i as f64, *y)),
        C0.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

/// `plt.bar(x, counts, width)`: one bar per bin, between its edges.
pub fn bars(path: &Path, title: &str, edges: &[f64], counts: &[u64]) -> Result<(), Box<dyn Error>> {
    font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let top = counts.iter().copied().max().unwrap_or(0) as f64;
    let (first, last) = (edges[0], edges[edges.len() - 1]);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(110)
        .build_cartesian_2d(padded(first, last), 0f64..(top * 1.05).max(1.0))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 16))
        .draw()?;
    chart.draw_series(
        counts.iter().enumerate().map(|(i, c)| {
            Rectangle::new([(edges[i], 0.0), (edges[i + 1], *c as f64)], C0.filled())
        }),
    )?;
    root.present()?;
    Ok(())
}
