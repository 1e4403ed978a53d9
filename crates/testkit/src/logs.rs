//! Captures every log line of the test binary, at TRACE, so tests can assert that no
//! secret ever reaches a log.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

fn buffer() -> &'static Mutex<Vec<u8>> {
    static BUF: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUF.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        buffer().lock().expect("log buffer").extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (TRACE, every target, JSON). Safe to call from every test; the first call wins.
pub fn capture() {
    capture_at("TRACE");
}

/// [`capture`] at `level` (a Lambda log level), for a test binary that runs so many
/// invocations that formatting every TRACE line of the SDK would dominate its run time.
/// The first call in a binary wins, whatever its level.
pub fn capture_at(level: &'static str) {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // The functions' own subscriber (with its caps on payload-dumping dependencies),
        // at `level`, in JSON as on Lambda, so the tests see what production would write.
        let settings = rotor_core::logging::Settings::from_lookup(|k| match k {
            "AWS_LAMBDA_LOG_LEVEL" => Some(level.to_owned()),
            "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".to_owned()),
            _ => None,
        });
        let subscriber = rotor_core::logging::subscriber(|| Capture, &settings);
        let _ = tracing_log::LogTracer::init();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Everything logged so far in this test binary.
pub fn contents() -> String {
    String::from_utf8_lossy(&buffer().lock().expect("log buffer")).into_owned()
}

/// Panics (without printing the secret) if any captured line contains `secret`.
pub fn assert_absent(secret: &str, what: &str) {
    assert!(!secret.is_empty(), "nothing to look for");
    let found = contents().lines().filter(|l| l.contains(secret)).count();
    assert_eq!(found, 0, "{found} log line(s) contain the {what}");
}

/// Lambda's application log levels, least severe first ("Log-level filtering" in the Lambda
/// developer guide).
pub const LAMBDA_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The level Lambda's log-level filtering gives a line written under `LogFormat: JSON`, as
/// documented: the line's `level` when it is a valid level name and the line has an RFC 3339
/// `timestamp`; INFO when the level is missing or invalid, when the timestamp is missing or
/// invalid, and for a line that is not a JSON object.
pub fn lambda_level(line: &str) -> &'static str {
    let Ok(serde_json::Value::Object(v)) = serde_json::from_str::<serde_json::Value>(line) else {
        return "INFO";
    };
    let timestamp_ok = v
        .get("timestamp")
        .and_then(|t| t.as_str())
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
    let level = v
        .get("level")
        .and_then(|l| l.as_str())
        .and_then(|l| LAMBDA_LEVELS.iter().find(|k| k.eq_ignore_ascii_case(l)));
    match (timestamp_ok, level) {
        (true, Some(level)) => level,
        _ => "INFO",
    }
}

/// Whether Lambda keeps `line` when the function's `ApplicationLogLevel` is `threshold`:
/// it sends a line to CloudWatch Logs when the line's level is `threshold` or more severe.
pub fn lambda_keeps(line: &str, threshold: &str) -> bool {
    let rank = |l: &str| LAMBDA_LEVELS.iter().position(|k| k.eq_ignore_ascii_case(l));
    let threshold = rank(threshold).expect("a Lambda log level");
    rank(lambda_level(line)).expect("a Lambda log level") >= threshold
}

/// What is wrong with a JSON log line's shape, if anything: it must be a JSON object with
/// an RFC 3339 `timestamp`, a Lambda `level`, a `message` and a `functionName`, and, when
/// `in_invocation`, the `requestId`.
pub fn shape_problem(line: &str, in_invocation: bool) -> Option<String> {
    let v: serde_json::Value = match serde_json::from_str(line) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => return Some(format!("not a JSON object: {line}")),
    };
    let string = |k: &str| v.get(k).and_then(|x| x.as_str());
    if string("timestamp").is_none_or(|t| chrono::DateTime::parse_from_rfc3339(t).is_err()) {
        return Some(format!("no RFC 3339 timestamp: {line}"));
    }
    if !string("level").is_some_and(|l| LAMBDA_LEVELS.contains(&l)) {
        return Some(format!("no Lambda level: {line}"));
    }
    if string("message").is_none() {
        return Some(format!("no message: {line}"));
    }
    if string("functionName").is_none_or(str::is_empty) {
        return Some(format!("no functionName: {line}"));
    }
    if in_invocation && string("requestId").is_none_or(str::is_empty) {
        return Some(format!("no requestId: {line}"));
    }
    None
}

/// Whether a line is an Embedded Metric Format record.
pub fn is_metrics(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line)
        .is_ok_and(|v| v["_aws"]["CloudWatchMetrics"].is_array())
}

/// The `AllowedValues` of template.yaml's `LogLevel` parameter (the levels a deployment can
/// set as `ApplicationLogLevel`).
pub fn template_log_levels() -> Vec<String> {
    let template = std::fs::read_to_string(crate::workspace_root().join("template.yaml"))
        .expect("template.yaml");
    let mut lines = template.lines().skip_while(|l| l.trim() != "LogLevel:");
    let allowed = lines
        .find_map(|l| l.trim().strip_prefix("AllowedValues:"))
        .expect("LogLevel has AllowedValues");
    allowed
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|l| l.trim().to_owned())
        .collect()
}
