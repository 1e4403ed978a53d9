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

impl RotationEvent {
    /// Parses and checks an event. Every problem is reported with the field's name; values
    /// are quoted only for `Step` (shortened and escaped), never for tokens.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let object = value
            .as_object()
            .ok_or("expected a JSON object with Step, SecretId and ClientRequestToken")?;
        let step_name = required(object, "Step")?;
        let step = Step::parse(&step_name).ok_or_else(|| {
            format!(
                "unknown Step {}; expected createSecret, setSecret, testSecret or finishSecret",
                shown(&step_name)
            )
        })?;
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

fn required(object: &serde_json::Map<String, Value>, key: &str) -> Result<String, String> {
    match object.get(key) {
        None | Some(Value::Null) => Err(format!("`{key}` is missing")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("`{key}` is empty")),
        Some(Value::String(s)) if s.chars().any(|c| c.is_control()) => {
            Err(format!("`{key}` contains non-printable characters"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("`{key}` must be a string")),
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
        let err = RotationEvent::from_value(&event("deleteSecret")).unwrap_err();
        assert!(err.contains("\"deleteSecret\""), "{err}");
        assert!(err.contains("createSecret, setSecret, testSecret or finishSecret"));
        let err = RotationEvent::from_value(&event("createsecret")).unwrap_err();
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
            RotationEvent::from_value(&v).unwrap_err(),
            "`SecretId` is missing"
        );
        let mut v = event("setSecret");
        v["ClientRequestToken"] = json!("  ");
        assert_eq!(
            RotationEvent::from_value(&v).unwrap_err(),
            "`ClientRequestToken` is empty"
        );
        let mut v = event("setSecret");
        v["SecretId"] = json!(42);
        assert_eq!(
            RotationEvent::from_value(&v).unwrap_err(),
            "`SecretId` must be a string"
        );
        let mut v = event("setSecret");
        v["ClientRequestToken"] = json!("abc\u{0}def");
        assert!(
            RotationEvent::from_value(&v)
                .unwrap_err()
                .contains("non-printable")
        );
        let mut v = event("setSecret");
        v["RotationToken"] = json!("");
        assert_eq!(
            RotationEvent::from_value(&v).unwrap_err(),
            "`RotationToken` is empty"
        );
        assert!(RotationEvent::from_value(&json!([1])).is_err());
    }

    #[test]
    fn a_hostile_step_value_is_escaped_and_shortened_in_the_error() {
        let err =
            RotationEvent::from_value(&event(&format!("x\"{}", "y".repeat(100)))).unwrap_err();
        assert!(err.contains("\"x\\\"yyy"), "{err}");
        assert!(err.contains('…'), "{err}");
    }
}
