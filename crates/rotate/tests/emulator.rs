//! The built `rotor-rotate` binary under cargo-lambda's Lambda emulator, driven by the
//! `events/` fixtures, against moto and a real PostgreSQL.

// Shared with the other test binary, which uses more of it.
#[allow(dead_code)]
#[path = "rotation/common.rs"]
mod common;

use std::path::Path;

use common::*;
use rotor_core::ExposeSecret;
use rotor_rotate::RotationEvent;
use rotor_testkit::lambda::{self, moto_env};
use rotor_testkit::{postgres, workspace_root};
use serde_json::{Value, json};

const FIXTURES: [(&str, &str); 4] = [
    ("rotate-create-secret.json", "created"),
    ("rotate-set-secret.json", "password-set"),
    ("rotate-test-secret.json", "tested"),
    ("rotate-finish-secret.json", "finished"),
];

fn fixture(name: &str) -> Value {
    let path = workspace_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn every_rotation_fixture_parses_as_a_rotation_event_of_its_step() {
    for (name, _) in FIXTURES {
        let event = RotationEvent::from_value(&fixture(name)).unwrap();
        let expected = name.trim_start_matches("rotate-").trim_end_matches(".json");
        assert_eq!(
            event.step.as_str().to_ascii_lowercase(),
            expected.replace('-', ""),
            "{name}"
        );
        assert!(
            event.rotation_token.is_some(),
            "{name} carries a RotationToken"
        );
    }
}

#[tokio::test]
async fn the_binary_rotates_a_password_through_the_lambda_emulator() {
    let user = db_user("emulated_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;

    let mut env = moto_env(REGION);
    env.push((
        "PG_SSLROOTCERT".into(),
        postgres().ca_file.to_string_lossy().into_owned(),
    ));
    env.push(("AWS_LAMBDA_LOG_LEVEL".into(), "TRACE".into()));
    let function = lambda::start(Path::new(env!("CARGO_BIN_EXE_rotor-rotate")), &env);

    for (file, outcome) in FIXTURES {
        let mut event = fixture(file);
        event["SecretId"] = json!(arn);
        event["ClientRequestToken"] = json!(token);
        let out = function
            .invoke(&event)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(out["outcome"], outcome, "{file}");
    }
    end_rotation(&arn, &token).await;

    let new_password = password_of(&value_at(&arn, "AWSCURRENT").await);
    assert!(
        !can_login(&user.name, &user.password).await,
        "the old password is refused"
    );
    assert!(
        can_login(&user.name, &new_password).await,
        "the new password logs in"
    );

    let mut bad = fixture("rotate-set-secret.json");
    bad["Step"] = json!("rotateSecret");
    let err = function.invoke(&bad).await.unwrap_err();
    assert_eq!(err.error_type, "Rotor.InvalidEvent");
    assert!(err.error_message.contains("unknown Step"), "{err}");

    let log = function.log();
    assert!(
        log.contains("step succeeded"),
        "the function logged its steps"
    );
    // At TRACE the Lambda runtime would log each raw event, RotationToken and all.
    for (file, _) in FIXTURES {
        let rotation_token = fixture(file)["RotationToken"].as_str().unwrap().to_owned();
        assert!(
            !log.contains(&rotation_token),
            "the function log holds the RotationToken of {file}"
        );
    }
    assert!(
        !log.contains(new_password.expose_secret()),
        "the function log holds the new password"
    );
    assert!(
        !log.contains(user.password.expose_secret()),
        "the function log holds the old password"
    );
}

#[tokio::test]
async fn at_log_level_error_lambda_keeps_the_failure_and_the_metrics() {
    // Lambda's log-level filtering, as the deployed function meets it: JSON lines, ERROR.
    let mut env = moto_env(REGION);
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    env.push(("AWS_LAMBDA_LOG_LEVEL".into(), "ERROR".into()));
    let function = lambda::start(Path::new(env!("CARGO_BIN_EXE_rotor-rotate")), &env);
    let mut event = fixture("rotate-set-secret.json");
    event["SecretId"] = json!("rotate/test-no-such-secret");

    let err = function.invoke(&event).await.unwrap_err();
    assert_eq!(err.error_type, "Rotor.Aws.ResourceNotFoundException");

    let log = function.log();
    let kept: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter(|l| rotor_testkit::logs::lambda_keeps(l, "ERROR"))
        .collect();
    let failure = kept
        .iter()
        .find(|l| l.contains("step failed"))
        .unwrap_or_else(|| panic!("Lambda drops the failure at ERROR; the log:\n{log}"));
    assert_eq!(rotor_testkit::logs::shape_problem(failure, true), None);
    assert!(failure.contains("Rotor.Aws.ResourceNotFoundException"));
    assert!(
        kept.iter().any(|l| rotor_testkit::logs::is_metrics(l)),
        "Lambda drops the metrics at ERROR; the log:\n{log}"
    );
}
