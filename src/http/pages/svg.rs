//! Inline SVG drawn on the server: a sparkline of a series (pass rate, duration), so the
//! trend shows without JavaScript and in the offline report.

use maud::{Markup, html};

const W: f64 = 120.0;
const H: f64 = 24.0;

/// A sparkline of `values` (oldest first) scaled between `lo` and `hi` (both taken from
/// the data when `None`); `label` is its accessible name. Nothing is drawn under two points.
pub fn sparkline(values: &[f64], lo: Option<f64>, hi: Option<f64>, label: &str) -> Markup {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return html! { span.muted { "—" } };
    }
    let min = lo.unwrap_or_else(|| finite.iter().copied().fold(f64::INFINITY, f64::min));
    let max = hi.unwrap_or_else(|| finite.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let span = if max > min { max - min } else { 1.0 };
    let step = W / (finite.len() - 1) as f64;
    let points: Vec<String> = finite
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = H - 2.0 - ((v - min) / span).clamp(0.0, 1.0) * (H - 4.0);
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect();
    html! {
        svg.spark width=(W) height=(H) viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(label) {
            title { (label) }
            line.base x1="0" y1=(H - 2.0) x2=(W) y2=(H - 2.0) {}
            polyline.line points=(points.join(" ")) {}
        }
    }
}

/// Rolling pass rate over `window` results: for each position, the share of passes among
/// the last `window` pass/fail outcomes (`Some(true)` pass, `Some(false)` fail, `None`
/// neither, skipped). Oldest first in and out.
pub fn rolling_pass_rate(outcomes: &[Option<bool>], window: usize) -> Vec<f64> {
    let counted: Vec<bool> = outcomes.iter().flatten().copied().collect();
    let window = window.max(1);
    (0..counted.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(window);
            let slice = &counted[from..=i];
            slice.iter().filter(|p| **p).count() as f64 / slice.len() as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_into_the_box() {
        let m = sparkline(&[0.0, 0.5, 1.0], Some(0.0), Some(1.0), "pass rate").into_string();
        assert!(m.contains("points=\"0.0,22.0 60.0,12.0 120.0,2.0\""), "{m}");
        assert!(m.contains("<title>pass rate</title>"), "{m}");
    }

    #[test]
    fn sparkline_needs_two_points_and_skips_nan() {
        assert!(!sparkline(&[1.0], None, None, "x").into_string().contains("svg"));
        assert!(!sparkline(&[1.0, f64::NAN], None, None, "x").into_string().contains("svg"));
        // A flat series draws a flat line, not a division by zero.
        let flat = sparkline(&[3.0, 3.0], None, None, "x").into_string();
        assert!(flat.contains("0.0,22.0 120.0,22.0"), "{flat}");
    }

    #[test]
    fn sparkline_label_is_escaped() {
        let m = sparkline(&[0.0, 1.0], None, None, "<script>").into_string();
        assert!(!m.contains("<script>") && m.contains("&lt;script&gt;"), "{m}");
    }

    #[test]
    fn rolling_rate_skips_non_verdicts() {
        let r = rolling_pass_rate(&[Some(true), None, Some(false), Some(true), Some(true)], 2);
        assert_eq!(r, vec![1.0, 0.5, 0.5, 1.0]);
    }
}
