//! Rendering a gathered report: Markdown, JSON, or a self-contained HTML page whose charts are
//! inline SVG (no script, no external resource).

use super::{Chart, Format, Report, ReportError};
use std::fmt::Write as _;

/// The report in `format`.
pub(super) fn render(report: &Report, format: Format) -> Result<String, ReportError> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
        Format::Md => markdown(report),
        Format::Html => html(report),
    })
}

/// `|` and line breaks would break a Markdown table cell.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", report.title);
    let _ = writeln!(
        out,
        "Window: {} – {} · daemon {}\n",
        report.since.to_rfc3339(),
        report.generated_at.to_rfc3339(),
        report.server
    );
    for section in &report.sections {
        let _ = writeln!(out, "## {}\n", section.heading);
        for (name, value) in &section.facts {
            let _ = writeln!(out, "- **{}:** {}", md_cell(name), md_cell(value));
        }
        if !section.facts.is_empty() {
            out.push('\n');
        }
        if !section.columns.is_empty() {
            if section.rows.is_empty() {
                out.push_str("(none)\n\n");
            } else {
                let _ = writeln!(out, "| {} |", section.columns.join(" | "));
                let _ = writeln!(out, "|{}", "---|".repeat(section.columns.len()));
                for row in &section.rows {
                    let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
        }
        if let Some(note) = &section.note {
            let _ = writeln!(out, "_{}_\n", md_cell(note));
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
         <style>body{{font:15px/1.45 system-ui,sans-serif;color:#1b1f24;max-width:1100px;margin:1.5rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}}th,td{{text-align:left;padding:.3rem .5rem;\
         border-bottom:1px solid #d0d7de;vertical-align:top}}th{{color:#57606a}}dt{{color:#57606a}}\
         dl{{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}}dd{{margin:0}}.muted{{color:#57606a}}</style>\n\
         </head>\n<body>\n<h1>{title}</h1>\n<p class=\"muted\">Window: {since} – {now} · daemon {server}</p>\n",
        title = escape(&report.title),
        since = escape(&report.since.to_rfc3339()),
        now = escape(&report.generated_at.to_rfc3339()),
        server = escape(&report.server),
    );
    for section in &report.sections {
        let _ = writeln!(out, "<section>\n<h2>{}</h2>", escape(&section.heading));
        if !section.facts.is_empty() {
            out.push_str("<dl>\n");
            for (name, value) in &section.facts {
                let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(value));
            }
            out.push_str("</dl>\n");
        }
        if !section.columns.is_empty() {
            if section.rows.is_empty() {
                out.push_str("<p>(none)</p>\n");
            } else {
                out.push_str("<table>\n<thead><tr>");
                for column in &section.columns {
                    let _ = write!(out, "<th scope=\"col\">{}</th>", escape(column));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in &section.rows {
                    out.push_str("<tr>");
                    for cell in row {
                        let _ = write!(out, "<td>{}</td>", escape(cell));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
        }
        if let Some(chart) = &section.chart {
            out.push_str(&svg_bars(chart));
        }
        if let Some(note) = &section.note {
            let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(note));
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// An inline SVG bar chart (no script, no external resource).
fn svg_bars(chart: &Chart) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 220.0;
    const WIDTH: f64 = 700.0;
    let max = chart
        .bars
        .iter()
        .map(|b| b.1)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let height = ROW * chart.bars.len() as f64 + 8.0;
    let mut out = format!(
        "<figure><svg role=\"img\" aria-label=\"{title}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" \
         style=\"max-width:{WIDTH}px\" xmlns=\"http://www.w3.org/2000/svg\">\n",
        title = escape(&chart.title)
    );
    for (i, (label, value)) in chart.bars.iter().enumerate() {
        let y = i as f64 * ROW + 4.0;
        let w = ((WIDTH - LABEL - 80.0) * value / max).max(1.0);
        let _ = writeln!(
            out,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"12\" fill=\"#57606a\">{label}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bh}\" fill=\"#0b5cd5\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\" font-size=\"12\">{value}</text>",
            lx = LABEL - 8.0,
            ty = y + 13.0,
            bh = ROW - 6.0,
            vx = LABEL + w + 6.0,
            label = escape(label),
            value = escape(&format_value(*value)),
        );
    }
    let _ = writeln!(
        out,
        "</svg><figcaption class=\"muted\">{}</figcaption></figure>",
        escape(&chart.title)
    );
    out
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_everything_it_is_given() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn charts_are_svg_with_escaped_labels_and_bars_to_scale() {
        let svg = svg_bars(&Chart {
            title: "by <outcome>".into(),
            bars: vec![("<b>succeeded".into(), 10.0), ("failed".into(), 5.0)],
        });
        assert!(svg.starts_with("<figure><svg role=\"img\" aria-label=\"by &lt;outcome&gt;\""));
        assert!(svg.contains("&lt;b&gt;succeeded") && !svg.contains("<b>"));
        assert!(
            svg.contains("width=\"400.0\"") && svg.contains("width=\"200.0\""),
            "{svg}"
        );
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
    }
}
