//! The four built binaries as Lambda runs them: each under cargo-lambda's emulator,
//! invoked with `cargo lambda invoke --data-file` on the `events/` fixtures (resource
//! names swapped for this test's own), against moto and a real PostgreSQL.

use std::collections::BTreeMap;

use rotor_core::{ExposeSecret, SecretString};
use rotor_e2e::{binary, fixture, invoke_cli, with};
use rotor_testkit::lambda::{self, moto_env};
use rotor_testkit::{moto, postgres, random_hex, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

async fn stages(arn: &str) -> BTreeMap<String, Vec<String>> {
    let sm = moto().secrets(REGION).await;
    let d = sm
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("DescribeSecret");
    d.version_ids_to_stages
        .unwrap_or_default()
        .into_iter()
        .collect()
}

async fn current_value(arn: &str) -> String {
    let sm = moto().secrets(REGION).await;
    sm.get_secret_value()
        .secret_id(arn)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string
        .expect("a string secret")
}

#[tokio::test]
async fn a_rotation_step_by_step_then_a_url_sync_work_through_the_emulator() {
    let pg = postgres();
    let user = format!("e2e_{}", random_hex(4));
    let old = SecretString::from(format!("old-{}", random_hex(12)));
    pg.create_role(&user, &old).await;
    let sm = moto().secrets(REGION).await;
    let creds = json!({
        "engine": "postgres", "host": pg.host, "port": pg.port, "username": user,
        "password": old.expose_secret(), "dbname": "postgres", "team": "orders",
    });
    let arn = sm
        .create_secret()
        .name(unique("e2e/db"))
        .secret_string(creds.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();

    let mut env = moto_env(REGION);
    env.push((
        "PG_SSLROOTCERT".into(),
        pg.ca_file.to_string_lossy().into_owned(),
    ));
    let rotate = lambda::start(&binary("rotor-rotate"), &env);

    // A bad event: a clear error response, and nothing changes.
    let before = stages(&arn).await;
    let bad = with(
        fixture("rotate-set-secret.json"),
        &[
            ("/Step", json!("rotateEverything")),
            ("/SecretId", json!(arn)),
        ],
    );
    let err = invoke_cli(&rotate, &bad).unwrap_err();
    assert_eq!(err.error_type, "Rotor.InvalidEvent", "{err}");
    assert!(err.error_message.contains("Step"), "{err}");
    assert_eq!(stages(&arn).await, before, "a bad event changes no version");
    assert!(
        pg.can_login(&user, &old).await,
        "a bad event changes no password"
    );

    let token = rotor_testkit::rotation::begin(&sm, &arn).await;
    for file in [
        "rotate-create-secret.json",
        "rotate-set-secret.json",
        "rotate-test-secret.json",
        "rotate-finish-secret.json",
    ] {
        let event = with(
            fixture(file),
            &[
                ("/SecretId", json!(arn)),
                ("/ClientRequestToken", json!(token)),
            ],
        );
        invoke_cli(&rotate, &event).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    // Secrets Manager removes AWSPENDING itself after a successful rotation.
    rotor_testkit::rotation::end(&sm, &arn, &token).await;
    let stages_after = stages(&arn).await;
    assert_eq!(
        stages_after.get(&token),
        Some(&vec!["AWSCURRENT".to_owned()])
    );
    assert!(
        stages_after
            .values()
            .any(|s| s.contains(&"AWSPREVIOUS".to_owned()))
    );

    let rotated: Value = serde_json::from_str(&current_value(&arn).await).unwrap();
    let new = SecretString::from(rotated["password"].as_str().unwrap().to_owned());
    assert_eq!(rotated["team"], "orders", "other keys are kept");
    assert!(
        !pg.can_login(&user, &old).await,
        "the old password is refused"
    );
    assert!(
        pg.can_login(&user, &new).await,
        "the new password is accepted"
    );

    // The URL secret still holds the old password until rotor-sync-url runs.
    let target = sm
        .create_secret()
        .name(unique("e2e/url"))
        .secret_string(format!(
            "postgres://{user}:stale@{}:{}/postgres?sslmode=verify-full",
            pg.host, pg.port
        ))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut env = moto_env(REGION);
    env.push(("RDS_SECRET_ARN".into(), arn.clone()));
    env.push(("CUSTOM_SECRET_ARN".into(), target.clone()));
    env.push(("PG_SSLMODE".into(), "verify-full".into()));
    let sync = lambda::start(&binary("rotor-sync-url"), &env);
    let event = with(
        fixture("sync-url-rotation-succeeded.json"),
        &[("/detail/additionalEventData/SecretId", json!(arn))],
    );
    let out = invoke_cli(&sync, &event).expect("sync after rotation");
    assert!(
        out.to_string().contains("updated"),
        "the URL is rewritten: {out}"
    );

    let url = url::Url::parse(&current_value(&target).await).expect("a URL");
    let password = percent_decode(url.password().expect("a password"));
    let mut login = pg.target(&user, &SecretString::from(password), "postgres");
    login.dbname = url.path().trim_start_matches('/').to_owned();
    login
        .connect(&pg.tls())
        .await
        .expect("the synced URL logs in");

    let again = invoke_cli(&sync, &event).expect("second sync");
    assert!(
        again.to_string().contains("unchanged"),
        "a second run writes nothing: {again}"
    );

    for log in [rotate.log(), sync.log()] {
        for secret in [&old, &new] {
            assert!(
                !log.contains(secret.expose_secret()),
                "a function log holds a password"
            );
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
}

#[tokio::test]
async fn a_replication_event_and_a_full_sync_work_through_the_emulator() {
    let prefix = format!("/{}/", unique("e2e"));
    let mut env = moto_env(REGION);
    env.push(("TARGET_REGIONS".into(), "us-west-2,eu-west-1".into()));
    env.push(("PARAMETER_INCLUDE_PREFIXES".into(), prefix.clone()));
    env.push((
        "SECRET_INCLUDE_PREFIXES".into(),
        format!("{}/", unique("e2e-none")),
    ));
    let replicate = lambda::start(&binary("rotor-replicate"), &env);

    let ssm = moto().ssm(REGION).await;
    let first = format!("{prefix}db-host");
    ssm.put_parameter()
        .name(&first)
        .value("db.internal")
        .r#type("String".into())
        .send()
        .await
        .unwrap();
    let event = with(
        fixture("replicate-put-parameter.json"),
        &[("/detail/requestParameters/name", json!(first))],
    );
    invoke_cli(&replicate, &event).expect("event mode");
    for region in ["us-west-2", "eu-west-1"] {
        let got = moto()
            .ssm(region)
            .await
            .get_parameter()
            .name(&first)
            .send()
            .await
            .expect("replica exists");
        assert_eq!(
            got.parameter.unwrap().value.as_deref(),
            Some("db.internal"),
            "{region}"
        );
    }

    // Two more parameters without events: the daily full sync repairs them.
    for n in 0..2 {
        ssm.put_parameter()
            .name(format!("{prefix}missed-{n}"))
            .value(format!("v{n}"))
            .r#type("String".into())
            .send()
            .await
            .unwrap();
    }
    let out = invoke_cli(&replicate, &fixture("replicate-full-sync.json")).expect("full sync");
    assert!(out.is_object(), "the sync reports: {out}");
    assert_eq!(out["complete"], true, "the sync finished: {out}");
    for region in ["us-west-2", "eu-west-1"] {
        let client = moto().ssm(region).await;
        for n in 0..2 {
            let got = client
                .get_parameter()
                .name(format!("{prefix}missed-{n}"))
                .send()
                .await;
            assert!(got.is_ok(), "{prefix}missed-{n} replicated to {region}");
        }
    }
}

#[tokio::test]
async fn an_audit_works_through_the_emulator() {
    let prefix = format!("{}/", unique("e2e-audit"));
    let sm = moto().secrets(REGION).await;
    let name = format!("{prefix}never-rotated");
    sm.create_secret()
        .name(&name)
        .secret_string("x")
        .send()
        .await
        .unwrap();

    let mut env = moto_env(REGION);
    env.push(("PREFIXES".into(), prefix.clone()));
    let audit = lambda::start(&binary("rotor-audit"), &env);
    // Audited as of 100 days from now, through the event's time.
    let time = (chrono::Utc::now() + chrono::Duration::days(100))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let out = invoke_cli(
        &audit,
        &with(fixture("audit-scheduled.json"), &[("/time", json!(time))]),
    )
    .expect("audit");
    let text = out.to_string();
    assert!(text.contains(&name), "the secret is audited: {text}");
    assert!(text.contains("rotation-disabled"), "{text}");
    assert!(text.contains("too-old"), "{text}");
    assert!(
        audit.log().contains("CloudWatchMetrics"),
        "the EMF line is written"
    );
}

/// One shape for an event a function cannot use, whichever function: an ERROR line
/// "invalid event" inside the invocation (its request id), with `error_type`
/// `Rotor.InvalidEvent`, and the same type in the error the caller gets.
#[tokio::test]
async fn an_invalid_event_is_logged_the_same_way_by_every_function() {
    let secret =
        |tag: &str| format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:{tag}-AbCdEf");
    type Case = (&'static str, Vec<(&'static str, String)>, Value);
    let cases: [Case; 4] = [
        ("rotor-rotate", vec![], json!({"Step": "deleteSecret"})),
        (
            "rotor-sync-url",
            vec![
                ("RDS_SECRET_ARN", secret("src")),
                ("CUSTOM_SECRET_ARN", secret("dst")),
            ],
            json!({"hello": "world"}),
        ),
        (
            "rotor-replicate",
            vec![("TARGET_REGIONS", "us-west-2".to_owned())],
            json!({"hello": "world"}),
        ),
        ("rotor-audit", vec![], json!({"time": 42})),
    ];
    for (name, extra, event) in cases {
        let mut env = moto_env(REGION);
        env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        env.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let function = lambda::start(&binary(name), &env);
        let err = function.invoke(&event).await.expect_err(name);
        assert_eq!(err.error_type, "Rotor.InvalidEvent", "{name}: {err:?}");
        let log = function.log();
        let line = log
            .lines()
            .find(|l| l.contains("\"invalid event\""))
            .unwrap_or_else(|| panic!("{name} logs no invalid-event line: {log}"));
        assert_eq!(
            rotor_testkit::logs::shape_problem(line, true),
            None,
            "{name}"
        );
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["level"], "ERROR", "{name}: {line}");
        assert_eq!(v["message"], "invalid event", "{name}: {line}");
        assert_eq!(v["error_type"], "Rotor.InvalidEvent", "{name}: {line}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {line}"
        );
    }
}
