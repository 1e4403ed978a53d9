//! AWS SDK configuration: one load from the environment, every client built from it.

use aws_config::{AppName, BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::{RetryConfig, RetryMode};

use crate::config::{ConfigError, Settings};

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

/// The AWS SDKs' standard retry settings, `AWS_RETRY_MODE` (`standard` or `adaptive`) and
/// `AWS_MAX_ATTEMPTS` (1 to 20 here), with defaults of the function's own where the SDK's
/// (`standard`, 3 attempts) do not suit it: a function that makes thousands of calls at
/// SSM's rate limits wants `adaptive` (client-side rate limiting) and more attempts. A value
/// set in the environment always wins. (AWS SDKs and Tools Reference Guide, "Retry
/// behavior".)
pub fn retry_config(
    s: &Settings<'_>,
    default_mode: RetryMode,
    default_attempts: u32,
) -> Result<RetryConfig, ConfigError> {
    let mode = match s.string("AWS_RETRY_MODE").map(|m| m.to_ascii_lowercase()) {
        None => default_mode,
        Some(m) if m == "standard" => RetryMode::Standard,
        Some(m) if m == "adaptive" => RetryMode::Adaptive,
        // `legacy` is an older SDKs' mode the Rust SDK does not have.
        Some(_) => {
            return Err(ConfigError::new(
                "AWS_RETRY_MODE",
                "expected standard or adaptive",
            ));
        }
    };
    let attempts = s.whole_number("AWS_MAX_ATTEMPTS", default_attempts, 1..=20)?;
    let config = match mode {
        RetryMode::Adaptive => RetryConfig::adaptive(),
        _ => RetryConfig::standard(),
    };
    Ok(config.with_max_attempts(attempts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_retry_variables_win_over_a_functions_defaults() {
        let defaults = retry_config(&Settings::from_pairs(&[]), RetryMode::Adaptive, 10).unwrap();
        assert_eq!(defaults.mode(), RetryMode::Adaptive);
        assert_eq!(defaults.max_attempts(), 10);
        let set = [("AWS_RETRY_MODE", "Standard"), ("AWS_MAX_ATTEMPTS", "4")];
        let chosen = retry_config(&Settings::from_pairs(&set), RetryMode::Adaptive, 10).unwrap();
        assert_eq!(chosen.mode(), RetryMode::Standard);
        assert_eq!(chosen.max_attempts(), 4);
        for (var, value) in [("AWS_RETRY_MODE", "legacy"), ("AWS_MAX_ATTEMPTS", "0")] {
            let err = retry_config(
                &Settings::from_pairs(&[(var, value)]),
                RetryMode::Adaptive,
                10,
            )
            .unwrap_err();
            assert_eq!(err.var, var);
        }
    }
}
