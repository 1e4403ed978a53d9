//! Single-user rotation against moto and a real PostgreSQL (scram-sha-256, TLS).

use std::time::{Duration, Instant};

use rotor_core::ExposeSecret;
use rotor_core::error::ErrorType;
use rotor_rotate::{RotateError, Step};
use rotor_testkit::{logs, postgres};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_full_rotation_changes_the_password_and_keeps_every_other_key() {
    let ctx = context(&[]).await;
    let user = db_user("single_", "old-").await;
    let original = db_json(&user, json!({"team": "payments", "nested": {"a": [1, 2]}}));
    let arn = create_secret(&original, &[]).await;
    let old_version = stages(&arn)
        .await
        .into_iter()
        .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
        .unwrap()
        .0;

    let token = rotate(&ctx, &arn).await;

    let now = value_at(&arn, "AWSCURRENT").await;
    let new_password = password_of(&now);
    assert!(
        new_password.expose_secret() != user.password.expose_secret(),
        "the password changed"
    );
    assert_eq!(
        new_password.expose_secret().len(),
        32,
        "PASSWORD_LENGTH default"
    );
    assert!(
        !can_login(&user.name, &user.password).await,
        "the old password is refused"
    );
    assert!(
        can_login(&user.name, &new_password).await,
        "the new password logs in"
    );
    for (key, value) in original.as_object().unwrap() {
        if key != "password" {
            assert_eq!(&now[key], value, "key {key} is unchanged");
        }
    }
    assert_eq!(
        now.as_object().unwrap().keys().collect::<Vec<_>>(),
        original.as_object().unwrap().keys().collect::<Vec<_>>(),
        "key order is kept"
    );
    let stages = stages(&arn).await;
    assert_eq!(stages[&token], ["AWSCURRENT"]);
    assert_eq!(stages[&old_version], ["AWSPREVIOUS"]);
    assert_same(
        &value_at(&arn, "AWSPREVIOUS").await,
        &original,
        "AWSPREVIOUS and the original value",
    );
}

