//! The events the function is invoked with, reduced to what to do: a full sync, a set of
//! parameter names or a secret to converge, or nothing (with the reason).
//!
//! CloudTrail events are hints only: their values are hidden, `type` is missing on
//! overwrite, failed calls arrive too. The handler re-reads the source and converges the
//! targets to it, so only names are taken from an event.

use rotor_core::eventbridge::{
    CLOUDTRAIL_CALL, DetailShapeError, Envelope, SCHEDULED_EVENT, non_empty, secret_name_from_arn,
};
use serde_json::Value;

use crate::config::Config;

pub use rotor_core::eventbridge::CloudTrailDetail;

/// What an invocation is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Converge everything in scope (the daily schedule, or a continuation).
    FullSync,
    /// Converge these parameters (names as given; out-of-scope ones already removed).
    Parameters {
        api_call: String,
        names: Vec<String>,
    },
    /// Converge this secret's replication (a name or an ARN).
    Secret { api_call: String, id: String },
    /// Do nothing; the reason is logged and reported.
    Ignore {
        api_call: Option<String>,
        reason: String,
    },
}

/// Why an event could not be understood. Never holds event content beyond field names and
/// the event's own `detail-type` and `source`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event is not an EventBridge event (no detail-type)")]
    NotEventBridge,
    #[error("CloudTrail detail has an unexpected shape: {0}")]
    Shape(#[from] DetailShapeError),
    #[error(
        "unsupported event: detail-type `{detail_type}` from `{from}` (expected \"{SCHEDULED_EVENT}\" or \"{CLOUDTRAIL_CALL}\")"
    )]
    Unsupported { detail_type: String, from: String },
}

/// Decides what an event asks for.
pub fn classify(event: &Value, config: &Config) -> Result<Trigger, EventError> {
    let envelope = Envelope::read(event).ok_or(EventError::NotEventBridge)?;
    match envelope.detail_type.as_deref() {
        None => Err(EventError::NotEventBridge),
        Some(SCHEDULED_EVENT) => Ok(Trigger::FullSync),
        Some(CLOUDTRAIL_CALL) => Ok(classify_call(&envelope.cloudtrail()?, config)),
        Some(other) => Err(EventError::Unsupported {
            detail_type: other.to_owned(),
            from: envelope.source.clone().unwrap_or_default(),
        }),
    }
}

fn ignore(api_call: &str, reason: impl Into<String>) -> Trigger {
    Trigger::Ignore {
        api_call: Some(api_call.to_owned()),
        reason: reason.into(),
    }
}

fn classify_call(d: &CloudTrailDetail, config: &Config) -> Trigger {
    let api_call = d.event_name.clone().unwrap_or_default();
    if let Some(code) = &d.error_code {
        let mut reason = format!("the call failed ({code}); nothing changed in the source");
        if api_call == "DeleteSecret"
            && d.error_message.as_deref().unwrap_or("").contains("replica")
        {
            reason.push_str(
                "; a secret with replicas is deleted by tagging it rotor:replicate=false first (see README)",
            );
        }
        return ignore(&api_call, reason);
    }
    let region = d.aws_region.as_deref().unwrap_or("");
    if region != config.source_region {
        return ignore(
            &api_call,
            format!("the call was made in {region}, not in the source region"),
        );
    }
    if let Some(reason) = own_call(d, config) {
        return ignore(&api_call, reason);
    }
    let params = d.request_parameters.as_ref().unwrap_or(&Value::Null);
    match d.event_source.as_deref().unwrap_or("") {
        "ssm.amazonaws.com" => {
            let names: Vec<String> = match api_call.as_str() {
                "PutParameter" | "DeleteParameter" | "LabelParameterVersion" => {
                    string(params, "name").into_iter().collect()
                }
                "DeleteParameters" => params
                    .get("names")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                "AddTagsToResource" | "RemoveTagsFromResource" => {
                    if string(params, "resourceType").as_deref() != Some("Parameter") {
                        return ignore(&api_call, "the tagged resource is not a parameter");
                    }
                    string(params, "resourceId").into_iter().collect()
                }
                _ => return ignore(&api_call, "not a call that changes parameters"),
            };
            if names.is_empty() {
                return ignore(&api_call, "the event names no parameter");
            }
            let names: Vec<String> = names
                .iter()
                .flat_map(|n| parameter_names(n))
                .filter(|n| config.parameters.contains(n))
                .collect();
            if names.is_empty() {
                return ignore(&api_call, "the parameter is out of scope");
            }
            Trigger::Parameters { api_call, names }
        }
        "secretsmanager.amazonaws.com" => match api_call.as_str() {
            "CreateSecret"
            | "TagResource"
            | "UntagResource"
            | "ReplicateSecretToRegions"
            | "RemoveRegionsFromReplication"
            | "RestoreSecret" => {
                let name = string(params, "name")
                    .or_else(|| string(params, "secretId"))
                    .unwrap_or_default();
                // Before 2024 Secrets Manager wrote `aRN` in responseElements.
                let arn = d
                    .response_elements
                    .as_ref()
                    .and_then(|r| string(r, "arn").or_else(|| string(r, "aRN")));
                if name.is_empty() && arn.is_none() {
                    return ignore(&api_call, "the event names no secret");
                }
                // A plain name is the secret's real name: scope it now. An ARN is scoped
                // once the secret is read, by the name Secrets Manager gives it: whether a
                // partial ARN's last six characters are the random suffix cannot be told
                // from the ARN (`prod/internal-signer` is not `prod/internal`).
                if !name.is_empty() && !name.starts_with("arn:") && !config.secrets.contains(&name)
                {
                    return ignore(&api_call, "the secret is out of scope");
                }
                let id = arn.unwrap_or(name);
                Trigger::Secret { api_call, id }
            }
            "DeleteSecret" => ignore(
                &api_call,
                "a deleted secret's replicas are deleted with it; nothing to replicate",
            ),
            _ => ignore(&api_call, "not a call that changes what is replicated"),
        },
        other => ignore(&api_call, format!("events from `{other}` are not handled")),
    }
}

