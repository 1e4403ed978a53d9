//! The JSON line Lambda's advanced logging controls read: `timestamp` (RFC 3339, UTC,
//! milliseconds), `level`, `message`, `requestId` and `functionName` at the top level, then
//! the invocation span's fields and the event's own fields, flat, as CloudWatch Logs
//! Insights discovers them.
//!
//! Lambda's log-level filtering ("Log-level filtering" in the Lambda developer guide,
//! monitoring-cloudwatchlogs-log-level) reads the `level` key of a JSON line, and treats a
//! line whose `level` is missing or invalid, or whose `timestamp` is not valid RFC 3339, as
//! INFO. So a line without a timestamp is dropped at `WARN`, errors included.
//!
//! Metric lines (Embedded Metric Format) are log lines like any other to that filter: the
//! Lambda and CloudWatch documentation list no exemption for them, so a metric line carries
//! the function's own application log level (INFO when it is below INFO), which every
//! setting keeps. See [`super::Settings::metrics_level`].

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::METRICS_TARGET;

/// Keys the formatter writes itself; a field of the same name is renamed `field_<name>`,
/// so no field can change a line's level or time.
const RESERVED: [&str; 5] = ["timestamp", "level", "message", "requestId", "functionName"];

/// The field names that hold the Lambda request id: rotor's invocation spans use
/// `request_id`, the Lambda runtime's own invocation span `requestId`.
const REQUEST_ID_FIELDS: [&str; 2] = ["request_id", "requestId"];

/// The field of a metrics event that holds the EMF object (see `metrics::Emf::emit`).
pub(crate) const EMF_FIELD: &str = "emf";

/// The event formatter for `AWS_LAMBDA_LOG_FORMAT=JSON`.
pub(crate) struct LambdaJson {
    pub function_name: String,
    pub metrics_level: &'static str,
}

/// The time as Lambda reads it: RFC 3339 in UTC with milliseconds, `2024-11-02T16:51:31.587Z`.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl LambdaJson {
    /// The line for `event`, as a JSON object.
    fn line<S, N>(&self, ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Map<String, Value>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let metrics = event.metadata().target() == METRICS_TARGET;
        let mut fields = Map::new();
        event.record(&mut Collect(&mut fields));

        // Span fields, outermost first, so an inner span's field wins over an outer one's.
        let mut spans = Map::new();
        let mut span_name = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                span_name = Some(span.name());
                let extensions = span.extensions();
                let Some(stored) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(stored) {
                    spans.extend(map);
                }
            }
        }

        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(timestamp()));
        let level = if metrics {
            self.metrics_level
        } else {
            event.metadata().level().as_str()
        };
        line.insert("level".into(), Value::String(level.into()));
        let message = match fields.remove("message") {
            Some(Value::String(m)) => m,
            Some(other) => other.to_string(),
            None if metrics => "metrics".to_owned(),
            None => String::new(),
        };
        line.insert("message".into(), Value::String(message));
        let mut request_id = None;
        for key in REQUEST_ID_FIELDS {
            let found = fields.remove(key).or_else(|| spans.remove(key));
            spans.remove(key);
            request_id = request_id.or(found);
        }
        if let Some(id) = request_id {
            line.insert("requestId".into(), id);
        }
        line.insert(
            "functionName".into(),
            Value::String(self.function_name.clone()),
        );
        if let Some(name) = span_name {
            line.insert("span".into(), Value::String(name.into()));
        }
        let emf = if metrics {
            match fields.remove(EMF_FIELD) {
                Some(Value::String(s)) => serde_json::from_str::<Map<String, Value>>(&s).ok(),
                _ => None,
            }
        } else {
            None
        };
        for (key, value) in spans
            .into_iter()
            .chain(fields)
            .chain(emf.into_iter().flatten())
        {
            if RESERVED.contains(&key.as_str()) {
                line.insert(format!("field_{key}"), value);
            } else {
                line.insert(key, value);
            }
        }
        line
    }
}

impl<S, N> FormatEvent<S, N> for LambdaJson
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
        writeln!(writer, "{}", Value::Object(self.line(ctx, event)))
    }
}

/// Readable text for local runs; metric lines stay the EMF JSON they are.
pub(crate) struct Text<F> {
    pub inner: F,
}

impl<S, N, F> FormatEvent<S, N> for Text<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == METRICS_TARGET {
            let mut fields = Map::new();
            event.record(&mut Collect(&mut fields));
            if let Some(Value::String(emf)) = fields.remove(EMF_FIELD) {
                let mut writer = writer;
                return writeln!(writer, "{emf}");
            }
        }
        self.inner.format_event(ctx, writer, event)
    }
}

/// Collects an event's fields as JSON values.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}
