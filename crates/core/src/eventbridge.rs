//! The EventBridge events rotor's functions are invoked with: the envelope every event has,
//! the CloudTrail record inside an "AWS API Call via CloudTrail" event, and the one rule for
//! telling a secret's name from its ARN.
//!
//! CloudTrail events are hints: values are hidden, failed calls arrive too, delivery is best
//! effort. Only names are taken from them; the functions re-read the service.

use serde::Deserialize;
use serde_json::Value;

pub const SCHEDULED_EVENT: &str = "Scheduled Event";
pub const CLOUDTRAIL_CALL: &str = "AWS API Call via CloudTrail";

/// The fields every EventBridge event has.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "detail-type")]
    pub detail_type: Option<String>,
    pub source: Option<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub detail: Value,
}

impl Envelope {
    /// The envelope of `event`; `None` when it is not a JSON object with EventBridge's
    /// field types.
    pub fn read(event: &Value) -> Option<Self> {
        Self::deserialize(event).ok()
    }

    pub fn is_schedule(&self) -> bool {
        self.detail_type.as_deref() == Some(SCHEDULED_EVENT)
    }

    /// The CloudTrail record of an API-call event, or why its detail cannot be read: serde's
    /// message may quote a value, so only the position is kept.
    pub fn cloudtrail(&self) -> Result<CloudTrailDetail, DetailShapeError> {
        CloudTrailDetail::deserialize(&self.detail).map_err(|e| DetailShapeError {
            line: e.line(),
            column: e.column(),
        })
    }
}

/// A CloudTrail record whose fields are not of the types CloudTrail writes. Gives the
/// position only: serde's message may quote the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the CloudTrail record has an unexpected shape (line {line} column {column})")]
pub struct DetailShapeError {
    pub line: usize,
    pub column: usize,
}

/// The CloudTrail record in the `detail` of an "AWS API Call via CloudTrail" event. Every
/// field is optional: service events and old records omit some. Deliberately not `Debug`:
/// request parameters may hold a value the caller sent.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailDetail {
    #[serde(default)]
    pub event_source: Option<String>,
    #[serde(default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub response_elements: Option<Value>,
    #[serde(default)]
    pub additional_event_data: Option<Value>,
    #[serde(default)]
    pub user_identity: Option<Value>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default, rename = "eventID")]
    pub event_id: Option<String>,
}

impl CloudTrailDetail {
    /// The secret ARN in `responseElements`, in either spelling: before February 2024 some
    /// Secrets Manager events wrote `aRN`.
    pub fn response_arn(&self) -> Option<&str> {
        let r = self.response_elements.as_ref()?;
        non_empty(r, "arn").or_else(|| non_empty(r, "aRN"))
    }
}

/// A trimmed, non-empty string field of a JSON object.
pub fn non_empty<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The secret's name in a complete Secrets Manager ARN (`…:secret:<name>-AbCdEf`): what
/// precedes the hyphen and the six letters and digits Secrets Manager appends. `None` for
/// a name or for a partial ARN, where the last six characters may be part of the name
/// (`…:secret:prod/internal-signer`): those are resolved by reading the secret.
pub fn secret_name_from_arn(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("arn:")?;
    let (_, name_with_suffix) = rest.split_once(":secret:")?;
    let (name, suffix) = name_with_suffix.rsplit_once('-')?;
    let is_suffix = suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric());
    (is_suffix && !name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_arn_gives_the_name_without_the_random_suffix() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";
        assert_eq!(secret_name_from_arn(arn), Some("prod/db"));
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-a1B2c3";
        assert_eq!(secret_name_from_arn(arn), Some("rds!db-1234"));
    }

    #[test]
    fn names_and_arns_without_a_suffix_give_none() {
        assert_eq!(secret_name_from_arn("prod/db"), None);
        assert_eq!(
            secret_name_from_arn("arn:aws:secretsmanager:us-east-1:1:secret:prod/db"),
            None
        );
        // Six characters, but not letters and digits only: part of the name.
        assert_eq!(
            secret_name_from_arn("arn:aws:secretsmanager:us-east-1:1:secret:prod/a-b_c/de"),
            None
        );
        assert_eq!(
            secret_name_from_arn("arn:aws:secretsmanager:us-east-1:1:secret:-AbCdEf"),
            None
        );
        assert_eq!(
            secret_name_from_arn("arn:aws:ssm:us-east-1:1:parameter/x"),
            None
        );
    }

    #[test]
    fn envelopes_and_cloudtrail_records_are_read_field_by_field() {
        let event = json!({
            "source": "aws.secretsmanager",
            "detail-type": CLOUDTRAIL_CALL,
            "resources": ["r"],
            "detail": {"eventName": "PutSecretValue", "responseElements": {"aRN": "a"}}
        });
        let envelope = Envelope::read(&event).unwrap();
        assert!(!envelope.is_schedule());
        assert_eq!(envelope.resources, ["r"]);
        let detail = envelope.cloudtrail().unwrap();
        assert_eq!(detail.event_name.as_deref(), Some("PutSecretValue"));
        assert_eq!(detail.response_arn(), Some("a"));
        assert!(Envelope::read(&json!([1])).is_none());
        let odd = Envelope::read(&json!({"detail": {"eventName": ["secret-ish"]}})).unwrap();
        let problem = odd.cloudtrail().err().unwrap().to_string();
        assert!(!problem.contains("secret-ish"), "{problem}");
    }
}
