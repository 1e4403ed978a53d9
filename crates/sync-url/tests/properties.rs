//! Properties of rotor-sync-url's parsers over arbitrary input: the `postgres://` URL
//! builder and parser, the source credentials JSON, the EventBridge / CloudTrail event and
//! the settings. None panics; every error is typed and holds no part of a secret value
//! given in the input; a URL built from arbitrary Unicode user names, passwords and
//! database names reads back identical through rotor's parser and tokio-postgres, and a
//! sample of them logs in through libpq (`psql`) and reads back through Django's
//! `dj-database-url`.
//!
//! Cases per property: `PROPTEST_CASES` (default 2,000; 500 for the settings);
//! `scripts/proptest-campaign.sh` runs millions. The libpq sample: `ROTOR_PSQL_SAMPLE`
//! (default 24).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use rotor_core::CredentialFields;
use rotor_core::config::Settings;
use rotor_core::error::ErrorType;
use rotor_sync_url::config::{PAIR_KEYS, SSLMODES};
use rotor_sync_url::dsn::{self, CARRIED_PARAMETERS, UrlParts};
use rotor_sync_url::{Config, SyncError, Trigger, event};
use rotor_testkit::django::dj_database_url;
use rotor_testkit::props::{
    Hidden, assert_no_secret, config, config_with, damaged, json_value, plain, secret,
};
use rotor_testkit::{postgres, random_hex};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

fn shown<E: std::error::Error>(e: &E) -> String {
    format!("{e} | {e:?} | {e:#?}")
}

fn shown_sync(e: &SyncError) -> String {
    format!("{} | {}", shown(e), e.error_type())
}

/// A database named `.` or `..`: URL parsers (the `url` crate, after the WHATWG URL
/// standard) remove such a path segment, encoded as `%2E` or not, so no `postgres://` URL
/// they read can name it. The builder refuses it (its read-back check) rather than write a
/// URL to another database.
fn is_dot_segment(dbname: &str) -> bool {
    dbname == "." || dbname == ".."
}

/// A user name, password or database name: any Unicode but NUL (which PostgreSQL does
/// not accept and the builder refuses), control characters, `%`, `@`, `/` and spaces
/// included.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00]{1,24}",
        "[ -~]{1,24}",
        "[%@:/?#&=+ ]{1,6}[^\\x00]{0,6}",
    ]
}

/// A host as a secret or a setting gives it: a DNS name, an IPv4 address, or an IPv6
/// address with or without brackets.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]([a-z0-9_-]{0,20}[a-z0-9])?(\\.[a-z0-9_-]{1,12}){0,3}",
        any::<u32>().prop_map(|n| Ipv4Addr::from(n).to_string()),
        any::<u128>().prop_map(|n| Ipv6Addr::from(n).to_string()),
        any::<u128>().prop_map(|n| format!("[{}]", Ipv6Addr::from(n))),
    ]
}

fn url_parts() -> impl Strategy<Value = UrlParts> {
    (
        component(),
        component(),
        host(),
        1u16..,
        component(),
        prop::sample::select(SSLMODES.to_vec()),
        prop::collection::vec(
            (
                prop::sample::select(CARRIED_PARAMETERS.to_vec()),
                "[a-z0-9]{1,6}",
            ),
            0..3,
        ),
    )
        .prop_map(
            |(user, password, host, port, dbname, sslmode, extra)| UrlParts {
                user,
                password: SecretString::from(password),
                host,
                port,
                dbname,
                sslmode: sslmode.to_owned(),
                extra_query: extra.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            },
        )
}

