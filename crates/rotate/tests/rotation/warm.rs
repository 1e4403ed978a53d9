//! A warm instance between the steps of one rotation: what createSecret read and stored is
//! not read again, and nothing kept is used once the secret's stages say otherwise.

use rotor_core::ExposeSecret;
use rotor_core::aws_calls::Counts;
use rotor_rotate::{Context, Step};
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
        counts(&[describe, ("GetSecretValue", 2), ("PutSecretValue", 1)]),
        "createSecret reads AWSCURRENT and AWSPENDING, makes the password itself, stores it"
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
        counts(&[describe, ("GetSecretValue", 2), ("PutSecretValue", 1)]),
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
