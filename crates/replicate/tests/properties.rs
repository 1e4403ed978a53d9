//! Properties of rotor-replicate's parsers over arbitrary input, through its public API:
//! the EventBridge / CloudTrail event, parameter and secret names from ARNs, and the
//! settings. None panics; every error is typed and holds no part of a value the caller
//! sent (CloudTrail's `requestParameters` may carry one).
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `scripts/proptest-campaign.sh`
//! runs millions.

use std::sync::LazyLock;

use proptest::prelude::*;
use rotor_core::config::Settings;
use rotor_replicate::Config;
use rotor_replicate::event::{self, Trigger, parameter_names, secret_name};
use rotor_testkit::props::{Hidden, assert_no_secret, config, json_value, plain, secret};
use serde_json::{Value, json};

const OWN_ROLE: &str = "arn:aws:iam::123456789012:role/rotor-replicate";

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    Config::from_settings(&Settings::from_pairs(&[
        ("SOURCE_REGION", "us-east-1"),
        ("TARGET_REGIONS", "us-west-2,eu-west-1"),
        ("PARAMETER_INCLUDE_PREFIXES", "/app/,app"),
        ("SECRET_INCLUDE_PREFIXES", "prod/,app"),
        ("OWN_ROLE_ARN", OWN_ROLE),
    ]))
    .expect("a valid configuration")
});

