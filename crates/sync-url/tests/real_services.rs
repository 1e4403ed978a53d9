//! rotor-sync-url against the real services: moto's Secrets Manager and RDS APIs, and a
//! PostgreSQL server with scram-sha-256 passwords and TLS that the built URLs must log
//! in to, through libpq (`psql`) and through tokio-postgres.

use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};
use lambda_runtime::LambdaEvent;
use rotor_core::config::Settings;
use rotor_core::error::ErrorType;
use rotor_core::{ExposeSecret, SecretString};
use rotor_sync_url::{Action, Config, Context, Output, SyncError, handler};
use rotor_testkit::django::dj_database_url;
use rotor_testkit::{logs, moto, postgres, random_hex, unique, workspace_root};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

/// The source ARN written in the event fixtures; tests put their own source in its place.
const FIXTURE_SOURCE: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b-Xy12Zw";

/// Passwords with every character that breaks a naively built URL, and non-ASCII text.
const HARD: [&str; 6] = [
    "p@ss:w/rd?x#y%z+1 2'3\"4",
    "%41%25%zz+",
    " lead&trail=; ",
    "ünïcødé-密码-🔑-ß",
    "://@@//??##''\"\"",
    "back\\slash`tick$dollar",
];

async fn sm() -> aws_sdk_secretsmanager::Client {
    moto().secrets(REGION).await
}

async fn context(settings: &[(&str, &str)]) -> Context {
    context_in(REGION, settings).await
}

async fn context_in(region: &str, settings: &[(&str, &str)]) -> Context {
    let config = Config::from_settings(&Settings::from_pairs(settings)).expect("valid settings");
    Context::new(&moto().sdk_config(region).await, config)
}

async fn invoke(ctx: &Context, payload: Value) -> Result<Output, SyncError> {
    handler(
        LambdaEvent::new(payload, lambda_runtime::Context::default()),
        ctx,
    )
    .await
}

fn fixture(name: &str) -> Value {
    let path = workspace_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists"))
        .expect("fixture is JSON")
}

/// A fixture with the test's own source secret in place of the fixture's.
fn fixture_for(name: &str, source_arn: &str) -> Value {
    let text = fixture(name)
        .to_string()
        .replace(FIXTURE_SOURCE, source_arn);
    serde_json::from_str(&text).unwrap()
}

fn scheduled() -> Value {
    fixture("sync-url-scheduled.json")
}

async fn create_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: Option<&str>,
) -> String {
    let mut req = sm.create_secret().name(name);
    if let Some(v) = value {
        req = req.secret_string(v);
    }
    req.send().await.expect("CreateSecret").arn.expect("arn")
}

async fn put(sm: &aws_sdk_secretsmanager::Client, id: &str, value: &str) {
    sm.put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .expect("PutSecretValue");
}

async fn current(sm: &aws_sdk_secretsmanager::Client, id: &str) -> SecretString {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("GetSecretValue");
    SecretString::from(out.secret_string().expect("a string value").to_owned())
}

/// Every version id of a secret, with its stages, sorted.
async fn versions(sm: &aws_sdk_secretsmanager::Client, id: &str) -> Vec<(String, Vec<String>)> {
    let out = sm
        .list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(true)
        .send()
        .await
        .expect("ListSecretVersionIds");
    let mut list: Vec<(String, Vec<String>)> = out
        .versions()
        .iter()
        .map(|v| {
            let mut stages = v.version_stages().to_vec();
            stages.sort();
            (v.version_id().unwrap_or_default().to_owned(), stages)
        })
        .collect();
    list.sort();
    list
}

fn creds(user: &str, password: &str) -> String {
    json!({"username": user, "password": password}).to_string()
}

/// A login role with a password, as the database's rotation would leave it.
async fn role(password: &str) -> String {
    let name = unique("sync_app");
    postgres()
        .create_role(&name, &SecretString::from(password.to_owned()))
        .await;
    name
}

/// Sets a role's password the way a rotation does (a SCRAM verifier, never clear text).
async fn set_password(user: &str, password: &str) {
    let sql = format!(
        "ALTER ROLE {} PASSWORD '{}'",
        rotor_core::pg::quote_ident(user),
        rotor_core::pg::scram_verifier(&SecretString::from(password.to_owned()))
    );
    postgres()
        .admin()
        .await
        .batch_execute(&sql)
        .await
        .expect("ALTER ROLE");
}