/// Text a target secret may hold instead of a good URL: URL-shaped, with secret values
/// in every free position (scheme, user, password, host, port, path, query, escapes).
fn url_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        secret(),
        secret().prop_map(|s| dsn::encode(&s)),
        secret().prop_map(|s| format!("%ff{s}")),
        secret().prop_map(|s| format!("%{}", &dsn::encode(&s)[1..])),
        Just(String::new()),
    ];
    let scheme = prop_oneof![
        Just("postgres://".to_owned()),
        Just("postgresql://".to_owned()),
        Just("mysql://".to_owned()),
        secret().prop_map(|s| format!("{s}:")),
        secret().prop_map(|s| format!("{s}://")),
        Just(String::new()),
    ];
    let port = prop_oneof![
        Just(String::new()),
        (0u32..200_000).prop_map(|p| format!(":{p}")),
        secret().prop_map(|s| format!(":{s}")),
    ];
    (
        scheme,
        piece.clone(),
        piece.clone(),
        prop_oneof![
            piece.clone(),
            Just("db.internal".to_owned()),
            Just("[::1]".to_owned())
        ],
        port,
        piece.clone(),
        piece,
        0u8..4,
    )
        .prop_map(|(scheme, user, password, host, port, path, query, sep)| {
            let at = ["@", "", "@@", "#@"][sep as usize];
            format!("{scheme}{user}:{password}{at}{host}{port}/{path}?sslmode=require&{query}")
        })
}

/// A source secret: the documented keys, well-formed or not, the password a secret value.
fn source_object() -> impl Strategy<Value = Map<String, Value>> {
    let field = |good: BoxedStrategy<Value>| {
        prop_oneof![
            3 => good.prop_map(Some),
            1 => Just(None),
            1 => json_value("aws\\.(events|secretsmanager)|Scheduled Event|PutSecretValue", "\\PC{0,8}|source|detail-type|detail|resources|eventName").prop_map(Some),
        ]
    };
    (
        secret(),
        field("[a-z0-9_]{0,12}".prop_map(Value::from).boxed()),
        field("[a-z0-9.-]{0,20}".prop_map(Value::from).boxed()),
        field(
            prop_oneof![
                (0u64..70_000).prop_map(Value::from),
                "[0-9 ]{0,6}".prop_map(Value::from)
            ]
            .boxed(),
        ),
        field("[a-z0-9_]{0,12}".prop_map(Value::from).boxed()),
        0u8..4,
    )
        .prop_map(|(password, username, host, port, dbname, how)| {
            let mut map = Map::new();
            for (key, value) in [
                ("username", username),
                ("host", host),
                ("port", port),
                ("dbname", dbname),
            ] {
                if let Some(value) = value {
                    map.insert(key.to_owned(), value);
                }
            }
            let password = match how {
                0 | 1 => Value::from(password),
                2 => json!([password]),
                _ => json!({ "value": password }),
            };
            map.insert("password".to_owned(), password);
            map
        })
}

