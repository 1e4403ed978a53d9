//! rotor-replicate: copies SSM parameters to failover regions and turns on Secrets
//! Manager's native replication for secrets, from CloudTrail events as they happen and
//! from a daily full sync that repairs whatever an event missed.
//!
//! Every path converges: it re-reads the source, compares with each target and writes
//! only what differs, so retries are harmless and a sync with nothing to do writes
//! nothing. With a state table ([`state`]) the full sync reads in full only what changed
//! since the last one, and hands itself on through a queue ([`handover`]) when an
//! invocation nears its deadline ([`fullsync`]).

pub mod config;
pub mod error;
pub mod event;
pub mod fullsync;
pub mod handover;
pub mod keys;
pub mod params;
pub mod report;
pub mod scope;
pub mod secrets;
pub mod state;
pub mod sync;

use std::time::{Duration, Instant};
use tracing::Instrument;

use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use rotor_core::aws_calls::{CallCounter, TooManyUpdates};
use rotor_core::deadline::{Deadline, NoTimeToWork};
use rotor_core::error::{AwsError, ErrorType};
use rotor_core::metrics::Unit;
use serde_json::Value;

pub use config::Config;
pub use error::ItemError;
pub use event::{EventError, Trigger};
pub use report::Report;

use fullsync::Start;
use handover::{NotAHandOver, Queue};
use state::{StateError, Store};
use sync::Recorder;

/// The least working time an invocation must have after its margin.
pub const MIN_WORKING_TIME: Duration = Duration::from_secs(2);