/// Runs `psql "$URL" -c 'select 1'` with nothing but the URL to log in with. Returns
/// whether it printed `1`; the error text (libpq's, which never holds the password) on
/// failure.
fn psql_select_1(url: &SecretString, sslrootcert: Option<&std::path::Path>) -> Result<(), String> {
    let mut cmd = Command::new("psql");
    cmd.arg(url.expose_secret())
        .args(["-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", "select 1"])
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .env("PGPASSFILE", "/dev/null")
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null());
    if let Some(ca) = sslrootcert {
        cmd.env("PGSSLROOTCERT", ca);
    }
    let out = cmd.output().map_err(|e| format!("cannot run psql: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout.trim() == "1" {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Connects with a tokio-postgres configuration parsed from the URL (TLS checked against
/// the test CA) and runs `select 1`.
async fn tokio_postgres_select_1(url: &SecretString) -> Result<()> {
    let config: tokio_postgres::Config = url
        .expose_secret()
        .parse()
        .map_err(|_| anyhow::anyhow!("tokio-postgres cannot parse the URL"))?;
    let pem = std::fs::read(&postgres().ca_file)?;
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&pem)?)
        .build()?;
    let (client, connection) = config
        .connect(postgres_native_tls::MakeTlsConnector::new(tls))
        .await
        .context("tokio-postgres login")?;
    tokio::spawn(connection);
    let one: i32 = client.query_one("select 1", &[]).await?.get(0);
    anyhow::ensure!(one == 1);
    Ok(())
}

/// Asserts that no captured log line holds any of these values (never printing them):
/// neither as they are, nor as they look inside a JSON log line (quotes and backslashes
/// escaped), nor percent-encoded as inside a URL.
fn assert_never_logged(secrets: &[&str]) {
    for (i, s) in secrets.iter().enumerate() {
        let json = serde_json::to_string(s).unwrap();
        let encoded = rotor_sync_url::dsn::encode(s);
        for (form, text) in [
            ("as is", *s),
            ("JSON-escaped", &json[1..json.len() - 1]),
            ("percent-encoded", &encoded),
        ] {
            logs::assert_absent(text, &format!("secret value #{i} ({form})"));
        }
    }
}

#[tokio::test]
async fn after_a_password_rotation_one_run_makes_the_url_work_and_a_second_run_writes_nothing() {
    logs::capture();
    let sm = sm().await;
    let pg = postgres();
    let old = format!("old-{}", random_hex(8));
    let user = role(&old).await;
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds(&user, &old))).await;
    let target = create_secret(&sm, &unique("app/database-url"), None).await;
    let port = pg.port.to_string();
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("DB_HOST", &pg.host),
        ("DB_PORT", &port),
        ("DB_NAME", "postgres"),
    ])
    .await;
    let first = invoke(&ctx, scheduled()).await.expect("first sync");
    assert_eq!(first.results[0].action, Action::Updated);
    let old_url = current(&sm, &target).await;

    // The rotation: the database and the source secret get the new password.
    let new = format!("n3w@:/?#%+ '\"ü-{}", random_hex(8));
    set_password(&user, &new).await;
    put(&sm, &source, &creds(&user, &new)).await;
    assert!(
        psql_select_1(&old_url, None).is_err(),
        "the old URL no longer logs in"
    );

    let out = invoke(
        &ctx,
        fixture_for("sync-url-rotation-succeeded.json", &source),
    )
    .await
    .expect("sync after rotation");
    assert_eq!(out.trigger, "RotationSucceeded");
    let r = &out.results[0];
    assert_eq!(r.action, Action::Updated);
    assert_eq!(r.changed, vec!["password"]);
    assert_eq!(r.source_secret, source);
    assert_eq!(r.target_secret, target);
    assert!(r.previous_target_version_id.is_some());

    let url = current(&sm, &target).await;
    assert!(
        url.expose_secret().starts_with("postgres://") && !url.expose_secret().starts_with('{'),
        "a plain-string target stays a plain string"
    );
    psql_select_1(&url, None)
        .map_err(|e| anyhow::anyhow!(e))
        .expect("psql logs in with the URL (sslmode=require)");
    psql_select_1(
        &SecretString::from(
            url.expose_secret()
                .replace("sslmode=require", "sslmode=verify-full"),
        ),
        Some(&pg.ca_file),
    )
    .map_err(|e| anyhow::anyhow!(e))
    .expect("psql logs in with verify-full too");
    tokio_postgres_select_1(&url)
        .await
        .expect("tokio-postgres logs in with the URL");

    let before = versions(&sm, &target).await;
    let again = invoke(&ctx, scheduled()).await.expect("second sync");
    assert_eq!(again.results[0].action, Action::Unchanged);
    assert_eq!(again.results[0].target_version_id, r.target_version_id);
    assert_eq!(
        versions(&sm, &target).await,
        before,
        "the second run wrote nothing"
    );

    assert_never_logged(&[&old, &new, url.expose_secret(), old_url.expose_secret()]);
}