/// A Secrets Manager event through EventBridge whose request parameters carry a secret
/// value (`secretString` as the caller sent it) next to the names the parser reads.
fn secrets_manager_event() -> impl Strategy<Value = Value> {
    let id = plain("arn:aws:secretsmanager:us-east-1:123456789012:secret:[a-z/!_-]{1,16}-[A-Za-z]{6}|[a-z/_-]{1,16}|\\PC{0,8}").boxed();
    (
        prop::option::of(plain(
            "RotationSucceeded|PutSecretValue|UpdateSecretVersionStage|GetSecretValue|\\PC{0,10}",
        )),
        prop::option::of(plain("AccessDenied|\\PC{0,10}")),
        prop::option::of(id.clone()),
        prop::option::of(id.clone()),
        prop::collection::vec(id, 0..3),
        secret(),
        prop::sample::select(vec![
            "AWS API Call via CloudTrail",
            "AWS Service Event via CloudTrail",
            "Scheduled Event",
        ]),
        prop::sample::select(vec!["aws.secretsmanager", "aws.events", "aws.ssm"]),
    )
        .prop_map(
            |(name, error, secret_id, arn, resources, value, detail_type, source)| {
                json!({
                    "version": "0",
                    "detail-type": detail_type,
                    "source": source,
                    "resources": resources,
                    "detail": {
                        "eventName": name,
                        "errorCode": error,
                        "errorMessage": value.clone(),
                        "requestParameters": {"secretId": secret_id, "secretString": value.clone()},
                        "responseElements": {"arn": arn},
                        "additionalEventData": {"SecretId": secret_id, "value": value},
                    }
                })
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_built_url_reads_back_identical_for_any_unicode_parts(parts in url_parts()) {
        if is_dot_segment(&parts.dbname) {
            let refused = dsn::build(&parts).err();
            prop_assert_eq!(refused, Some(dsn::DsnError::RoundTrip("database name")));
            return Ok(());
        }
        let url = dsn::build(&parts).map_err(|e| TestCaseError::fail(format!("build: {e}")))?;
        let back = dsn::parse(url.expose_secret())
            .map_err(|e| TestCaseError::fail(format!("parse: {e}")))?;
        prop_assert!(back.user.as_deref() == Some(parts.user.as_str()), "user name");
        prop_assert!(
            back.password.as_ref().map(|p| p.expose_secret())
                == Some(parts.password.expose_secret()),
            "password"
        );
        prop_assert!(back.dbname.as_deref() == Some(parts.dbname.as_str()), "database name");
        let bare = parts.host.trim_start_matches('[').trim_end_matches(']');
        prop_assert_eq!(back.host.as_deref(), Some(bare));
        prop_assert_eq!(back.port, Some(parts.port));
        prop_assert_eq!(back.sslmode.as_deref(), Some(parts.sslmode.as_str()));
        prop_assert_eq!(&back.extra_query, &parts.extra_query);
    }

    #[test]
    fn a_built_url_reads_back_identical_through_tokio_postgres(
        mut parts in url_parts(),
        sslmode in prop::sample::select(vec!["disable", "prefer", "require"]),
    ) {
        if is_dot_segment(&parts.dbname) {
            return Ok(()); // refused by the builder: see the property above
        }
        // tokio-postgres knows three sslmodes and fewer parameters than libpq.
        parts.sslmode = sslmode.to_owned();
        parts.extra_query.clear();
        let url = dsn::build(&parts).map_err(|e| TestCaseError::fail(format!("build: {e}")))?;
        let config: tokio_postgres::Config = url
            .expose_secret()
            .parse()
            .map_err(|_| TestCaseError::fail("tokio-postgres cannot parse the URL"))?;
        prop_assert!(config.get_user() == Some(parts.user.as_str()), "user name");
        prop_assert!(config.get_password() == Some(parts.password.expose_secret().as_bytes()), "password");
        prop_assert!(config.get_dbname() == Some(parts.dbname.as_str()), "database name");
        prop_assert_eq!(config.get_ports(), &[parts.port]);
        let bare = parts.host.trim_start_matches('[').trim_end_matches(']');
        match config.get_hosts() {
            [tokio_postgres::config::Host::Tcp(h)] => prop_assert_eq!(h.as_str(), bare),
            other => prop_assert!(false, "one TCP host, got {}", other.len()),
        }
    }

    #[test]
    fn url_parsing_never_panics_on_any_text(text in "\\PC*|postgres(ql)?://\\PC*") {
        if let Err(e) = dsn::parse(&text) {
            let _ = shown(&e);
        }
    }

    #[test]
    fn a_malformed_url_is_refused_without_quoting_any_part_of_it(
        Hidden(text) in url_like().prop_map(Hidden)
    ) {
        match dsn::parse(&text) {
            // What parses is the target's URL: its password stays out of Debug.
            Ok(parsed) => {
                // User, host and database name are shown by design; what is left must not
                // hold anything of the input (the password above all).
                let mut shown = format!("{parsed:?}");
                for part in [&parsed.user, &parsed.host, &parsed.dbname, &parsed.sslmode].into_iter().flatten() {
                    shown = shown.replace(&format!("{part:?}"), "");
                }
                for piece in &parsed.extra_query {
                    shown = shown.replace(piece.split('=').next().unwrap_or_default(), "");
                }
                assert_no_secret(&shown)?;
            }
            Err(e) => assert_no_secret(&shown(&e))?,
        }
    }

    #[test]
    fn url_building_errors_never_quote_a_part(
        Hidden((user, password, dbname, host, nul_in)) in (secret(), secret(), secret(), secret(), 0u8..4)
            .prop_map(Hidden)
    ) {
        let with_nul = |s: &str, here: bool| if here { format!("{s}\0{s}") } else { s.to_owned() };
        let parts = UrlParts {
            user: with_nul(&user, nul_in == 0),
            password: SecretString::from(with_nul(&password, nul_in == 1)),
            host: if nul_in == 3 { host } else { "db.internal".into() },
            port: 5432,
            dbname: with_nul(&dbname, nul_in == 2),
            sslmode: "require".into(),
            extra_query: vec![],
        };
        let err = dsn::build(&parts).err();
        prop_assert!(err.is_some(), "a NUL or a bad host is refused");
        if let Some(e) = err {
            assert_no_secret(&shown(&e))?;
        }
    }

    #[test]
    fn source_parsing_never_panics_on_any_text(text in "\\PC*|\\{\\PC*\\}") {
        let _ = CredentialFields::parse(&text);
    }

    #[test]
    fn source_errors_and_debug_never_hold_the_password(
        Hidden(text) in prop_oneof![
            source_object().prop_map(|m| Value::Object(m).to_string()),
            source_object().prop_flat_map(|m| damaged(Value::Object(m).to_string())),
        ]
        .prop_map(Hidden)
    ) {
        match CredentialFields::parse(&text) {
            Ok(values) => assert_no_secret(&format!("{values:?} {values:#?}"))?,
            Err(problem) => {
                let err = SyncError::SourceFormat {
                    secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf".into(),
                    problem,
                };
                assert_no_secret(&shown_sync(&err))?;
            }
        }
    }

    #[test]
    fn event_classification_never_panics_on_any_json(value in json_value("aws\\.(events|secretsmanager)|Scheduled Event|PutSecretValue", "\\PC{0,8}|source|detail-type|detail|resources|eventName")) {
        if let Err(e) = event::classify(&value) {
            let _ = shown_sync(&e);
        }
    }

    #[test]
    fn event_classification_never_repeats_a_value_the_caller_sent(
        Hidden(value) in secrets_manager_event().prop_map(Hidden)
    ) {
        match event::classify(&value) {
            Ok(trigger) => {
                assert_no_secret(&format!("{trigger:?} {}", trigger.name()))?;
                if let Trigger::SecretChanged { secret_ids, .. } = &trigger {
                    prop_assert!(!secret_ids.is_empty());
                }
            }
            Err(e) => assert_no_secret(&shown_sync(&e))?,
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
            prop::option::of(plain("\\PC{0,10}|[0-9]{1,6}|(?i)(true|false|url|json|require|verify-full)|arn:aws:secretsmanager:us-east-1:123456789012:secret:[ab]-AbCdEf")),
            PAIR_KEYS.len(),
        ),
        pairs_json in prop::option::of(prop_oneof![
            json_value("aws\\.(events|secretsmanager)|Scheduled Event|PutSecretValue", "\\PC{0,8}|source|detail-type|detail|resources|eventName").prop_map(|v| v.to_string()),
            prop::collection::vec(
                prop::collection::vec((prop::sample::select(PAIR_KEYS.to_vec()), json_value("aws\\.(events|secretsmanager)|Scheduled Event|PutSecretValue", "\\PC{0,8}|source|detail-type|detail|resources|eventName")), 0..5),
                0..3,
            )
            .prop_map(|items| {
                Value::Array(items.into_iter().map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())).collect()).to_string()
            }),
        ]),
    ) {
        let mut pairs: Vec<(&str, &str)> = PAIR_KEYS
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        if let Some(json) = &pairs_json {
            pairs.push(("SYNC_PAIRS", json.as_str()));
        }
        match Config::from_settings(&Settings::from_pairs(&pairs)) {
            Ok(c) => {
                prop_assert!(!c.pairs.is_empty());
                for pair in &c.pairs {
                    prop_assert_ne!(&pair.source, &pair.target);
                    prop_assert!(SSLMODES.contains(&pair.sslmode.as_str()));
                }
            }
            Err(e) => {
                let var = e.var.as_str();
                let known = PAIR_KEYS.contains(&var)
                    || ["SYNC_PAIRS", "METRICS_NAMESPACE", "STACK_NAME", "SECRETS_MANAGER_ENDPOINT"].contains(&var)
                    || var.starts_with("SYNC_PAIRS[");
                prop_assert!(known, "the error names a setting: {}", var);
            }
        }
    }
}

