//! Events and secrets the function must refuse: each with a clear error, and neither the
//! secret nor the database password changed.

use rotor_core::error::ErrorType;
use rotor_rotate::{RotateError, Step};
use rotor_testkit::fault::Proxy;
use serde_json::{Value, json};

use crate::common::*;

/// A secret for `user` and its untouched state, to compare against after a failure.
struct Before {
    arn: String,
    stages: std::collections::HashMap<String, Vec<String>>,
    current: Value,
    user: DbUser,
}

async fn setup(value: impl FnOnce(&DbUser) -> Value, tags: &[(&str, &str)]) -> Before {
    let user = db_user("refused_", "old-").await;
    let arn = create_secret(&value(&user), tags).await;
    Before {
        stages: stages(&arn).await,
        current: value_at(&arn, "AWSCURRENT").await,
        arn,
        user,
    }
}

impl Before {
    async fn assert_unchanged(&self) {
        assert_eq!(stages(&self.arn).await, self.stages, "stages changed");
        assert_same(
            &value_at(&self.arn, "AWSCURRENT").await,
            &self.current,
            "AWSCURRENT",
        );
        assert!(
            can_login(&self.user.name, &self.user.password).await,
            "the database password changed"
        );
    }
}

#[tokio::test]
async fn a_token_that_is_not_a_version_of_the_secret_is_refused() {
    let ctx = context(&[]).await;
    let s = setup(|u| db_json(u, json!({})), &[]).await;
    let token = begin_rotation(&s.arn).await;
    let before = Before {
        stages: stages(&s.arn).await,
        ..s
    };
    let wrong = format!("{token}-not-it");
    for step_name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let err = invoke(&ctx, event(step_name, &before.arn, &wrong), 30)
            .await
            .unwrap_err();
        assert!(matches!(err, RotateError::UnknownVersion { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&before.arn) && text.contains(&wrong),
            "{text}"
        );
        assert_eq!(err.error_type(), "Rotor.Rotation.UnknownVersion");
    }
    before.assert_unchanged().await;
}

#[tokio::test]
async fn a_token_that_is_already_current_is_logged_and_changes_nothing() {
    let ctx = context(&[]).await;
    let s = setup(|u| db_json(u, json!({})), &[]).await;
    let current_version = s
        .stages
        .iter()
        .find(|(_, st)| st.iter().any(|x| x == "AWSCURRENT"))
        .unwrap()
        .0
        .clone();
    // Rotation on, as when Secrets Manager retries a rotation that already finished.
    let _pending = begin_rotation(&s.arn).await;
    let before = Before {
        stages: stages(&s.arn).await,
        ..s
    };
    for step_name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let out = invoke(&ctx, event(step_name, &before.arn, &current_version), 30)
            .await
            .unwrap();
        assert_eq!(out["outcome"], "already-current", "{step_name}");
    }
    before.assert_unchanged().await;
}