#[tokio::test]
async fn passwords_and_names_with_url_syntax_and_non_ascii_characters_round_trip_through_libpq_django_and_tokio_postgres()
 {
    logs::capture();
    let sm = sm().await;
    let pg = postgres();
    let port = pg.port.to_string();
    // One function, several pairs: every hard password gets its own role, source and target.
    let mut pairs = Vec::new();
    let mut cases = Vec::new();
    for (i, pw) in HARD.iter().enumerate() {
        let password = format!("{pw}-{}", random_hex(4));
        // Role names may hold URL syntax too.
        let user = if i == 0 {
            format!("we:ird@user/{}", random_hex(3))
        } else {
            role(&password).await
        };
        if i == 0 {
            pg.create_role(&user, &SecretString::from(password.clone()))
                .await;
        }
        let source = create_secret(&sm, &unique("rds!db"), Some(&creds(&user, &password))).await;
        let target = create_secret(&sm, &unique("app/url"), None).await;
        pairs.push(json!({
            "RDS_SECRET_ARN": source, "CUSTOM_SECRET_ARN": target,
            "DB_HOST": pg.host, "DB_PORT": port, "DB_NAME": "postgres",
        }));
        cases.push((user, password, target));
    }
    let list = Value::Array(pairs).to_string();
    let ctx = context(&[("SYNC_PAIRS", &list)]).await;
    let out = invoke(&ctx, scheduled()).await.expect("sync every pair");
    assert_eq!(out.results.len(), HARD.len());
    assert!(out.results.iter().all(|r| r.action == Action::Updated));

    let mut urls = Vec::new();
    for (i, (user, password, target)) in cases.iter().enumerate() {
        let url = current(&sm, target).await;
        if let Err(e) = psql_select_1(&url, None) {
            panic!("psql could not log in with URL #{i}: {e}");
        }
        if let Err(e) = tokio_postgres_select_1(&url).await {
            panic!("tokio-postgres could not log in with URL #{i}: {e:#}");
        }
        let config: tokio_postgres::Config = url.expose_secret().parse().unwrap();
        assert!(config.get_user() == Some(user.as_str()), "user #{i}");
        assert!(
            config.get_password() == Some(password.as_bytes()),
            "password #{i}"
        );
        urls.push(url);
    }
    let parsed = dj_database_url(&urls);
    for (i, ((user, password, _), dj)) in cases.iter().zip(&parsed).enumerate() {
        assert!(
            dj["PASSWORD"].as_str() == Some(password.as_str()),
            "Django reads password #{i} differently"
        );
        assert!(
            dj["USER"].as_str() == Some(user.as_str()),
            "Django reads user #{i} differently"
        );
        assert_eq!(dj["HOST"], json!(pg.host));
        assert_eq!(dj["PORT"], json!(pg.port));
        assert_eq!(dj["NAME"], "postgres");
        assert_eq!(dj["OPTIONS"]["sslmode"], "require");
    }
    let secrets: Vec<&str> = cases
        .iter()
        .map(|c| c.1.as_str())
        .chain(urls.iter().map(|u| u.expose_secret()))
        .collect();
    assert_never_logged(&secrets);
}

#[tokio::test]
async fn django_reads_database_names_with_url_syntax_back_exactly() {
    let parts = rotor_sync_url::dsn::UrlParts {
        user: "app".into(),
        password: SecretString::from("pw"),
        host: "db.example.internal".into(),
        port: 5432,
        dbname: "orders/eu?#% ü".into(),
        sslmode: "verify-full".into(),
        extra_query: vec![],
    };
    let url = rotor_sync_url::dsn::build(&parts).unwrap();
    let dj = &dj_database_url(&[url])[0];
    assert_eq!(dj["NAME"], "orders/eu?#% ü");
    assert_eq!(dj["OPTIONS"]["sslmode"], "verify-full");
}

