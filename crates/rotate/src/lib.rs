//! rotor-rotate: filled in by its own issue; for now the handler accepts an event and does nothing.

use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use rotor_core::config::{ConfigError, Settings};
use serde_json::Value;

/// Validated settings.
#[derive(Debug, Clone, Default)]
pub struct Config {}

impl Config {
    pub fn from_settings(_settings: &Settings<'_>) -> Result<Self, ConfigError> {
        Ok(Self {})
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::env())
    }
}

/// What every invocation needs, built once.
pub struct Context {
    pub config: Config,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Context {
    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        Self {
            config,
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

pub async fn handler(
    event: LambdaEvent<Value>,
    _ctx: &Context,
) -> Result<Value, rotor_core::Error> {
    tracing::info!(request_id = %event.context.request_id, "received event");
    Ok(Value::Null)
}
