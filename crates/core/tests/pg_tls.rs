//! PostgreSQL TLS as libpq means it, against the real test server (its certificate is
//! signed by a CA generated at start): a root file is the only trust, `system` is the
//! system store only, the default is the system store plus the RDS roots; channel binding
//! refuses a server that asks for a clear-text password; connectors are built once.
//!
//! The system store is read from the environment (`SSL_CERT_FILE`), and a test must not
//! change its own process's environment: each case that depends on it runs in a child
//! process of this test binary with a private "system" bundle holding the test server's CA.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rotor_core::pg::{ChannelBinding, FailureKind, SslMode, Target, TlsPolicy, Trust};
use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::{CLEARTEXT_USER, Postgres, postgres, random_hex, unique};

/// Certificates the tests need besides the server's own.
struct Files {
    /// A CA that signed nothing the server has: a root file that must not let it in.
    unrelated_ca: PathBuf,
    /// A private "system" store: the test server's CA.
    system_bundle: PathBuf,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        // Named as the test kit names its scratch directories, so a later run removes it.
        let dir = std::env::temp_dir().join(format!(
            "rotor-test-{}-tls-{}",
            std::process::id(),
            random_hex(4)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let unrelated_ca = dir.join("unrelated-ca.pem");
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=rotor unrelated test CA", "-keyout"])
            .arg(dir.join("unrelated-ca.key"))
            .arg("-out")
            .arg(&unrelated_ca)
            .output()
            .expect("run openssl");
        assert!(status.status.success(), "openssl: {status:?}");
        let system_bundle = dir.join("system-bundle.pem");
        std::fs::copy(&postgres().ca_file, &system_bundle).unwrap();
        Files {
            unrelated_ca,
            system_bundle,
        }
    })
}

async fn role(pg: &Postgres) -> (String, SecretString) {
    let name = unique("core_tls");
    let password = SecretString::from(format!("pw-{}", random_hex(8)));
    pg.create_role(&name, &password).await;
    (name, password)
}

/// The password of [`CLEARTEXT_USER`], one per test process (the server is too).
fn cleartext_password() -> &'static SecretString {
    static PASSWORD: OnceLock<SecretString> = OnceLock::new();
    PASSWORD.get_or_init(|| SecretString::from(format!("clear-{}", random_hex(8))))
}

/// Creates [`CLEARTEXT_USER`] once, whichever test gets there first: tests run in
/// parallel, and the loser of a race to create it finds it made by the winner.
async fn cleartext_role(pg: &Postgres) -> SecretString {
    let password = cleartext_password();
    let sql = format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{CLEARTEXT_USER}')
           THEN CREATE ROLE {user} LOGIN PASSWORD '{verifier}';
           END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$",
        user = rotor_core::pg::quote_ident(CLEARTEXT_USER),
        verifier = rotor_core::pg::scram_verifier(password),
    );
    pg.admin().await.batch_execute(&sql).await.unwrap();
    password.clone()
}

/// The trust of `policy` for `verify-full` against the test server's CA, channel binding
/// as given.
fn server_ca_policy(pg: &Postgres, channel_binding: ChannelBinding) -> Arc<TlsPolicy> {
    Arc::new(TlsPolicy::new(
        Trust::from_file(&pg.ca_file).unwrap(),
        channel_binding,
    ))
}

fn assert_no_password(err: &impl std::fmt::Debug, shown: &str, password: &SecretString) {
    let debug = format!("{err:?}");
    for text in [shown, debug.as_str()] {
        assert!(
            !text.contains(password.expose_secret()),
            "the error holds the password: {text}"
        );
    }
}

// --- Trust: each case in a child process with a private system store -----------------

const TRUST_VAR: &str = "ROTOR_TEST_TRUST";
const MODE_VAR: &str = "ROTOR_TEST_SSLMODE";
const EXPECT_VAR: &str = "ROTOR_TEST_EXPECT";
const PORT_VAR: &str = "ROTOR_TEST_PG_PORT";
const USER_VAR: &str = "ROTOR_TEST_PG_USER";
const PASSWORD_VAR: &str = "ROTOR_TEST_PG_PASSWORD";