#[tokio::test]
async fn a_json_target_keeps_its_other_keys_and_their_order() {
    logs::capture();
    let sm = sm().await;
    let password = format!("pw-{}", random_hex(8));
    let source = create_secret(
        &sm,
        &unique("rds!db"),
        Some(&json!({"username":"app","password":password,"host":"db.internal","port":6432,"dbname":"orders"}).to_string()),
    )
    .await;
    let original = r#"{"SECRET_KEY":"django-insecure-keep-me","APP_DATABASE_URL":"postgres://app:old@db.internal:6432/orders?sslmode=require","FEATURES":{"beta":true,"list":[1,2]},"ZZ":"last"}"#;
    let target = create_secret(&sm, &unique("app/config"), Some(original)).await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("TARGET_FORMAT", "json"),
        ("TARGET_URL_KEY", "APP_DATABASE_URL"),
        ("DB_HOST", "db.internal"),
    ])
    .await;
    let out = invoke(&ctx, fixture_for("sync-url-put-secret-value.json", &source))
        .await
        .expect("sync");
    assert_eq!(out.trigger, "PutSecretValue");
    assert_eq!(out.results[0].action, Action::Updated);
    assert_eq!(out.results[0].changed, vec!["password"]);

    let now = current(&sm, &target).await;
    let now: serde_json::Map<String, Value> = serde_json::from_str(now.expose_secret()).unwrap();
    let before: serde_json::Map<String, Value> = serde_json::from_str(original).unwrap();
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "same keys, same order"
    );
    for (k, v) in &before {
        if k != "APP_DATABASE_URL" {
            assert_eq!(&now[k], v, "key {k} is kept as it was");
        }
    }
    assert_eq!(
        now["APP_DATABASE_URL"],
        format!("postgres://app:{password}@db.internal:6432/orders?sslmode=require")
    );
    assert_never_logged(&[&password]);
}

#[tokio::test]
async fn with_allow_host_from_target_values_missing_everywhere_else_come_from_the_targets_current_url()
 {
    logs::capture();
    let sm = sm().await;
    let password = format!("pw-{}", random_hex(8));
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", &password))).await;
    let target = create_secret(
        &sm,
        &unique("app/url"),
        Some("postgresql://app:old@db.internal:6543/orders?sslmode=verify-full&sslrootcert=%2Fopt%2Frds.pem&password=stale&connect_timeout=10"),
    )
    .await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("PG_SSLMODE", "verify-full"),
        ("PG_SSLROOTCERT", "/opt/rds.pem"),
        ("ALLOW_HOST_FROM_TARGET", "true"),
    ])
    .await;
    let out = invoke(&ctx, scheduled()).await.expect("sync");
    assert_eq!(out.results[0].action, Action::Updated);
    assert_eq!(
        current(&sm, &target).await.expose_secret(),
        format!(
            "postgres://app:{password}@db.internal:6543/orders?sslmode=verify-full&sslrootcert=%2Fopt%2Frds.pem&connect_timeout=10"
        ),
        "host, port and database from the target; sslrootcert from PG_SSLROOTCERT; its \
         connect_timeout kept; a stale password= dropped"
    );
    assert_never_logged(&[&password]);
}

#[tokio::test]
async fn a_host_that_only_the_target_gives_is_refused_without_allow_host_from_target() {
    logs::capture();
    let sm = sm().await;
    let target = Untouched::new(&sm).await;
    let password = format!("pw-{}", random_hex(8));
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", &password))).await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target.id),
    ])
    .await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.HostFromTargetRefused");
    let text = err.to_string();
    for named in [
        "ALLOW_HOST_FROM_TARGET",
        "DB_HOST",
        "`host`",
        "DB_INSTANCE_IDENTIFIER",
    ] {
        assert!(text.contains(named), "names {named}: {text}");
    }
    target.assert_unchanged(&sm).await;
    assert_never_logged(&[&password]);
}

