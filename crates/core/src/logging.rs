//! Logging set-up: JSON lines on Lambda when its log format is JSON (the shape Lambda's
//! log-level filtering reads, see [`json`]), readable text elsewhere; level from
//! `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then INFO. `RUST_LOG`
//! takes comma-separated `level` and `target=level` directives (a plain target filter, not
//! tracing-subscriber's `EnvFilter`, whose regular-expression engine would cost every binary
//! about 200 KB for span and field filters a Lambda function never needs).
//!
//! Whatever the level asked for, dependencies that dump payloads are capped: at TRACE
//! the AWS SDK logs every request it sends with the `Debug` of its body (boxed today, but
//! an in-memory body prints verbatim: a PutSecretValue's `SecretString`), and
//! tokio-postgres logs statements and parameters at DEBUG (an `ALTER ROLE` carries a
//! password verifier), and the Lambda runtime logs each raw event at TRACE (a rotation
//! event's `RotationToken` among them). Those events are dropped before any writer sees
//! them.

mod json;

use std::str::FromStr;

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

pub use json::timestamp;

/// The target of metric events (`metrics::Emf::emit`): written whatever the level asked
/// for, since alarms depend on them.
pub const METRICS_TARGET: &str = "rotor_metrics";

/// How the subscriber writes, from the Lambda environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// JSON lines (`AWS_LAMBDA_LOG_FORMAT=JSON`), or readable text.
    pub json: bool,
    /// The lowest level written (metric lines aside).
    pub level: LevelFilter,
    /// `RUST_LOG`-style directives, when Lambda sets no level.
    pub directives: Option<String>,
    /// `functionName` on every JSON line: `AWS_LAMBDA_FUNCTION_NAME`, else the program's name.
    pub function_name: String,
    /// The `level` metric lines carry: Lambda's application log level when it is above
    /// INFO (`WARN`, `ERROR`, `FATAL`), else `INFO`. Lambda drops lines below its level, and
    /// documents no exemption for metric lines, so they carry the level itself and pass.
    pub metrics_level: &'static str,
}

impl Settings {
    /// Reads `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` (which Lambda's advanced
    /// logging controls set from `ApplicationLogLevel`), `RUST_LOG` and
    /// `AWS_LAMBDA_FUNCTION_NAME` through `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
        let lambda_level = var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.trim().to_ascii_uppercase());
        // Lambda's advanced logging controls set a plain level; RUST_LOG may hold directives.
        let (level, directives) = match lambda_level.as_deref() {
            // rotor has no FATAL events: at FATAL, Lambda keeps only metric lines.
            Some("FATAL") => (LevelFilter::ERROR, None),
            Some(l) => (LevelFilter::from_str(l).unwrap_or(LevelFilter::INFO), None),
            None => (LevelFilter::INFO, var("RUST_LOG")),
        };
        let metrics_level = match lambda_level.as_deref() {
            Some("WARN") => "WARN",
            Some("ERROR") => "ERROR",
            Some("FATAL") => "FATAL",
            _ => "INFO",
        };
        let function_name = var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(program_name);
        Self {
            json,
            level,
            directives,
            function_name,
            metrics_level,
        }
    }

    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "rotor".to_owned())
}

/// Whether an event may be written at all: payload-dumping dependencies are capped.
pub fn allowed(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let level = *meta.level();
    if target.starts_with("tokio_postgres") || target.starts_with("postgres_protocol") {
        level <= Level::INFO
    } else if [
        "aws_smithy",
        "aws_sdk",
        "aws_config",
        "aws_runtime",
        "lambda_runtime",
        "hyper",
        "h2",
        "rustls",
    ]
    .iter()
    .any(|p| target.starts_with(p))
    {
        level <= Level::DEBUG
    } else {
        true
    }
}

/// The filter for `RUST_LOG`-style `directives` over a default `level`: `level` sets the
/// default, `target=level` the level of a target and its children (`target` alone means
/// TRACE). Directives that do not parse are skipped, as `EnvFilter::parse_lossy` does.
pub fn targets(level: LevelFilter, directives: &str) -> Targets {
    let mut targets = Targets::new().with_default(level);
    for directive in directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        match directive.rsplit_once('=') {
            Some((target, level)) => {
                if let (false, Ok(level)) = (target.is_empty(), LevelFilter::from_str(level)) {
                    targets = targets.with_target(target, level);
                }
            }
            None => match LevelFilter::from_str(directive) {
                Ok(level) => targets = targets.with_default(level),
                Err(_) => targets = targets.with_target(directive, LevelFilter::TRACE),
            },
        }
    }
    targets
}

