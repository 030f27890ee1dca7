//! Structured logs: human-readable by default, JSON for log shippers. `RUST_LOG` filters.
//!
//! Every line carries the build's `version` and, once the configuration has been read, the
//! process's deploy `colour` (`blue`, `green` or `none`; [`crate::identity`]): text lines end in
//! `version=0.1.0 colour=blue`, JSON lines have `"version"` and `"colour"` as top-level keys (beside
//! `timestamp`, `level`, `fields` and `target`), so a shipper can filter on them.
//!
//! Every event the filter lets through is also counted by level ([`events`],
//! `dimby_log_events_total{level}`; [`counts`]), so the process can say whether it logged errors
//! over a window.

pub mod counts;

use std::fmt;

use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Full, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

pub use counts::{CountEvents, LogCounters, LogCounts, counting, events};

use crate::identity::ProcessIdentity;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// Installs the global subscriber: [`subscriber`] on stderr, counting into the process's
/// counters ([`events`]). `RUST_LOG` wins over the default filter.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // A subscriber may already be installed (tests); keeping that one is right.
    let _ = subscriber(format, filter, std::io::stderr, counts::process()).try_init();
    // Counting if the global subscriber is this one (also when only bridging the `log` crate's
    // records failed, which makes `try_init` fail after installing it).
    counts::set_counting(tracing::dispatcher::get_default(
        Dispatch::is::<CountEvents>,
    ));
}

/// The log's subscriber: lines in `format` to `writer` (with the build's identity), `filter`
/// choosing the events, and every event it lets through counted by level into `counters`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    counters: &'static LogCounters,
) -> Dispatch
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let identity = crate::identity::process();
    let count = CountEvents::new(counters);
    match format {
        LogFormat::Text => Dispatch::new(
            builder
                .event_format(Identified::text(identity))
                .finish()
                .with(count),
        ),
        LogFormat::Json => Dispatch::new(
            builder
                .json()
                .event_format(Identified::json(identity))
                .finish()
                .with(count),
        ),
    }
}

/// tracing-subscriber's text or JSON line with the build's identity added: the version, and the
/// colour once it is known.
#[derive(Debug)]
pub struct Identified {
    shape: Shape,
    identity: &'static ProcessIdentity,
}

#[derive(Debug)]
enum Shape {
    /// The text line without colours and with them (the writer says which it takes; a formatter
    /// behind a [`Writer`] of our own cannot be told otherwise).
    Text {
        plain: Format<Full>,
        ansi: Format<Full>,
    },
    Json(Format<Json>),
}

impl Identified {
    /// tracing-subscriber's default text line, ending in `version=... colour=...`.
    pub fn text(identity: &'static ProcessIdentity) -> Self {
        Self {
            shape: Shape::Text {
                plain: Format::default().with_ansi(false),
                ansi: Format::default().with_ansi(true),
            },
            identity,
        }
    }

    /// tracing-subscriber's JSON line (use it with the JSON field formatter, as
    /// `fmt().json()` sets up), with top-level `version` and `colour` keys.
    pub fn json(identity: &'static ProcessIdentity) -> Self {
        Self {
            shape: Shape::Json(Format::default().json()),
            identity,
        }
    }
}

impl<S, N> FormatEvent<S, N> for Identified
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let version = self.identity.build().version;
        let colour = self.identity.colour_label();
        match &self.shape {
            Shape::Text { plain, ansi } => {
                let inner = if writer.has_ansi_escapes() {
                    ansi
                } else {
                    plain
                };
                let mut line = HoldNewline {
                    out: &mut writer,
                    held: false,
                };
                inner.format_event(ctx, Writer::new(&mut line), event)?;
                let held = line.held;
                write!(writer, " version={version}")?;
                if let Some(colour) = colour {
                    write!(writer, " colour={colour}")?;
                }
                if held {
                    writer.write_char('\n')?;
                }
                Ok(())
            }
            Shape::Json(inner) => {
                let mut line = AfterBrace {
                    out: &mut writer,
                    version,
                    colour,
                    state: BraceState::Start,
                };
                inner.format_event(ctx, Writer::new(&mut line), event)
            }
        }
    }
}

/// Passes a text line through, holding its final newline back so the identity goes before it.
struct HoldNewline<'a, 'w> {
    out: &'a mut Writer<'w>,
    held: bool,
}

impl fmt::Write for HoldNewline<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.held) {
            self.out.write_char('\n')?;
        }
        match s.strip_suffix('\n') {
            Some(rest) => {
                self.held = true;
                self.out.write_str(rest)
            }
            None => self.out.write_str(s),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BraceState {
    /// Nothing written yet.
    Start,
    /// `{` and the identity are written: a comma goes before the next key.
    Opened,
    /// The rest of the line goes through as it is.
    Through,
}

/// Passes a JSON line through, with the identity as the object's first keys.
struct AfterBrace<'a, 'w> {
    out: &'a mut Writer<'w>,
    version: &'static str,
    colour: Option<&'static str>,
    state: BraceState,
}

impl fmt::Write for AfterBrace<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.is_empty() {
            return Ok(());
        }
        match self.state {
            BraceState::Through => self.out.write_str(s),
            BraceState::Start => {
                let Some(rest) = s.strip_prefix('{') else {
                    // Not an object (never, from tracing-subscriber's formatter): left alone.
                    self.state = BraceState::Through;
                    return self.out.write_str(s);
                };
                self.out.write_str("{\"version\":")?;
                json_string(self.out, self.version)?;
                if let Some(colour) = self.colour {
                    self.out.write_str(",\"colour\":")?;
                    json_string(self.out, colour)?;
                }
                self.state = BraceState::Opened;
                self.write_str(rest)
            }
            BraceState::Opened => {
                self.state = BraceState::Through;
                if !s.starts_with('}') {
                    self.out.write_char(',')?;
                }
                self.out.write_str(s)
            }
        }
    }
}