#[tokio::test]
async fn parameters_in_the_targets_url_that_steer_the_connection_are_not_carried_over() {
    logs::capture();
    let sm = sm().await;
    let pg = postgres();
    let password = format!("pw-{}", random_hex(8));
    let user = role(&password).await;
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds(&user, &password))).await;
    let port = pg.port.to_string();
    // What someone who can write only the target would plant: another server, no TLS, and
    // session options; next to harmless parameters that stay.
    let planted = format!(
        "postgres://{user}:old@{}:{port}/postgres?host=203.0.113.9&hostaddr=203.0.113.9&\
         sslmode=disable&options=-c%20log_statement%3Dall&sslrootcert=%2Ftmp%2Fplanted.pem&\
         ssl=false&target_session_attrs=read-only&connect_timeout=10&application_name=web",
        pg.host
    );
    let target = create_secret(&sm, &unique("app/url"), Some(&planted)).await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("DB_HOST", &pg.host),
        ("DB_PORT", &port),
    ])
    .await;
    let out = invoke(&ctx, scheduled()).await.expect("sync");
    assert_eq!(out.results[0].action, Action::Updated);
    let url = current(&sm, &target).await;
    assert_eq!(
        url.expose_secret(),
        format!(
            "postgres://{user}:{password}@{}:{port}/postgres?sslmode=require&connect_timeout=10&application_name=web",
            pg.host
        )
    );
    psql_select_1(&url, None)
        .map_err(|e| anyhow::anyhow!(e))
        .expect("psql logs in to the real server over TLS with the URL");
    assert_never_logged(&[&password]);
}

#[tokio::test]
async fn the_host_from_an_rds_instance_wins_over_db_host() {
    logs::capture();
    let sm = sm().await;
    let rds = aws_sdk_rds::Client::new(&moto().sdk_config(REGION).await);
    let id = unique("orders-db");
    rds.create_db_instance()
        .db_instance_identifier(&id)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("postgres")
        .master_user_password("not-used-here-1")
        .send()
        .await
        .expect("CreateDBInstance");
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await
        .unwrap();
    let endpoint = described.db_instances()[0].endpoint().unwrap();
    let (address, port) = (
        endpoint.address().unwrap().to_owned(),
        endpoint.port().unwrap(),
    );

    let password = format!("pw-{}", random_hex(8));
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("postgres", &password))).await;
    let target = create_secret(&sm, &unique("app/url"), None).await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("DB_INSTANCE_IDENTIFIER", &id),
        ("DB_HOST", "stale-host.example.internal"),
        ("DB_PORT", "6000"),
        ("DB_NAME", "orders"),
    ])
    .await;
    invoke(&ctx, scheduled()).await.expect("sync");
    let url = current(&sm, &target).await;
    let parsed = url::Url::parse(url.expose_secret()).unwrap();
    assert_eq!(parsed.host_str(), Some(address.as_str()));
    assert_eq!(parsed.port().map(i32::from), Some(port));
    assert!(address.contains(&id));
    assert_never_logged(&[&password]);
}

#[tokio::test]
async fn the_writer_endpoint_of_an_rds_cluster_is_used_when_a_cluster_is_named() {
    let sm = sm().await;
    let rds = aws_sdk_rds::Client::new(&moto().sdk_config(REGION).await);
    let id = unique("orders-cluster");
    let created = rds
        .create_db_cluster()
        .db_cluster_identifier(&id)
        .engine("aurora-postgresql")
        .master_username("postgres")
        .master_user_password("not-used-here-1")
        .send()
        .await
        .expect("CreateDBCluster");
    let writer = created.db_cluster().unwrap().endpoint().unwrap().to_owned();
    let source = create_secret(
        &sm,
        &unique("rds!cluster"),
        Some(&creds("postgres", "pw-cluster")),
    )
    .await;
    let target = create_secret(&sm, &unique("app/url"), None).await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("DB_CLUSTER_IDENTIFIER", &id),
        ("DB_NAME", "orders"),
    ])
    .await;
    invoke(&ctx, scheduled()).await.expect("sync");
    let url = current(&sm, &target).await;
    let parsed = url::Url::parse(url.expose_secret()).unwrap();
    assert_eq!(parsed.host_str(), Some(writer.as_str()));
}

/// A target with one version, and a way to check it is exactly as it was.
struct Untouched {
    id: String,
    versions: Vec<(String, Vec<String>)>,
    value: String,
}

impl Untouched {
    async fn new(sm: &aws_sdk_secretsmanager::Client) -> Self {
        let value = "postgres://app:keep@db.internal:5432/orders?sslmode=require".to_owned();
        let id = create_secret(sm, &unique("app/url"), Some(&value)).await;
        let versions = versions(sm, &id).await;
        Self {
            id,
            versions,
            value,
        }
    }

