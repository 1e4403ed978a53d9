//! The local demo: a real rotation, end to end. It starts moto and a PostgreSQL server
//! (scram-sha-256, TLS only), creates a database user and its secret, starts Secrets
//! Manager's rotation, runs the four steps through the built `rotor-rotate` binary under
//! cargo-lambda's Lambda emulator, and shows the old password refused and the new one
//! accepted. Passwords are never printed.
//!
//! Run with `./scripts/demo.sh` (which builds the binary first).

use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::lambda::{self, built_binary, moto_env};
use rotor_testkit::{moto, postgres, random_hex, unique, workspace_root};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let moto = moto();
    let pg = postgres();
    println!("local AWS (moto):   {}", moto.endpoint);
    println!(
        "PostgreSQL:         {}:{} (scram-sha-256, TLS only, every statement logged)",
        pg.host, pg.port
    );

    let user = format!("demo_app_{}", random_hex(3));
    let old_password = SecretString::from(random_hex(16));
    pg.create_role(&user, &old_password).await;
    let sm = moto.secrets(REGION).await;
    let arn = sm
        .create_secret()
        .name(unique("demo/app-db"))
        .secret_string(
            json!({
                "engine": "postgres", "host": pg.host, "port": pg.port,
                "username": user, "password": old_password.expose_secret(),
                "dbname": "postgres", "team": "payments",
            })
            .to_string(),
        )
        .send()
        .await?
        .arn
        .context("CreateSecret returned no ARN")?;
    println!("database user:      {user}");
    println!("its secret:         {arn}");

    // What Secrets Manager does first: rotation on, an empty AWSPENDING version under a
    // new token. (moto then fails to call the function it was given, which does not
    // exist there: the steps below are that call.)
    let token = rotor_testkit::rotation::begin(&sm, &arn).await;
    println!("rotation started:   version {token} is AWSPENDING");

    let mut env = moto_env(REGION);
    env.push((
        "PG_SSLROOTCERT".into(),
        pg.ca_file.to_string_lossy().into_owned(),
    ));
    let binary = built_binary("rotor-rotate");
    let function = lambda::start(&binary, &env);
    println!(
        "\nrotor-rotate under cargo-lambda's emulator (port {}), one invocation per step:",
        function.port
    );
    for step in [
        "create-secret",
        "set-secret",
        "test-secret",
        "finish-secret",
    ] {
        let path = workspace_root().join(format!("events/rotate-{step}.json"));
        let mut event: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        event["SecretId"] = json!(arn);
        event["ClientRequestToken"] = json!(token);
        let started = Instant::now();
        match function.invoke(&event).await {
            Ok(out) => println!(
                "  {:<13} -> {:<13} {:>5} ms",
                out["step"].as_str().unwrap_or("?"),
                out["outcome"].as_str().unwrap_or("?"),
                started.elapsed().as_millis()
            ),
            Err(e) => {
                eprintln!("\nthe function's log:\n{}", function.log());
                bail!("{step} failed: {e}");
            }
        }
    }
    // What Secrets Manager does after a successful finishSecret.
    rotor_testkit::rotation::end(&sm, &arn, &token).await;

    let current = sm
        .get_secret_value()
        .secret_id(&arn)
        .version_stage("AWSCURRENT")
        .send()
        .await?;
    let current: Value = serde_json::from_str(current.secret_string().unwrap_or("{}"))?;
    let new_password = SecretString::from(
        current["password"]
            .as_str()
            .context("no password in AWSCURRENT")?
            .to_owned(),
    );
    let old_ok = pg.can_login(&user, &old_password).await;
    let new_ok = pg.can_login(&user, &new_password).await;
    println!("\nafter the rotation:");
    println!(
        "  old password:     {}",
        if old_ok {
            "ACCEPTED (wrong!)"
        } else {
            "refused"
        }
    );
    println!(
        "  new password:     {}",
        if new_ok {
            "accepted"
        } else {
            "REFUSED (wrong!)"
        }
    );
    println!(
        "  other keys:       team = {} (unchanged)",
        current["team"].as_str().unwrap_or("?")
    );
    let in_server_log = pg.server_log().contains(new_password.expose_secret());
    println!(
        "  server log:       {}",
        if in_server_log {
            "HOLDS THE NEW PASSWORD (wrong!)"
        } else {
            "holds no password (the change was sent as a SCRAM verifier)"
        }
    );
    let in_function_log = function.log().contains(new_password.expose_secret());
    ensure!(!old_ok && new_ok, "the rotation did not take effect");
    ensure!(
        !in_server_log && !in_function_log,
        "a password reached a log"
    );
    println!("\nrotor-rotate's own log: {}", function.log_file.display());
    Ok(())
}
