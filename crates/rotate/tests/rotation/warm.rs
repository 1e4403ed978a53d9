//! A warm instance between the steps of one rotation: what createSecret read and stored is
//! not read again, the first login begins beside DescribeSecret, and nothing kept is used,
//! and nothing changes, once the secret's stages say otherwise.

use std::time::{Duration, Instant};

use rotor_core::ExposeSecret;
use rotor_core::aws_calls::Counts;
use rotor_core::error::ErrorType;
use rotor_rotate::{Context, Step};
use rotor_testkit::fault::{Fault, Kind, Proxy, When};
use rotor_testkit::{moto, postgres};
use serde_json::json;

use crate::common::*;

/// Runs one step and returns the AWS calls it made, by operation.
async fn calls_of(ctx: &Context, s: Step, arn: &str, token: &str) -> Counts {
    let before = ctx.calls.snapshot();
    if let Err(e) = step(ctx, s, arn, token).await {
        panic!("{s} failed: {e}");
    }
    ctx.calls.since(&before)
}

fn counts(pairs: &[(&str, u64)]) -> Counts {
    pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

#[tokio::test]
async fn a_warm_instance_reads_each_value_of_a_rotation_once() {
    let ctx = context(&[]).await;
    let user = db_user("warm_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;

    let describe = ("DescribeSecret", 1);
    assert_eq!(
        calls_of(&ctx, Step::CreateSecret, &arn, &token).await,
        counts(&[describe, ("GetSecretValue", 1), ("PutSecretValue", 1)]),
        "createSecret reads AWSCURRENT, makes the password itself, stores it"
    );

    // A retry on another instance: the store is refused (the token holds a value already),
    // the value found is kept, and the next steps on the warm instance are unaffected.
    let stored = value_at(&arn, "AWSPENDING").await;
    let cold = context(&[]).await;
    let before = cold.calls.snapshot();
    assert_eq!(
        step(&cold, Step::CreateSecret, &arn, &token).await.unwrap(),
        "already-created"
    );
    assert_eq!(
        cold.calls.since(&before),
        counts(&[describe, ("GetSecretValue", 2), ("PutSecretValue", 1)]),
        "the refused store, then the read of what an earlier attempt stored"
    );
    assert_same(
        &value_at(&arn, "AWSPENDING").await,
        &stored,
        "AWSPENDING before and after the retry",
    );
    assert_eq!(
        calls_of(&ctx, Step::SetSecret, &arn, &token).await,
        counts(&[describe]),
        "setSecret uses the values createSecret read and stored"
    );
    assert_eq!(
        calls_of(&ctx, Step::TestSecret, &arn, &token).await,
        counts(&[describe])
    );
    assert_eq!(
        calls_of(&ctx, Step::FinishSecret, &arn, &token).await,
        counts(&[describe, ("UpdateSecretVersionStage", 1)])
    );
    end_rotation(&arn, &token).await;
    let now = password_of(&value_at(&arn, "AWSCURRENT").await);
    assert!(
        can_login(&user.name, &now).await,
        "the new password logs in"
    );

    // A cold instance for each step reads what it needs, and the next rotation on the warm
    // one starts from nothing kept.
    let token = begin_rotation(&arn).await;
    assert_eq!(
        calls_of(&ctx, Step::CreateSecret, &arn, &token).await,
        counts(&[describe, ("GetSecretValue", 1), ("PutSecretValue", 1)]),
    );
    let cold = context(&[]).await;
    assert_eq!(
        calls_of(&cold, Step::SetSecret, &arn, &token).await,
        counts(&[describe, ("GetSecretValue", 2)]),
    );
    let cold = context(&[]).await;
    assert_eq!(
        calls_of(&cold, Step::TestSecret, &arn, &token).await,
        counts(&[describe, ("GetSecretValue", 1)]),
    );
    calls_of(&cold, Step::FinishSecret, &arn, &token).await;
    end_rotation(&arn, &token).await;
    let newest = password_of(&value_at(&arn, "AWSCURRENT").await);
    assert!(newest.expose_secret() != now.expose_secret());
    assert!(can_login(&user.name, &newest).await);
}

#[tokio::test]
async fn a_kept_awscurrent_value_is_not_used_once_awscurrent_moved() {
    let ctx = context(&[]).await;
    let user = db_user("moved_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();

    // Between the steps an administrator changes the password and stores it as a new
    // AWSCURRENT: the value this instance kept no longer logs in.
    let replaced = db_user("unused_", "admin-").await;
    let admin = DbUser {
        name: user.name.clone(),
        password: replaced.password,
    };
    set_db_password(&admin.name, &admin.password).await;
    sm().await
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(db_json(&admin, json!({})).to_string())
        .version_stages("AWSCURRENT")
        .send()
        .await
        .expect("PutSecretValue");

    let before = ctx.calls.snapshot();
    step(&ctx, Step::SetSecret, &arn, &token)
        .await
        .expect("setSecret logs in with the described AWSCURRENT");
    assert_eq!(
        ctx.calls.since(&before).get("GetSecretValue"),
        Some(&1),
        "the moved AWSCURRENT is read"
    );
    let pending = password_of(&value_at(&arn, "AWSPENDING").await);
    assert!(
        can_login(&user.name, &pending).await,
        "the pending password is set"
    );
}

/// The sessions `user` has open on the test server, and its password verifier, as the
/// server's administrator sees them.
async fn sessions_and_verifier(user: &str) -> (i64, String) {
    let row = postgres()
        .admin()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE usename = $1), \
                    (SELECT rolpassword FROM pg_authid WHERE rolname = $1)",
            &[&user],
        )
        .await
        .expect("pg_stat_activity and pg_authid");
    (row.get(0), row.get(1))
}

/// Runs `s` while DescribeSecret's answer is held for a second, and returns its result with
/// what the server showed of `user` while the answer was still held: its open sessions and
/// whether its password was still the one it had before the step.
async fn step_with_describe_held(
    ctx: &Context,
    proxy: &Proxy,
    s: Step,
    arn: &str,
    token: &str,
    user: &str,
) -> (Result<String, rotor_rotate::RotateError>, i64, bool) {
    let (_, before) = sessions_and_verifier(user).await;
    proxy.arm(Fault {
        kind: Kind::Delay(Duration::from_millis(1500)),
        when: When::After,
        at: 0,
    });
    let watch = async {
        // Well inside the hold: DescribeSecret has not been answered yet.
        let started = Instant::now();
        let mut seen = (0, true);
        while started.elapsed() < Duration::from_millis(900) {
            let (sessions, verifier) = sessions_and_verifier(user).await;
            seen = (sessions, verifier == before);
            if sessions > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seen
    };
    let (result, (sessions, unchanged)) = tokio::join!(step(ctx, s, arn, token), watch);
    proxy.heal();
    (result, sessions, unchanged)
}

#[tokio::test]
async fn a_warm_step_logs_in_while_describe_secret_is_answered_and_changes_nothing_before_the_protocol_check()
 {
    let proxy = Proxy::http(&moto().endpoint).await;
    let ctx = context_at(&proxy.endpoint(), &[]).await;
    let user = db_user("early_", "old-").await;
    let arn = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();

    // setSecret and testSecret log in with the values createSecret kept while their
    // DescribeSecret is still unanswered; the password changes only after the check.
    for s in [Step::SetSecret, Step::TestSecret] {
        let (result, sessions, unchanged) =
            step_with_describe_held(&ctx, &proxy, s, &arn, &token, &user.name).await;
        assert!(result.is_ok(), "{s} failed: {}", result.unwrap_err());
        assert_eq!(sessions, 1, "{s}: a session before DescribeSecret answered");
        assert!(unchanged, "{s}: no change before DescribeSecret answered");
    }
    step(&ctx, Step::FinishSecret, &arn, &token).await.unwrap();
    end_rotation(&arn, &token).await;
    let now = password_of(&value_at(&arn, "AWSCURRENT").await);
    assert!(can_login(&user.name, &now).await);

    // The next rotation's token stops being AWSPENDING between createSecret and setSecret:
    // the early session opens, the protocol check refuses, the password stays, and the
    // session is closed.
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();
    sm().await
        .update_secret_version_stage()
        .secret_id(&arn)
        .version_stage("AWSPENDING")
        .remove_from_version_id(&token)
        .send()
        .await
        .expect("UpdateSecretVersionStage");
    let (_, verifier_before) = sessions_and_verifier(&user.name).await;
    let (result, sessions, unchanged) =
        step_with_describe_held(&ctx, &proxy, Step::SetSecret, &arn, &token, &user.name).await;
    let err = result.expect_err("a version that is not pending is refused");
    assert_eq!(
        err.error_type().to_string(),
        "Rotor.Rotation.NotPending",
        "{err}"
    );
    assert_eq!(sessions, 1, "the early session opened");
    assert!(unchanged);
    let started = Instant::now();
    loop {
        let (sessions, verifier) = sessions_and_verifier(&user.name).await;
        assert!(
            verifier == verifier_before,
            "the refused step changed the password"
        );
        if sessions == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the early session is still open after the refusal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        can_login(&user.name, &now).await,
        "AWSCURRENT still logs in"
    );
}

#[tokio::test]
async fn an_app_secret_that_holds_login_credentials_logs_in_nowhere() {
    // An app secret whose keys happen to look like credentials of the test server: no
    // step of its rotation, warm or not, logs in with them.
    let ctx = context(&[]).await;
    let user = db_user("appcreds_", "old-").await;
    let pg = postgres();
    let arn = create_secret(
        &json!({"username": user.name, "password": user.password.expose_secret(),
                "host": pg.host, "port": pg.port, "api_key": "k1"}),
        &[
            ("rotor:strategy", "app-secret"),
            ("rotor:app-secret-keys", "api_key"),
        ],
    )
    .await;
    rotate(&ctx, &arn).await;
    assert_eq!(
        ctx.logins.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "an app secret's rotation logged in"
    );
}