#[tokio::test]
async fn a_secret_without_rotation_enabled_is_refused() {
    let ctx = context(&[]).await;
    let s = setup(|u| db_json(u, json!({})), &[]).await;
    // A pending version put by hand, without RotateSecret.
    let token = format!(
        "{}-{}",
        rotor_testkit::random_hex(8),
        rotor_testkit::random_hex(12)
    );
    sm().await
        .put_secret_value()
        .secret_id(&s.arn)
        .client_request_token(&token)
        .secret_string(s.current.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let before = Before {
        stages: stages(&s.arn).await,
        ..s
    };
    let err = invoke(&ctx, event("setSecret", &before.arn, &token), 30)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RotateError::RotationNotEnabled { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("rotation is not enabled on secret {}", before.arn)
    );
    before.assert_unchanged().await;
}

#[tokio::test]
async fn a_version_that_is_not_pending_is_refused() {
    let ctx = context(&[]).await;
    let s = setup(|u| db_json(u, json!({})), &[]).await;
    let first = rotate(&ctx, &s.arn).await;
    rotate(&ctx, &s.arn).await;
    // `first` is now AWSPREVIOUS.
    let err = invoke(&ctx, event("setSecret", &s.arn, &first), 30)
        .await
        .unwrap_err();
    assert!(matches!(err, RotateError::NotPending { .. }), "{err}");
    assert!(err.to_string().contains("AWSPREVIOUS") && err.to_string().contains(&first));
}

#[tokio::test]
async fn an_unknown_step_is_refused_before_anything_is_read() {
    // The function reaches moto and PostgreSQL only through counting proxies.
    let moto_proxy = Proxy::http(&rotor_testkit::moto().endpoint).await;
    let pg_proxy = Proxy::postgres(rotor_testkit::postgres()).await;
    let ctx = crate::single_user::context_at(&moto_proxy.endpoint()).await;
    let s = setup(
        |u| {
            let mut v = db_json(u, json!({}));
            v["port"] = json!(pg_proxy.port());
            v
        },
        &[],
    )
    .await;
    let token = begin_rotation(&s.arn).await;
    let before = Before {
        stages: stages(&s.arn).await,
        ..s
    };
    let err = invoke(&ctx, event("rotateSecret", &before.arn, &token), 30)
        .await
        .unwrap_err();
    assert!(matches!(err, RotateError::Event(_)), "{err}");
    assert!(
        err.to_string().contains("unknown Step \"rotateSecret\""),
        "{err}"
    );
    assert_eq!(err.error_type(), "Rotor.InvalidEvent");
    let err = invoke(
        &ctx,
        json!({"Step": "createSecret", "SecretId": before.arn}),
        30,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("`ClientRequestToken` is missing"),
        "{err}"
    );
    assert_eq!(moto_proxy.units(), 0, "no request reached moto");
    assert_eq!(moto_proxy.connections(), 0, "no connection to moto");
    assert_eq!(
        pg_proxy.connections(),
        0,
        "no connection reached PostgreSQL"
    );
    before.assert_unchanged().await;
}

#[tokio::test]
async fn a_secret_without_host_is_refused_naming_the_key() {
    let ctx = context(&[]).await;
    let s = setup(
        |u| {
            let mut v = db_json(u, json!({}));
            v.as_object_mut().unwrap().remove("host");
            v
        },
        &[],
    )
    .await;
    let token = begin_rotation(&s.arn).await;
    let before = Before {
        stages: stages(&s.arn).await,
        ..s
    };
    let err = step(&ctx, Step::CreateSecret, &before.arn, &token)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no `host` key"), "{err}");
    assert!(err.to_string().contains(&before.arn), "{err}");
    assert_eq!(err.error_type(), "Rotor.SecretFormat");
    before.assert_unchanged().await;
}

#[tokio::test]
async fn a_secret_for_another_engine_is_refused() {
    let ctx = context(&[]).await;
    let s = setup(|u| db_json(u, json!({"engine": "mysql"})), &[]).await;
    let token = begin_rotation(&s.arn).await;
    let before = Before {
        stages: stages(&s.arn).await,
        ..s
    };
    for st in [Step::CreateSecret, Step::SetSecret] {
        let err = step(&ctx, st, &before.arn, &token).await.unwrap_err();
        assert!(matches!(err, RotateError::WrongEngine { .. }), "{err}");
        assert!(err.to_string().contains("`mysql`"), "{err}");
    }
    before.assert_unchanged().await;
}

#[tokio::test]
async fn an_alternating_secret_without_masterarn_is_refused() {
    let ctx = context(&[]).await;
    let s = setup(
        |u| db_json(u, json!({})),
        &[("rotor:strategy", "alternating-users")],
    )
    .await;
    let token = begin_rotation(&s.arn).await;
    let before = Before {
        stages: stages(&s.arn).await,
        ..s
    };
    let err = step(&ctx, Step::CreateSecret, &before.arn, &token)
        .await
        .unwrap_err();
    assert!(matches!(err, RotateError::MissingMasterArn { .. }), "{err}");
    assert!(err.to_string().contains("`masterarn`"), "{err}");
    before.assert_unchanged().await;

    // The same from the setting instead of the tag.
    let ctx = context(&[("ROTATION_STRATEGY", "alternating-users")]).await;
    let s = setup(|u| db_json(u, json!({})), &[]).await;
    let token = begin_rotation(&s.arn).await;
    let err = step(&ctx, Step::CreateSecret, &s.arn, &token)
        .await
        .unwrap_err();
    assert!(matches!(err, RotateError::MissingMasterArn { .. }), "{err}");
}

#[tokio::test]
async fn plain_text_is_never_used_unless_allowed() {
    let ctx = context(&[]).await;
    let s = setup(|u| db_json(u, json!({"ssl": false})), &[]).await;
    let token = begin_rotation(&s.arn).await;
    step(&ctx, Step::CreateSecret, &s.arn, &token)
        .await
        .unwrap();
    let err = step(&ctx, Step::SetSecret, &s.arn, &token)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PG_ALLOW_PLAINTEXT"), "{err}");
    assert!(can_login(&s.user.name, &s.user.password).await);

    // Allowed, the (TLS-only) server refuses the plain-text login, and the failure says so.
    let ctx = context(&[("PG_ALLOW_PLAINTEXT", "true")]).await;
    let err = step(&ctx, Step::SetSecret, &s.arn, &token)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tls-required"), "{err}");
    assert!(can_login(&s.user.name, &s.user.password).await);
}