/// Events caused by the function's own writes: those its own role made. Never decided by
/// the user agent, which any caller can set (`app/rotor-replicate` in it would otherwise
/// suppress replication of that caller's change).
fn own_call(d: &CloudTrailDetail, config: &Config) -> Option<&'static str> {
    let issuer = d
        .user_identity
        .as_ref()
        .and_then(|u| u.pointer("/sessionContext/sessionIssuer/arn"))
        .and_then(Value::as_str);
    match (issuer, &config.own_role_arn) {
        (Some(issuer), Some(own)) if issuer == own => {
            Some("the call was made by this function's own role")
        }
        _ => None,
    }
}

fn string(v: &Value, key: &str) -> Option<String> {
    non_empty(v, key).map(str::to_owned)
}

/// A parameter named by name or by ARN. An ARN's `parameter/x` stands for `x` or `/x`
/// (both names have that ARN); converging both is safe because converging a name that
/// has no source only removes replicas this function wrote.
pub fn parameter_names(name: &str) -> Vec<String> {
    match name
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":parameter/"))
    {
        None => vec![name.to_owned()],
        Some((_, path)) if path.contains('/') => vec![format!("/{path}")],
        Some((_, path)) => vec![path.to_owned(), format!("/{path}")],
    }
}

/// A secret's name for messages: a complete ARN's name without the random suffix, else the
/// id as given. (Scope is decided by the name read from Secrets Manager.)
pub fn secret_name(id: &str) -> String {
    secret_name_from_arn(id).unwrap_or(id).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotor_core::config::Settings;
    use serde_json::json;

    fn config() -> Config {
        Config::from_settings(&Settings::from_pairs(&[
            ("SOURCE_REGION", "us-east-1"),
            ("TARGET_REGIONS", "us-west-2,eu-west-1"),
            ("PARAMETER_EXCLUDE_PREFIXES", "/local/"),
            ("SECRET_INCLUDE_PREFIXES", "prod/"),
            (
                "OWN_ROLE_ARN",
                "arn:aws:iam::123456789012:role/rotor-replicate",
            ),
        ]))
        .unwrap()
    }

    fn call(source: &str, name: &str, detail: Value) -> Value {
        let mut d = json!({
            "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
            "userAgent": "aws-cli/2.15.0", "eventID": "e1",
        });
        d.as_object_mut()
            .unwrap()
            .extend(detail.as_object().unwrap().clone());
        json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ssm", "detail": d})
    }

    #[test]
    fn a_put_parameter_event_names_the_parameter() {
        let e = call(
            "ssm.amazonaws.com",
            "PutParameter",
            json!({"requestParameters": {"name": "/app/x", "value": "HIDDEN_DUE_TO_SECURITY_REASONS"}}),
        );
        assert_eq!(
            classify(&e, &config()).unwrap(),
            Trigger::Parameters {
                api_call: "PutParameter".into(),
                names: vec!["/app/x".into()]
            }
        );
    }

    #[test]
    fn delete_parameters_keeps_only_in_scope_names() {
        let e = call(
            "ssm.amazonaws.com",
            "DeleteParameters",
            json!({"requestParameters": {"names": ["/a", "/local/b", "/c"]}}),
        );
        let Trigger::Parameters { names, .. } = classify(&e, &config()).unwrap() else {
            panic!()
        };
        assert_eq!(names, ["/a", "/c"]);
    }

    #[test]
    fn failed_foreign_own_and_out_of_scope_calls_are_ignored() {
        let c = config();
        let failed = call(
            "ssm.amazonaws.com",
            "PutParameter",
            json!({"errorCode": "AccessDenied", "requestParameters": {"name": "/a"}}),
        );
        let foreign = {
            let mut e = call(
                "ssm.amazonaws.com",
                "PutParameter",
                json!({"requestParameters": {"name": "/a"}}),
            );
            e["detail"]["awsRegion"] = json!("us-west-2");
            e
        };
        let by_agent = call(
            "ssm.amazonaws.com",
            "PutParameter",
            json!({"userAgent": "aws-sdk-rust/1.3 app/rotor-replicate", "requestParameters": {"name": "/a"}}),
        );
        let by_role = call(
            "ssm.amazonaws.com",
            "PutParameter",
            json!({"requestParameters": {"name": "/a"},
            "userIdentity": {"sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/rotor-replicate"}}}}),
        );
        let out_of_scope = call(
            "ssm.amazonaws.com",
            "PutParameter",
            json!({"requestParameters": {"name": "/local/a"}}),
        );
        let tagged_document = call(
            "ssm.amazonaws.com",
            "AddTagsToResource",
            json!({"requestParameters": {"resourceType": "Document", "resourceId": "d"}}),
        );
        // Anyone can send rotor's user agent: it suppresses nothing.
        assert!(matches!(
            classify(&by_agent, &c).unwrap(),
            Trigger::Parameters { .. }
        ));
        for e in [failed, foreign, by_role, out_of_scope, tagged_document] {
            assert!(
                matches!(classify(&e, &c).unwrap(), Trigger::Ignore { .. }),
                "{e}"
            );
        }
    }

    #[test]
    fn create_secret_uses_the_arn_in_either_spelling() {
        let c = config();
        for key in ["arn", "aRN"] {
            let e = call(
                "secretsmanager.amazonaws.com",
                "CreateSecret",
                json!({
                "requestParameters": {"name": "prod/db"},
                "responseElements": {key: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"}}),
            );
            assert_eq!(
                classify(&e, &c).unwrap(),
                Trigger::Secret {
                    api_call: "CreateSecret".into(),
                    id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
                        .into()
                }
            );
        }
        let e = call(
            "secretsmanager.amazonaws.com",
            "CreateSecret",
            json!({"requestParameters": {"name": "dev/db"}}),
        );
        assert!(matches!(classify(&e, &c).unwrap(), Trigger::Ignore { .. }));
    }

    #[test]
    fn unknown_events_are_errors_and_schedules_are_full_syncs() {
        let c = config();
        assert!(classify(&json!({"hello": "world"}), &c).is_err());
        assert!(
            classify(
                &json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}),
                &c
            )
            .is_err()
        );
        assert_eq!(
            classify(
                &json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
                &c
            )
            .unwrap(),
            Trigger::FullSync
        );
    }

    #[test]
    fn parameter_arns_and_secret_arns_resolve_to_names() {
        assert_eq!(
            parameter_names("arn:aws:ssm:us-east-1:1:parameter/a/b"),
            ["/a/b"]
        );
        assert_eq!(
            parameter_names("arn:aws:ssm:us-east-1:1:parameter/top"),
            ["top", "/top"]
        );
        assert_eq!(parameter_names("/a/b"), ["/a/b"]);
        assert_eq!(
            secret_name("arn:aws:secretsmanager:us-east-1:1:secret:prod/db-AbCdEf"),
            "prod/db"
        );
        assert_eq!(secret_name("prod/db"), "prod/db");
    }
}