    async fn assert_unchanged(&self, sm: &aws_sdk_secretsmanager::Client) {
        assert_eq!(
            versions(sm, &self.id).await,
            self.versions,
            "no version was written"
        );
        assert_eq!(current(sm, &self.id).await.expose_secret(), self.value);
    }
}

#[tokio::test]
async fn a_missing_source_secret_is_a_clear_error_and_the_target_is_unchanged() {
    let sm = sm().await;
    let target = Untouched::new(&sm).await;
    let missing = format!(
        "arn:aws:secretsmanager:{REGION}:123456789012:secret:{}-AbCdEf",
        unique("gone")
    );
    let ctx = context(&[
        ("RDS_SECRET_ARN", &missing),
        ("CUSTOM_SECRET_ARN", &target.id),
    ])
    .await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.SourceNotFound");
    assert!(err.to_string().contains(&missing), "{err}");
    target.assert_unchanged(&sm).await;
}

#[tokio::test]
async fn a_source_without_a_password_is_a_clear_error_and_the_target_is_unchanged() {
    let sm = sm().await;
    let target = Untouched::new(&sm).await;
    let source = create_secret(
        &sm,
        &unique("rds!db"),
        Some(r#"{"username":"app","pasword":"typo-hunter2"}"#),
    )
    .await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target.id),
    ])
    .await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.SourceFormat");
    let text = err.to_string();
    assert!(
        text.contains("no `password` key") && text.contains(&source),
        "{text}"
    );
    assert!(!text.contains("hunter2"));
    target.assert_unchanged(&sm).await;
}

#[tokio::test]
async fn no_host_anywhere_is_an_error_naming_the_host_and_where_it_was_looked_for() {
    let sm = sm().await;
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", "pw-nohost"))).await;
    let target = create_secret(&sm, &unique("app/url"), None).await;
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("DB_NAME", "orders"),
    ])
    .await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.MissingValue");
    let text = err.to_string();
    assert!(text.starts_with("no host for the URL in"), "{text}");
    assert!(
        text.contains("DB_HOST") && text.contains("`host`"),
        "{text}"
    );
    assert!(
        versions(&sm, &target).await.is_empty(),
        "nothing was written"
    );
}

#[tokio::test]
async fn a_target_that_cannot_be_written_is_a_clear_error() {
    let sm = sm().await;
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", "pw-unwritable"))).await;
    let missing = format!(
        "arn:aws:secretsmanager:{REGION}:123456789012:secret:{}-AbCdEf",
        unique("nowhere")
    );
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &missing),
        ("DB_HOST", "db.internal"),
        ("DB_NAME", "orders"),
        ("DB_PORT", "5432"),
    ])
    .await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.TargetNotWritable");
    let text = err.to_string();
    assert!(
        text.contains(&missing) && text.contains("PutSecretValue"),
        "{text}"
    );
    assert!(!text.contains("pw-unwritable"), "{text}");
}

#[tokio::test]
async fn a_replica_target_is_not_writable_and_stays_as_it_was() {
    let primary_sm = sm().await;
    let replica_region = "us-west-2";
    let replica_sm = moto().secrets(replica_region).await;
    let value = "postgres://app:keep@db.internal:5432/orders?sslmode=require";
    let name = unique("app/replicated-url");
    primary_sm
        .create_secret()
        .name(&name)
        .secret_string(value)
        .add_replica_regions(
            aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                .region(replica_region)
                .build(),
        )
        .send()
        .await
        .expect("CreateSecret with a replica");
    let before = versions(&replica_sm, &name).await;
    let source = create_secret(
        &replica_sm,
        &unique("rds!db"),
        Some(&creds("app", "pw-replica")),
    )
    .await;
    let ctx = context_in(
        replica_region,
        &[
            ("RDS_SECRET_ARN", &source),
            ("CUSTOM_SECRET_ARN", &name),
            ("DB_HOST", "db.internal"),
            ("DB_NAME", "orders"),
        ],
    )
    .await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.TargetNotWritable");
    assert!(err.to_string().contains("replica"), "{err}");
    assert_eq!(versions(&replica_sm, &name).await, before);
    assert_eq!(current(&primary_sm, &name).await.expose_secret(), value);
}

