//! The event Secrets Manager sends for each rotation step, parsed into rotor's own type.
//!
//! `aws_lambda_events`' rotation event has no `RotationToken`, which PutSecretValue needs
//! when the function rotates a secret through an assumed role or in another account.

use std::fmt;

use serde_json::Value;

/// One of the four rotation steps, in the order Secrets Manager calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    /// The name Secrets Manager uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"Step", "SecretId", "ClientRequestToken", "RotationToken"?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct RotationEvent {
    pub step: Step,
    /// The secret's ARN (or name).
    pub secret_id: String,
    /// The version id of the secret's AWSPENDING version for this rotation.
    pub token: String,
    /// Proof that Secrets Manager started this rotation; passed to every PutSecretValue.
    pub rotation_token: Option<String>,
}

/// The rotation token authorises writes: it never appears in Debug output or logs.
impl fmt::Debug for RotationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotationEvent")
            .field("step", &self.step)
            .field("secret_id", &self.secret_id)
            .field("token", &self.token)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// Why an event is not a rotation event. Names fields; quotes only an unknown `Step`
/// (shortened and escaped), never a token or an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("expected a JSON object with Step, SecretId and ClientRequestToken")]
    NotObject,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{0}` is empty")]
    Empty(&'static str),
    #[error("`{0}` contains non-printable characters")]
    NonPrintable(&'static str),
    #[error("`{0}` must be a string")]
    NotString(&'static str),
    #[error("unknown Step {0}; expected createSecret, setSecret, testSecret or finishSecret")]
    UnknownStep(String),
}

impl RotationEvent {
    /// Parses and checks an event.
    pub fn from_value(value: &Value) -> Result<Self, EventError> {
        let object = value.as_object().ok_or(EventError::NotObject)?;
        let step_name = required(object, "Step")?;
        let step =
            Step::parse(&step_name).ok_or_else(|| EventError::UnknownStep(shown(&step_name)))?;
        let secret_id = required(object, "SecretId")?;
        let token = required(object, "ClientRequestToken")?;
        let rotation_token = match object.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(_) => Some(required(object, "RotationToken")?),
        };
        Ok(Self {
            step,
            secret_id,
            token,
            rotation_token,
        })
    }
}

fn required(
    object: &serde_json::Map<String, Value>,
    key: &'static str,
) -> Result<String, EventError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(EventError::Missing(key)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(EventError::Empty(key)),
        Some(Value::String(s)) if s.chars().any(|c| c.is_control()) => {
            Err(EventError::NonPrintable(key))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(EventError::NotString(key)),
    }
}

/// A short, escaped rendering of an untrusted value for an error message.
fn shown(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(40)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().count() > 40 {
        out.push('…');
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(step: &str) -> Value {
        json!({"Step": step, "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
               "ClientRequestToken": "c0ffee00-0000-4000-8000-000000000001"})
    }

    #[test]
    fn the_four_steps_parse_and_round_trip_their_names() {
        for step in Step::ALL {
            let parsed = RotationEvent::from_value(&event(step.as_str())).unwrap();
            assert_eq!(parsed.step, step);
            assert_eq!(parsed.rotation_token, None);
        }
    }

    #[test]
    fn the_rotation_token_is_kept_but_never_shown() {
        let mut v = event("setSecret");
        v["RotationToken"] = json!("rt-very-private");
        let parsed = RotationEvent::from_value(&v).unwrap();
        assert_eq!(parsed.rotation_token.as_deref(), Some("rt-very-private"));
        assert!(!format!("{parsed:?}").contains("rt-very-private"));
    }

    #[test]
    fn an_unknown_step_is_named_with_the_allowed_ones() {
        let err = RotationEvent::from_value(&event("deleteSecret"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"deleteSecret\""), "{err}");
        assert!(err.contains("createSecret, setSecret, testSecret or finishSecret"));
        let err = RotationEvent::from_value(&event("createsecret"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown Step"),
            "step names are case-sensitive: {err}"
        );
    }

    #[test]
    fn missing_empty_non_string_and_non_printable_fields_are_refused_by_name() {
        let mut v = event("setSecret");
        v.as_object_mut().unwrap().remove("SecretId");
        assert_eq!(
            RotationEvent::from_value(&v).unwrap_err().to_string(),
            "`SecretId` is missing"
        );
        let mut v = event("setSecret");
        v["ClientRequestToken"] = json!("  ");
        assert_eq!(
            RotationEvent::from_value(&v).unwrap_err().to_string(),
            "`ClientRequestToken` is empty"
        );
        let mut v = event("setSecret");
        v["SecretId"] = json!(42);
        assert_eq!(
            RotationEvent::from_value(&v).unwrap_err().to_string(),
            "`SecretId` must be a string"
        );
        let mut v = event("setSecret");
        v["ClientRequestToken"] = json!("abc\u{0}def");
        assert!(
            RotationEvent::from_value(&v)
                .unwrap_err()
                .to_string()
                .contains("non-printable")
        );
        let mut v = event("setSecret");
        v["RotationToken"] = json!("");
        assert_eq!(
            RotationEvent::from_value(&v).unwrap_err().to_string(),
            "`RotationToken` is empty"
        );
        assert!(RotationEvent::from_value(&json!([1])).is_err());
    }

    #[test]
    fn a_hostile_step_value_is_escaped_and_shortened_in_the_error() {
        let err =
            RotationEvent::from_value(&event(&format!("x\"{}", "y".repeat(100)))).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("\"x\\\"yyy"), "{err}");
        assert!(err.contains('…'), "{err}");
    }
}