/// A PostgreSQL name from arbitrary Unicode: at most 40 bytes (PostgreSQL cuts names at
/// 63), no NUL, not `pg_…` (reserved for roles).
fn pg_name() -> impl Strategy<Value = String> {
    "[^\\x00]{1,20}".prop_map(|s| {
        let mut s: String = s
            .chars()
            .scan(0, |bytes, c| {
                *bytes += c.len_utf8();
                (*bytes <= 40).then_some(c)
            })
            .collect();
        if s.starts_with("pg_") {
            s.insert(0, 'u');
        }
        s
    })
}

/// Runs `psql "$URL" -c 'select 1'` with nothing but the URL (and the test CA) to log in
/// with. Never prints the URL or libpq's answer (which may quote the user name).
fn psql_select_1(url: &SecretString) -> bool {
    Command::new("psql")
        .arg(url.expose_secret())
        .args(["-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", "select 1"])
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .env("PGPASSFILE", "/dev/null")
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLROOTCERT", &postgres().ca_file)
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "1")
        .unwrap_or(false)
}

/// A sample of generated (user, password, database name): the role and the database are
/// created on the test server (scram-sha-256, TLS), the URL is built by rotor's builder
/// with `sslmode=verify-full`, and libpq logs in with it; Django's parser reads every part
/// back. Failures name the case and the part, never a value.
#[test]
fn a_sample_of_generated_urls_logs_in_through_psql_and_reads_back_through_dj_database_url() {
    let sample: usize = std::env::var("ROTOR_PSQL_SAMPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let pg = postgres();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = runtime.block_on(pg.admin());
    let mut runner = TestRunner::default();
    let strategy = (pg_name(), "[^\\x00]{1,32}", pg_name());
    let run = random_hex(3);
    let mut cases = Vec::new();
    for i in 0..sample {
        let (user, password, dbname) = strategy.new_tree(&mut runner).unwrap().current();
        // Unique per run and case, so cases and runs never collide.
        let user = format!("{user}_{run}{i}");
        let dbname = format!("{dbname}_{run}{i}");
        let password = SecretString::from(password);
        let ident = rotor_core::pg::quote_ident;
        let sql = format!(
            "CREATE ROLE {} LOGIN PASSWORD '{}'",
            ident(&user),
            rotor_core::pg::scram_verifier(&password)
        );
        runtime
            .block_on(admin.batch_execute(&sql))
            .unwrap_or_else(|_| panic!("case {i}: CREATE ROLE"));
        runtime
            .block_on(admin.batch_execute(&format!(
                "CREATE DATABASE {} OWNER {}",
                ident(&dbname),
                ident(&user)
            )))
            .unwrap_or_else(|_| panic!("case {i}: CREATE DATABASE"));
        let parts = UrlParts {
            user,
            password,
            host: pg.host.clone(),
            port: pg.port,
            dbname,
            sslmode: "verify-full".into(),
            extra_query: vec![],
        };
        let url = dsn::build(&parts).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert!(
            psql_select_1(&url),
            "case {i}: psql could not log in with the built URL"
        );
        cases.push((parts, url));
    }
    let urls: Vec<SecretString> = cases.iter().map(|(_, url)| url.clone()).collect();
    let read = dj_database_url(&urls);
    for (i, ((parts, _), got)) in cases.iter().zip(&read).enumerate() {
        assert!(
            got["USER"] == json!(parts.user),
            "case {i}: dj-database-url's user name differs"
        );
        assert!(
            got["PASSWORD"] == json!(parts.password.expose_secret()),
            "case {i}: dj-database-url's password differs"
        );
        assert!(
            got["NAME"] == json!(parts.dbname),
            "case {i}: dj-database-url's database name differs"
        );
        assert_eq!(got["HOST"], json!(parts.host), "case {i}: host");
        assert_eq!(got["PORT"], json!(parts.port), "case {i}: port");
    }
    eprintln!(
        "{} generated URLs logged in through psql and read back through dj-database-url",
        cases.len()
    );
}
