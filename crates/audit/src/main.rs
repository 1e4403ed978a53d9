//! The `rotor-audit` Lambda function: logging, settings and AWS clients set up once, then the
//! runtime loop calling [`rotor_audit::handler`].

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    rotor_core::logging::init();
    let config = rotor_audit::Config::from_env()?;
    let sdk = rotor_core::aws::load("rotor-audit").await;
    let ctx = rotor_audit::Context::new(&sdk, config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        rotor_audit::handler(event, &ctx)
    }))
    .await
}
