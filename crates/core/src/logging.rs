//! Logging set-up: JSON lines on Lambda when its log format is JSON, readable text
//! elsewhere; level from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then INFO.

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}
