//! Properties of rotor-rotate's parsers over arbitrary input: the rotation event, the app
//! secret JSON (keys to rotate, the next value, the checks of setSecret and testSecret, the
//! choice of strategy) and the settings. None panics; every error is typed and holds no
//! part of a secret value given in the input.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000; 500 for the settings);
//! `scripts/proptest-campaign.sh` runs millions.

use std::collections::HashMap;
use std::sync::LazyLock;

use proptest::prelude::*;
use rotor_core::SecretString;
use rotor_core::config::Settings;
use rotor_core::error::ErrorType;
use rotor_rotate::app_secret::{self as app, PREVIOUS_SUFFIX};
use rotor_rotate::secret::SecretInfo;
use rotor_rotate::steps::{self, APP_KEYS_TAG, Kind, STRATEGY_TAG};
use rotor_rotate::{Config, Context, RotateError, RotationEvent, Step};
use rotor_testkit::props::{
    Hidden, assert_no_secret, config, config_with, json_value, plain, secret,
};
use serde_json::{Map, Value, json};

/// Display, Debug and error type of a rotation error, as the handler logs and returns it.
fn shown(e: &RotateError) -> String {
    let _: &dyn std::error::Error = e;
    format!("{e} | {e:?} | {e:#?} | {}", e.error_type())
}

/// A field of the rotation event: usually well-formed, often blank, non-printable, of
/// another type or missing.
fn event_field(good: BoxedStrategy<String>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => good.clone().prop_map(|s| Some(Value::from(s))),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => "[ \t]{0,3}".prop_map(|s| Some(Value::from(s))),
        1 => (good, "[\\x00-\\x1f\\x7f]").prop_map(|(s, c)| Some(Value::from(format!("{s}{c}")))),
        1 => json_value("(create|set|test|finish)Secret", "\\PC{0,8}|Step|SecretId|ClientRequestToken").prop_filter("not a string", |v| !v.is_string()).prop_map(Some),
    ]
}

/// A rotation event whose `RotationToken` (which authorises writes) is a secret value.
fn rotation_event() -> impl Strategy<Value = (Value, String)> {
    let step = prop_oneof![
        4 => prop::sample::select(Step::ALL.map(Step::as_str).to_vec()).prop_map(str::to_owned),
        1 => plain("\\PC{0,50}"),
    ]
    .boxed();
    let id = plain("arn:aws:secretsmanager:us-east-1:123456789012:secret:[a-z/_+=.@-]{1,20}-[A-Za-z]{6}|\\PC{1,20}").boxed();
    let token = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".boxed();
    (
        event_field(step),
        event_field(id),
        event_field(token),
        secret(),
        prop_oneof![
            3 => Just(0u8), // the secret as RotationToken
            1 => Just(1),   // no RotationToken
            1 => Just(2),   // the secret with a control character
            1 => Just(3),   // the secret inside an array
        ],
    )
        .prop_map(|(step, id, token, rotation_token, how)| {
            let mut map = Map::new();
            for (key, value) in [
                ("Step", step),
                ("SecretId", id),
                ("ClientRequestToken", token),
            ] {
                if let Some(value) = value {
                    map.insert(key.to_owned(), value);
                }
            }
            let value = match how {
                0 => Some(Value::from(rotation_token.clone())),
                1 => None,
                2 => Some(Value::from(format!("{rotation_token}\u{7}"))),
                _ => Some(json!([rotation_token.clone()])),
            };
            if let Some(value) = value {
                map.insert("RotationToken".to_owned(), value);
            }
            (Value::Object(map), rotation_token)
        })
}

/// A current app secret: keys from a small pool (so chosen keys often exist), values
/// that are secrets, or of another type.
fn app_secret() -> impl Strategy<Value = Map<String, Value>> {
    let key = "(jwt|api|session|k)(_key|_previous)?|[a-z_]{1,6}";
    let value = prop_oneof![
        6 => secret().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
        1 => secret().prop_map(|s| json!({ "nested": s })),
        1 => Just(Value::from("")),
    ];
    prop::collection::vec((key, value), 0..6).prop_map(|kv| kv.into_iter().collect())
}

/// A list of keys as a tag or `APP_SECRET_KEYS` gives it.
fn key_list() -> impl Strategy<Value = String> {
    plain(
        "(( )?((jwt|api|session|k)(_key|_previous)?|[a-z_]{1,6}|)( )?,){0,4}(jwt|api|k)?|\\PC{0,20}",
    )
}

/// A Context with real (unused) SDK clients, built once: `choose_kind` reads only its
/// settings.
static CONTEXT: LazyLock<Context> = LazyLock::new(|| {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    Context::new(
        &sdk,
        Config::from_settings(&Settings::from_pairs(&[])).unwrap(),
    )
});

