//! One SVG bar chart per benchmark figure: spin-logs beside its anchors, on
//! one linear axis, values written on the bars. Hand-written SVG: a plotting
//! crate would pull a font stack into the test build for a dozen rectangles.

use std::fmt::Write;

/// One bar: a label, a value in `unit`, and whether it is spin-logs.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub ours: bool,
}

/// The SVG of `title` with `bars` (values in `unit`; `better` says which way
/// is good, printed under the title).
pub fn svg(title: &str, unit: &str, better: &str, bars: &[Bar]) -> String {
    let (width, left, bar_h, gap, top) = (760.0, 260.0, 26.0, 12.0, 58.0);
    let height = top + bars.len() as f64 * (bar_h + gap) + 24.0;
    let max = bars
        .iter()
        .map(|b| b.value)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let scale = (width - left - 110.0) / max;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="22" font-size="15" font-weight="bold">{}</text>
<text x="12" y="42" fill="#555">{} ({better} is better)</text>
"##,
        escape(title),
        escape(unit)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let w = (bar.value * scale).max(1.0);
        let fill = if bar.ours { "#1f6feb" } else { "#8c959f" };
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text>
<rect x="{left}" y="{y}" width="{w:.1}" height="{bar_h}" fill="{fill}"/>
<text x="{:.1}" y="{}">{}</text>
"##,
            left - 8.0,
            y + bar_h * 0.68,
            escape(&bar.label),
            left + w + 6.0,
            y + bar_h * 0.68,
            format_value(bar.value)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn format_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
