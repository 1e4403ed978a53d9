//! The SDK's HTTPS client that rotor installs (rustls on ring, the system trust store): it
//! reaches an HTTPS endpoint whose CA the trust store holds, and refuses one it does not.
//! Each case runs in a child process, because the trust store is read from the environment
//! (`SSL_CERT_FILE`) and a test must not change its own process's environment.

use std::process::Command;

use aws_config::Region;
use aws_credential_types::Credentials;
use rotor_testkit::https::https_front;
use rotor_testkit::{moto, postgres, unique};

const ENDPOINT_VAR: &str = "ROTOR_TEST_HTTPS_ENDPOINT";

/// Runs `child` (an ignored test of this file) with `endpoint` and the given trust store.
fn run_child(child: &str, endpoint: &str, ssl_cert_file: Option<&std::path::Path>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", child, "--ignored", "--nocapture"])
        .env(ENDPOINT_VAR, endpoint)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(file) = ssl_cert_file {
        cmd.env("SSL_CERT_FILE", file);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_sdk_client_speaks_https_to_an_endpoint_the_trust_store_vouches_for() {
    let endpoint = https_front(&moto().endpoint);
    run_child(
        "child_https_round_trip",
        &endpoint,
        Some(&postgres().ca_file),
    );
}

#[test]
fn the_sdk_client_refuses_an_endpoint_the_trust_store_does_not_vouch_for() {
    let endpoint = https_front(&moto().endpoint);
    run_child("child_https_refused", &endpoint, None);
}

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let endpoint = std::env::var(ENDPOINT_VAR).expect("run by a parent test");
    let config = rotor_core::aws::loader("rotor-test")
        .endpoint_url(endpoint)
        .region(Region::new("eu-central-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

#[tokio::test]
#[ignore = "run by the_sdk_client_speaks_https_to_an_endpoint_the_trust_store_vouches_for"]
async fn child_https_round_trip() {
    let sm = secrets_client().await;
    let name = unique("core/https");
    sm.create_secret()
        .name(&name)
        .secret_string("over-tls")
        .send()
        .await
        .expect("CreateSecret over HTTPS");
    let described = sm
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .expect("DescribeSecret over HTTPS");
    assert_eq!(described.name(), Some(name.as_str()));
}

#[tokio::test]
#[ignore = "run by the_sdk_client_refuses_an_endpoint_the_trust_store_does_not_vouch_for"]
async fn child_https_refused() {
    let err = secrets_client()
        .await
        .list_secrets()
        .send()
        .await
        .expect_err("an untrusted certificate must fail the call");
    let err = rotor_core::AwsError::from_sdk("ListSecrets", err);
    assert!(
        err.to_string().contains("certificate"),
        "the failure names the certificate: {err:?}"
    );
}
