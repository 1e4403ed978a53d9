//! Alternating-users rotation: the secret switches between `<user>` and `<user>_clone`,
//! changed by the master credentials named in `masterarn`.

use std::time::Duration;

use rotor_core::error::ErrorType;
use rotor_core::{ExposeSecret, SecretString};
use rotor_rotate::{Step, master};
use rotor_testkit::{moto, postgres};
use serde_json::json;

use crate::common::*;

async fn role_oid(name: &str) -> Option<u32> {
    postgres()
        .admin()
        .await
        .query_opt("SELECT oid FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .unwrap()
        .map(|r| r.get(0))
}

async fn reads_table(user: &str, password: &SecretString, table: &str) -> bool {
    let client = postgres()
        .target(user, password, "postgres")
        .connect(&postgres().tls())
        .await
        .expect("login");
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .is_ok()
}

#[tokio::test]
async fn two_rotations_alternate_users_and_create_the_clone_once() {
    let ctx = context(&[]).await;
    let user = db_user("alt_", "old-").await;
    let clone = format!("{}_clone", user.name);
    let table = format!("orders_{}", rotor_testkit::random_hex(4));
    postgres()
        .admin()
        .await
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int); GRANT SELECT ON {table} TO {}",
            user.name
        ))
        .await
        .unwrap();
    let master_arn = master_secret().await;
    let arn = create_secret(&db_json(&user, json!({"masterarn": master_arn})), &[]).await;

    rotate(&ctx, &arn).await;

    let first = value_at(&arn, "AWSCURRENT").await;
    assert_eq!(
        first["username"],
        clone.as_str(),
        "the secret now names the clone"
    );
    assert_eq!(first["masterarn"], master_arn.as_str());
    let clone_password = password_of(&first);
    let clone_oid = role_oid(&clone).await.expect("the clone was created");
    assert!(
        can_login(&clone, &clone_password).await,
        "the clone logs in"
    );
    assert!(
        can_login(&user.name, &user.password).await,
        "the original user still logs in, unchanged, for clients not yet updated"
    );
    assert!(
        reads_table(&clone, &clone_password, &table).await,
        "the clone can read what the original can"
    );

    rotate(&ctx, &arn).await;

    let second = value_at(&arn, "AWSCURRENT").await;
    assert_eq!(
        second["username"],
        user.name.as_str(),
        "back to the original user"
    );
    let user_password = password_of(&second);
    assert!(user_password.expose_secret() != user.password.expose_secret());
    assert!(
        can_login(&user.name, &user_password).await,
        "the original logs in with its new password"
    );
    assert!(!can_login(&user.name, &user.password).await);
    assert!(
        can_login(&clone, &clone_password).await,
        "the clone still logs in"
    );
    assert_eq!(
        role_oid(&clone).await,
        Some(clone_oid),
        "the clone was not re-created"
    );
    assert_eq!(
        value_at(&arn, "AWSPREVIOUS").await["username"],
        clone.as_str()
    );
}