#[tokio::test]
async fn a_target_holding_something_other_than_a_url_is_never_overwritten() {
    let sm = sm().await;
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", "pw-other"))).await;
    for (value, format, want) in [
        (
            r#"{"DATABASE_URL":"postgres://a:b@h/d"}"#,
            "url",
            "TARGET_FORMAT=json",
        ),
        (
            "sk_live_not_a_url",
            "url",
            "does not hold a postgres:// URL",
        ),
        ("mysql://app:pw@h/d", "url", "scheme other than"),
        ("postgres://app:pw@h/d", "json", "not a JSON object"),
    ] {
        let id = create_secret(&sm, &unique("app/other"), Some(value)).await;
        let before = versions(&sm, &id).await;
        let ctx = context(&[
            ("RDS_SECRET_ARN", &source),
            ("CUSTOM_SECRET_ARN", &id),
            ("TARGET_FORMAT", format),
            ("DB_HOST", "h"),
            ("DB_PORT", "5432"),
            ("DB_NAME", "d"),
        ])
        .await;
        let err = invoke(&ctx, scheduled()).await.unwrap_err();
        assert_eq!(err.error_type(), "Rotor.SyncUrl.TargetFormat");
        let text = err.to_string();
        assert!(text.contains(want), "{text}");
        assert!(
            !text.contains("sk_live") && !text.contains(":pw@"),
            "{text}"
        );
        assert_eq!(versions(&sm, &id).await, before);
    }
}

#[tokio::test]
async fn an_unknown_rds_instance_is_a_clear_error_and_the_target_is_unchanged() {
    let sm = sm().await;
    let target = Untouched::new(&sm).await;
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", "pw-rds"))).await;
    let id = unique("no-such-db");
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target.id),
        ("DB_INSTANCE_IDENTIFIER", &id),
    ])
    .await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.RdsLookup");
    let text = err.to_string();
    assert!(
        text.contains(&id) && text.contains("DB_INSTANCE_IDENTIFIER"),
        "{text}"
    );
    target.assert_unchanged(&sm).await;
}

#[tokio::test]
async fn an_event_about_another_secret_changes_nothing() {
    logs::capture();
    let sm = sm().await;
    let source = create_secret(
        &sm,
        &unique("rds!db"),
        Some(&creds("app", "pw-other-secret")),
    )
    .await;
    let target = create_secret(
        &sm,
        &unique("app/url"),
        Some("postgres://app:old@h:5432/d?sslmode=require"),
    )
    .await;
    let before = versions(&sm, &target).await;
    let ctx = context(&[("RDS_SECRET_ARN", &source), ("CUSTOM_SECRET_ARN", &target)]).await;
    let other = format!(
        "arn:aws:secretsmanager:{REGION}:123456789012:secret:{}-QwErTy",
        unique("rds!db-other")
    );
    for name in [
        "sync-url-rotation-succeeded.json",
        "sync-url-put-secret-value.json",
    ] {
        let out = invoke(&ctx, fixture_for(name, &other))
            .await
            .expect("ignored, not failed");
        assert!(out.results.is_empty(), "{name}");
        assert!(out.ignored.as_deref().unwrap().contains(&other), "{name}");
    }
    // The function's own write to the target comes back as an event too: no loop.
    let own = fixture_for("sync-url-put-secret-value.json", &target);
    assert!(invoke(&ctx, own).await.unwrap().results.is_empty());
    assert_eq!(versions(&sm, &target).await, before);
    assert!(logs::contents().contains("no configured source"));
}

#[tokio::test]
async fn every_sync_url_event_fixture_syncs_its_source() {
    let sm = sm().await;
    for name in [
        "sync-url-scheduled.json",
        "sync-url-rotation-succeeded.json",
        "sync-url-put-secret-value.json",
    ] {
        let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", "pw-fixture"))).await;
        let target = create_secret(&sm, &unique("app/url"), None).await;
        let ctx = context(&[
            ("RDS_SECRET_ARN", &source),
            ("CUSTOM_SECRET_ARN", &target),
            ("DB_HOST", "h"),
            ("DB_PORT", "5432"),
            ("DB_NAME", "d"),
        ])
        .await;
        let out = invoke(&ctx, fixture_for(name, &source)).await.expect(name);
        assert_eq!(out.results.len(), 1, "{name}");
        assert_eq!(out.results[0].action, Action::Updated, "{name}");
    }
}

