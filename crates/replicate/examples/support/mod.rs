//! What the replicate benchmark and load run share.

use rotor_core::config::Settings;
use rotor_replicate::Config;

/// Replication from us-east-1 to us-west-2 and eu-west-1 of what is under `prefix`, 16
/// items at a time, with `extra` settings.
pub fn config(prefix: &str, extra: &[(&str, &str)]) -> anyhow::Result<Config> {
    let mut pairs = vec![
        ("SOURCE_REGION", "us-east-1"),
        ("TARGET_REGIONS", "us-west-2,eu-west-1"),
        ("PARAMETER_INCLUDE_PREFIXES", prefix),
        ("SECRET_INCLUDE_PREFIXES", prefix),
        ("MAX_CONCURRENCY", "16"),
    ];
    pairs.extend_from_slice(extra);
    Ok(Config::from_settings(&Settings::from_pairs(&pairs))?)
}