#[tokio::test]
async fn a_master_secret_managed_by_rds_is_resolved_through_its_tag_and_the_rds_api() {
    let ctx = context(&[]).await;
    let rds = aws_sdk_rds::Client::new(&moto().sdk_config(REGION).await);
    let id = format!("orders-{}", rotor_testkit::random_hex(4));
    let out = rds
        .create_db_instance()
        .db_instance_identifier(&id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("postgres")
        .manage_master_user_password(true)
        .send()
        .await
        .expect("CreateDBInstance");
    let instance = out.db_instance.unwrap();
    let master_arn = instance.master_user_secret.unwrap().secret_arn.unwrap();
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await
        .unwrap();
    let endpoint = described.db_instances()[0].endpoint().unwrap();

    let creds = master::resolve(&ctx, &master_arn).await.unwrap();

    assert_eq!(creds.host().unwrap(), endpoint.address().unwrap());
    assert_eq!(i32::from(creds.port()), endpoint.port().unwrap());
}

#[tokio::test]
async fn a_master_secret_tagged_with_a_cluster_is_resolved_to_the_cluster_endpoint() {
    let ctx = context(&[]).await;
    let rds = aws_sdk_rds::Client::new(&moto().sdk_config(REGION).await);
    let cluster = moto_cluster(&rds).await;
    let master_arn = create_secret(
        &json!({"username": "postgres", "password": "not-used-by-this-test"}),
        &[(master::CLUSTER_TAG, cluster.db_cluster_arn().unwrap())],
    )
    .await;

    let creds = master::resolve(&ctx, &master_arn).await.unwrap();

    assert_eq!(creds.host().unwrap(), cluster.endpoint().unwrap());
    assert_eq!(i32::from(creds.port()), cluster.port().unwrap());
}

#[tokio::test]
async fn with_clone_set_role_what_the_clone_creates_belongs_to_the_base_role() {
    let ctx = context(&[("CLONE_SET_ROLE", "true")]).await;
    let user = db_user("owner_", "old-").await;
    let schema = format!("app_{}", rotor_testkit::random_hex(4));
    postgres()
        .admin()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {schema} AUTHORIZATION {}",
            user.name
        ))
        .await
        .unwrap();
    let arn = create_secret(
        &db_json(&user, json!({"masterarn": master_secret().await})),
        &[],
    )
    .await;
    let login = |name: String, password: SecretString| async move {
        postgres()
            .target(&name, &password, "postgres")
            .connect(&postgres().tls())
            .await
            .unwrap_or_else(|e| panic!("login as {name}: {e}"))
    };

    rotate(&ctx, &arn).await;
    let as_clone = value_at(&arn, "AWSCURRENT").await;
    let clone = as_clone["username"].as_str().unwrap().to_owned();
    assert_eq!(clone, format!("{}_clone", user.name));
    login(clone, password_of(&as_clone))
        .await
        .batch_execute(&format!("CREATE TABLE {schema}.made_by_clone (id int)"))
        .await
        .expect("the clone creates a table in the base role's schema");
    let owner: String = postgres()
        .admin()
        .await
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = 'made_by_clone'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, user.name, "the table belongs to the base role");

    rotate(&ctx, &arn).await;
    let as_base = value_at(&arn, "AWSCURRENT").await;
    assert_eq!(as_base["username"], user.name.as_str());
    login(user.name.clone(), password_of(&as_base))
        .await
        .batch_execute(&format!(
            "ALTER TABLE {schema}.made_by_clone ADD COLUMN note text"
        ))
        .await
        .expect("the base user alters what the clone created");
}

#[tokio::test]
async fn the_master_s_change_held_up_past_the_deadline_is_never_committed_later() {
    // Another transaction is creating the clone's name (uncommitted) when the master's
    // CREATE ROLE runs, and rolls back only after the step has given up.
    let ctx = context(&[("DEADLINE_MARGIN_SECONDS", "1")]).await;
    let user = db_user("altlock_", "old-").await;
    let clone = format!("{}_clone", user.name);
    let master_arn = master_secret().await;
    let arn = create_secret(&db_json(&user, json!({"masterarn": master_arn})), &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();
    let blocker = postgres().admin().await;
    blocker
        .batch_execute(&format!("BEGIN; CREATE ROLE \"{clone}\""))
        .await
        .unwrap();

    let err = invoke(&ctx, event("setSecret", &arn, &token), 4)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotor.Postgres.timeout", "{err}");
    assert!(err.to_string().contains("committed nothing"), "{err}");
    blocker.batch_execute("ROLLBACK").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !role_exists(&clone).await,
        "the clone was created after the step gave up"
    );

    for s in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        step(&ctx, s, &arn, &token).await.unwrap();
    }
    assert!(can_login(&clone, &password_of(&value_at(&arn, "AWSCURRENT").await)).await);
}
