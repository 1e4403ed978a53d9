//! The writer of a rotated secret trying to turn the master against another server or a
//! more powerful role: each attempt refused with a clear error, nothing changed.

use rotor_core::error::ErrorType;
use rotor_core::rds::Endpoint;
use rotor_core::{ExposeSecret, SecretString};
use rotor_rotate::master;
use rotor_rotate::{RotateError, Step};
use rotor_testkit::{moto, other_postgres, postgres, random_hex};
use serde_json::{Value, json};

use crate::common::*;

/// A login role, then `sql` run for it (`{role}` stands for its quoted name).
async fn role_with(name: &str, password: &SecretString, sql: &str) {
    postgres().create_role(name, password).await;
    postgres()
        .admin()
        .await
        .batch_execute(&sql.replace("{role}", &format!("\"{name}\"")))
        .await
        .unwrap();
}

/// Runs createSecret then setSecret for `value`; returns setSecret's error.
async fn set_secret_error(value: &Value) -> (String, String, RotateError) {
    let ctx = context(&[]).await;
    let arn = create_secret(value, &[]).await;
    let token = begin_rotation(&arn).await;
    step(&ctx, Step::CreateSecret, &arn, &token).await.unwrap();
    let err = step(&ctx, Step::SetSecret, &arn, &token)
        .await
        .expect_err("setSecret must refuse");
    assert_eq!(
        stages(&arn).await[&token],
        ["AWSPENDING"],
        "the rotation did not move on"
    );
    (arn, token, err)
}

#[track_caller]
fn assert_refused(err: &RotateError, what: &str, mentions: &[&str]) {
    assert!(matches!(err, RotateError::Refused { .. }), "{err}");
    assert_eq!(err.error_type(), format!("Rotor.Refused.{what}"));
    let text = err.to_string();
    for m in mentions {
        assert!(text.contains(m), "{text} should mention {m}");
    }
}

#[tokio::test]
async fn a_secret_pointing_at_another_server_is_refused_before_any_login() {
    let other = other_postgres();
    let name = format!("victim_{}", random_hex(4));
    let password = SecretString::from(format!("o-{}", random_hex(12)));
    other.create_role(&name, &password).await;
    let master_arn = master_secret().await;
    let value = json!({
        "engine": "postgres", "host": other.host, "port": other.port,
        "username": name, "password": password.expose_secret(), "dbname": "postgres",
        "masterarn": master_arn,
    });
    let log_before = other.server_log().len();

    let (arn, _, err) = set_secret_error(&value).await;

    assert_refused(
        &err,
        "Host",
        &[&arn, &format!("127.0.0.1:{}", other.port), "master"],
    );
    let since = &other.server_log()[log_before..];
    assert!(
        !since.contains(&name),
        "rotor logged in to the other server: {since}"
    );
    assert!(
        !role_exists(&format!("{name}_clone")).await,
        "no clone was created on the master's server"
    );
}

#[tokio::test]
async fn a_secret_naming_the_master_user_is_refused_before_any_login() {
    let master_arn = master_secret().await;
    let pg = postgres();
    let value = json!({
        "engine": "postgres", "host": pg.host, "port": pg.port,
        "username": format!("{}_clone", pg.admin_user), "password": "not-a-password-of-anyone",
        "dbname": "postgres", "masterarn": master_arn,
    });
    let log_before = pg.server_log().len();

    let (_, _, err) = set_secret_error(&value).await;

    assert_refused(&err, "Role", &[&pg.admin_user, "master user itself"]);
    let since = &pg.server_log()[log_before..];
    assert!(
        !since.contains(&format!("user={}_clone", pg.admin_user)),
        "no login was tried"
    );
    assert!(
        pg.can_login(&pg.admin_user, &pg.admin_password).await,
        "the master's password is unchanged"
    );
}

/// The role whose password would be set (`<base>` when the secret names `<base>_clone`)
/// has `attributes`: refused, and its password unchanged.
async fn refused_for_target(sql: &str, expect: &str) {
    let base = format!("strong_{}", random_hex(4));
    let base_password = SecretString::from(format!("s-{}", random_hex(12)));
    role_with(&base, &base_password, sql).await;
    let clone = DbUser {
        name: format!("{base}_clone"),
        password: SecretString::from(format!("c-{}", random_hex(12))),
    };
    postgres().create_role(&clone.name, &clone.password).await;
    let value = db_json(&clone, json!({"masterarn": master_secret().await}));

    let (_, _, err) = set_secret_error(&value).await;

    assert_refused(&err, "Role", &[&base, expect]);
    assert!(
        can_login(&base, &base_password).await,
        "{base}'s password is unchanged"
    );
}

#[tokio::test]
async fn a_superuser_target_is_refused() {
    refused_for_target("ALTER ROLE {role} SUPERUSER", "SUPERUSER").await;
}

#[tokio::test]
async fn a_target_with_createrole_replication_or_bypassrls_is_refused() {
    for attribute in ["CREATEROLE", "REPLICATION", "BYPASSRLS"] {
        refused_for_target(&format!("ALTER ROLE {{role}} {attribute}"), attribute).await;
    }
}

