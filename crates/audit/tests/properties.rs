//! Properties of rotor-audit's parsers over arbitrary input: the EventBridge event's `time`
//! and `id`, the settings (prefix rules included) and the per-secret `rotor:` tags. None
//! panics, every error is typed and names its setting, and what parses means what it says.
//! The audit never reads a secret value (no GetSecretValue), so no input here carries one.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `scripts/proptest-campaign.sh`
//! runs millions.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use proptest::prelude::*;
use rotor_audit::Config;
use rotor_audit::event::{as_of, id};
use rotor_audit::policy::{
    Policy, TAG_AUDIT, TAG_CUSTOMER_KEY, TAG_MAX_AGE, TAG_MAX_INTERVAL, TAG_UNUSED,
};
use rotor_core::config::Settings;
use rotor_testkit::props::config;
use serde_json::{Value, json};

/// Arbitrary JSON, any shape, any Unicode.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    "\\PC{0,8}|time|id|prefix|max_age_days|unused_days|max_rotation_interval_days|require_customer_key|skip",
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A time EventBridge could send: 1970 to 2200, any second, any offset.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..7_258_118_400, 0u32..1_000_000_000).prop_map(|(s, ns)| Utc.timestamp_opt(s, ns).unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_event_time_and_id_never_panic_on_any_json(value in json_value()) {
        if let Err(problem) = as_of(&value) {
            prop_assert!(problem.to_string().contains("time"), "the error names the field");
        }
        if let Some(event_id) = id(&value) {
            prop_assert_eq!(Some(event_id), value.get("id").and_then(Value::as_str));
        }
    }

    #[test]
    fn an_rfc_3339_time_is_read_as_the_instant_it_names(
        at in instant(),
        offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59),
        format in prop::sample::select(vec![SecondsFormat::Secs, SecondsFormat::Millis, SecondsFormat::Nanos, SecondsFormat::AutoSi]),
        zulu in any::<bool>(),
    ) {
        let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
        let text = at.with_timezone(&offset).to_rfc3339_opts(format, zulu);
        let read = as_of(&json!({ "time": text }))
            .map_err(|_| TestCaseError::fail("an RFC 3339 time is accepted"))?
            .ok_or_else(|| TestCaseError::fail("the time is read"))?;
        let expected = match format {
            SecondsFormat::Secs => at.timestamp_nanos_opt().map(|n| n - n.rem_euclid(1_000_000_000)),
            SecondsFormat::Millis => at.timestamp_nanos_opt().map(|n| n - n.rem_euclid(1_000_000)),
            _ => at.timestamp_nanos_opt(),
        };
        prop_assert_eq!(read.timestamp_nanos_opt(), expected);
    }

    #[test]
    fn settings_never_panic_and_every_error_names_its_variable(
        values in prop::collection::vec(
            prop::option::of("\\PC{0,10}|[0-9]{1,11}|(?i)(true|false|always|findings)|(!?[a-z/]{0,6},?){0,3}|arn:aws:sns:us-east-1:123456789012:[a-z]{1,6}"),
            12,
        ),
        rules in prop::option::of(prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            prop::collection::vec(
                ("[a-z/]{0,8}", prop::option::of(0u32..400), prop::option::of(0u32..400), prop::option::of(any::<bool>())),
                0..4,
            )
            .prop_map(|rules| {
                Value::Array(rules.into_iter().map(|(prefix, age, unused, skip)| {
                    json!({"prefix": prefix, "max_age_days": age, "unused_days": unused, "skip": skip})
                }).collect()).to_string()
            }),
        ]),
    ) {
        const VARS: [&str; 12] = [
            "PREFIXES", "ENVIRONMENT", "MAX_AGE_DAYS", "UNUSED_DAYS", "MAX_ROTATION_INTERVAL_DAYS",
            "REQUIRE_CUSTOMER_KEY", "REPORT", "SNS_TOPIC_ARN", "AUTO_ROTATE", "DRY_RUN",
            "AUDIT_PARAMETERS", "STACK_NAME",
        ];
        let mut pairs: Vec<(&str, &str)> = VARS
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        if let Some(rules) = &rules {
            pairs.push(("POLICY_RULES", rules.as_str()));
        }
        match Config::from_settings(&Settings::from_pairs(&pairs)) {
            Ok(c) => {
                prop_assert!(c.defaults.max_age_days >= 1 && c.defaults.unused_days >= 1);
                prop_assert!(c.prefixes.iter().all(|p| !p.starts_with('!')));
                for rule in &c.rules {
                    prop_assert!(rule.patch.max_age_days != Some(0) && rule.patch.unused_days != Some(0));
                }
                prop_assert!(c.rules.windows(2).all(|w| w[0].prefix.len() >= w[1].prefix.len()),
                    "the longest prefix comes first");
            }
            Err(e) => {
                let _: &dyn std::error::Error = &e;
                let known = VARS.contains(&e.var.as_str())
                    || ["POLICY_RULES", "METRICS_NAMESPACE", "SECRETS_MANAGER_ENDPOINT"].contains(&e.var.as_str());
                prop_assert!(known, "the error names a setting: {}", e.var);
            }
        }
    }

    #[test]
    fn tags_override_the_policy_or_are_reported_never_half_applied(
        tags in prop::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(vec![TAG_AUDIT, TAG_MAX_AGE, TAG_UNUSED, TAG_MAX_INTERVAL, TAG_CUSTOMER_KEY, "rotor:other", "team"])
                        .prop_map(str::to_owned),
                    "\\PC{0,12}",
                ],
                "\\PC{0,8}|[ ]?[0-9]{1,11}[ ]?|(?i)(skip|audit|true|false|yes|no)",
            ),
            0..6,
        ),
    ) {
        let defaults = Policy {
            max_age_days: 90,
            unused_days: 90,
            max_rotation_interval_days: None,
            require_customer_key: false,
            skip: false,
        };
        let (policy, problems) = defaults.with_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let known = [TAG_AUDIT, TAG_MAX_AGE, TAG_UNUSED, TAG_MAX_INTERVAL, TAG_CUSTOMER_KEY];
        prop_assert!(problems.iter().all(|p| known.contains(&p.key.as_str())), "only rotor's own tags are judged");
        prop_assert!(policy.max_age_days >= 1 && policy.unused_days >= 1);
        prop_assert!(policy.max_rotation_interval_days != Some(0));
        // The last usable value of a tag wins; an unusable one leaves what was there.
        let last_days = |key: &str, default: u32| {
            tags.iter()
                .filter(|(k, _)| k == key)
                .filter_map(|(_, v)| v.trim().parse::<u32>().ok().filter(|d| *d > 0))
                .next_back()
                .unwrap_or(default)
        };
        prop_assert_eq!(policy.max_age_days, last_days(TAG_MAX_AGE, 90));
        prop_assert_eq!(policy.unused_days, last_days(TAG_UNUSED, 90));
    }
}
