//! Development sink: one readable line (or one JSON line) per event on stdout or stderr.

use std::io::Write;

use serde_json::Value;

use super::{Sink, SinkBatch, SinkError};

/// How the console sink writes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleFormat {
    /// `[sonde] 2026-01-01T00:00:00.000Z track "Signed Up" user=42 {"plan":"pro"}`
    Pretty,
    /// The event JSON, one per line.
    JsonLines,
}

/// Where the console sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleTarget {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Writes events to the terminal (development).
#[derive(Debug, Clone)]
pub struct ConsoleSink {
    format: ConsoleFormat,
    target: ConsoleTarget,
}

impl ConsoleSink {
    /// A console sink with this format and target.
    pub fn new(format: ConsoleFormat, target: ConsoleTarget) -> Self {
        Self { format, target }
    }

    /// Readable lines on stderr, the usual place for development logging.
    pub fn pretty() -> Self {
        Self::new(ConsoleFormat::Pretty, ConsoleTarget::Stderr)
    }

    /// Renders the batch exactly as it would be written.
    pub fn render(&self, batch: &SinkBatch<'_>) -> String {
        let mut out = String::new();
        for line in batch.json_lines() {
            match self.format {
                ConsoleFormat::JsonLines => out.push_str(line),
                ConsoleFormat::Pretty => out.push_str(&pretty_line(line)),
            }
            out.push('\n');
        }
        out
    }
}

impl Default for ConsoleSink {
    fn default() -> Self {
        Self::pretty()
    }
}

fn pretty_line(json: &str) -> String {
    let Ok(Value::Object(m)) = crate::event::reader::parse_json(json) else {
        return format!("[sonde] {json}");
    };
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
    let kind = s("type");
    let mut line = format!("[sonde] {} {kind}", s("timestamp"));
    let label = match kind {
        "track" => s("event"),
        "page" | "screen" => s("name"),
        "group" => s("groupId"),
        "alias" => s("previousId"),
        _ => "",
    };
    if !label.is_empty() {
        line.push_str(&format!(" {label:?}"));
    }
    if !s("userId").is_empty() {
        line.push_str(&format!(" user={}", s("userId")));
    } else if !s("anonymousId").is_empty() {
        line.push_str(&format!(" anon={}", s("anonymousId")));
    }
    for key in ["properties", "traits"] {
        if let Some(Value::Object(p)) = m.get(key) {
            if !p.is_empty() {
                line.push(' ');
                line.push_str(&Value::Object(p.clone()).to_string());
            }
        }
    }
    line
}

impl Sink for ConsoleSink {
    fn name(&self) -> &str {
        "console"
    }

    fn deliver(&self, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
        let text = self.render(batch);
        let result = match self.target {
            ConsoleTarget::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            ConsoleTarget::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
        };
        result.map_err(|e| SinkError::retryable(format!("console write failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::BufferedEvent;

    #[test]
    fn pretty_lines_are_readable() {
        let events = [BufferedEvent {
            seq: 1,
            enqueued_ms: 0,
            json: r#"{"type":"track","event":"Signed Up","userId":"42","timestamp":"2026-01-01T00:00:00.000Z","properties":{"plan":"pro"}}"#.into(),
        }];
        let batch = SinkBatch {
            id: 1,
            attempt: 1,
            events: &events,
        };
        let text = ConsoleSink::pretty().render(&batch);
        assert_eq!(
            text,
            "[sonde] 2026-01-01T00:00:00.000Z track \"Signed Up\" user=42 {\"plan\":\"pro\"}\n"
        );
        let raw = ConsoleSink::new(ConsoleFormat::JsonLines, ConsoleTarget::Stdout).render(&batch);
        assert_eq!(raw.trim_end(), &*events[0].json);
    }
}