/// A subscriber writing to `writer` as `settings` say (level, or the `RUST_LOG`-style
/// directives of [`targets`]; JSON or text), with the payload caps applied. Metric events
/// pass whatever the level.
pub fn subscriber<W>(writer: W, settings: &Settings) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let levels = targets(
        settings.level,
        settings.directives.as_deref().unwrap_or_default(),
    );
    let metrics = filter_fn(|m| m.target() == METRICS_TARGET).with_max_level_hint(Level::INFO);
    // Invocation spans (INFO) are kept at every level: they write nothing themselves, but
    // an error line at `ERROR` needs its span's request id.
    let invocation_spans =
        filter_fn(|m| m.is_span() && *m.level() <= Level::INFO).with_max_level_hint(Level::INFO);
    let filter = levels
        .or(metrics)
        .or(invocation_spans)
        .and(filter_fn(allowed).with_max_level_hint(LevelFilter::TRACE));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    let fmt = if settings.json {
        fmt.fmt_fields(JsonFields::new())
            .event_format(json::LambdaJson {
                function_name: settings.function_name.clone(),
                metrics_level: settings.metrics_level,
            })
            .boxed()
    } else {
        let text = tracing_subscriber::fmt::format()
            .with_target(false)
            .without_time()
            .with_ansi(false);
        fmt.event_format(json::Text { inner: text }).boxed()
    };
    Registry::default().with(fmt.with_filter(filter))
}

/// Installs the global subscriber from the Lambda environment. Call once, first thing in
/// `main`.
pub fn init() {
    let subscriber = subscriber(std::io::stdout, &Settings::from_env());
    // Bridge `log` records (tokio-postgres uses `log`) into tracing, under the same caps.
    let _ = tracing_log::LogTracer::init();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::callsite::Identifier;
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    struct Site;
    impl tracing::callsite::Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!()
        }
    }
    static SITE: Site = Site;

    fn meta(target: &'static str, level: Level) -> Metadata<'static> {
        Metadata::new(
            "e",
            target,
            level,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&SITE)),
            Kind::EVENT,
        )
    }

    #[test]
    fn directives_set_the_default_and_per_target_levels() {
        let filter = targets(
            LevelFilter::INFO,
            "warn, rotor_rotate=debug,aws_config=error",
        );
        assert_eq!(filter.default_level(), Some(LevelFilter::WARN));
        assert!(filter.would_enable("rotor_rotate::steps", &Level::DEBUG));
        assert!(!filter.would_enable("rotor_rotate::steps", &Level::TRACE));
        assert!(!filter.would_enable("aws_config::loader", &Level::WARN));
        assert!(!filter.would_enable("hyper", &Level::INFO));
        assert!(filter.would_enable("hyper", &Level::WARN));
    }

    #[test]
    fn directives_that_do_not_parse_are_skipped() {
        let filter = targets(LevelFilter::INFO, "rotor_rotate=loud,=debug,,");
        assert_eq!(filter.default_level(), Some(LevelFilter::INFO));
        assert!(!filter.would_enable("rotor_rotate", &Level::DEBUG));
        assert!(filter.would_enable("rotor_rotate", &Level::INFO));
        let filter = targets(LevelFilter::ERROR, "rotor_audit");
        assert!(filter.would_enable("rotor_audit::checks", &Level::TRACE));
    }

    #[test]
    fn sdk_request_dumps_and_postgres_statements_are_never_written() {
        assert!(!allowed(&meta(
            "aws_smithy_runtime::client::orchestrator",
            Level::TRACE
        )));
        assert!(allowed(&meta(
            "aws_smithy_runtime::client::orchestrator",
            Level::DEBUG
        )));
        assert!(!allowed(&meta("tokio_postgres::query", Level::DEBUG)));
        // "raw JSON event received from Lambda", with the whole event.
        assert!(!allowed(&meta(
            "lambda_runtime::layers::api_response",
            Level::TRACE
        )));
        assert!(allowed(&meta(
            "lambda_runtime::layers::api_response",
            Level::DEBUG
        )));
        assert!(allowed(&meta("tokio_postgres::connection", Level::INFO)));
        assert!(allowed(&meta("rotor_rotate::steps", Level::TRACE)));
    }
}
