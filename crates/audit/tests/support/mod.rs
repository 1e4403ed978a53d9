//! Shared set-up for the audit's tests against moto: secrets shaped like the states the
//! audit must recognise, and a run of the real handler with a scheduled event.

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rotor_audit::{Config, Context, Outcome};
use rotor_core::config::Settings;
use rotor_testkit::{moto, random_hex};

/// A rotation function that does not exist in moto: RotateSecret with it enables rotation
/// and creates the AWSPENDING version, then fails, as DESIGN.md records.
pub const ROTATION_LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:rotor-rotate";
pub const CMK: &str = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/// The scheduled-event fixture with its `time` set to `as_of`.
pub fn scheduled_event(as_of: DateTime<Utc>) -> serde_json::Value {
    let path = rotor_testkit::workspace_root().join("events/audit-scheduled.json");
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["time"] = as_of.to_rfc3339_opts(SecondsFormat::Secs, true).into();
    event
}

pub fn days_from_now(days: i64) -> DateTime<Utc> {
    Utc::now() + Duration::days(days)
}

/// A metrics sink the test can read back.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Run {
    pub outcome: Outcome,
    pub emf: Vec<String>,
    pub ctx: Context,
}

pub async fn context(region: &str, settings: &[(&str, &str)]) -> (Context, Captured) {
    let config = Config::from_settings(&Settings::from_pairs(settings)).expect("valid settings");
    let sdk = moto().sdk_config(region).await;
    let captured = Captured::default();
    let ctx = Context::new(&sdk, config).with_metrics_out(Arc::new(Mutex::new(captured.clone())));
    (ctx, captured)
}

/// Runs the handler once with the scheduled event as of `as_of`.
pub async fn audit(region: &str, settings: &[(&str, &str)], as_of: DateTime<Utc>) -> Run {
    rotor_testkit::logs::capture();
    let (ctx, captured) = context(region, settings).await;
    let event = lambda_runtime::LambdaEvent::new(
        scheduled_event(as_of),
        lambda_runtime::Context::default(),
    );
    let outcome = rotor_audit::handler(event, &ctx).await.expect("audit runs");
    Run {
        outcome,
        emf: captured.lines(),
        ctx,
    }
}

/// How a test secret is made.
#[derive(Default, Clone)]
pub struct Spec<'a> {
    pub kms: Option<&'a str>,
    pub tags: &'a [(&'a str, &'a str)],
    /// Rotation every N days through [`ROTATION_LAMBDA`].
    pub rotation_days: Option<i64>,
    /// Leave the AWSPENDING version RotateSecret created, as a stuck rotation does.
    pub leave_pending: bool,
    pub replica_region: Option<&'a str>,
}

impl Spec<'static> {
    /// A healthy secret: on the customer key, rotating every `days` days.
    pub fn rotating_on_cmk(days: i64) -> Self {
        Spec {
            kms: Some(CMK),
            rotation_days: Some(days),
            ..Default::default()
        }
    }
}

/// Creates a secret with a random value and returns that value (to prove it never shows).
pub async fn create(sm: &Client, name: &str, spec: Spec<'_>) -> String {
    let value = format!("{{\"password\":\"{}\"}}", random_hex(16));
    let mut req = sm.create_secret().name(name).secret_string(&value);
    if let Some(kms) = spec.kms {
        req = req.kms_key_id(kms);
    }
    for (k, v) in spec.tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build());
    }
    if let Some(region) = spec.replica_region {
        req = req.add_replica_regions(
            aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                .region(region)
                .build(),
        );
    }
    req.send().await.expect("CreateSecret");
    if let Some(days) = spec.rotation_days {
        configure_rotation(sm, name, days, spec.leave_pending).await;
    }
    value
}

pub async fn configure_rotation(sm: &Client, name: &str, days: i64, leave_pending: bool) {
    let result = sm
        .rotate_secret()
        .secret_id(name)
        .rotation_lambda_arn(ROTATION_LAMBDA)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(days)
                .build(),
        )
        .send()
        .await;
    // moto has no such function: rotation is enabled and AWSPENDING created, then it fails.
    assert!(
        result.is_err(),
        "moto was expected to refuse the missing function"
    );
    if !leave_pending {
        let pending = pending_version(sm, name).await.expect("a pending version");
        sm.update_secret_version_stage()
            .secret_id(name)
            .version_stage("AWSPENDING")
            .remove_from_version_id(pending)
            .send()
            .await
            .expect("remove AWSPENDING");
    }
}

pub async fn pending_version(sm: &Client, name: &str) -> Option<String> {
    let out = sm.describe_secret().secret_id(name).send().await.unwrap();
    out.version_ids_to_stages()?
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == "AWSPENDING"))
        .map(|(v, _)| v.clone())
}

pub async fn last_rotated(sm: &Client, name: &str) -> Option<aws_smithy_types::DateTime> {
    sm.describe_secret()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .last_rotated_date
}
