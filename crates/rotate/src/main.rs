//! The `rotor-rotate` Lambda function: logging, settings and AWS clients set up once, then the
//! runtime loop calling [`rotor_rotate::handler`].

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotor_core::logging::init();
    let config = rotor_rotate::Config::from_env()?;
    let sdk = rotor_core::aws::load("rotor-rotate").await;
    let ctx = rotor_rotate::Context::new(&sdk, config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        rotor_rotate::handler(event, &ctx)
    }))
    .await
}
