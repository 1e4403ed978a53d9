//! The `rotor-replicate` Lambda function: logging, settings and AWS clients set up once, then the
//! runtime loop calling [`rotor_replicate::handler`].

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotor_core::logging::init();
    let config = rotor_replicate::Config::from_env()?;
    let sdk = rotor_core::aws::load("rotor-replicate").await;
    let ctx = rotor_replicate::Context::new(&sdk, config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        rotor_replicate::handler(event, &ctx)
    }))
    .await
}
