//! AWS SDK configuration: one load from the environment, every client built from it.

use aws_config::{AppName, BehaviorVersion, ConfigLoader, Region, SdkConfig};

/// A loader with rotor's defaults. Everything else comes from the standard environment:
/// region, credentials, `AWS_ENDPOINT_URL` (and per-service overrides), `AWS_RETRY_MODE`
/// and `AWS_MAX_ATTEMPTS`. The app name shows in the user agent CloudTrail records, so an
/// auditor can tell rotor's calls from everyone else's.
pub fn loader(app_name: &'static str) -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    match AppName::new(app_name) {
        Ok(name) => loader.app_name(name),
        // Names are compile-time constants of this project; an invalid one only loses the tag.
        Err(_) => loader,
    }
}

/// Loads the SDK configuration from the environment.
pub async fn load(app_name: &'static str) -> SdkConfig {
    loader(app_name).load().await
}

/// The same configuration pointed at another region (for replicas and per-region checks).
pub fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config
        .to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

/// The configured region, or `""` when none is set.
pub fn region_of(config: &SdkConfig) -> &str {
    config.region().map(|r| r.as_ref()).unwrap_or("")
}
