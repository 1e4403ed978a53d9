//! The local demo: starts moto and PostgreSQL and shows both are up and usable.

use rotor_core::SecretString;
use rotor_testkit::{moto, postgres, unique};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let moto = moto();
    println!("moto:       {}", moto.endpoint);
    let sm = moto.secrets("us-east-1").await;
    let name = unique("rotor/demo/app-db");
    let arn = sm
        .create_secret()
        .name(&name)
        .secret_string(r#"{"engine":"postgres","username":"demo","password":"demo"}"#)
        .send()
        .await?
        .arn
        .unwrap_or_default();
    println!("secret:     {arn}");

    let pg = postgres();
    println!(
        "postgres:   {}:{} (scram-sha-256, TLS only, CA {})",
        pg.host,
        pg.port,
        pg.ca_file.display()
    );
    let role = unique("demo_user").replace('-', "_");
    let password = SecretString::from(rotor_testkit::random_hex(16));
    pg.create_role(&role, &password).await;
    let ok = pg.can_login(&role, &password).await;
    println!(
        "login:      {role} over verify-full TLS: {}",
        if ok { "accepted" } else { "REFUSED" }
    );
    anyhow::ensure!(ok, "the demo role could not log in");
    Ok(())
}
