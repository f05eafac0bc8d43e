//! The treasury's chart, drawn on the server as inline SVG: cumulative
//! amounts of one asset over time (counted revenue, distributions), as
//! step lines, with a title and a description in words for screen readers.
//!
//! Presentation attributes only (no inline styles, which the console's
//! content security policy forbids); colours come from the style sheet by
//! class. It knows nothing of modules: the caller hands it points.

use std::fmt::Write as _;

use crate::format::{format_amount, format_date, format_time};

/// One line of the chart: `(time_ms, amount)` events, summed over time.
pub(crate) struct Series {
    /// Its name in the legend.
    pub(crate) label: String,
    /// Its CSS class (colour).
    pub(crate) class: &'static str,
    /// Its events, in any order.
    pub(crate) points: Vec<(u64, u128)>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 40.0;

/// Escapes text for SVG (XML) content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Draws the cumulative sums of `series` in `asset` from the first event to
/// `now_ms`; `note_no_history` adds that the treasury keeps no history of
/// distributions.
pub(crate) fn cumulative(
    asset: &str,
    exponent: u8,
    series: &[Series],
    now_ms: u64,
    note_no_history: bool,
) -> String {
    let mut lines: Vec<(&Series, Vec<(u64, u128)>)> = Vec::new();
    for s in series {
        let mut points = s.points.clone();
        points.sort_unstable();
        let mut sum = 0u128;
        let steps = points
            .into_iter()
            .map(|(t, a)| {
                sum = sum.saturating_add(a);
                (t, sum)
            })
            .collect();
        lines.push((s, steps));
    }
    let first = lines.iter().filter_map(|(_, p)| p.first().map(|x| x.0)).min();
    let max = lines.iter().filter_map(|(_, p)| p.last().map(|x| x.1)).max().unwrap_or(0);
    let title = format!("{asset}: revenue and distributions over time");
    let mut desc = String::new();
    for (s, points) in &lines {
        let total = points.last().map_or(0, |p| p.1);
        let _ = write!(
            desc,
            "{}: {} {asset} in {} events. ",
            s.label,
            format_amount(total, exponent),
            points.len()
        );
    }
    if note_no_history {
        desc.push_str("This treasury's code keeps no history of distributions, so only revenue is drawn.");
    }
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-{a}-title chart-{a}-desc" xmlns="http://www.w3.org/2000/svg"><title id="chart-{a}-title">{t}</title><desc id="chart-{a}-desc">{d}</desc>"#,
        a = escape(asset),
        t = escape(&title),
        d = escape(desc.trim()),
    );
    let _ = write!(svg, r#"<text x="{LEFT}" y="20" class="chart-title">{}</text>"#, escape(&title));
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let _ = write!(svg, r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" class="axis"/>"#);
    let _ = write!(svg, r#"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" class="axis"/>"#);
    let Some(start) = first.filter(|_| max > 0) else {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="chart-empty" text-anchor="middle">Nothing counted yet</text></svg>"#,
            (x0 + x1) / 2.0,
            (y0 + y1) / 2.0
        );
        return svg;
    };
    let end = now_ms.max(start + 1000);
    let span = (end - start) as f64;
    let x = |t: u64| x0 + (t.saturating_sub(start)) as f64 / span * (x1 - x0);
    let y = |v: u128| y0 - (v as f64 / max as f64) * (y0 - y1);
    for (fraction, value) in [(0.5, max / 2), (1.0, max)] {
        let yy = y0 - fraction * (y0 - y1);
        let _ = write!(svg, r#"<line x1="{x0}" y1="{yy:.1}" x2="{x1}" y2="{yy:.1}" class="grid"/>"#);
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            x0 - 6.0,
            yy + 4.0,
            escape(&format_amount(value, exponent))
        );
    }
    let _ = write!(svg, r#"<text x="{}" y="{}" class="tick" text-anchor="end">0</text>"#, x0 - 6.0, y0 + 4.0);
    let label =
        |t: u64| if end - start < 86_400_000 { format_time(t)[11..19].to_owned() } else { format_date(t) };
    let _ = write!(svg, r#"<text x="{x0}" y="{}" class="tick">{}</text>"#, y0 + 18.0, label(start));
    let _ = write!(
        svg,
        r#"<text x="{x1}" y="{}" class="tick" text-anchor="end">{} (now)</text>"#,
        y0 + 18.0,
        label(end)
    );
    for (i, (s, points)) in lines.iter().enumerate() {
        let mut path = format!("M{x0:.1},{y0:.1}");
        let mut level = y0;
        for (t, v) in points {
            let (px, py) = (x(*t), y(*v));
            let _ = write!(path, " L{px:.1},{level:.1} L{px:.1},{py:.1}");
            level = py;
        }
        let _ = write!(path, " L{x1:.1},{level:.1}");
        let _ = write!(svg, r#"<path d="{path}" class="line {}" fill="none"/>"#, s.class);
        let lx = x0 + 10.0 + 280.0 * i as f64;
        let _ = write!(
            svg,
            r#"<rect x="{lx}" y="{}" width="12" height="4" class="swatch {}"/><text x="{}" y="{}" class="legend">{}: {}</text>"#,
            HEIGHT - 10.0,
            s.class,
            lx + 16.0,
            HEIGHT - 5.0,
            escape(&s.label),
            escape(&format_amount(points.last().map_or(0, |p| p.1), exponent)),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use super::*;

    #[test]
    fn the_chart_sums_each_series_and_says_so_in_words() {
        let series = [
            Series { label: "Revenue".into(), class: "revenue", points: vec![(2_000, 500), (1_000, 1_000)] },
            Series { label: "Distributed".into(), class: "distributed", points: vec![(3_000, 1_200)] },
        ];
        let svg = cumulative("EUR", 2, &series, 10_000, false);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Revenue: 15.00 EUR in 2 events."), "{svg}");
        assert!(svg.contains("Distributed: 12.00 EUR in 1 events."), "{svg}");
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(!svg.contains("style="), "no inline styles (CSP)");
    }

    #[test]
    fn an_empty_chart_says_nothing_is_counted_and_text_is_escaped() {
        let series = [Series { label: "<b>".into(), class: "revenue", points: vec![] }];
        let svg = cumulative("E&R", 2, &series, 10_000, true);
        assert!(svg.contains("Nothing counted yet"));
        assert!(svg.contains("E&amp;R") && !svg.contains("<b>"));
        assert!(svg.contains("keeps no history of distributions"));
    }
}
