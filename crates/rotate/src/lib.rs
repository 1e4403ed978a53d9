//! rotor-rotate: Secrets Manager's four-step rotation (createSecret, setSecret, testSecret,
//! finishSecret) for PostgreSQL credentials, single user or alternating users, and for
//! generic app secrets. Compatible with the secrets and settings of AWS's Python samples
//! `SecretsManagerRDSPostgreSQLRotationSingleUser` / `…MultiUser`.

pub mod app_secret;
pub mod config;
pub mod database;
pub use rotor_core::deadline;
pub mod error;
pub mod event;
pub mod master;
pub mod password;
pub mod secret;
pub mod steps;
pub mod versions;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use rotor_core::aws_calls::CallCounter;
use rotor_core::error::ErrorType;
use rotor_core::metrics::{MetricsConfig, Unit};
use serde_json::{Value, json};
use tracing::Instrument;

pub use config::Config;
pub use error::RotateError;
pub use event::{RotationEvent, Step};
pub use steps::Outcome;

/// What every invocation needs, built once.
pub struct Context {
    pub config: Config,
    /// The SDK configuration, for clients in another region (an RDS master elsewhere).
    pub sdk: SdkConfig,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub rds: aws_sdk_rds::Client,
    /// Every AWS call the clients start; each step logs how many it made.
    pub calls: CallCounter,
    /// Every database login tried; each step logs how many it made.
    pub logins: AtomicU64,
    /// The values of the rotation in progress, between its steps.
    pub known: versions::KnownVersions,
}

impl Context {
    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        let calls = CallCounter::new();
        Self {
            config,
            sdk: sdk.clone(),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            rds: rds_client(sdk, &calls),
            calls,
            logins: AtomicU64::new(0),
            known: versions::KnownVersions::default(),
        }
    }

    /// The RDS client for `region` (this function's own when empty or the same).
    pub fn rds_in(&self, region: &str) -> aws_sdk_rds::Client {
        if region.is_empty() || region == rotor_core::aws::region_of(&self.sdk) {
            self.rds.clone()
        } else {
            rds_client(&rotor_core::aws::in_region(&self.sdk, region), &self.calls)
        }
    }
}

fn rds_client(sdk: &SdkConfig, calls: &CallCounter) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::from_conf(
        aws_sdk_rds::config::Builder::from(sdk)
            .interceptor(calls.clone())
            .build(),
    )
}

/// Handles one rotation step. Returns `{"step", "secretId", "outcome"}` (Secrets Manager
/// ignores it; it makes local runs readable).
pub async fn handler(event: LambdaEvent<Value>, ctx: &Context) -> Result<Value, RotateError> {
    let (payload, lambda_ctx) = event.into_parts();
    let event = match RotationEvent::from_value(&payload) {
        Ok(event) => event,
        Err(problem) => {
            let err = RotateError::Event(problem);
            tracing::info_span!("rotation", request_id = %lambda_ctx.request_id)
                .in_scope(|| rotor_core::error::log_invalid_event(&err));
            return Err(err);
        }
    };
    let span = tracing::info_span!(
        "rotation",
        request_id = %lambda_ctx.request_id,
        secret_id = %event.secret_id,
        step = event.step.as_str(),
        version = %event.token,
    );
    let deadline = deadline::Deadline::from_context(&lambda_ctx, ctx.config.deadline_margin);
    let started = Instant::now();
    let calls_before = ctx.calls.snapshot();
    let logins_before = ctx.logins.load(Ordering::Relaxed);
    let result = async {
        let work = steps::run(ctx, &event, &deadline);
        let result = match deadline.instant() {
            Some(at) => tokio::time::timeout_at(at, work).await.unwrap_or_else(|_| {
                Err(RotateError::Deadline {
                    secret: event.secret_id.clone(),
                    step: event.step,
                    budget_ms: deadline.budget().as_millis(),
                    margin_ms: deadline.margin().as_millis(),
                })
            }),
            None => work.await,
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        // What the step cost: AWS calls by operation, and database logins tried.
        let calls = ctx.calls.since(&calls_before);
        let aws_calls: u64 = calls.values().sum();
        let aws_operations = calls
            .iter()
            .map(|(op, n)| format!("{op}:{n}"))
            .collect::<Vec<_>>()
            .join(",");
        let logins = ctx.logins.load(Ordering::Relaxed) - logins_before;
        // Inside the span, so the metric line carries the request id too.
        emit_metrics(&ctx.config.metrics, event.step, result.is_ok(), started);
        match &result {
            Ok(outcome) => tracing::info!(
                outcome = outcome.as_str(),
                elapsed_ms,
                aws_calls,
                aws_operations,
                logins,
                "step succeeded"
            ),
            Err(e) => tracing::error!(
                error = %e,
                error_type = %e.error_type(),
                elapsed_ms,
                aws_calls,
                aws_operations,
                logins,
                "step failed"
            ),
        }
        result
    }
    .instrument(span)
    .await;
    let outcome = result?;
    Ok(json!({
        "step": event.step.as_str(),
        "secretId": event.secret_id,
        "outcome": outcome.as_str(),
    }))
}

fn emit_metrics(metrics: &MetricsConfig, step: Step, ok: bool, started: Instant) {
    metrics
        .record()
        .dimension("Function", "rotor-rotate")
        .dimension("Step", step.as_str())
        .metric("StepSucceeded", if ok { 1.0 } else { 0.0 }, Unit::Count)
        .metric("StepFailed", if ok { 0.0 } else { 1.0 }, Unit::Count)
        .metric(
            "StepDuration",
            started.elapsed().as_secs_f64() * 1000.0,
            Unit::Milliseconds,
        )
        .emit();
}
