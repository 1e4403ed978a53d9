//! Properties of rotor-core's parsers over arbitrary input: the database secret JSON, the
//! settings (booleans, numbers, lists, the endpoint check, metrics and logging settings)
//! and the PostgreSQL TLS settings. None panics; every error is typed and holds no part
//! of a secret value given in the input.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000); `scripts/proptest-campaign.sh`
//! runs millions.

use proptest::prelude::*;
use rotor_core::config::{ConfigError, Settings, parse_bool};
use rotor_core::credentials::{CredentialsError, DbCredentials};
use rotor_core::metrics::{MetricsConfig, check_namespace};
use rotor_core::pg::ChannelBinding;
use rotor_core::pg::SslMode;
use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::props::{Hidden, assert_no_secret, config, damaged, plain, secret};
use serde_json::{Map, Value, json};
use tracing_subscriber::filter::LevelFilter;

fn shown<E: std::fmt::Display + std::fmt::Debug>(e: &E) -> String {
    format!("{e} | {e:?} | {e:#?}")
}

/// Arbitrary JSON, any shape, any Unicode (marks excluded: no secret is asserted on it).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        plain("\\PC{0,12}").prop_map(Value::from),
        "[0-9]{1,7}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((plain("\\PC{0,8}"), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A value for a key of the credentials JSON: usually well-formed, often not.
fn field(good: BoxedStrategy<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => good.prop_map(Some),
        1 => Just(None),
        1 => json_value().prop_map(Some),
    ]
}