/// Logs in to the test server in a child process whose system store is `system_bundle`,
/// with `trust` (a `PG_SSLROOTCERT`-style value: `None`, `system` or a file) and `mode`,
/// and checks the outcome there: `ok`, or the failure kind.
async fn login_in_child(
    trust: Option<&Path>,
    mode: SslMode,
    system_bundle: &Path,
    expect: Result<(), FailureKind>,
) {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_login", "--ignored", "--nocapture"])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove(TRUST_VAR)
        .env("SSL_CERT_FILE", system_bundle)
        .env(MODE_VAR, mode.as_str())
        .env(EXPECT_VAR, expect.err().map_or("ok", FailureKind::as_str))
        .env(PORT_VAR, pg.port.to_string())
        .env(USER_VAR, &user)
        .env(PASSWORD_VAR, password.expose_secret());
    if let Some(trust) = trust {
        cmd.env(TRUST_VAR, trust);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run in a child process by the trust tests of this file"]
async fn child_login() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let trust = Trust::from_setting(std::env::var(TRUST_VAR).ok().as_deref()).unwrap();
    let mode: SslMode = var(MODE_VAR).parse().unwrap();
    let password = SecretString::from(var(PASSWORD_VAR));
    let target = Target {
        host: "127.0.0.1".into(),
        port: var(PORT_VAR).parse().unwrap(),
        dbname: "postgres".into(),
        user: var(USER_VAR),
        password: password.clone(),
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let policy = Arc::new(TlsPolicy::new(trust, ChannelBinding::Prefer));
    let result = target.connect(&policy.tls(mode)).await;
    match (var(EXPECT_VAR).as_str(), result) {
        ("ok", Ok(client)) => {
            client.simple_query("SELECT 1").await.unwrap();
        }
        ("ok", Err(e)) => panic!("the login should work: {e}"),
        (kind, Err(e)) => {
            assert_eq!(e.kind.as_str(), kind, "{e}");
            assert_no_password(&e, &e.to_string(), &password);
        }
        (kind, Ok(_)) => panic!("the login should fail with {kind}"),
    }
}

#[tokio::test]
async fn verify_ca_trusts_only_the_root_file_even_when_the_system_store_holds_the_servers_ca() {
    let f = files();
    login_in_child(
        Some(&f.unrelated_ca),
        SslMode::VerifyCa,
        &f.system_bundle,
        Err(FailureKind::Certificate),
    )
    .await;
}

#[tokio::test]
async fn verify_full_trusts_only_the_root_file_even_when_the_system_store_holds_the_servers_ca() {
    let f = files();
    login_in_child(
        Some(&f.unrelated_ca),
        SslMode::VerifyFull,
        &f.system_bundle,
        Err(FailureKind::Certificate),
    )
    .await;
}

#[tokio::test]
async fn a_root_file_holding_the_servers_ca_is_enough_with_an_empty_system_store() {
    // The private system store holds only an unrelated CA here.
    let f = files();
    let pg = postgres();
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        login_in_child(Some(&pg.ca_file), mode, &f.unrelated_ca, Ok(())).await;
    }
}

#[tokio::test]
async fn system_trusts_the_system_store_for_verify_full() {
    let f = files();
    login_in_child(
        Some(Path::new("system")),
        SslMode::VerifyFull,
        &f.system_bundle,
        Ok(()),
    )
    .await;
}

#[tokio::test]
async fn system_refuses_a_server_the_system_store_does_not_vouch_for() {
    let f = files();
    login_in_child(
        Some(Path::new("system")),
        SslMode::VerifyFull,
        &f.unrelated_ca,
        Err(FailureKind::Certificate),
    )
    .await;
}

#[tokio::test]
async fn the_default_trust_is_the_system_store_plus_the_rds_roots() {
    let f = files();
    login_in_child(None, SslMode::VerifyFull, &f.system_bundle, Ok(())).await;
    login_in_child(
        None,
        SslMode::VerifyFull,
        &f.unrelated_ca,
        Err(FailureKind::Certificate),
    )
    .await;
}

// --- Channel binding ------------------------------------------------------------------

#[tokio::test]
async fn required_channel_binding_refuses_a_server_asking_for_a_clear_text_password() {
    let pg = postgres();
    let password = cleartext_role(pg).await;
    let target = pg.target(CLEARTEXT_USER, &password, "postgres");
    let err = target
        .connect(&server_ca_policy(pg, ChannelBinding::Require).tls(SslMode::VerifyFull))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::ChannelBinding, "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("did not offer SCRAM with channel binding"),
        "{shown}"
    );
    assert_no_password(&err, &shown, &password);
}

#[tokio::test]
async fn preferred_channel_binding_still_logs_in_where_the_server_asks_for_clear_text() {
    let pg = postgres();
    let password = cleartext_role(pg).await;
    let target = pg.target(CLEARTEXT_USER, &password, "postgres");
    let client = target
        .connect(&server_ca_policy(pg, ChannelBinding::Prefer).tls(SslMode::VerifyFull))
        .await
        .expect("prefer accepts a clear-text password over verified TLS");
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, CLEARTEXT_USER);
}

#[tokio::test]
async fn required_channel_binding_logs_in_with_scram_over_tls() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let policy = server_ca_policy(pg, ChannelBinding::Require);
    for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
        let client = pg
            .target(&user, &password, "postgres")
            .connect(&policy.tls(mode))
            .await
            .unwrap_or_else(|e| panic!("{mode}: SCRAM-SHA-256-PLUS: {e}"));
        client.simple_query("SELECT 1").await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_password_under_required_channel_binding_is_an_authentication_error() {
    let pg = postgres();
    let (user, _) = role(pg).await;
    let wrong = SecretString::from(format!("wrong-{}", random_hex(8)));
    let err = pg
        .target(&user, &wrong, "postgres")
        .connect(&server_ca_policy(pg, ChannelBinding::Require).tls(SslMode::VerifyFull))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Authentication, "{err}");
    assert_no_password(&err, &err.to_string(), &wrong);
}

// --- Connectors are shared ------------------------------------------------------------

#[tokio::test]
async fn logins_with_one_policy_share_one_connector_per_mode() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let policy = server_ca_policy(pg, ChannelBinding::Prefer);
    let target = pg.target(&user, &password, "postgres");
    for _ in 0..2 {
        target
            .connect(&policy.tls(SslMode::VerifyFull))
            .await
            .unwrap();
    }
    assert_eq!(policy.connectors_built(), 1, "two logins, one connector");
    target
        .connect(&policy.tls(SslMode::VerifyCa))
        .await
        .unwrap();
    target
        .connect(&policy.tls(SslMode::VerifyCa))
        .await
        .unwrap();
    assert_eq!(policy.connectors_built(), 2, "one more for the other mode");
}

#[tokio::test]
async fn an_unusable_root_file_fails_the_login_naming_the_file() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let missing = files().unrelated_ca.with_file_name("missing.pem");
    let tls = rotor_core::pg::Tls::new(SslMode::VerifyFull, Some(missing));
    let err = pg
        .target(&user, &password, "postgres")
        .connect(&tls)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Certificate, "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert_no_password(&err, &err.to_string(), &password);
}
