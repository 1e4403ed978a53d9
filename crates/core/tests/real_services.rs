//! rotor-core against the real services: moto's AWS APIs and a PostgreSQL server with
//! scram-sha-256 password authentication and TLS.

use rotor_core::pg::{FailureKind, SslMode, Tls};
use rotor_core::{DbCredentials, ExposeSecret, SecretString};
use rotor_testkit::{moto, postgres, unique};

#[tokio::test]
async fn an_sdk_client_from_core_stores_a_secret_in_moto_and_reads_it_back() {
    let sm = moto().secrets("eu-west-1").await;
    let name = unique("core/roundtrip");
    sm.create_secret()
        .name(&name)
        .secret_string(r#"{"username":"u","password":"p"}"#)
        .send()
        .await
        .unwrap();
    let out = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    let creds = DbCredentials::parse(out.secret_string().unwrap()).unwrap();
    assert_eq!(creds.username(), "u");
    assert_eq!(creds.password().expose_secret(), "p");
}

#[tokio::test]
async fn the_environment_loader_honours_aws_endpoint_url() {
    // The functions load their configuration from the environment; this proves the
    // endpoint override reaches every client built from it, without touching our own env.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_loads_from_env",
            "--ignored",
            "--nocapture",
        ])
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", "ap-southeast-2")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}"
    );
}

#[tokio::test]
#[ignore = "run by the_environment_loader_honours_aws_endpoint_url in a child process"]
async fn child_loads_from_env() {
    let config = rotor_core::aws::load("rotor-test").await;
    assert_eq!(rotor_core::aws::region_of(&config), "ap-southeast-2");
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique("core/env");
    sm.create_secret()
        .name(&name)
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let elsewhere =
        aws_sdk_secretsmanager::Client::new(&rotor_core::aws::in_region(&config, "us-west-1"));
    let err = elsewhere
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap_err();
    let err = rotor_core::AwsError::from_sdk("DescribeSecret", err);
    assert!(
        err.is_not_found(),
        "the secret exists only in its own region: {err}"
    );
}

async fn role(pg: &rotor_testkit::Postgres) -> (String, SecretString) {
    let name = unique("core_login");
    let password = SecretString::from(format!("pw-{}", rotor_testkit::random_hex(8)));
    pg.create_role(&name, &password).await;
    (name, password)
}

#[tokio::test]
async fn the_right_password_logs_in_over_verify_full_tls() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let client = pg
        .target(&user, &password, "postgres")
        .connect(&pg.tls())
        .await
        .expect("login with verify-full");
    let row = client
        .query_one(
            "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), user);
    assert!(row.get::<_, bool>(1), "the session is encrypted");
}

#[tokio::test]
async fn a_wrong_password_fails_as_an_authentication_error() {
    let pg = postgres();
    let (user, _) = role(pg).await;
    let wrong = SecretString::from("not-the-password".to_owned());
    let err = pg
        .target(&user, &wrong, "postgres")
        .connect(&pg.tls())
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Authentication, "{err}");
    assert!(err.to_string().contains(&user), "names the user: {err}");
    assert!(!err.to_string().contains("not-the-password"));
}

#[tokio::test]
async fn plain_text_against_a_tls_only_server_fails_clearly() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let err = pg
        .target(&user, &password, "postgres")
        .connect(&Tls::new(SslMode::Disable, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::TlsRequired, "{err}");
    assert!(err.to_string().contains("no encryption"), "{err}");
}

#[tokio::test]
async fn verify_full_without_the_ca_rejects_the_certificate() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let err = pg
        .target(&user, &password, "postgres")
        .connect(&Tls::new(SslMode::VerifyFull, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Certificate, "{err}");
}

#[tokio::test]
async fn require_and_verify_ca_log_in_too() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let target = pg.target(&user, &password, "postgres");
    target
        .connect(&Tls::new(SslMode::Require, None))
        .await
        .expect("require");
    target
        .connect(&Tls::new(SslMode::VerifyCa, Some(pg.ca_file.clone())))
        .await
        .expect("verify-ca");
}

#[tokio::test]
async fn a_closed_port_is_reported_as_refused() {
    let pg = postgres();
    let mut target = pg.admin_target();
    target.port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = target.connect(&pg.tls()).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Refused, "{err}");
}

#[tokio::test]
async fn credentials_from_a_secret_connect_with_dbname_defaulting_to_postgres() {
    let pg = postgres();
    let (user, password) = role(pg).await;
    let json = serde_json::json!({
        "engine": "postgres", "host": pg.host, "port": pg.port.to_string(),
        "username": user, "password": password.expose_secret(),
    });
    let creds = DbCredentials::parse(&json.to_string()).unwrap();
    let target =
        rotor_core::pg::Target::from_credentials(&creds, std::time::Duration::from_secs(5))
            .unwrap();
    assert_eq!(target.dbname, "postgres");
    let client = target.connect(&pg.tls()).await.unwrap();
    let db: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(db, "postgres");
}

#[tokio::test]
async fn sdk_calls_carrying_secret_values_leave_no_trace_in_the_logs_even_at_trace() {
    rotor_testkit::logs::capture();
    let sm = moto().secrets("us-east-2").await;
    let name = unique("core/trace");
    let value = format!("trace-canary-{}", rotor_testkit::random_hex(12));
    sm.create_secret()
        .name(&name)
        .secret_string(&value)
        .send()
        .await
        .unwrap();
    sm.put_secret_value()
        .secret_id(&name)
        .secret_string(format!("{value}-2"))
        .send()
        .await
        .unwrap();
    let read = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    assert!(read.secret_string().unwrap().ends_with("-2"));
    tracing::trace!(secret = %name, "marker: the capture is live at TRACE");
    let logs = rotor_testkit::logs::contents();
    assert!(
        logs.contains("marker: the capture is live"),
        "capture is not recording"
    );
    assert!(
        logs.contains("PutSecretValue")
            || logs.contains("put_secret_value")
            || logs.contains("secretsmanager"),
        "the SDK's own events are captured too"
    );
    rotor_testkit::logs::assert_absent(&value, "secret value");
}
