//! AWS SDK configuration: one load from the environment, every client built from it.

use aws_config::{AppName, BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// A loader with rotor's defaults. Everything else comes from the standard environment:
/// region, credentials, `AWS_ENDPOINT_URL` (and per-service overrides), `AWS_RETRY_MODE`
/// and `AWS_MAX_ATTEMPTS`. The app name shows in the user agent CloudTrail records, so an
/// auditor can tell rotor's calls from everyone else's.
pub fn loader(app_name: &'static str) -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    match AppName::new(app_name) {
        Ok(name) => loader.app_name(name),
        // Names are compile-time constants of this project; an invalid one only loses the tag.
        Err(_) => loader,
    }
}

/// The SDK's HTTPS client: rustls with ring's cryptography and the system's trust store.
/// The SDK's default is the same client on aws-lc, which would put a second large crypto
/// library into every binary beside the OpenSSL that PostgreSQL's TLS needs; ring is small.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
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