#[tokio::test]
async fn each_step_run_twice_is_a_no_op_the_second_time() {
    let ctx = context(&[]).await;
    let user = db_user("twice_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;

    assert_eq!(
        step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap(),
        "created"
    );
    let pending = value_at(&arn, "AWSPENDING").await;
    assert_eq!(
        step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap(),
        "already-created"
    );
    assert_same(
        &value_at(&arn, "AWSPENDING").await,
        &pending,
        "AWSPENDING before and after the second createSecret",
    );
    assert_eq!(
        step(&ctx, Step::SetSecret, &arn, &token).await.unwrap(),
        "password-set"
    );
    assert_eq!(
        step(&ctx, Step::SetSecret, &arn, &token).await.unwrap(),
        "already-set"
    );
    assert_eq!(
        step(&ctx, Step::TestSecret, &arn, &token).await.unwrap(),
        "tested"
    );
    assert_eq!(
        step(&ctx, Step::TestSecret, &arn, &token).await.unwrap(),
        "tested"
    );
    assert_eq!(
        step(&ctx, Step::FinishSecret, &arn, &token).await.unwrap(),
        "finished"
    );
    assert_eq!(
        step(&ctx, Step::FinishSecret, &arn, &token).await.unwrap(),
        "already-current"
    );
    assert!(can_login(&user.name, &password_of(&pending)).await);
}

#[tokio::test]
async fn set_secret_succeeds_when_the_database_already_has_the_new_password() {
    let ctx = context(&[]).await;
    let user = db_user("already_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();
    let new_password = password_of(&value_at(&arn, "AWSPENDING").await);
    // An earlier attempt changed the password, then failed before reporting success.
    set_db_password(&user.name, &new_password).await;

    assert_eq!(
        step(&ctx, Step::SetSecret, &arn, &token).await.unwrap(),
        "already-set"
    );
    for s in [Step::TestSecret, Step::FinishSecret] {
        step(&ctx, s, &arn, &token).await.unwrap();
    }
    assert!(can_login(&user.name, &new_password).await);
}

#[tokio::test]
async fn a_rotation_completes_when_only_awsprevious_still_logs_in() {
    let ctx = context(&[]).await;
    let user = db_user("previous_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    rotate(&ctx, &arn).await;
    // The database went back to the old password (a restore, say): AWSCURRENT no longer
    // logs in, AWSPREVIOUS does.
    set_db_password(&user.name, &user.password).await;
    let stale = password_of(&value_at(&arn, "AWSCURRENT").await);
    assert!(!can_login(&user.name, &stale).await);

    rotate(&ctx, &arn).await;

    let newest = password_of(&value_at(&arn, "AWSCURRENT").await);
    assert!(
        can_login(&user.name, &newest).await,
        "the new password logs in"
    );
    assert!(
        !can_login(&user.name, &user.password).await,
        "the old one no longer does"
    );
}

#[tokio::test]
async fn names_and_passwords_with_quotes_backslashes_spaces_and_non_ascii_rotate() {
    // New passwords may contain every printable character but `~`.
    let ctx = context(&[("EXCLUDE_CHARACTERS", "~"), ("PASSWORD_LENGTH", "48")]).await;
    let user = db_user("o'brien \"q\" \\ $x%@ ü ", "pw 'q' \"d\" \\ $1 %2 @3 ü ").await;
    assert!(
        can_login(&user.name, &user.password).await,
        "the awkward role exists"
    );
    let original = db_json(&user, json!({}));
    let arn = create_secret(&original, &[]).await;

    rotate(&ctx, &arn).await;

    let now = value_at(&arn, "AWSCURRENT").await;
    assert_eq!(now["username"], user.name.as_str());
    let new_password = password_of(&now);
    assert!(
        can_login(&user.name, &new_password).await,
        "the new password logs in"
    );
    assert!(
        !can_login(&user.name, &user.password).await,
        "the old one is refused"
    );
    logs::assert_absent(new_password.expose_secret(), "new password");
    logs::assert_absent(user.password.expose_secret(), "old password");
}

#[tokio::test]
async fn neither_the_server_log_nor_the_function_log_ever_holds_a_password() {
    let ctx = context(&[]).await;
    let user = db_user("nolog_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;

    rotate(&ctx, &arn).await;
    // And once more, so the log covers a rotation starting from a generated password.
    let first = password_of(&value_at(&arn, "AWSCURRENT").await);
    rotate(&ctx, &arn).await;
    let second = password_of(&value_at(&arn, "AWSCURRENT").await);

    let server_log = postgres().server_log();
    assert!(
        server_log.contains("COPY pg_temp.rotor_password FROM STDIN"),
        "the password change is in the server log"
    );
    // Nor a verifier (the test kit's own statements aside).
    assert_eq!(
        verifier_lines(&server_log),
        0,
        "server log lines with a SCRAM verifier"
    );
    for (password, what) in [
        (&user.password, "original password"),
        (&first, "first new password"),
        (&second, "second new password"),
    ] {
        assert!(
            !server_log.contains(password.expose_secret()),
            "the server's statement log holds the {what}"
        );
        logs::assert_absent(password.expose_secret(), what);
    }
    // The verifier is a password hash: it must not reach the function's logs either
    // (lines of the test kit's own CREATE ROLE excepted).
    let leaked = logs::contents()
        .lines()
        .filter(|l| l.contains("SCRAM-SHA-256$") && !l.contains("CREATE ROLE \""))
        .count();
    assert_eq!(leaked, 0, "log lines with a SCRAM verifier");
    let log = logs::contents();
    assert!(
        log.contains("step succeeded") && log.contains(r#""outcome":"password-set""#),
        "every step logs its outcome"
    );
}

#[tokio::test]
async fn an_unreachable_database_fails_set_secret_within_the_deadline() {
    // A server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let ctx = context(&[
        ("PG_CONNECT_TIMEOUT", "5"),
        ("DEADLINE_MARGIN_SECONDS", "1"),
    ])
    .await;
    let user = db_user("unreachable_", "old-").await;
    let mut value = db_json(&user, json!({}));
    value["port"] = json!(port);
    let arn = create_secret(&value, &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();

    let started = Instant::now();
    let err = invoke(&ctx, event("setSecret", &arn, &token), 4)
        .await
        .unwrap_err();
    let took = started.elapsed();

    assert!(
        took < Duration::from_secs(4),
        "failed after {took:?}, past the deadline"
    );
    assert!(
        matches!(err, RotateError::Login(_) | RotateError::Deadline { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&arn), "names the secret: {text}");
    assert!(
        text.contains("timeout") || text.contains("deadline"),
        "{text}"
    );
    assert!(
        can_login(&user.name, &user.password).await,
        "AWSCURRENT still logs in"
    );
    assert_eq!(stages(&arn).await[&token], ["AWSPENDING"]);
}

#[tokio::test]
async fn the_rotation_token_is_passed_to_put_secret_value() {
    // The function talks to moto through a recording proxy, so the test reads the
    // PutSecretValue request itself (moto accepts and forgets the token).
    let proxy = rotor_testkit::fault::Proxy::http(&rotor_testkit::moto().endpoint).await;
    let ctx = context_at(&proxy.endpoint()).await;
    let user = db_user("token_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;
    let rotation_token = format!("rt-{}", rotor_testkit::random_hex(8));
    let mut e = event("createSecret", &arn, &token);
    e["RotationToken"] = json!(rotation_token);
    let out = invoke(&ctx, e, 60).await.unwrap();
    assert_eq!(out["outcome"], "created");
    assert!(value_at(&arn, "AWSPENDING").await["password"].is_string());
    let puts: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.target() == Some("secretsmanager.PutSecretValue"))
        .collect();
    assert_eq!(puts.len(), 1, "one PutSecretValue");
    // Only the two token fields are read: the body also holds the new password.
    let body = puts[0].json();
    // Compared, not printed: the token is redacted everywhere else too.
    assert!(
        body["RotationToken"] == rotation_token.as_str(),
        "PutSecretValue carries the event's RotationToken"
    );
    assert_eq!(body["ClientRequestToken"], token.as_str());
}

/// [`context`], with the function's AWS calls sent to `endpoint` (a proxy in front of moto).
pub(crate) async fn context_at(endpoint: &str) -> rotor_rotate::Context {
    rotor_testkit::logs::capture();
    let ca = postgres().ca_file.to_string_lossy().into_owned();
    let config = rotor_rotate::Config::from_settings(&rotor_core::config::Settings::from_pairs(&[
        ("PG_SSLROOTCERT", &ca),
        ("PG_CONNECT_TIMEOUT", "3"),
    ]))
    .expect("test settings are valid");
    rotor_rotate::Context::new(
        &rotor_testkit::fault::sdk_config(endpoint, REGION).await,
        config,
    )
}

#[tokio::test]
async fn a_user_without_the_temporary_privilege_is_refused_with_the_grant_it_needs() {
    // A hardened database: PUBLIC's TEMPORARY privilege revoked. The verifier has no other
    // way to the server that keeps it out of statement logs, so setSecret must stop, say
    // which privilege is missing, and change nothing.
    let ctx = context(&[]).await;
    let admin = postgres().admin().await;
    let db = format!("notemp_{}", rotor_testkit::random_hex(4));
    for sql in [
        format!("CREATE DATABASE {db}"),
        format!("REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC"),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    let user = db_user("notemp_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({"dbname": db})), &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();
    let pending = password_of(&value_at(&arn, "AWSPENDING").await);

    let err = step(&ctx, Step::SetSecret, &arn, &token).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.Postgres.permission", "{err}");
    let text = err.to_string();
    for part in [
        "temporary tables",
        db.as_str(),
        "needs the TEMPORARY privilege",
        &user.name,
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert!(
        can_login(&user.name, &user.password).await && !can_login(&user.name, &pending).await,
        "the password is unchanged"
    );
    assert!(stages(&arn).await[&token].contains(&"AWSPENDING".to_owned()));

    // The grant the error names is all it takes: the rotation's retry completes.
    admin
        .batch_execute(&format!(
            "GRANT TEMPORARY ON DATABASE {db} TO \"{}\"",
            user.name
        ))
        .await
        .unwrap();
    for s in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        step(&ctx, s, &arn, &token).await.unwrap();
    }
    assert!(can_login(&user.name, &pending).await);
    for (password, what) in [(&user.password, "old password"), (&pending, "new password")] {
        assert!(
            !text.contains(password.expose_secret()),
            "the error holds the {what}"
        );
        logs::assert_absent(password.expose_secret(), what);
    }
}

#[tokio::test]
async fn a_change_held_up_by_a_lock_past_the_deadline_is_never_committed_later() {
    // Another transaction holds the role (as an administrator's open `ALTER ROLE` would)
    // until after the step has given up, then rolls back. The server still holds the
    // step's batch, COMMIT included: without a limit of its own it would change the
    // password once the lock is free, after rotor said it had not, and AWSCURRENT would no
    // longer log in.
    let ctx = context(&[("DEADLINE_MARGIN_SECONDS", "1")]).await;
    let user = db_user("locked_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();
    let pending = password_of(&value_at(&arn, "AWSPENDING").await);
    let blocker = postgres().admin().await;
    blocker
        .batch_execute(&format!(
            "BEGIN; ALTER ROLE \"{}\" CONNECTION LIMIT 100",
            user.name
        ))
        .await
        .unwrap();

    // 4 s to the Lambda deadline, 1 s kept in reserve: the step has 3 s.
    let started = Instant::now();
    let err = invoke(&ctx, event("setSecret", &arn, &token), 4)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    assert_eq!(err.error_type(), "Rotor.Postgres.timeout", "{err}");
    let text = err.to_string();
    // The lock's own limit is the shorter; on a machine slow enough between the statement's
    // start and its lock wait, the statement's limit would speak instead.
    for part in [
        "canceling statement due to",
        "committed nothing",
        &user.name,
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }

    blocker.batch_execute("ROLLBACK").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        can_login(&user.name, &user.password).await,
        "AWSCURRENT still logs in after the lock is gone"
    );
    assert!(
        !can_login(&user.name, &pending).await,
        "the change was committed after the step gave up"
    );
    assert_eq!(
        verifier_lines(&postgres().server_log()),
        0,
        "server log lines with a SCRAM verifier (a timeout's error context)"
    );

    // The retry Secrets Manager makes completes the rotation.
    for s in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        step(&ctx, s, &arn, &token).await.unwrap();
    }
    assert!(can_login(&user.name, &pending).await);
    logs::assert_absent(pending.expose_secret(), "new password");
}

#[tokio::test]
async fn a_password_change_that_runs_past_its_time_in_all_is_not_committed() {
    // Each statement within the server's limit, all of them together past it: the guard
    // before COMMIT refuses the transaction.
    use rotor_rotate::database::{self, PasswordChange, Transaction, VerifierTask};
    use rotor_rotate::deadline::Deadline;
    let user = db_user("slow_", "old-").await;
    let admin = postgres().admin().await;
    let new_password =
        rotor_core::SecretString::from(format!("new-{}", rotor_testkit::random_hex(12)));
    let deadline = Deadline::after(Duration::from_millis(1200), Duration::ZERO);
    let limit = database::server_limit(&deadline).unwrap();
    assert!(limit < Duration::from_millis(1200) && limit > Duration::from_millis(600));
    let change = PasswordChange {
        role: &user.name,
        verifier: &VerifierTask::start(&new_password).ready().await,
        create: false,
        then: vec!["SELECT pg_catalog.pg_sleep(0.3)".to_owned(); 4],
    };
    let err = database::set_password(&admin, change, Transaction::Begin(&deadline))
        .await
        .unwrap_err();
    assert_eq!(err.kind, rotor_core::pg::FailureKind::Timeout, "{err}");
    assert!(err.detail.contains("ran past rotor's time limit"), "{err}");
    drop(admin);
    assert!(
        can_login(&user.name, &user.password).await,
        "the password is unchanged"
    );
    assert!(!can_login(&user.name, &new_password).await);
}

#[tokio::test]
async fn a_transaction_left_idle_past_its_time_is_ended_by_the_server() {
    // An invocation frozen or killed between two batches leaves its connection open; the
    // server ends the session rather than keep the transaction (and its locks) open.
    use rotor_rotate::database;
    use rotor_rotate::deadline::Deadline;
    let admin = postgres().admin().await;
    let deadline = Deadline::after(Duration::from_millis(400), Duration::ZERO);
    database::begin_guarded(&admin, &deadline).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let err = admin.simple_query("SELECT 1").await.unwrap_err();
    assert!(
        err.to_string().contains("idle-in-transaction timeout") || admin.is_closed(),
        "{err}"
    );
}
