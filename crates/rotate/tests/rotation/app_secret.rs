//! Generic app secrets: chosen keys regenerated, old values kept as `<key>_previous`.

use rotor_rotate::{RotateError, Step};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn an_app_secret_rotation_changes_only_the_chosen_keys_and_keeps_previous_values() {
    let ctx = context(&[]).await;
    let original = json!({
        "jwt_signing_key": "jwt-one",
        "session_secret": "session-one",
        "api_url": "https://api.example.internal",
        "limits": {"rps": 10},
    });
    let arn = create_secret(
        &original,
        &[("rotor:app-secret-keys", "jwt_signing_key, session_secret")],
    )
    .await;

    rotate(&ctx, &arn).await;

    let first = value_at(&arn, "AWSCURRENT").await;
    for key in ["jwt_signing_key", "session_secret"] {
        assert!(first[key] != original[key], "{key} changed");
        assert_eq!(first[key].as_str().unwrap().len(), 32);
        assert_same(
            &first[format!("{key}_previous")],
            &original[key],
            "previous value",
        );
    }
    assert_eq!(first["api_url"], original["api_url"]);
    assert_eq!(first["limits"], original["limits"]);

    rotate(&ctx, &arn).await;

    let second = value_at(&arn, "AWSCURRENT").await;
    for key in ["jwt_signing_key", "session_secret"] {
        assert!(second[key] != first[key], "{key} changed again");
        assert_same(
            &second[format!("{key}_previous")],
            &first[key],
            "previous value after the second rotation",
        );
    }
    assert_eq!(second["api_url"], original["api_url"]);
}

#[tokio::test]
async fn the_setting_selects_app_secret_rotation_and_refuses_database_secrets() {
    let ctx = context(&[
        ("ROTATION_STRATEGY", "app-secret"),
        ("APP_SECRET_KEYS", "api_key"),
    ])
    .await;
    let arn = create_secret(&json!({"api_key": "k1", "client": "web"}), &[]).await;
    let token = begin_rotation(&arn).await;
    assert_eq!(
        step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap(),
        "created"
    );
    assert_eq!(
        step(&ctx, Step::SetSecret, &arn, &token).await.unwrap(),
        "validated"
    );
    assert_eq!(
        step(&ctx, Step::TestSecret, &arn, &token).await.unwrap(),
        "validated"
    );
    assert_eq!(
        step(&ctx, Step::FinishSecret, &arn, &token).await.unwrap(),
        "finished"
    );
    end_rotation(&arn, &token).await;
    let now = value_at(&arn, "AWSCURRENT").await;
    assert_eq!(now["api_key_previous"], "k1");
    assert_eq!(now["client"], "web");

    let user = db_user("appdb_", "old-").await;
    let db = create_secret(&db_json(&user, json!({})), &[]).await;
    let token = begin_rotation(&db).await;
    let err = step(&ctx, Step::CreateSecret, &db, &token)
        .await
        .unwrap_err();
    assert!(matches!(err, RotateError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("`engine`"), "{err}");
}
