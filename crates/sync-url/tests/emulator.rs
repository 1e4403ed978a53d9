//! The built `rotor-sync-url` binary under cargo-lambda's Lambda emulator, invoked with
//! the `events/` fixture files as they are, against moto and a real PostgreSQL.

use std::path::Path;
use std::process::{Command, Stdio};

use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::lambda::{self, moto_env};
use rotor_testkit::{moto, postgres, random_hex, unique, workspace_root};
use serde_json::json;

const REGION: &str = "us-east-1";

/// The source the fixtures name (`…:secret:<this>-Xy12Zw`). Configured by name, the
/// function matches the fixtures' ARN; this test binary's moto holds no other secret of
/// that name.
const FIXTURE_SOURCE_NAME: &str = "rds!db-3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";

async fn current(sm: &aws_sdk_secretsmanager::Client, id: &str) -> SecretString {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("GetSecretValue");
    SecretString::from(out.secret_string().expect("a string").to_owned())
}

fn psql_logs_in(url: &SecretString) -> bool {
    Command::new("psql")
        .arg(url.expose_secret())
        .args(["-X", "-tA", "-c", "select 1"])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/dev/null")
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "1")
        .unwrap_or(false)
}

async fn rotate(sm: &aws_sdk_secretsmanager::Client, source: &str, user: &str) -> String {
    let password = format!("r0t@ted:/?#% '\"ü-{}", random_hex(6));
    let sql = format!(
        "ALTER ROLE {} PASSWORD '{}'",
        rotor_core::pg::quote_ident(user),
        rotor_core::pg::scram_verifier(&SecretString::from(password.clone()))
    );
    postgres()
        .admin()
        .await
        .batch_execute(&sql)
        .await
        .expect("ALTER ROLE");
    sm.put_secret_value()
        .secret_id(source)
        .secret_string(json!({"username": user, "password": password}).to_string())
        .send()
        .await
        .expect("PutSecretValue");
    password
}

#[tokio::test]
async fn the_binary_follows_rotations_from_each_fixture_file_and_logs_no_secret() {
    let pg = postgres();
    let sm = moto().secrets(REGION).await;
    let user = unique("emulated_app");
    let first = format!("first-{}", random_hex(6));
    pg.create_role(&user, &SecretString::from(first.clone()))
        .await;
    let source = sm
        .create_secret()
        .name(FIXTURE_SOURCE_NAME)
        .secret_string(json!({"username": user, "password": first}).to_string())
        .send()
        .await
        .expect("CreateSecret source")
        .arn
        .unwrap();
    let target = sm
        .create_secret()
        .name(unique("app/database-url"))
        .send()
        .await
        .expect("CreateSecret target")
        .arn
        .unwrap();

    let mut env = moto_env(REGION);
    for (k, v) in [
        ("RDS_SECRET_ARN", FIXTURE_SOURCE_NAME.to_owned()),
        ("CUSTOM_SECRET_ARN", target.clone()),
        ("DB_HOST", pg.host.clone()),
        ("DB_PORT", pg.port.to_string()),
        ("DB_NAME", "postgres".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
    ] {
        env.push((k.to_owned(), v));
    }
    let function = lambda::start(Path::new(env!("CARGO_BIN_EXE_rotor-sync-url")), &env);
    let events = workspace_root().join("events");

    let out = function
        .invoke_file(&events.join("sync-url-scheduled.json"))
        .await
        .expect("scheduled run");
    assert_eq!(out["trigger"], "schedule");
    assert_eq!(out["results"][0]["action"], "updated");
    let mut urls = vec![current(&sm, &target).await];
    assert!(psql_logs_in(&urls[0]), "the first URL logs in");
    let mut passwords = vec![first];

    for fixture in [
        "sync-url-rotation-succeeded.json",
        "sync-url-put-secret-value.json",
    ] {
        passwords.push(rotate(&sm, &source, &user).await);
        let out = function
            .invoke_file(&events.join(fixture))
            .await
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        assert_eq!(out["results"][0]["action"], "updated", "{fixture}");
        assert_eq!(
            out["results"][0]["changed"],
            json!(["password"]),
            "{fixture}"
        );
        let url = current(&sm, &target).await;
        assert!(psql_logs_in(&url), "the URL after {fixture} logs in");
        urls.push(url);
    }

    let out = function
        .invoke_file(&events.join("sync-url-scheduled.json"))
        .await
        .expect("scheduled run");
    assert_eq!(out["results"][0]["action"], "unchanged");

    let err = function
        .invoke(&json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "Rotor.InvalidEvent");

    let log = function.log();
    assert!(
        log.contains("\"action\":\"updated\""),
        "one JSON line per action"
    );
    assert!(
        log.contains("UrlsUpdated"),
        "an EMF metrics line per invocation"
    );
    for (i, p) in passwords.iter().enumerate() {
        let escaped = serde_json::to_string(p).unwrap();
        assert!(
            !log.contains(p.as_str()),
            "password #{i} in the function's output"
        );
        assert!(
            !log.contains(&escaped[1..escaped.len() - 1]),
            "password #{i} (JSON-escaped) in the function's output"
        );
        assert!(
            !log.contains(&rotor_sync_url::dsn::encode(p)),
            "password #{i} (percent-encoded) in the function's output"
        );
    }
    for (i, u) in urls.iter().enumerate() {
        assert!(
            !log.contains(u.expose_secret()),
            "URL #{i} in the function's output"
        );
    }
}
