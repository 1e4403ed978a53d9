//! Logging set-up: JSON lines on Lambda when its log format is JSON, readable text
//! elsewhere; level from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then INFO.
//!
//! Whatever the level asked for, dependencies that dump payloads are capped: at TRACE
//! the AWS SDK logs every request it sends with the `Debug` of its body (boxed today, but
//! an in-memory body prints verbatim: a PutSecretValue's `SecretString`), and
//! tokio-postgres logs statements and parameters at DEBUG (an `ALTER ROLE` carries a
//! password verifier). Those events are dropped before any writer sees them.

use std::str::FromStr;

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

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

/// A subscriber writing to `writer` at `level` (or the `RUST_LOG`-style directives in
/// `directives`), JSON or text, with the payload caps applied.
pub fn subscriber<W>(
    writer: W,
    level: LevelFilter,
    directives: Option<&str>,
    json: bool,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy(directives.unwrap_or_default());
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(writer);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    Registry::default()
        .with(filter)
        .with(fmt.with_filter(filter_fn(allowed)))
}

/// Installs the global subscriber from the Lambda environment. Call once, first thing in
/// `main`.
pub fn init() {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    // Lambda's advanced logging controls set a plain level; RUST_LOG may hold directives.
    let (level, directives) = match var("AWS_LAMBDA_LOG_LEVEL") {
        Some(l) => (LevelFilter::from_str(&l).unwrap_or(LevelFilter::INFO), None),
        None => (LevelFilter::INFO, var("RUST_LOG")),
    };
    let subscriber = subscriber(std::io::stdout, level, directives.as_deref(), json);
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

    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_subscriber_drops_capped_events_even_at_trace() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = subscriber(move || writer.clone(), LevelFilter::TRACE, None, true);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "tokio_postgres::query", "executing ALTER ROLE canary-statement");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "transmitting canary-body");
            tracing::trace!(target: "rotor_rotate::steps", "own trace line kept");
        });
        let written = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(written.contains("own trace line kept"), "{written}");
        assert!(
            !written.contains("canary-statement") && !written.contains("canary-body"),
            "{written}"
        );
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
        assert!(allowed(&meta("tokio_postgres::connection", Level::INFO)));
        assert!(allowed(&meta("rotor_rotate::steps", Level::TRACE)));
    }
}