#[tokio::test]
async fn concurrent_runs_for_one_rotation_write_one_version() {
    let sm = sm().await;
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", "pw-one"))).await;
    let target = create_secret(
        &sm,
        &unique("app/url"),
        Some("postgres://app:old@h:5432/d?sslmode=require"),
    )
    .await;
    let before = versions(&sm, &target).await.len();
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("ALLOW_HOST_FROM_TARGET", "true"),
    ])
    .await;
    let runs = futures::future::join_all((0..4).map(|_| invoke(&ctx, scheduled()))).await;
    let written: Vec<String> = runs
        .into_iter()
        .map(|r| {
            r.expect("run").results[0]
                .target_version_id
                .clone()
                .unwrap()
        })
        .collect();
    assert!(
        written.windows(2).all(|w| w[0] == w[1]),
        "every run names the same version"
    );
    assert_eq!(
        versions(&sm, &target).await.len(),
        before + 1,
        "one new version, not four"
    );
}

#[tokio::test]
async fn one_failing_pair_does_not_stop_the_others() {
    let sm = sm().await;
    let good_source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", "pw-good"))).await;
    let good_target = create_secret(&sm, &unique("app/url"), None).await;
    let bad_source = format!("{}-missing", unique("rds!db"));
    let bad_target = Untouched::new(&sm).await;
    let list = json!([
        {"RDS_SECRET_ARN": bad_source, "CUSTOM_SECRET_ARN": bad_target.id},
        {"RDS_SECRET_ARN": good_source, "CUSTOM_SECRET_ARN": good_target, "DB_HOST": "h", "DB_PORT": "5432", "DB_NAME": "d"},
    ])
    .to_string();
    let ctx = context(&[("SYNC_PAIRS", &list)]).await;
    let err = invoke(&ctx, scheduled()).await.unwrap_err();
    assert_eq!(err.error_type(), "Rotor.SyncUrl.SourceNotFound");
    assert!(err.to_string().starts_with("1 of 2 pairs failed"), "{err}");
    assert_eq!(
        versions(&sm, &good_target).await.len(),
        1,
        "the good pair was written"
    );
    bad_target.assert_unchanged(&sm).await;
}

#[tokio::test]
async fn a_target_rolled_back_to_the_version_before_a_write_is_written_again() {
    logs::capture();
    let sm = sm().await;
    let password = format!("pw-{}", random_hex(8));
    let source = create_secret(&sm, &unique("rds!db"), Some(&creds("app", &password))).await;
    let stale = "postgres://app:old@db.internal:5432/orders?sslmode=require";
    let target = create_secret(&sm, &unique("app/url"), Some(stale)).await;
    let old_version = sm
        .get_secret_value()
        .secret_id(&target)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("GetSecretValue")
        .version_id
        .expect("a version id");
    let ctx = context(&[
        ("RDS_SECRET_ARN", &source),
        ("CUSTOM_SECRET_ARN", &target),
        ("DB_HOST", "db.internal"),
    ])
    .await;
    let want = format!("postgres://app:{password}@db.internal:5432/orders?sslmode=require");
    let first = invoke(&ctx, scheduled()).await.expect("first sync");
    let written = first.results[0].target_version_id.clone().unwrap();
    assert_eq!(current(&sm, &target).await.expose_secret(), want);

    // Someone moves AWSCURRENT back to the stale version.
    sm.update_secret_version_stage()
        .secret_id(&target)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&old_version)
        .remove_from_version_id(&written)
        .send()
        .await
        .expect("UpdateSecretVersionStage");
    assert_eq!(current(&sm, &target).await.expose_secret(), stale);

    let out = invoke(&ctx, scheduled())
        .await
        .expect("sync after the rollback");
    let r = &out.results[0];
    assert_eq!(r.action, Action::Updated);
    assert_eq!(
        r.previous_target_version_id.as_deref(),
        Some(old_version.as_str())
    );
    // Asked by version id and stage together: moto does not follow UpdateSecretVersionStage
    // in its own notion of the current version, so the next PutSecretValue leaves the
    // AWSCURRENT label on the rolled-back version as well as on the new one, and a lookup
    // by stage alone finds the older one first. (AWS moves the label.)
    let now = sm
        .get_secret_value()
        .secret_id(&target)
        .version_id(r.target_version_id.as_deref().unwrap())
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("the reported version carries AWSCURRENT");
    assert_eq!(
        now.secret_string(),
        Some(want.as_str()),
        "it holds the right URL"
    );
    assert_ne!(r.target_version_id.as_deref(), Some(written.as_str()));
    assert_never_logged(&[&password]);
}
