//! rotor-sync-url: keeps a `DATABASE_URL` secret in step with a rotating credentials
//! secret (for example RDS's own `rds!db-…` secret), writing a new version only when the
//! URL changes. Runs on a schedule and on the source's rotation and value-change events.

pub mod config;
pub mod dsn;
pub mod error;
pub mod event;
pub mod rds;
pub mod source;
pub mod sync;
pub mod target;

use aws_config::SdkConfig;
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use rotor_core::error::ErrorType;
use rotor_core::metrics::{MetricsConfig, Unit};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

pub use config::{Config, Pair, RdsLookup, TargetFormat};
pub use error::SyncError;
pub use event::Trigger;
pub use sync::{Action, PairOutcome};

/// How many pairs are synced at once (each is two or three Secrets Manager calls).
const CONCURRENCY: usize = 4;

/// What every invocation needs, built once.
pub struct Context {
    pub config: Config,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub rds: aws_sdk_rds::Client,
}

impl Context {
    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        Self {
            config,
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            rds: aws_sdk_rds::Client::new(sdk),
        }
    }
}

/// The invocation's result: one outcome per synced pair, or why the event was ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    /// `schedule`, or the Secrets Manager event's name.
    pub trigger: String,
    pub results: Vec<PairOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

pub async fn handler(event: LambdaEvent<Value>, ctx: &Context) -> Result<Output, SyncError> {
    let span = tracing::info_span!("sync_url", request_id = %event.context.request_id);
    run(&event.payload, ctx).instrument(span).await
}

async fn run(payload: &Value, ctx: &Context) -> Result<Output, SyncError> {
    let trigger = event::classify(payload).inspect_err(rotor_core::error::log_invalid_event)?;
    let pairs: Vec<&Pair> = match &trigger {
        Trigger::Schedule => ctx.config.pairs.iter().collect(),
        Trigger::SecretChanged { secret_ids, .. } => ctx
            .config
            .pairs
            .iter()
            .filter(|p| {
                secret_ids
                    .iter()
                    .any(|id| event::same_secret(&p.source, id))
            })
            .collect(),
        Trigger::Ignored { event_name, reason } => {
            tracing::info!(trigger = %event_name, reason = %reason, action = "ignored", "event needs no sync");
            return Ok(ignored(&trigger, reason.clone()));
        }
    };
    if pairs.is_empty() {
        let ids = match &trigger {
            Trigger::SecretChanged { secret_ids, .. } => secret_ids.join(", "),
            _ => String::new(),
        };
        tracing::info!(
            trigger = %trigger.name(),
            secret_ids = %ids,
            action = "ignored",
            "event is about a secret that is no configured source"
        );
        return Ok(ignored(&trigger, format!("no configured source is {ids}")));
    }
    let total = pairs.len();
    let trigger_name = trigger.name();
    let outcomes: Vec<(&Pair, Result<PairOutcome, SyncError>)> = futures::stream::iter(pairs)
        .map(|pair| async move { (pair, sync_logged(ctx, pair, trigger_name).await) })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (pair, outcome) in outcomes {
        match outcome {
            Ok(o) => results.push(o),
            Err(e) => failures.push((pair.target.clone(), e)),
        }
    }
    emit_metrics(&ctx.config.metrics, &results, failures.len());
    match failures.len() {
        0 => Ok(Output {
            trigger: trigger.name().to_owned(),
            results,
            ignored: None,
        }),
        1 if total == 1 => Err(failures.remove(0).1),
        _ => Err(SyncError::Several { total, failures }),
    }
}

fn ignored(trigger: &Trigger, reason: String) -> Output {
    Output {
        trigger: trigger.name().to_owned(),
        results: Vec::new(),
        ignored: Some(reason),
    }
}

/// Syncs one pair and writes its one log line, success or failure.
async fn sync_logged(ctx: &Context, pair: &Pair, trigger: &str) -> Result<PairOutcome, SyncError> {
    match sync::sync_pair(ctx, pair).await {
        Ok((o, from)) => {
            tracing::info!(
                trigger,
                source_secret = %o.source_secret,
                target_secret = %o.target_secret,
                action = o.action.as_str(),
                source_version_id = %o.source_version_id,
                target_version_id = o.target_version_id.as_deref().unwrap_or(""),
                previous_target_version_id = o.previous_target_version_id.as_deref().unwrap_or(""),
                changed = %o.changed.join(","),
                user_from = from.user,
                host_from = from.host,
                port_from = from.port,
                dbname_from = from.dbname,
                "{}",
                match o.action {
                    Action::Updated => "wrote a new URL version",
                    Action::Unchanged => "URL already up to date",
                }
            );
            Ok(o)
        }
        Err(e) => {
            tracing::error!(
                trigger,
                source_secret = %pair.source,
                target_secret = %pair.target,
                action = "failed",
                error_type = %e.error_type(),
                retryable = e.is_retryable(),
                error = %e,
                "sync failed; target left unchanged"
            );
            Err(e)
        }
    }
}

fn emit_metrics(metrics: &MetricsConfig, results: &[PairOutcome], failed: usize) {
    let count = |a: Action| results.iter().filter(|o| o.action == a).count() as f64;
    metrics
        .record()
        .dimension("Function", "rotor-sync-url")
        .metric("UrlsUpdated", count(Action::Updated), Unit::Count)
        .metric("UrlsUnchanged", count(Action::Unchanged), Unit::Count)
        .metric("UrlSyncFailures", failed as f64, Unit::Count)
        .emit();
}