/// An "AWS API Call via CloudTrail" event of SSM or Secrets Manager in which every place
/// a caller's value can appear (`value`, `secretString`, `errorMessage`, tag values)
/// holds a secret value.
fn cloudtrail_event() -> impl Strategy<Value = Value> {
    let name = plain(
        "/app/[a-z/]{1,12}|app[a-z]{0,5}|/other/[a-z]{1,5}|arn:aws:ssm:us-east-1:123456789012:parameter/(app/)?[a-z/]{1,10}|prod/[a-z]{1,8}|arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/[a-z]{1,8}-[A-Za-z]{6}|\\PC{0,10}",
    )
    .boxed();
    (
        prop::sample::select(vec!["ssm.amazonaws.com", "secretsmanager.amazonaws.com", "kms.amazonaws.com"]),
        plain("PutParameter|DeleteParameter|DeleteParameters|LabelParameterVersion|AddTagsToResource|RemoveTagsFromResource|CreateSecret|PutSecretValue|TagResource|UntagResource|ReplicateSecretToRegions|RemoveRegionsFromReplication|RestoreSecret|DeleteSecret|\\PC{0,10}"),
        prop::sample::select(vec!["us-east-1", "us-west-2", ""]),
        prop::option::of(plain("ValidationException|\\PC{0,8}")),
        prop::option::of(name.clone()),
        prop::collection::vec(name.clone(), 0..3),
        prop::option::of(name),
        prop::sample::select(vec![OWN_ROLE, "arn:aws:iam::123456789012:role/someone"]),
        secret(),
        prop::sample::select(vec!["Parameter", "Document"]),
    )
        .prop_map(
            |(source, event_name, region, error, name, names, arn, issuer, value, resource_type)| {
                json!({
                    "version": "0",
                    "detail-type": "AWS API Call via CloudTrail",
                    "source": "aws.ssm",
                    "detail": {
                        "eventSource": source,
                        "eventName": event_name,
                        "awsRegion": region,
                        "errorCode": error,
                        "errorMessage": format!("replica {value}"),
                        "userAgent": value.clone(),
                        "userIdentity": {"sessionContext": {"sessionIssuer": {"arn": issuer}}},
                        "requestParameters": {
                            "name": name.clone(),
                            "names": names,
                            "secretId": name.clone(),
                            "resourceId": name,
                            "resourceType": resource_type,
                            "value": value.clone(),
                            "secretString": value.clone(),
                            "tags": [{"key": "k", "value": value.clone()}],
                        },
                        "responseElements": {"arn": arn.clone(), "aRN": arn},
                    }
                })
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn event_classification_never_panics_on_any_json(value in json_value("Scheduled Event|AWS API Call via CloudTrail|(ssm|secretsmanager)\\.amazonaws\\.com|us-east-1", "\\PC{0,8}|detail-type|source|detail|eventName|eventSource|awsRegion|requestParameters|name|names|secretId")) {
        if let Err(e) = event::classify(&value, &CONFIG) {
            let _: &dyn std::error::Error = &e;
            let _ = format!("{e} {e:?}");
        }
    }

    #[test]
    fn a_cloudtrail_detail_of_any_shape_never_panics(detail in json_value("Scheduled Event|AWS API Call via CloudTrail|(ssm|secretsmanager)\\.amazonaws\\.com|us-east-1", "\\PC{0,8}|detail-type|source|detail|eventName|eventSource|awsRegion|requestParameters|name|names|secretId")) {
        let value = json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ssm", "detail": detail});
        let _ = event::classify(&value, &CONFIG);
    }

    #[test]
    fn classification_never_repeats_a_value_the_caller_sent(
        Hidden(value) in cloudtrail_event().prop_map(Hidden)
    ) {
        match event::classify(&value, &CONFIG) {
            Ok(trigger) => {
                assert_no_secret(&format!("{trigger:?}"))?;
                match &trigger {
                    Trigger::Parameters { names, .. } => {
                        prop_assert!(!names.is_empty());
                        prop_assert!(names.iter().all(|n| CONFIG.parameters.contains(n)), "only names in scope");
                    }
                    Trigger::Secret { id, .. } => prop_assert!(!id.is_empty()),
                    Trigger::FullSync => prop_assert!(false, "a CloudTrail event is not a full sync"),
                    Trigger::Ignore { .. } => {}
                }
                let own = value.pointer("/detail/userIdentity/sessionContext/sessionIssuer/arn")
                    == Some(&json!(OWN_ROLE));
                if own {
                    prop_assert!(matches!(trigger, Trigger::Ignore { .. }), "the function's own calls are ignored");
                }
            }
            Err(e) => assert_no_secret(&format!("{e} {e:?}"))?,
        }
    }

    #[test]
    fn parameter_and_secret_names_from_arns_never_panic(
        name in plain("\\PC{0,30}|arn:aws:ssm:[a-z0-9-]{0,12}:[0-9]{0,12}:parameter/\\PC{0,12}|arn:aws:secretsmanager:[a-z0-9-]{0,12}:[0-9]{0,12}:secret:\\PC{0,12}(-[A-Za-z0-9]{6})?"),
    ) {
        let names = parameter_names(&name);
        prop_assert!(!names.is_empty() && names.len() <= 2);
        if !name.starts_with("arn:") {
            prop_assert_eq!(names, vec![name.clone()]);
        }
        let secret = secret_name(&name);
        prop_assert!(name.contains(secret.as_str()));
    }

    #[test]
    fn settings_never_panic_and_every_error_names_its_variable(
        values in prop::collection::vec(
            prop::option::of(plain("\\PC{0,10}|[a-z]{2}-[a-z]{2,9}-[0-9]|([a-z]{2}-[a-z]{2,9}-[0-9],?){0,3}|[a-z]{2}-[a-z]{4}-[0-9]=(alias/[a-z]{1,5})?|[0-9]{1,4}|(?i)(true|false)|/[a-z]{1,4}/")),
            15,
        ),
    ) {
        const VARS: [&str; 15] = [
            "SOURCE_REGION", "AWS_REGION", "TARGET_REGIONS", "TARGET_KMS_KEYS", "MAX_CONCURRENCY",
            "AWS_MAX_ATTEMPTS", "SNS_TOPIC_ARN", "PARAMETER_INCLUDE_PREFIXES",
            "PARAMETER_EXCLUDE_PREFIXES", "SECRET_INCLUDE_PREFIXES", "SECRET_EXCLUDE_PREFIXES",
            "ALLOW_AWS_MANAGED_KEY", "DRY_RUN", "DEADLINE_MARGIN_SECONDS", "OWN_ROLE_ARN",
        ];
        let pairs: Vec<(&str, &str)> = VARS
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        match Config::from_settings(&Settings::from_pairs(&pairs)) {
            Ok(c) => {
                prop_assert!(!c.target_regions.is_empty());
                prop_assert!(!c.target_regions.contains(&c.source_region));
                prop_assert!((1..=64).contains(&c.concurrency));
            }
            Err(e) => {
                let known = VARS.contains(&e.var.as_str())
                    || ["METRICS_NAMESPACE", "STACK_NAME", "SECRETS_MANAGER_ENDPOINT"].contains(&e.var.as_str());
                prop_assert!(known, "the error names a setting: {}", e.var);
            }
        }
    }
}
