//! Playing Secrets Manager against moto and a real PostgreSQL: secrets and roles with
//! unique names, a rotation started the way the service starts one, and the four steps.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use lambda_runtime::LambdaEvent;
use rotor_core::config::Settings;
use rotor_core::{ExposeSecret, SecretString};
use rotor_rotate::{Context, RotateError, Step, handler};
use rotor_testkit::{moto, postgres, random_hex, unique};
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";

/// A rotation context pointed at moto, trusting the test server's CA, with `extra` settings.
pub async fn context(extra: &[(&str, &str)]) -> Context {
    context_at(&moto().endpoint, extra).await
}

/// [`context`], with AWS calls going to `endpoint` (a proxy in front of moto).
pub async fn context_at(endpoint: &str, extra: &[(&str, &str)]) -> Context {
    rotor_testkit::logs::capture();
    let ca = postgres().ca_file.to_string_lossy().into_owned();
    let mut pairs: Vec<(&str, &str)> = vec![("PG_SSLROOTCERT", &ca), ("PG_CONNECT_TIMEOUT", "3")];
    pairs.extend_from_slice(extra);
    let config = rotor_rotate::Config::from_settings(&Settings::from_pairs(&pairs))
        .expect("test settings are valid");
    let sdk = moto()
        .sdk_config(REGION)
        .await
        .to_builder()
        .endpoint_url(endpoint)
        .build();
    Context::new(&sdk, config)
}

pub async fn sm() -> aws_sdk_secretsmanager::Client {
    moto().secrets(REGION).await
}

/// A database role with a password.
pub struct DbUser {
    pub name: String,
    pub password: SecretString,
}

/// A fresh login role; `name_prefix` may hold any characters.
pub async fn db_user(name_prefix: &str, password_prefix: &str) -> DbUser {
    let name = format!("{name_prefix}{}", random_hex(4));
    let password = SecretString::from(format!("{password_prefix}{}", random_hex(12)));
    postgres().create_role(&name, &password).await;
    DbUser { name, password }
}

/// The credentials JSON of the samples, plus `extra` keys.
pub fn db_json(user: &DbUser, extra: Value) -> Value {
    let pg = postgres();
    let mut v = json!({
        "engine": "postgres",
        "host": pg.host,
        "port": pg.port,
        "username": user.name,
        "password": user.password.expose_secret(),
        "dbname": "postgres",
    });
    if let Value::Object(extra) = extra {
        v.as_object_mut().unwrap().extend(extra);
    }
    v
}

pub async fn create_secret(value: &Value, tags: &[(&str, &str)]) -> String {
    let mut req = sm()
        .await
        .create_secret()
        .name(unique("rotate/test"))
        .secret_string(value.to_string());
    for (k, v) in tags {
        req = req.tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build(),
        );
    }
    req.send().await.expect("CreateSecret").arn.expect("arn")
}

/// What Secrets Manager does before it calls createSecret.
pub async fn begin_rotation(arn: &str) -> String {
    rotor_testkit::rotation::begin(&sm().await, arn).await
}

/// What Secrets Manager does after finishSecret succeeds.
pub async fn end_rotation(arn: &str, token: &str) {
    rotor_testkit::rotation::end(&sm().await, arn, token).await
}

pub fn event(step: &str, arn: &str, token: &str) -> Value {
    json!({"Step": step, "SecretId": arn, "ClientRequestToken": token})
}

/// Calls the handler as Lambda would, with `seconds` until the invocation's deadline.
pub async fn invoke(ctx: &Context, event: Value, seconds: u64) -> Result<Value, RotateError> {
    let mut lambda_ctx = lambda_runtime::Context::default();
    lambda_ctx.request_id = random_hex(8);
    let deadline = SystemTime::now() + Duration::from_secs(seconds);
    lambda_ctx.deadline = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    handler(LambdaEvent::new(event, lambda_ctx), ctx).await
}

/// One step; returns its outcome.
pub async fn step(
    ctx: &Context,
    step: Step,
    arn: &str,
    token: &str,
) -> Result<String, RotateError> {
    invoke(ctx, event(step.as_str(), arn, token), 60)
        .await
        .map(|v| v["outcome"].as_str().unwrap_or_default().to_owned())
}

/// A whole rotation as Secrets Manager runs it; returns the new version's token.
pub async fn rotate(ctx: &Context, arn: &str) -> String {
    let token = begin_rotation(arn).await;
    for s in Step::ALL {
        if let Err(e) = step(ctx, s, arn, &token).await {
            panic!("{s} failed: {e}");
        }
    }
    end_rotation(arn, &token).await;
    token
}

pub async fn stages(arn: &str) -> HashMap<String, Vec<String>> {
    let out = sm()
        .await
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("DescribeSecret");
    out.version_ids_to_stages.unwrap_or_default()
}

/// The value at a stage, as JSON (may hold passwords: never print it).
pub async fn value_at(arn: &str, stage: &str) -> Value {
    let out = sm()
        .await
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .expect("GetSecretValue");
    serde_json::from_str(out.secret_string().expect("string secret")).expect("JSON")
}

pub fn password_of(value: &Value) -> SecretString {
    SecretString::from(value["password"].as_str().expect("password").to_owned())
}

pub async fn can_login(user: &str, password: &SecretString) -> bool {
    postgres().can_login(user, password).await
}

/// Sets a role's password directly, as an administrator would.
pub async fn set_db_password(user: &str, password: &SecretString) {
    let sql = format!(
        "ALTER ROLE {} PASSWORD '{}'",
        rotor_core::pg::quote_ident(user),
        rotor_core::pg::scram_verifier(password)
    );
    postgres()
        .admin()
        .await
        .batch_execute(&sql)
        .await
        .expect("ALTER ROLE");
}

/// Asserts two JSON values are equal without printing them (they hold passwords).
#[track_caller]
pub fn assert_same(a: &Value, b: &Value, what: &str) {
    assert!(a == b, "{what} differ");
}

/// Lines of a server log holding a SCRAM verifier, other than the test kit's own statements
/// (which create and reset roles as an administrator would, from any test running at the
/// same time).
pub fn verifier_lines(server_log: &str) -> usize {
    server_log
        .lines()
        .filter(|l| l.contains("SCRAM-SHA-256$"))
        .filter(|l| {
            !l.contains("statement: CREATE ROLE \"") && !l.contains("statement: ALTER ROLE \"")
        })
        .count()
}

/// A master secret holding the test server's superuser, in database `postgres`.
pub async fn master_secret() -> String {
    let pg = postgres();
    create_secret(
        &json!({
            "engine": "postgres", "host": pg.host, "port": pg.port,
            "username": pg.admin_user, "password": pg.admin_password.expose_secret(),
            "dbname": "postgres",
        }),
        &[],
    )
    .await
}

/// Whether a role exists on the test server.
pub async fn role_exists(name: &str) -> bool {
    postgres()
        .admin()
        .await
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .unwrap()
        .is_some()
}

/// An Aurora PostgreSQL cluster in moto, with a unique identifier.
pub async fn moto_cluster(rds: &aws_sdk_rds::Client) -> aws_sdk_rds::types::DbCluster {
    rds.create_db_cluster()
        .db_cluster_identifier(format!("orders-{}", random_hex(4)))
        .engine("aurora-postgresql")
        .master_username("postgres")
        .master_user_password("not-used-by-this-test")
        .send()
        .await
        .expect("CreateDBCluster")
        .db_cluster
        .expect("the cluster")
}
