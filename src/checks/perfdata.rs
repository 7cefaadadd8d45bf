//! Nagios plugin output: the text before `|` is the message, perfdata after it becomes metrics.
//! `'label'=value[UOM];warn;crit;min;max`; `U` (undeterminable) values are skipped; units normalise
//! to seconds, bytes and percent.

use std::collections::BTreeMap;

/// A plugin's output split into message and metrics.
#[derive(Debug, Default, PartialEq)]
pub struct PluginOutput {
    /// First line before `|`, trimmed.
    pub message: String,
    /// Perfdata values by label, normalised to base units.
    pub metrics: BTreeMap<String, f64>,
    /// Perfdata items that could not be parsed (counted, not fatal).
    pub malformed: usize,
}

/// Splits Nagios plugin output into message and perfdata metrics. Never panics.
pub fn parse_plugin_output(output: &str) -> PluginOutput {
    let mut result = PluginOutput::default();
    let mut lines = output.lines();
    let first = lines.next().unwrap_or_default();
    let (message, perf) = first.split_once('|').unwrap_or((first, ""));
    result.message = message.trim().to_string();
    parse_perfdata(perf, &mut result);
    // Long output: perfdata may continue after a `|` on a later line, to the end.
    let rest: Vec<&str> = lines.collect();
    let mut in_perf = false;
    for line in rest {
        let perf = if in_perf {
            line
        } else if let Some((_, p)) = line.split_once('|') {
            in_perf = true;
            p
        } else {
            continue;
        };
        parse_perfdata(perf, &mut result);
    }
    result
}

fn parse_perfdata(text: &str, out: &mut PluginOutput) {
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (label, after_label) = match rest.strip_prefix('\'') {
            Some(quoted) => match quoted.find("'=") {
                Some(end) => (&quoted[..end], &quoted[end + 2..]),
                None => {
                    out.malformed += 1;
                    return;
                }
            },
            None => match rest.find('=') {
                Some(eq) if !rest[..eq].contains(char::is_whitespace) => {
                    (&rest[..eq], &rest[eq + 1..])
                }
                _ => {
                    out.malformed += 1;
                    // Skip this token and go on.
                    rest = rest
                        .split_once(char::is_whitespace)
                        .map_or("", |(_, r)| r)
                        .trim_start();
                    continue;
                }
            },
        };
        let (item, next) = after_label
            .split_once(char::is_whitespace)
            .unwrap_or((after_label, ""));
        rest = next.trim_start();
        let value_uom = item.split(';').next().unwrap_or_default();
        if value_uom == "U" {
            continue;
        }
        match parse_value(value_uom) {
            Some((value, suffix)) if !label.is_empty() => {
                out.metrics
                    .insert(format!("{}{suffix}", sanitize(label)), value);
            }
            _ => out.malformed += 1,
        }
    }
}

/// A value with its unit normalised, and the suffix that names the unit.
fn parse_value(text: &str) -> Option<(f64, &'static str)> {
    let split = text
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .map_or(text.len(), |(i, _)| i);
    let (number, uom) = text.split_at(split);
    let value: f64 = number.replace(',', ".").parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let (factor, suffix) = match uom {
        "" => (1.0, ""),
        "s" => (1.0, "_seconds"),
        "ms" => (1e-3, "_seconds"),
        "us" => (1e-6, "_seconds"),
        "%" => (1.0, "_percent"),
        "B" => (1.0, "_bytes"),
        "KB" => (1024.0, "_bytes"),
        "MB" => (1024.0 * 1024.0, "_bytes"),
        "GB" => (1024.0 * 1024.0 * 1024.0, "_bytes"),
        "TB" => (1024.0 * 1024.0 * 1024.0 * 1024.0, "_bytes"),
        "c" => (1.0, "_total"),
        _ => return None,
    };
    Some((value * factor, suffix))
}

/// Metric-safe label: letters, digits and `_`.
fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_message_and_perfdata_with_units() {
        let out = parse_plugin_output(
            "LOAD OK - load average: 0.12, 0.10, 0.05|load1=0.120;5.000;10.000;0; time=15ms 'disk used'=45%;80;90 size=2KB",
        );
        assert_eq!(out.message, "LOAD OK - load average: 0.12, 0.10, 0.05");
        assert_eq!(out.metrics["load1"], 0.12);
        assert!((out.metrics["time_seconds"] - 0.015).abs() < 1e-12);
        assert_eq!(out.metrics["disk_used_percent"], 45.0);
        assert_eq!(out.metrics["size_bytes"], 2048.0);
        assert_eq!(out.malformed, 0);
    }

    #[test]
    fn undeterminable_values_are_skipped_not_errors() {
        let out = parse_plugin_output("UNKNOWN - no data | rta=U;100;200 pl=0%");
        assert!(!out.metrics.contains_key("rta"));
        assert_eq!(out.metrics["pl_percent"], 0.0);
        assert_eq!(out.malformed, 0);
    }

    #[test]
    fn long_output_perfdata_continues_on_later_lines() {
        let out = parse_plugin_output("OK - fine | a=1\nline two\nmore text | b=2\nc=3s");
        assert_eq!(out.metrics["a"], 1.0);
        assert_eq!(out.metrics["b"], 2.0);
        assert_eq!(out.metrics["c_seconds"], 3.0);
    }

    #[test]
    fn garbage_is_counted_and_never_panics() {
        for input in [
            "",
            "|",
            "| =",
            "|'unterminated=3",
            "| x=abc y=1zz z=",
            "ok | = ='= 'a'=",
            "| a=1;;;; b",
            "\u{0}|\u{ffff}=1",
        ] {
            let out = parse_plugin_output(input);
            assert!(out.metrics.values().all(|v| v.is_finite()), "{input}");
        }
        assert_eq!(parse_plugin_output("| x=abc y=1zz").malformed, 2);
    }
}
