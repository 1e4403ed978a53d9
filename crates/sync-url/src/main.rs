//! The `rotor-sync-url` Lambda function: logging, settings and AWS clients set up once, then the
//! runtime loop calling [`rotor_sync_url::handler`].

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotor_core::logging::init();
    let config = rotor_sync_url::Config::from_env()?;
    let sdk = rotor_core::aws::load("rotor-sync-url").await;
    let ctx = rotor_sync_url::Context::new(&sdk, config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        rotor_sync_url::handler(event, &ctx)
    }))
    .await
}