/// A PEM file of one CA certificate (the first of rotor's RDS roots): a valid
/// `PG_SSLROOTCERT` that is quick to load, unlike the system store each case would read.
static ONE_CA: LazyLock<String> = LazyLock::new(|| {
    let bundle = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/rds-ca/rds-root-cas.pem"
    ))
    .expect("rotor's RDS roots");
    let end = "-----END CERTIFICATE-----";
    let first = &bundle[..bundle.find(end).expect("a PEM block") + end.len()];
    let path = std::env::temp_dir().join("rotor-properties-one-ca.pem");
    let partial = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&partial, format!("{first}\n")).expect("write the CA file");
    std::fs::rename(&partial, &path).expect("move the CA file into place");
    path.to_string_lossy().into_owned()
});

fn info(tags: Vec<(String, String)>) -> SecretInfo {
    SecretInfo {
        arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf".into(),
        rotation_enabled: true,
        versions: HashMap::new(),
        tags,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_rotation_event_parser_never_panics_on_any_json(value in json_value("(create|set|test|finish)Secret", "\\PC{0,8}|Step|SecretId|ClientRequestToken")) {
        if let Err(problem) = RotationEvent::from_value(&value) {
            let _ = shown(&RotateError::Event(problem));
        }
    }

    #[test]
    fn the_rotation_token_never_reaches_an_error_or_debug(
        Hidden((event, rotation_token)) in rotation_event().prop_map(Hidden)
    ) {
        match RotationEvent::from_value(&event) {
            Ok(parsed) => {
                assert_no_secret(&format!("{parsed:?} {parsed:#?}"))?;
                prop_assert!(parsed.rotation_token.as_deref() == Some(rotation_token.as_str())
                    || event.get("RotationToken").is_none());
                prop_assert_eq!(Some(parsed.step.as_str()), event["Step"].as_str());
            }
            Err(problem) => {
                let err = RotateError::Event(problem);
                prop_assert_eq!(err.error_type(), "Rotor.InvalidEvent");
                assert_no_secret(&shown(&err))?;
            }
        }
    }

    #[test]
    fn a_valid_event_parses_to_exactly_its_fields(
        step in prop::sample::select(Step::ALL.to_vec()),
        id in "[ -~]{0,5}[!-~][ -~]{0,40}",
        token in "[0-9a-f-]{1,36}",
        rotation_token in prop::option::of("[!-~]{1,64}"),
    ) {
        let mut event = json!({"Step": step.as_str(), "SecretId": id, "ClientRequestToken": token});
        if let Some(rt) = &rotation_token {
            event["RotationToken"] = json!(rt);
        }
        let parsed = RotationEvent::from_value(&event)
            .map_err(|_| TestCaseError::fail("a well-formed event parses"))?;
        prop_assert_eq!(parsed.step, step);
        prop_assert_eq!(parsed.secret_id, id);
        prop_assert_eq!(parsed.token, token);
        prop_assert_eq!(parsed.rotation_token, rotation_token);
    }

    #[test]
    fn app_secret_key_lists_parse_to_trimmed_non_empty_keys(list in key_list()) {
        let keys = app::parse_keys(&list);
        prop_assert!(keys.iter().all(|k| !k.is_empty() && k.trim() == k && !k.contains(',')));
        let expected: Vec<&str> = list.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        prop_assert_eq!(keys, expected);
    }

    #[test]
    fn app_secret_checks_never_quote_a_value(
        Hidden((current, pending, list, fresh)) in (
            app_secret(),
            app_secret(),
            key_list(),
            prop::collection::vec(secret(), 5),
        ).prop_map(Hidden),
    ) {
        let keys = app::parse_keys(&list);
        let id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
        if let Err(problem) = app::check_keys(&current, &keys) {
            assert_no_secret(&shown(&RotateError::app_secret(id)(problem)))?;
        }
        if let Err(problem) = app::validate(&pending, &current, &keys) {
            assert_no_secret(&shown(&RotateError::app_secret(id)(problem)))?;
        }
        let fresh: Vec<(String, SecretString)> = keys
            .iter()
            .zip(fresh)
            .map(|(k, v)| (k.clone(), SecretString::from(v)))
            .collect();
        let next = app::next_value(&current, &fresh);
        if let Err(problem) = app::validate(&next, &pending, &keys) {
            assert_no_secret(&shown(&RotateError::app_secret(id)(problem)))?;
        }
    }

    #[test]
    fn the_next_app_secret_passes_the_checks_and_keeps_old_values(
        Hidden((current, list, fresh)) in (
            app_secret(),
            key_list(),
            prop::collection::vec(secret(), 5),
        ).prop_map(Hidden),
    ) {
        // One fresh value per key: a list longer than that is cut (a property of the
        // shorter list is still checked; rejecting the case would cap a long campaign).
        let keys: Vec<String> = app::parse_keys(&list).into_iter().take(fresh.len()).collect();
        if app::check_keys(&current, &keys).is_ok() {
            let fresh: Vec<(String, SecretString)> = keys
                .iter()
                .zip(fresh.iter())
                .map(|(k, v)| (k.clone(), SecretString::from(v.clone())))
                .collect();
            let next = app::next_value(&current, &fresh);
            prop_assert!(app::validate(&next, &current, &keys).is_ok(), "setSecret accepts the value createSecret wrote");
            for (key, value) in &current {
                let chosen = keys.contains(key);
                let overwritten = key.strip_suffix(PREVIOUS_SUFFIX).is_some_and(|base| {
                    keys.iter().any(|k| k == base) && current.get(base).is_some_and(Value::is_string)
                });
                if !chosen && !overwritten {
                    prop_assert!(next.get(key) == Some(value), "a key not rotated is unchanged");
                }
                if chosen && let Value::String(old) = value {
                    let kept = next.get(&format!("{key}{PREVIOUS_SUFFIX}"));
                    prop_assert!(kept == Some(&Value::from(old.clone())), "the old value is kept");
                }
            }
        }
    }

    #[test]
    fn the_strategy_choice_never_quotes_a_value_of_the_secret(
        Hidden(current) in app_secret().prop_map(Hidden),
        strategy in prop::option::of(plain("(?i)(auto|single-user|alternating-users|app-secret|app)|\\PC{0,50}")),
        keys in prop::option::of(key_list()),
        engine in prop::option::of("postgres|mysql"),
    ) {
        let mut current = current;
        if let Some(engine) = engine {
            current.insert("engine".into(), Value::from(engine));
        }
        let mut tags = Vec::new();
        if let Some(s) = strategy {
            tags.push((STRATEGY_TAG.to_owned(), s));
        }
        if let Some(k) = keys {
            tags.push((APP_KEYS_TAG.to_owned(), k));
        }
        let id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
        match steps::choose_kind(&CONTEXT.config, &info(tags), id, &current) {
            Ok(Kind::AppSecret(keys)) => prop_assert!(app::check_keys(&current, &keys).is_ok()),
            Ok(_) => {}
            Err(e) => assert_no_secret(&shown(&e))?,
        }
    }

}

proptest! {
    // Fewer cases by default: each builds a whole configuration (a TLS trust store among
    // it), and settings are read once per process, not per event.
    #![proptest_config(config_with(500))]

    #[test]
    fn settings_never_panic_and_every_error_names_its_variable(
        values in prop::collection::vec(
            prop::option::of("\\PC{0,12}|[-+]?[0-9]{0,5}(\\.[0-9]{0,3})?|-0|-0\\.0|inf|NaN|1e400|(?i)(true|false|yes|no)|(?i)(disable|require|verify-ca|verify-full|prefer)|(?i)(auto|app-secret|single-user)"),
            16,
        ),
        // Unset, blank and `system` read the system's CA store (tens of milliseconds a
        // case in a debug build): rare, so the property stays quick.
        root_cert in prop_oneof![
            80 => Just(Some(ONE_CA.as_str())),
            10 => Just(Some("/nonexistent/ca.pem")),
            1 => Just(None),
            1 => Just(Some("system")),
            1 => Just(Some(" ")),
        ],
    ) {
        const VARS: [&str; 16] = [
            "PASSWORD_LENGTH", "EXCLUDE_CHARACTERS", "EXCLUDE_NUMBERS", "EXCLUDE_PUNCTUATION",
            "EXCLUDE_UPPERCASE", "EXCLUDE_LOWERCASE", "REQUIRE_EACH_INCLUDED_TYPE", "PG_SSLMODE",
            "PG_CHANNEL_BINDING", "ROTATION_STRATEGY", "APP_SECRET_KEYS", "PG_ALLOW_PLAINTEXT",
            "PG_CONNECT_TIMEOUT", "TEST_RETRY_SECONDS", "DEADLINE_MARGIN_SECONDS", "CLONE_SET_ROLE",
        ];
        let mut pairs: Vec<(&str, &str)> = VARS
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        if let Some(root) = root_cert {
            pairs.push(("PG_SSLROOTCERT", root));
        }
        match Config::from_settings(&Settings::from_pairs(&pairs)) {
            Ok(c) => {
                prop_assert!((1..=4096).contains(&c.password.length));
                prop_assert!(c.connect_timeout.as_secs_f64() >= 0.1);
            }
            Err(e) => {
                let known = VARS.contains(&e.var.as_str())
                    || ["PG_SSLROOTCERT", "METRICS_NAMESPACE", "STACK_NAME"].contains(&e.var.as_str());
                prop_assert!(known, "the error names a setting: {}", e.var);
                let rotate_error = RotateError::Config(e);
                prop_assert_eq!(rotate_error.error_type(), "Rotor.Config");
            }
        }
    }

    #[test]
    fn alternate_user_names_pair_up(user in "\\PC{1,20}") {
        let other = steps::alternate_username(&user);
        prop_assert_ne!(&other, &user);
        prop_assert_eq!(steps::alternate_username(&other), user);
    }
}