/// A credentials object: every documented key, well-formed or not, the password a secret
/// value (or a wrong type), and an extra key holding another secret value.
fn credentials_object() -> impl Strategy<Value = (Map<String, Value>, String)> {
    let text = || "[a-z0-9.-]{0,20}".prop_map(Value::from).boxed();
    (
        secret(),
        secret(),
        field(text()),
        field(text()),
        field(
            prop_oneof![
                (0u64..70_000).prop_map(Value::from),
                "[0-9 ]{0,6}".prop_map(Value::from)
            ]
            .boxed(),
        ),
        field(text()),
        field(
            prop_oneof![
                any::<bool>().prop_map(Value::from),
                "(true|false|yes|no|1|0|maybe)".prop_map(Value::from)
            ]
            .boxed(),
        ),
        field(text()),
        prop_oneof![4 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |(password, token, username, host, port, dbname, ssl, engine, password_is_string)| {
                let mut map = Map::new();
                for (key, value) in [
                    ("username", username),
                    ("host", host),
                    ("port", port),
                    ("dbname", dbname),
                    ("ssl", ssl),
                    ("engine", engine),
                ] {
                    if let Some(value) = value {
                        map.insert(key.to_owned(), value);
                    }
                }
                let secret_value = if password_is_string {
                    Value::from(password.clone())
                } else {
                    json!([password.clone()])
                };
                map.insert("password".to_owned(), secret_value);
                map.insert("api_token".to_owned(), Value::from(token));
                (map, password)
            },
        )
}

fn credentials_check(text: &str) -> Result<(), TestCaseError> {
    match DbCredentials::parse(text) {
        Ok(creds) => assert_no_secret(&format!("{creds:?} {creds:#?}"))?,
        Err(e) => {
            let _: &dyn std::error::Error = &e;
            assert_no_secret(&shown(&e))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn credentials_parse_of_any_text_never_panics(text in "\\PC*|\\PC*\\{\\PC*\\}") {
        let _ = DbCredentials::parse(&text);
    }

    #[test]
    fn credentials_parse_of_any_json_never_panics(value in json_value()) {
        let _ = DbCredentials::parse(&value.to_string());
    }

    #[test]
    fn credentials_errors_and_debug_never_hold_the_password(
        Hidden((map, password)) in credentials_object().prop_map(Hidden)
    ) {
        let text = Value::Object(map).to_string();
        match DbCredentials::parse(&text) {
            Ok(creds) => {
                assert_no_secret(&format!("{creds:?} {creds:#?}"))?;
                prop_assert!(creds.password().expose_secret() == password);
            }
            Err(e) => {
                let named = matches!(
                    e,
                    CredentialsError::Malformed { .. } | CredentialsError::Missing(_)
                );
                prop_assert!(named, "a well-formed object's error names a key");
                assert_no_secret(&shown(&e))?;
            }
        }
    }

    #[test]
    fn damaged_credentials_json_errors_never_hold_the_password(
        Hidden(text) in credentials_object()
            .prop_flat_map(|(map, _)| damaged(Value::Object(map).to_string()))
            .prop_map(Hidden)
    ) {
        credentials_check(&text)?;
    }

    #[test]
    fn a_new_password_round_trips_and_every_other_key_is_kept(
        Hidden(((map, _), next)) in (credentials_object(), secret()).prop_map(Hidden),
    ) {
        if let Ok(creds) = DbCredentials::from_map(map.clone()) {
            let updated = creds.with_password(SecretString::from(next.clone()));
            let back = DbCredentials::parse(updated.to_json().expose_secret())
                .map_err(|_| TestCaseError::fail("the written JSON reads back"))?;
            prop_assert!(back.password().expose_secret() == next);
            prop_assert_eq!(back.keys().collect::<Vec<_>>(), creds.keys().collect::<Vec<_>>());
            let written: Value = serde_json::from_str(updated.to_json().expose_secret()).unwrap();
            for (key, value) in &map {
                if key != "password" {
                    prop_assert!(&written[key] == value, "key {} changed", key);
                }
            }
        }
    }

    #[test]
    fn boolean_settings_accept_exactly_the_documented_spellings(value in "\\PC{0,8}") {
        let expected = match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "y" | "yes" => Some(true),
            "false" | "0" | "n" | "no" => Some(false),
            _ => None,
        };
        prop_assert_eq!(parse_bool(&value), expected);
        let pairs = [("FLAG", value.as_str())];
        let settings = Settings::from_pairs(&pairs);
        match settings.bool("FLAG", true) {
            Ok(b) => prop_assert_eq!(b, expected.unwrap_or(true)),
            Err(e) => {
                prop_assert_eq!(e.var.as_str(), "FLAG");
                prop_assert!(e.to_string().starts_with("invalid setting FLAG: "));
            }
        }
    }

    #[test]
    fn settings_lists_numbers_and_required_values_never_panic(
        value in "\\PC{0,24}|[0-9, .-]{0,12}",
    ) {
        let pairs = [("V", value.as_str())];
        let s = Settings::from_pairs(&pairs);
        let list = s.list("V");
        prop_assert!(list.iter().all(|item| !item.is_empty() && item.trim() == item));
        prop_assert!(list.iter().all(|item| !item.contains(',')));
        if let Err(e) = s.parse::<u32>("V", 7, "a whole number") {
            prop_assert_eq!(e.var.as_str(), "V");
        }
        match s.required("V") {
            Ok(v) => prop_assert_eq!(v.as_str(), value.trim()),
            Err(e) => {
                prop_assert!(value.trim().is_empty());
                prop_assert_eq!(e.var.as_str(), "V");
            }
        }
    }

    #[test]
    fn the_samples_endpoint_check_never_quotes_either_endpoint(
        Hidden((sample, sdk)) in (secret(), prop_oneof![secret().prop_map(Some), Just(None)])
            .prop_map(Hidden),
        same in any::<bool>(),
    ) {
        let sdk = if same { Some(format!("{sample}/")) } else { sdk };
        let mut pairs = vec![("SECRETS_MANAGER_ENDPOINT", sample.as_str())];
        if let Some(sdk) = &sdk {
            pairs.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER", sdk.as_str()));
        }
        let result = rotor_core::config::check_secrets_manager_endpoint(&Settings::from_pairs(&pairs));
        match result {
            Ok(()) => prop_assert!(
                sdk.as_deref().map(|s| s.trim().trim_end_matches('/'))
                    == Some(sample.trim().trim_end_matches('/'))
            ),
            Err(e) => {
                let e: ConfigError = e;
                prop_assert_eq!(e.var.as_str(), "SECRETS_MANAGER_ENDPOINT");
                assert_no_secret(&shown(&e))?;
            }
        }
    }

    #[test]
    fn metrics_settings_accept_only_namespaces_cloudwatch_accepts(
        namespace in "\\PC{0,20}|[A-Za-z0-9 ./#:_-]{0,300}|AWS/[a-z]{0,4}",
        stack in "\\PC{0,8}|[a-z]{1020,1030}",
    ) {
        let pairs = [("METRICS_NAMESPACE", namespace.as_str()), ("STACK_NAME", stack.as_str())];
        match MetricsConfig::from_settings(&Settings::from_pairs(&pairs)) {
            Ok(m) => {
                prop_assert!(check_namespace(&m.namespace).is_ok());
                let n = &m.namespace;
                prop_assert!(!n.is_empty() && n.len() <= 255 && !n.starts_with(':'));
                prop_assert!(!n.starts_with("AWS/"));
                prop_assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c)));
                prop_assert!(m.stack.as_ref().is_none_or(|s| s.len() <= 1024));
            }
            Err(e) => prop_assert!(["METRICS_NAMESPACE", "STACK_NAME"].contains(&e.var.as_str())),
        }
    }

    #[test]
    fn logging_settings_and_directives_never_panic(
        format in "\\PC{0,6}|(?i)json",
        level in "\\PC{0,6}|(?i)(trace|debug|info|warn|error|fatal)",
        rust_log in "\\PC{0,30}|([a-z_:]{0,8}(=(trace|debug|info|warn|error|off|x))?,){0,4}",
        name in "\\PC{0,10}",
    ) {
        let settings = rotor_core::logging::Settings::from_lookup(|k| match k {
            "AWS_LAMBDA_LOG_FORMAT" => Some(format.clone()),
            "AWS_LAMBDA_LOG_LEVEL" => Some(level.clone()),
            "RUST_LOG" => Some(rust_log.clone()),
            "AWS_LAMBDA_FUNCTION_NAME" => Some(name.clone()),
            _ => None,
        });
        prop_assert!(["INFO", "WARN", "ERROR", "FATAL"].contains(&settings.metrics_level));
        let _ = rotor_core::logging::targets(settings.level, &rust_log);
        let _ = rotor_core::logging::targets(LevelFilter::INFO, &rust_log);
    }

    #[test]
    fn tls_settings_parse_only_their_documented_names(value in "\\PC{0,12}|(?i)(disable|prefer|require|verify-ca|verify-full)") {
        if let Ok(mode) = value.parse::<SslMode>() {
            prop_assert_eq!(mode.as_str().parse::<SslMode>().ok(), Some(mode));
        }
        if let Ok(binding) = value.parse::<ChannelBinding>() {
            prop_assert_eq!(binding.as_str().parse::<ChannelBinding>().ok(), Some(binding));
        }
    }
}
