//! The bench's `--plot FILE`: time against size per backend, one panel per
//! kernel, with the sizes where one backend overtakes another marked.

use plotters::prelude::*;
use std::path::Path;

/// One measured point.
pub struct Point<'a> {
    pub kernel: &'a str,
    pub series: String,
    pub n: usize,
    pub seconds: f64,
}

/// Where series `a` stops being slower than `b` (or the reverse), on the
/// log-log lines between measured sizes.
pub fn crossovers(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<f64> {
    let d: Vec<(f64, f64)> = a
        .iter()
        .filter_map(|&(n, ta)| {
            b.iter()
                .find(|&&(m, _)| m == n)
                .map(|&(_, tb)| (n.ln(), ta.ln() - tb.ln()))
        })
        .collect();
    d.windows(2)
        .filter(|w| w[0].1.signum() != w[1].1.signum() && w[0].1 != 0.0)
        .map(|w| {
            let f = w[0].1 / (w[0].1 - w[1].1);
            (w[0].0 + (w[1].0 - w[0].0) * f).exp()
        })
        .collect()
}

/// A colour per series: one hue per backend, lighter for resident data.
fn colour_of(series: &str) -> RGBColor {
    match series {
        "cpu" => RGBColor(31, 119, 180),
        "cpu resident" => RGBColor(120, 180, 230),
        "gpu" => RGBColor(214, 39, 40),
        "gpu resident" => RGBColor(255, 127, 14),
        "gpu kernel" => RGBColor(227, 119, 194),
        "auto" => RGBColor(44, 160, 44),
        "auto resident" => RGBColor(150, 215, 120),
        "scalar" => RGBColor(90, 90, 90),
        "scalar resident" => RGBColor(170, 170, 170),
        "rayon_loop" => RGBColor(148, 103, 189),
        _ => RGBColor(140, 86, 75),
    }
}

/// Where the log-log line through `line` passes at `x`.
fn on_line(line: &[(f64, f64)], x: f64) -> Option<f64> {
    line.windows(2)
        .find(|w| w[0].0 <= x && x <= w[1].0)
        .map(|w| {
            let t = (x.ln() - w[0].0.ln()) / (w[1].0.ln() - w[0].0.ln());
            (w[0].1.ln() + (w[1].1.ln() - w[0].1.ln()) * t).exp()
        })
}

/// Writes an SVG of `points` to `path`: a panel per kernel, a line per
/// series, and a marked point where the fastest series changes.
pub fn write(path: &Path, points: &[Point<'_>]) -> anyhow::Result<Vec<String>> {
    let mut kernels: Vec<&str> = points.iter().map(|p| p.kernel).collect();
    kernels.dedup();
    kernels.sort();
    kernels.dedup();
    let mut notes = Vec::new();
    let cols = 2;
    let rows = kernels.len().div_ceil(cols).max(1);
    let root = SVGBackend::new(path, (1100, 420 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((rows, cols));
    for (panel, kernel) in panels.iter().zip(&kernels) {
        let mine: Vec<&Point> = points.iter().filter(|p| p.kernel == *kernel).collect();
        let (xmin, xmax) = mine.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.n as f64), hi.max(p.n as f64))
        });
        let (ymin, ymax) = mine.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.seconds), hi.max(p.seconds))
        });
        let mut chart = ChartBuilder::on(panel)
            .caption(*kernel, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (xmin * 0.8..xmax * 1.25).log_scale(),
                (ymin * 0.5..ymax * 2.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("elements (or pixels)")
            .y_desc("median seconds")
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()?;
        let mut names: Vec<&str> = mine.iter().map(|p| p.series.as_str()).collect();
        names.sort();
        names.dedup();
        let mut lines: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
        for name in &names {
            let colour = colour_of(name);
            let mut line: Vec<(f64, f64)> = mine
                .iter()
                .filter(|p| p.series == *name)
                .map(|p| (p.n as f64, p.seconds))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            lines.push((name, line));
        }
        // Where the CPU backend and the GPU (both in host mode, or both on
        // resident data) or the scalar backend overtake each other: the
        // dispatcher's crossovers.
        for (i, (a, la)) in lines.iter().enumerate() {
            for (b, lb) in &lines[i + 1..] {
                let pair = |x: &str, y: &str| (*a, *b) == (x, y) || (*b, *a) == (x, y);
                if !(pair("cpu", "gpu")
                    || pair("cpu resident", "gpu resident")
                    || pair("cpu", "scalar"))
                {
                    continue;
                }
                for x in crossovers(la, lb) {
                    let y = on_line(la, x).unwrap_or(ymin);
                    chart.draw_series(std::iter::once(Cross::new(
                        (x, y),
                        8,
                        BLACK.stroke_width(2),
                    )))?;
                    notes.push(format!("{kernel}: {a} and {b} cross at n ≈ {x:.3e}"));
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(notes)
}