/// The source region's clients.
pub struct Source {
    pub region: String,
    pub ssm: aws_sdk_ssm::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// One target region's client (secret replicas are created from the source).
pub struct Target {
    pub region: String,
    pub ssm: aws_sdk_ssm::Client,
}

/// What every invocation needs, built once.
pub struct Context {
    pub config: Config,
    pub source: Source,
    pub targets: Vec<Target>,
    pub sns: Option<aws_sdk_sns::Client>,
    /// The full sync's state table (`STATE_TABLE`), in the function's own region.
    pub state: Option<Store>,
    /// The hand-over queue (`HANDOVER_QUEUE_URL`), in the function's own region.
    pub queue: Option<Queue>,
    /// Counts every AWS call the clients make.
    pub calls: CallCounter,
}

impl Context {
    /// Clients for the source and every target, with adaptive retry (client-side rate
    /// limiting once throttled) and SSM's `TooManyUpdates` treated as throttling.
    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        let calls = CallCounter::default();
        let sdk = &sdk.to_builder().retry_config(config.retry.clone()).build();
        let ssm = |region: &str| {
            let conf = aws_sdk_ssm::config::Builder::from(&rotor_core::aws::in_region(sdk, region))
                .interceptor(calls.clone())
                .retry_classifier(TooManyUpdates)
                .build();
            aws_sdk_ssm::Client::from_conf(conf)
        };
        let source_sdk = rotor_core::aws::in_region(sdk, &config.source_region);
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&source_sdk)
                .interceptor(calls.clone())
                .build(),
        );
        // The topic may live in another region (a central notification account or region).
        let sns = config
            .sns_topic_arn
            .as_deref()
            .map(|arn| rotor_core::notify::topic_client(&source_sdk, Some(arn), &calls));
        // The table and the queue are the stack's own, in the function's region.
        let state = config.state_table.as_ref().map(|table| {
            let ddb = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk)
                    .interceptor(calls.clone())
                    .build(),
            );
            Store::new(ddb, table.clone())
        });
        let queue = config.handover_queue_url.as_ref().map(|url| Queue {
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(sdk)
                    .interceptor(calls.clone())
                    .build(),
            ),
            url: url.clone(),
        });
        Self {
            state,
            queue,
            source: Source {
                region: config.source_region.clone(),
                ssm: ssm(&config.source_region),
                secrets,
            },
            targets: config
                .target_regions
                .iter()
                .map(|r| Target {
                    region: r.clone(),
                    ssm: ssm(r),
                })
                .collect(),
            sns,
            calls,
            config,
        }
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    #[error("invalid event: {0}")]
    HandOverMessage(#[from] NotAHandOver),
    /// The invocation's time, less the margin, is too short to work in.
    #[error(transparent)]
    NoTime(#[from] NoTimeToWork),
    /// The source region could not be listed, so nothing could be compared.
    #[error("cannot read the source region: {0}")]
    Source(#[source] ItemError),
    /// The state table could not be used; the sync stopped where it was.
    #[error(transparent)]
    State(#[from] StateError),
    /// The sync could not be handed on; the next scheduled sync resumes it.
    #[error("could not hand the sync on: {0}")]
    HandOver(#[source] AwsError),
    /// The run finished, but some items failed; the report lists them.
    #[error("{} item(s) failed to replicate; first: {}", .0.failures.len(), first_failure(.0))]
    ItemsFailed(Box<Report>),
}

fn first_failure(report: &Report) -> String {
    report
        .failures
        .first()
        .map(|f| {
            format!(
                "{} {} -> {}: {}",
                f.kind.as_str(),
                f.name,
                f.region,
                f.cause
            )
        })
        .unwrap_or_default()
}

impl ErrorType for ReplicateError {
    fn error_type(&self) -> String {
        match self {
            Self::Event(_) | Self::HandOverMessage(_) => "Rotor.InvalidEvent".into(),
            Self::NoTime(e) => e.error_type(),
            Self::Source(e) => e.error_type(),
            Self::State(e) => e.error_type(),
            Self::HandOver(e) => format!("Rotor.Replicate.HandOver.{}", e.code),
            Self::ItemsFailed(_) => "Rotor.Replicate.ItemsFailed".into(),
        }
    }
}

impl From<ReplicateError> for lambda_runtime::Diagnostic {
    fn from(err: ReplicateError) -> Self {
        rotor_core::error::diagnostic(&err)
    }
}

/// What an invocation was asked to do.
enum Invocation {
    Event(Trigger),
    HandOver(Vec<handover::HandOver>),
}

/// Handles one invocation: a scheduled full sync, a hand-over message continuing one, or a
/// CloudTrail API-call event.
pub async fn handler(event: LambdaEvent<Value>, ctx: &Context) -> Result<Report, ReplicateError> {
    let span = tracing::info_span!("replicate", request_id = %event.context.request_id);
    run(event, ctx).instrument(span).await
}

async fn run(event: LambdaEvent<Value>, ctx: &Context) -> Result<Report, ReplicateError> {
    let started = Instant::now();
    let before = ctx.calls.snapshot();
    let deadline = match Deadline::start(&event.context, ctx.config.margin, MIN_WORKING_TIME) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "refused: no time to work");
            return Err(e.into());
        }
    };
    let trigger = match handover::from_sqs_event(&event.payload) {
        Some(Ok(messages)) => Ok(Invocation::HandOver(messages)),
        Some(Err(e)) => {
            tracing::error!(error = %e, "invalid hand-over message");
            return Err(e.into());
        }
        None => event::classify(&event.payload, &ctx.config).map(Invocation::Event),
    };
    let trigger = match trigger {
        Ok(t) => t,
        Err(e) => {
            let err = ReplicateError::from(e);
            rotor_core::error::log_invalid_event(&err);
            return Err(err);
        }
    };
    let report = Report {
        source_region: ctx.config.source_region.clone(),
        dry_run: ctx.config.dry_run,
        complete: true,
        ..Report::default()
    };
    let rec = Recorder::new(report);
    let stateful = ctx.state.as_ref().filter(|_| !ctx.config.dry_run);
    let mut progress = None;
    let mut ignored = None;
    let (mode, api_call) = match trigger {
        Invocation::HandOver(_) if stateful.is_none() => {
            ignored =
                Some("a hand-over message, but STATE_TABLE is not set (or DRY_RUN)".to_owned());
            ("ignored", None)
        }
        Invocation::Event(Trigger::FullSync) => match stateful {
            Some(store) => {
                tracing::info!(mode = "full-sync", targets = ?ctx.config.target_regions, state_table = store.table(), "full sync started");
                progress =
                    Some(fullsync::run(ctx, &rec, &deadline, store, Start::Scheduled).await?);
                ("full-sync", None)
            }
            None => {
                tracing::info!(mode = "full-sync", targets = ?ctx.config.target_regions, dry_run = ctx.config.dry_run, "full sync started (no state table: everything is read)");
                sync::all_secrets(ctx, &rec).await?;
                sync::all_parameters(ctx, &rec, &deadline).await?;
                ("full-sync", None)
            }
        },
        Invocation::HandOver(messages) => {
            // The event source mapping delivers one message at a time (BatchSize 1); more
            // are handled in turn, and all but the current one find their lease gone.
            let mut last = None;
            for message in messages {
                if let Some(store) = stateful {
                    tracing::info!(mode = "hand-over", sync_id = %message.sync_id, phase = %message.phase, "sync handed on");
                    last = Some(
                        fullsync::run(ctx, &rec, &deadline, store, Start::HandOver(message))
                            .await?,
                    );
                }
            }
            progress = last;
            ("hand-over", None)
        }
        Invocation::Event(Trigger::Parameters { api_call, names }) => {
            tracing::info!(mode = "event", api_call = %api_call, parameters = ?names, "parameter event");
            for name in &names {
                sync::parameter(ctx, &rec, name).await;
            }
            ("event", Some(api_call))
        }
        Invocation::Event(Trigger::Secret { api_call, id }) => {
            tracing::info!(mode = "event", api_call = %api_call, secret = %id, "secret event");
            sync::secret(ctx, &rec, &id).await;
            ("event", Some(api_call))
        }
        Invocation::Event(Trigger::Ignore { api_call, reason }) => {
            tracing::info!(mode = "ignored", api_call = api_call.as_deref().unwrap_or(""), reason = %reason, "event ignored");
            ignored = Some(reason);
            ("ignored", api_call)
        }
    };
    let mut report = rec.into_report();
    report.mode = mode.to_owned();
    report.api_call = api_call;
    if let Some(p) = progress {
        if p.stale {
            report.mode = "ignored".to_owned();
            ignored = Some("stale hand-over: the sync has moved on".to_owned());
        }
        report.complete = p.completed;
        report.handed_over = p.handed_over;
        report.hand_overs = p.hand_overs;
        report.sync_id = p.sync_id;
    }
    report.ignored = ignored;
    finish(ctx, &mut report, &before, started).await;
    if report.failed() {
        Err(ReplicateError::ItemsFailed(Box::new(report)))
    } else {
        Ok(report)
    }
}

async fn finish(
    ctx: &Context,
    report: &mut Report,
    before: &std::collections::BTreeMap<String, u64>,
    started: Instant,
) {
    if report.failed() {
        match (&ctx.sns, &ctx.config.sns_topic_arn, ctx.config.dry_run) {
            (Some(sns), Some(topic), false) => {
                let subject = format!(
                    "rotor-replicate: {} replication failure(s) from {}",
                    report.failures.len(),
                    report.source_region
                );
                if let Err(e) =
                    rotor_core::notify::publish(sns, topic, &subject, &report.failure_message())
                        .await
                {
                    tracing::error!(error = %e, "could not publish the failure report");
                }
            }
            (_, _, true) => tracing::info!("dry run: failure report not published"),
            _ => tracing::warn!("SNS_TOPIC_ARN is not set: failure report not published"),
        }
    }
    report.api_calls = ctx.calls.since(before);
    report.write_calls = CallCounter::count_of(&report.api_calls, report::WRITES);
    report.duration_ms = started.elapsed().as_millis() as u64;
    let (p, s) = (report.parameters.total, report.secrets.total);
    tracing::info!(
        mode = %report.mode,
        dry_run = report.dry_run,
        complete = report.complete,
        remaining = report.remaining,
        handed_over = report.handed_over,
        hand_overs = report.hand_overs,
        parameters_copied = p.copied,
        parameters_updated = p.updated,
        parameters_deleted = p.deleted,
        parameters_unchanged = p.unchanged,
        parameters_failed = p.failed,
        secrets_copied = s.copied,
        secrets_deleted = s.deleted,
        secrets_unchanged = s.unchanged,
        secrets_failed = s.failed,
        write_calls = report.write_calls,
        duration_ms = report.duration_ms,
        "replication finished"
    );
    if report.mode != "ignored" {
        let mut emf = ctx.config.metrics.record();
        if report.mode != "event" {
            // SyncCompleted is what the template's alarm watches: no completed full sync
            // within a day, whatever the number of hand-overs, raises it.
            emf = emf
                .metric(
                    "SyncCompleted",
                    if report.complete { 1.0 } else { 0.0 },
                    Unit::Count,
                )
                .metric(
                    "HandOvers",
                    if report.handed_over { 1.0 } else { 0.0 },
                    Unit::Count,
                );
        }
        emf.dimension("Function", "rotor-replicate")
            .metric("ParametersCopied", p.copied as f64, Unit::Count)
            .metric("ParametersUpdated", p.updated as f64, Unit::Count)
            .metric("ParametersDeleted", p.deleted as f64, Unit::Count)
            .metric("ParametersUnchanged", p.unchanged as f64, Unit::Count)
            .metric("SecretsReplicated", s.copied as f64, Unit::Count)
            .metric(
                "ReplicationFailures",
                report.failures.len() as f64,
                Unit::Count,
            )
            .metric("WriteCalls", report.write_calls as f64, Unit::Count)
            .metric("Remaining", report.remaining as f64, Unit::Count)
            .metric("Duration", report.duration_ms as f64, Unit::Milliseconds)
            .emit();
    }
}