#[tokio::test]
async fn a_target_in_an_admin_role_or_the_master_s_role_is_refused() {
    // rds_superuser exists on RDS; here it is made once, for this test only.
    postgres()
        .admin()
        .await
        .batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_superuser') \
             THEN CREATE ROLE rds_superuser NOLOGIN; END IF; END $$",
        )
        .await
        .unwrap();
    refused_for_target("GRANT rds_superuser TO {role}", "member of rds_superuser").await;
    let master = &postgres().admin_user;
    refused_for_target(
        &format!("GRANT \"{master}\" TO {{role}}"),
        &format!("member of {master}"),
    )
    .await;
}

#[tokio::test]
async fn a_base_role_that_would_be_granted_to_a_new_clone_is_checked_too() {
    // The secret names an ordinary-looking user whose role has CREATEROLE: the clone rotor
    // would create and grant it to could SET ROLE to it.
    let user = DbUser {
        name: format!("creator_{}", random_hex(4)),
        password: SecretString::from(format!("u-{}", random_hex(12))),
    };
    role_with(&user.name, &user.password, "ALTER ROLE {role} CREATEROLE").await;
    let value = db_json(&user, json!({"masterarn": master_secret().await}));

    let (_, _, err) = set_secret_error(&value).await;

    assert_refused(&err, "Role", &[&user.name, "CREATEROLE"]);
    assert!(
        !role_exists(&format!("{}_clone", user.name)).await,
        "the clone was not created"
    );
}

/// A cluster in moto with one member instance; returns (cluster, member endpoint).
async fn cluster_with_member(
    rds: &aws_sdk_rds::Client,
) -> (aws_sdk_rds::types::DbCluster, Endpoint) {
    let cluster = moto_cluster(rds).await;
    let id = cluster.db_cluster_identifier().unwrap().to_owned();
    let member = rds
        .create_db_instance()
        .db_instance_identifier(format!("{id}-1"))
        .db_cluster_identifier(&id)
        .db_instance_class("db.r6g.large")
        .engine("aurora-postgresql")
        .send()
        .await
        .expect("CreateDBInstance")
        .db_instance
        .unwrap();
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(member.db_instance_identifier().unwrap())
        .send()
        .await
        .unwrap();
    let e = described.db_instances()[0].endpoint().unwrap();
    let endpoint = Endpoint::new(e.address().unwrap(), e.port().unwrap() as u16);
    (cluster, endpoint)
}

fn creds(host: &str, port: u16) -> rotor_core::DbCredentials {
    rotor_core::DbCredentials::parse(
        &json!({"username": "app", "password": "unused", "host": host, "port": port}).to_string(),
    )
    .unwrap()
}

#[tokio::test]
async fn hosts_rds_reports_for_the_master_s_cluster_are_the_same_database() {
    let ctx = context(&[]).await;
    let rds = aws_sdk_rds::Client::new(&moto().sdk_config(REGION).await);
    let (cluster, member) = cluster_with_member(&rds).await;
    let (other_cluster, _) = cluster_with_member(&rds).await;
    let port = cluster.port().unwrap() as u16;
    let writer = cluster.endpoint().unwrap();
    let master_arn = create_secret(
        &json!({"username": "postgres", "password": "unused", "host": writer, "port": port}),
        &[(master::CLUSTER_TAG, cluster.db_cluster_arn().unwrap())],
    )
    .await;
    let master_creds = creds(writer, port);
    let check = |host: String, port: u16| {
        let ctx = &ctx;
        let master_arn = master_arn.clone();
        let master_creds = master_creds.clone();
        async move {
            master::check_same_database(ctx, "s", &master_arn, &master_creds, &creds(&host, port))
                .await
        }
    };

    check(writer.to_uppercase(), port).await.unwrap();
    check(cluster.reader_endpoint().unwrap().to_owned(), port)
        .await
        .expect("the reader endpoint is the master's cluster");
    check(member.host.clone(), member.port)
        .await
        .expect("a member instance is the master's cluster");

    let err = check(other_cluster.endpoint().unwrap().to_owned(), port)
        .await
        .unwrap_err();
    assert_refused(
        &err,
        "Host",
        &["not an endpoint of the master's DB cluster"],
    );
    let err = check(writer.to_owned(), port + 1).await.unwrap_err();
    assert_refused(&err, "Host", &[&format!("{}", port + 1)]);
}

#[tokio::test]
async fn a_master_found_by_its_host_name_alone_is_confirmed_with_rds() {
    let ctx = context(&[]).await;
    let rds = aws_sdk_rds::Client::new(&moto().sdk_config(REGION).await);
    let (cluster, member) = cluster_with_member(&rds).await;
    let port = cluster.port().unwrap() as u16;
    let writer = cluster.endpoint().unwrap();
    // No tag, no identifier keys: the writer endpoint's first label names the cluster.
    let master_arn = create_secret(
        &json!({"username": "postgres", "password": "unused", "host": writer, "port": port}),
        &[],
    )
    .await;
    master::check_same_database(
        &ctx,
        "s",
        &master_arn,
        &creds(writer, port),
        &creds(&member.host, member.port),
    )
    .await
    .expect("a member of the cluster the master's host names");

    // A host that only looks like an endpoint of that cluster is not one.
    let lookalike = writer.replacen(".cluster-", ".cluster-x", 1);
    let err = master::check_same_database(
        &ctx,
        "s",
        &master_arn,
        &creds(writer, port),
        &creds(&lookalike, port),
    )
    .await
    .unwrap_err();
    assert_refused(&err, "Host", &["not an endpoint"]);
}
