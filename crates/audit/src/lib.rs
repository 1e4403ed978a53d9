//! rotor-audit: a scheduled audit of secret age and rotation health. Reads listings only
//! (never a secret value), returns the findings as JSON, writes one EMF metrics line and
//! publishes one SNS report; with AUTO_ROTATE it starts rotations of too-old secrets.

mod auto_rotate;
pub mod checks;
pub mod config;
pub mod emf;
pub mod error;
pub mod event;
pub mod findings;
pub mod listing;
mod parameter_sweep;
pub mod policy;
mod run;
pub mod run_outcome;
mod secret_sweep;
pub mod sns_report;

use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use rotor_core::error::ErrorType;
use serde_json::Value;
use tracing::Instrument;

pub use config::Config;
pub use emf::MetricsOut;
pub use error::{Error, EventError};
pub use findings::{Code, Finding, Resource};
pub use rotor_core::aws_calls::CallCounter;
pub use run_outcome::{Outcome, ReportStatus, RotationOutcome};

/// What every invocation needs, built once. The audit reads listings only: no code path
/// calls GetSecretValue (the call counter in the output shows it), and its IAM policy
/// grants no such permission.
pub struct Context {
    pub config: Config,
    region: String,
    secrets: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
    sns: aws_sdk_sns::Client,
    calls: CallCounter,
    /// `None`: the EMF line goes through the log, as on Lambda.
    metrics_out: Option<MetricsOut>,
}

impl Context {
    /// Clients from one SDK configuration, each counting its calls; metrics to stdout.
    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        let calls = CallCounter::new();
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build(),
        );
        // The topic may live in another region (a central notification region).
        let sns = rotor_core::notify::topic_client(sdk, config.sns_topic_arn.as_deref(), &calls);
        Self {
            config,
            region: rotor_core::aws::region_of(sdk).to_owned(),
            secrets,
            ssm,
            sns,
            calls,
            metrics_out: None,
        }
    }

    /// Sends the EMF line somewhere other than stdout (tests read it back).
    pub fn with_metrics_out(mut self, out: MetricsOut) -> Self {
        self.metrics_out = Some(out);
        self
    }

    /// Every AWS call made through this context so far, by operation.
    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }
}

/// Audits as of the event's `time` (the clock when it has none).
pub async fn handler(event: LambdaEvent<Value>, ctx: &Context) -> Result<Outcome, Error> {
    let now = match event::as_of(&event.payload) {
        Ok(time) => time.unwrap_or_else(chrono::Utc::now),
        Err(e) => {
            let err = Error::from(e);
            tracing::info_span!("audit", request_id = %event.context.request_id)
                .in_scope(|| rotor_core::error::log_invalid_event(&err));
            return Err(err);
        }
    };
    let span = tracing::info_span!(
        "audit",
        request_id = %event.context.request_id,
        event_id = event::id(&event.payload).unwrap_or(""),
        as_of = %now.to_rfc3339(),
    );
    let result = run::run(ctx, now).instrument(span.clone()).await;
    if let Err(e) = &result {
        span.in_scope(|| tracing::error!(error = %e, error_type = %e.error_type(), "audit failed"));
    }
    result
}
