//! What the rotate benchmark and load run share.

use rotor_testkit::{moto, postgres};

/// A rotor-rotate context for in-process rotations against the local moto and
/// PostgreSQL (its CA as `PG_SSLROOTCERT`, so logins verify the server).
pub async fn local_context(region: &str) -> anyhow::Result<rotor_rotate::Context> {
    let ca = postgres().ca_file.to_string_lossy().into_owned();
    let config = rotor_rotate::Config::from_settings(&rotor_core::config::Settings::from_pairs(
        &[("PG_SSLROOTCERT", ca.as_str())],
    ))?;
    Ok(rotor_rotate::Context::new(
        &moto().sdk_config(region).await,
        config,
    ))
}
