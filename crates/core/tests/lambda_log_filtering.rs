//! Every line the production subscriber writes, read as Lambda's log-level filtering reads
//! it, at each `LogLevel` the template allows: errors survive `ERROR`, metric lines survive
//! every level, and each line has the keys Lambda and Logs Insights users expect.

use std::sync::{Arc, Mutex};

use rotor_core::logging::{Settings, subscriber};
use rotor_core::metrics::{MetricsConfig, Unit};
use rotor_testkit::logs::{
    is_metrics, lambda_keeps, lambda_level, shape_problem, template_log_levels,
};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines a function writes at `level` (as Lambda configures it) for one invocation:
/// a start-up line, then inside the invocation span lines at every level, a failure and
/// a metrics record.
fn one_invocation(level: &str) -> Vec<String> {
    let settings = Settings::from_lookup(|k| match k {
        "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".to_owned()),
        "AWS_LAMBDA_LOG_LEVEL" => Some(level.to_owned()),
        "AWS_LAMBDA_FUNCTION_NAME" => Some("rotor-stack-RotateFunction-abc".to_owned()),
        _ => None,
    });
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing::subscriber::with_default(subscriber(move || writer.clone(), &settings), || {
        tracing::info!("configuration read");
        let span = tracing::info_span!(
            "rotation",
            request_id = "8f5e3c1a-request",
            step = "setSecret"
        );
        let _entered = span.enter();
        tracing::trace!("detail");
        tracing::debug!(attempt = 1, "connecting");
        tracing::info!(outcome = "password-set", "step succeeded");
        tracing::warn!("slow login");
        tracing::error!(error_type = "Rotor.Database", "step failed");
        MetricsConfig::default()
            .record()
            .dimension("Function", "rotor-rotate")
            .metric("StepFailed", 1.0, Unit::Count)
            .emit();
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text.lines().map(str::to_owned).collect()
}

#[test]
fn the_template_allows_the_levels_this_test_covers() {
    let levels = template_log_levels();
    assert!(levels.contains(&"ERROR".to_owned()), "{levels:?}");
    assert!(levels.contains(&"WARN".to_owned()), "{levels:?}");
}

#[test]
fn errors_survive_error_and_metrics_survive_every_level_the_template_allows() {
    for level in template_log_levels() {
        let lines = one_invocation(&level);
        assert!(!lines.is_empty(), "{level}: nothing written");
        for (i, line) in lines.iter().enumerate() {
            // The first line is written before any invocation.
            if let Some(problem) = shape_problem(line, i > 0) {
                panic!("{level}: {problem}");
            }
        }
        let kept: Vec<&String> = lines.iter().filter(|l| lambda_keeps(l, &level)).collect();
        assert!(
            kept.iter().any(|l| l.contains("step failed")),
            "{level}: the error line is filtered out: {lines:?}"
        );
        let metrics: Vec<&String> = lines.iter().filter(|l| is_metrics(l)).collect();
        assert_eq!(metrics.len(), 1, "{level}: one metrics line: {lines:?}");
        assert!(
            lambda_keeps(metrics[0], &level)
                && lambda_keeps(metrics[0], "ERROR") == (level == "ERROR" || level == "FATAL"),
            "{level}: the metrics line does not carry the configured level: {}",
            metrics[0]
        );
        // Nothing rotor writes is below what Lambda keeps: rotor filters first, so the two
        // agree and Lambda drops nothing.
        assert_eq!(
            kept.len(),
            lines.len(),
            "{level}: Lambda drops some of {lines:?}"
        );
    }
}

#[test]
fn metrics_survive_fatal_too() {
    let lines = one_invocation("FATAL");
    let metrics: Vec<&String> = lines.iter().filter(|l| is_metrics(l)).collect();
    assert_eq!(metrics.len(), 1, "{lines:?}");
    assert!(lambda_keeps(metrics[0], "FATAL"), "{}", metrics[0]);
}

#[test]
fn a_line_carries_lambdas_keys_the_span_fields_and_the_event_fields_at_the_top_level() {
    let lines = one_invocation("INFO");
    let line = lines
        .iter()
        .find(|l| l.contains("step succeeded"))
        .expect("the success line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["message"], "step succeeded");
    assert_eq!(v["requestId"], "8f5e3c1a-request");
    assert_eq!(v["functionName"], "rotor-stack-RotateFunction-abc");
    assert_eq!(v["step"], "setSecret");
    assert_eq!(v["outcome"], "password-set");
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == "2024-11-02T16:51:31.587Z".len(),
        "{ts}"
    );
    assert_eq!(lambda_level(line), "INFO");
    let metrics = lines.iter().find(|l| is_metrics(l)).unwrap();
    let m: serde_json::Value = serde_json::from_str(metrics).unwrap();
    assert_eq!(m["StepFailed"], 1.0);
    assert_eq!(m["Function"], "rotor-rotate");
    assert_eq!(m["requestId"], "8f5e3c1a-request");
    assert_eq!(m["_aws"]["CloudWatchMetrics"][0]["Namespace"], "rotor");
}

#[test]
fn a_field_cannot_change_a_lines_level_or_time() {
    let settings = Settings::from_lookup(|k| (k == "AWS_LAMBDA_LOG_FORMAT").then(|| "JSON".into()));
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing::subscriber::with_default(subscriber(move || writer.clone(), &settings), || {
        tracing::error!(level = "DEBUG", timestamp = "yesterday", "clash");
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["level"], "ERROR");
    assert_eq!(v["field_level"], "DEBUG");
    assert_eq!(v["field_timestamp"], "yesterday");
}

/// The caps on the PostgreSQL driver's and the SDK's own logs hold at any level set.
#[test]
fn the_subscriber_drops_capped_events_even_at_trace() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let settings = Settings::from_lookup(|k| {
        (k == "AWS_LAMBDA_LOG_FORMAT" || k == "AWS_LAMBDA_LOG_LEVEL").then(|| {
            if k.ends_with("FORMAT") {
                "JSON"
            } else {
                "TRACE"
            }
            .to_owned()
        })
    });
    let subscriber = subscriber(move || writer.clone(), &settings);
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
