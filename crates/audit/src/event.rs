//! The moment an audit is "as of": the scheduled event's `time`, so a replayed event
//! audits as of its own moment; the clock when the invoke carries no time.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::EventError;

/// Reads `time` from an EventBridge event (or any object with that field). `Ok(None)`
/// when the event has none; an error when it has one that is not an RFC 3339 timestamp.
pub fn as_of(event: &Value) -> Result<Option<DateTime<Utc>>, EventError> {
    match event.get("time") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|source| EventError::TimeNotRfc3339 {
                value: s.clone(),
                source,
            }),
        Some(other) => Err(EventError::TimeNotString { found: kind(other) }),
    }
}

/// The event's `id`, logged to tie the run to its trigger.
pub fn id(event: &Value) -> Option<&str> {
    event.get("id").and_then(Value::as_str)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_scheduled_events_time_is_the_audit_moment() {
        let t = as_of(&json!({"time": "2027-03-04T06:00:00Z", "detail": {}})).unwrap();
        assert_eq!(t.unwrap().to_rfc3339(), "2027-03-04T06:00:00+00:00");
    }

    #[test]
    fn an_invoke_without_time_uses_the_clock() {
        assert_eq!(as_of(&json!({})).unwrap(), None);
        assert_eq!(as_of(&Value::Null).unwrap(), None);
    }

    #[test]
    fn a_bad_time_is_an_error_naming_the_field() {
        assert!(
            as_of(&json!({"time": "yesterday"}))
                .unwrap_err()
                .to_string()
                .contains("time")
        );
        assert!(
            as_of(&json!({"time": 5}))
                .unwrap_err()
                .to_string()
                .contains("a number")
        );
    }

    #[test]
    fn a_bad_time_keeps_the_parse_error_as_its_cause_and_a_stable_error_type() {
        use rotor_core::error::ErrorType;
        use std::error::Error as _;

        let err = as_of(&json!({"time": "yesterday"})).unwrap_err();
        assert!(matches!(err, EventError::TimeNotRfc3339 { .. }));
        assert!(err.source().is_some(), "the chrono parse error is kept");
        assert_eq!(err.error_type(), "Rotor.InvalidEvent");
        let wrapped = crate::Error::from(err);
        assert_eq!(wrapped.error_type(), "Rotor.InvalidEvent");
        assert!(wrapped.source().is_some());
    }
}
