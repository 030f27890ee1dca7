//! Encoding the registry: OpenMetrics text (what prometheus-client writes) and the classic
//! Prometheus text format 0.0.4 (what most scrapers and `promtool check metrics` read), chosen by
//! the scraper's `Accept` header.

/// The OpenMetrics text media type.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format media type.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A wire format for a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus text 0.0.4.
    Prometheus,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names it, Prometheus text
    /// otherwise (also for a missing header).
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Self::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

/// Rewrites OpenMetrics text into the Prometheus text format 0.0.4: counters are described under
/// their `_total` sample name, `info` families become gauges named `_info`, `# UNIT` and `# EOF`
/// lines go (0.0.4 has neither). Samples are left as they are: their syntax is common to both.
pub fn openmetrics_to_prometheus(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut out = String::with_capacity(openmetrics.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line == "# EOF" || line.starts_with("# UNIT ") {
            i += 1;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            // The family's TYPE line follows its HELP line (and UNIT, if any, follows TYPE).
            let kind = lines
                .get(i + 1)
                .and_then(|next| next.strip_prefix("# TYPE "))
                .and_then(|t| t.split_once(' '))
                .filter(|(type_name, _)| *type_name == name)
                .map(|(_, kind)| kind);
            let (name, kind) = renamed(name, kind);
            out.push_str("# HELP ");
            out.push_str(&name);
            if !help.is_empty() {
                out.push(' ');
                out.push_str(help);
            }
            out.push('\n');
            if let Some(kind) = kind {
                out.push_str("# TYPE ");
                out.push_str(&name);
                out.push(' ');
                out.push_str(kind);
                out.push('\n');
                i += 1; // the TYPE line is written
            }
            i += 1;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            // A TYPE line without a HELP line before it.
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = renamed(name, Some(kind));
            out.push_str("# TYPE ");
            out.push_str(&name);
            out.push(' ');
            out.push_str(kind.unwrap_or("untyped"));
            out.push('\n');
            i += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
        i += 1;
    }
    out
}

/// A family's name and type as the 0.0.4 format spells them.
fn renamed<'a>(name: &str, kind: Option<&'a str>) -> (String, Option<&'a str>) {
    match kind {
        Some("counter") => (format!("{name}_total"), Some("counter")),
        Some("info") => (format!("{name}_info"), Some("gauge")),
        Some("unknown") => (name.to_owned(), Some("untyped")),
        Some("stateset" | "gaugehistogram") => (name.to_owned(), Some("gauge")),
        other => (name.to_owned(), other),
    }
}

#[cfg(test)]
mod tests {
    use super::{Format, openmetrics_to_prometheus};

    #[test]
    fn counters_take_their_total_name_and_eof_and_units_go() {
        let om = "# HELP dimby_commands Slash commands handled.\n\
                  # TYPE dimby_commands counter\n\
                  dimby_commands_total{command=\"play\",outcome=\"ok\"} 3\n\
                  # HELP dimby_command_duration_seconds Interaction received to answered.\n\
                  # TYPE dimby_command_duration_seconds histogram\n\
                  # UNIT dimby_command_duration_seconds seconds\n\
                  dimby_command_duration_seconds_sum 0.5\n\
                  # HELP dimby_build Build.\n\
                  # TYPE dimby_build info\n\
                  dimby_build_info{version=\"1\",commit=\"0123456789ab\",colour=\"blue\"} 1\n\
                  # EOF\n";
        let text = openmetrics_to_prometheus(om);
        assert_eq!(
            text,
            "# HELP dimby_commands_total Slash commands handled.\n\
             # TYPE dimby_commands_total counter\n\
             dimby_commands_total{command=\"play\",outcome=\"ok\"} 3\n\
             # HELP dimby_command_duration_seconds Interaction received to answered.\n\
             # TYPE dimby_command_duration_seconds histogram\n\
             dimby_command_duration_seconds_sum 0.5\n\
             # HELP dimby_build_info Build.\n\
             # TYPE dimby_build_info gauge\n\
             dimby_build_info{version=\"1\",commit=\"0123456789ab\",colour=\"blue\"} 1\n"
        );
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
