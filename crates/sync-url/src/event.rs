//! What woke the function: an EventBridge schedule (sync every pair) or a Secrets Manager
//! event naming a secret (sync the pairs whose source it is). Events are hints only: the
//! sync always re-reads both secrets.

use rotor_core::eventbridge::{Envelope, non_empty, secret_name_from_arn};
use serde_json::Value;

use crate::error::SyncError;

/// The Secrets Manager events after which a source may hold a new value.
pub const VALUE_EVENTS: [&str; 3] = [
    "RotationSucceeded",
    "PutSecretValue",
    "UpdateSecretVersionStage",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Sync every configured pair.
    Schedule,
    /// A value event about these secret ids (ARNs or names as the event gives them).
    SecretChanged {
        event_name: String,
        secret_ids: Vec<String>,
    },
    /// An event that needs no sync, and why.
    Ignored { event_name: String, reason: String },
}

impl Trigger {
    pub fn name(&self) -> &str {
        match self {
            Self::Schedule => "schedule",
            Self::SecretChanged { event_name, .. } | Self::Ignored { event_name, .. } => event_name,
        }
    }
}

/// Reads the event. Anything that is neither a schedule nor a Secrets Manager event is
/// an error, so a misconfigured rule shows up as failed invocations rather than silence.
pub fn classify(event: &Value) -> Result<Trigger, SyncError> {
    let envelope = Envelope::read(event)
        .ok_or_else(|| SyncError::Event("expected an EventBridge event".into()))?;
    let (Some(detail_type), Some(source)) = (&envelope.detail_type, &envelope.source) else {
        return Err(SyncError::Event(
            "expected an EventBridge event with `source` and `detail-type` (a schedule or a \
             Secrets Manager event)"
                .into(),
        ));
    };
    match (source.as_str(), detail_type.as_str()) {
        ("aws.events", "Scheduled Event") => Ok(Trigger::Schedule),
        ("aws.secretsmanager", _) => Ok(secrets_manager(&envelope)),
        _ => Err(SyncError::Event(format!(
            "`{detail_type}` from `{source}` is not a schedule or a Secrets Manager event"
        ))),
    }
}

fn secrets_manager(envelope: &Envelope) -> Trigger {
    let detail = envelope.cloudtrail().unwrap_or_default();
    let event_name = detail
        .event_name
        .clone()
        .unwrap_or_else(|| "unknown".into());
    if !VALUE_EVENTS.contains(&event_name.as_str()) {
        return Trigger::Ignored {
            reason: format!("`{event_name}` does not change a secret value"),
            event_name,
        };
    }
    if let Some(code) = &detail.error_code {
        return Trigger::Ignored {
            reason: format!("the call failed ({code}), so no value changed"),
            event_name,
        };
    }
    let mut secret_ids = Vec::new();
    let mut add = |v: Option<&str>| {
        if let Some(id) = v.filter(|s| !s.is_empty())
            && !secret_ids.iter().any(|s| s == id)
        {
            secret_ids.push(id.to_owned());
        }
    };
    add(detail.response_arn());
    add(field(&detail.request_parameters, "secretId"));
    add(field(&detail.additional_event_data, "SecretId"));
    for r in &envelope.resources {
        add(Some(r));
    }
    if secret_ids.is_empty() {
        return Trigger::Ignored {
            reason: "the event names no secret".into(),
            event_name,
        };
    }
    Trigger::SecretChanged {
        event_name,
        secret_ids,
    }
}

fn field<'a>(v: &'a Option<Value>, key: &str) -> Option<&'a str> {
    v.as_ref().and_then(|v| non_empty(v, key))
}

/// Whether the configured id and an id from an event name the same secret. Two full
/// ARNs must be equal; otherwise names are compared, a full ARN's name being what precedes
/// the six random characters Secrets Manager appends.
pub fn same_secret(configured: &str, mentioned: &str) -> bool {
    if configured == mentioned {
        return true;
    }
    match (
        secret_name_from_arn(configured),
        secret_name_from_arn(mentioned),
    ) {
        (Some(_), Some(_)) => false,
        (Some(name), None) => name == mentioned,
        (None, Some(name)) => name == configured,
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-AbCdEf";

    #[test]
    fn the_schedule_fixture_syncs_everything() {
        let event: Value =
            serde_json::from_str(include_str!("../../../events/sync-url-scheduled.json")).unwrap();
        assert_eq!(classify(&event).unwrap(), Trigger::Schedule);
    }

    #[test]
    fn the_rotation_fixture_names_the_source() {
        let event: Value = serde_json::from_str(include_str!(
            "../../../events/sync-url-rotation-succeeded.json"
        ))
        .unwrap();
        let Trigger::SecretChanged {
            event_name,
            secret_ids,
        } = classify(&event).unwrap()
        else {
            panic!("not a change")
        };
        assert_eq!(event_name, "RotationSucceeded");
        assert!(secret_ids.iter().any(|id| id.contains(":secret:rds!db-")));
    }

    #[test]
    fn the_put_secret_value_fixture_names_the_source_by_arn() {
        let event: Value = serde_json::from_str(include_str!(
            "../../../events/sync-url-put-secret-value.json"
        ))
        .unwrap();
        let Trigger::SecretChanged { secret_ids, .. } = classify(&event).unwrap() else {
            panic!("not a change")
        };
        assert!(secret_ids[0].starts_with("arn:aws:secretsmanager:"));
    }

    #[test]
    fn failed_calls_and_other_secrets_manager_events_are_ignored() {
        let failed = json!({"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail",
            "detail":{"eventName":"PutSecretValue","errorCode":"AccessDenied",
                      "requestParameters":{"secretId":ARN}}});
        assert!(matches!(
            classify(&failed).unwrap(),
            Trigger::Ignored { .. }
        ));
        let tag = json!({"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail",
            "detail":{"eventName":"TagResource","requestParameters":{"secretId":ARN}}});
        assert!(matches!(classify(&tag).unwrap(), Trigger::Ignored { .. }));
    }

    #[test]
    fn the_old_arn_spelling_is_read_too() {
        let event = json!({"source":"aws.secretsmanager","detail-type":"AWS API Call via CloudTrail",
            "detail":{"eventName":"UpdateSecretVersionStage","responseElements":{"aRN":ARN}}});
        assert_eq!(
            classify(&event).unwrap(),
            Trigger::SecretChanged {
                event_name: "UpdateSecretVersionStage".into(),
                secret_ids: vec![ARN.into()]
            }
        );
    }

    #[test]
    fn events_from_elsewhere_and_non_events_are_errors() {
        let ec2 = json!({"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}});
        assert!(classify(&ec2).unwrap_err().to_string().contains("aws.ec2"));
        assert!(classify(&json!({})).is_err());
        assert!(classify(&json!("hello")).is_err());
    }

    #[test]
    fn secret_ids_match_by_full_arn_or_by_name() {
        assert!(same_secret(ARN, ARN));
        assert!(same_secret(ARN, "rds!db-1234"));
        assert!(same_secret("rds!db-1234", ARN));
        assert!(!same_secret(ARN, "rds!db-12345"));
        assert!(!same_secret(
            ARN,
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf"
        ));
        assert!(!same_secret("app/url", "app/url2"));
    }
}