/// `text` as a JSON string.
fn json_string(out: &mut Writer<'_>, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use store::Colour;
    use tracing_subscriber::fmt::MakeWriter;

    use super::{Identified, LogCounters, LogCounts, LogFormat};
    use crate::identity::{Build, ProcessIdentity};

    /// Lines written into memory.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn take(&self) -> String {
            let bytes = std::mem::take(&mut *self.0.lock().expect("buffer"));
            String::from_utf8(bytes).expect("UTF-8 lines")
        }
    }

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn identity() -> &'static ProcessIdentity {
        let identity = Box::leak(Box::new(ProcessIdentity::new()));
        identity.set_build(Build {
            version: "1.2.3",
            commit: "0123456789ab",
        });
        identity
    }

    /// Logs two events (one inside a span, one with a multi-line message) through `subscriber`.
    fn two_events(subscriber: impl tracing::Subscriber + Send + Sync) {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("guild", id = 7);
            span.in_scope(|| tracing::info!(node = "a", "player moved"));
            tracing::warn!(colour = "field", "two\nlines");
        });
    }

    fn json_lines(text: &str) -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn json_lines_carry_version_and_then_colour_as_top_level_keys() {
        let identity = identity();
        let buffer = Buffer::default();
        let subscriber = || {
            tracing_subscriber::fmt()
                .with_writer(buffer.clone())
                .json()
                .event_format(Identified::json(identity))
                .finish()
        };

        two_events(subscriber());
        let before = json_lines(&buffer.take());
        assert_eq!(before.len(), 2);
        for line in &before {
            assert_eq!(line["version"], "1.2.3", "{line}");
            assert!(line.get("colour").is_none(), "no colour yet: {line}");
        }

        identity.set_colour(Some(Colour::Green));
        two_events(subscriber());
        let after = json_lines(&buffer.take());
        assert_eq!(after.len(), 2);
        for line in &after {
            assert_eq!(line["version"], "1.2.3", "{line}");
            assert_eq!(line["colour"], "green", "{line}");
            // What tracing-subscriber writes is all there, as before.
            assert!(line["timestamp"].is_string(), "{line}");
            assert!(line["target"].is_string(), "{line}");
        }
        assert_eq!(after[0]["level"], "INFO");
        assert_eq!(after[0]["fields"]["message"], "player moved");
        assert_eq!(after[0]["fields"]["node"], "a");
        assert_eq!(after[0]["span"]["id"], 7);
        // An event's own field of the same name stays among its fields.
        assert_eq!(after[1]["fields"]["colour"], "field");
        assert_eq!(after[1]["fields"]["message"], "two\nlines");

        identity.set_colour(None);
        two_events(subscriber());
        for line in json_lines(&buffer.take()) {
            assert_eq!(line["colour"], "none", "{line}");
        }
    }

    #[test]
    fn text_lines_end_in_version_and_then_colour() {
        let identity = identity();
        let buffer = Buffer::default();
        let subscriber = |ansi| {
            tracing_subscriber::fmt()
                .with_writer(buffer.clone())
                .with_ansi(ansi)
                .event_format(Identified::text(identity))
                .finish()
        };

        two_events(subscriber(false));
        let before = buffer.take();
        let lines: Vec<&str> = before.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 3, "{before:?}"); // the second message has two lines
        assert!(
            lines[0].contains("player moved node=\"a\" version=1.2.3\n"),
            "{before:?}"
        );
        assert!(lines[0].contains("guild{id=7}"), "{before:?}");
        assert!(lines[1].ends_with("two\n"), "{before:?}");
        assert_eq!(lines[2], "lines colour=\"field\" version=1.2.3\n");

        identity.set_colour(Some(Colour::Blue));
        two_events(subscriber(false));
        let after = buffer.take();
        assert!(
            after.contains("player moved node=\"a\" version=1.2.3 colour=blue\n"),
            "{after:?}"
        );
        assert!(
            after.ends_with("lines colour=\"field\" version=1.2.3 colour=blue\n"),
            "{after:?}"
        );

        // With colours on, the line is still coloured and still ends in the identity.
        two_events(subscriber(true));
        let coloured = buffer.take();
        assert!(coloured.contains('\u{1b}'), "ANSI escapes: {coloured:?}");
        assert!(
            coloured
                .lines()
                .filter(|l| l.contains("player moved"))
                .all(|l| l.ends_with(" version=1.2.3 colour=blue")),
            "{coloured:?}"
        );
    }

    #[test]
    fn the_log_writes_and_counts_the_events_its_filter_lets_through() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let counters: &'static LogCounters = Box::leak(Box::new(LogCounters::new()));
            let buffer = Buffer::default();
            let filter = tracing_subscriber::EnvFilter::new("info,noisy=error");
            let dispatch = super::subscriber(format, filter, buffer.clone(), counters);
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::error!("written and counted");
                tracing::warn!(node = "a", "written and counted");
                tracing::info!("written and counted");
                tracing::debug!("neither");
                tracing::warn!(target: "noisy", "neither");
                tracing::error!(target: "noisy", "written and counted");
            });
            assert_eq!(
                counters.snapshot(),
                LogCounts {
                    errors: 2,
                    warnings: 1,
                    info: 1,
                    ..LogCounts::default()
                },
                "{format:?}"
            );
            let written = buffer.take();
            assert_eq!(written.lines().count(), 4, "{format:?}: {written}");
            assert!(!written.contains("neither"), "{format:?}: {written}");
        }
    }
}
