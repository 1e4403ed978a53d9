//! One audit run, start to end: sweep the secrets (and, with AUDIT_PARAMETERS, the
//! SecureString parameters), optionally start rotations, then the metrics line and the SNS
//! report. What each sweep decides is in `secret_sweep` and `parameter_sweep`.

use chrono::{DateTime, SecondsFormat, Utc};
use tracing::info;

use crate::auto_rotate::{self, Rotatable};
use crate::config::ReportMode;
use crate::findings::Finding;
use crate::run_outcome::{Managed, Outcome, ReportStatus, RotationOutcome, count_by_code};
use crate::{Context, Error, emf, parameter_sweep, secret_sweep, sns_report};

/// What the sweeps gather before the outcome is built.
#[derive(Default)]
pub(crate) struct Tally {
    pub secrets_audited: u64,
    pub parameters_audited: u64,
    pub skipped_by_policy: u64,
    pub replicas_skipped: u64,
    pub findings: Vec<Finding>,
    pub managed: Vec<Managed>,
    pub rotatable: Vec<Rotatable>,
}

impl Tally {
    /// Logs a finding (names, dates and counts only) and keeps it.
    pub fn add_finding(&mut self, f: Finding) {
        info!(
            code = f.code.as_str(),
            resource = f.resource.as_str(),
            name = %f.name,
            age_days = f.age_days,
            limit_days = f.limit_days,
            detail = %f.detail,
            "finding"
        );
        self.findings.push(f);
    }
}

pub(crate) async fn run(ctx: &Context, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let before = ctx.calls.snapshot();
    let cfg = &ctx.config;
    let mut tally = Tally::default();

    secret_sweep::sweep(ctx, now, &mut tally).await?;
    if cfg.audit_parameters {
        parameter_sweep::sweep(ctx, now, &mut tally).await?;
    }

    tally
        .findings
        .sort_by(|a, b| (a.code, a.resource, &a.name).cmp(&(b.code, b.resource, &b.name)));
    tally.managed.sort_by(|a, b| a.name.cmp(&b.name));
    let rotations = if cfg.auto_rotate {
        auto_rotate::start_rotations(ctx, &tally.rotatable).await
    } else {
        Vec::new()
    };

    let mut outcome = Outcome {
        as_of: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        environment: cfg.environment.clone(),
        dry_run: cfg.dry_run,
        secrets_audited: tally.secrets_audited,
        parameters_audited: tally.parameters_audited,
        skipped_by_policy: tally.skipped_by_policy,
        replicas_skipped: tally.replicas_skipped,
        counts: count_by_code(&tally.findings),
        findings: tally.findings,
        managed: tally.managed,
        rotations,
        report: ReportStatus::NotNeeded,
        calls: Default::default(),
    };

    emf::write(
        ctx.metrics_out.as_ref(),
        &emf::record(&cfg.metrics, &outcome),
    )
    .map_err(Error::Metrics)?;

    outcome.report = match (&cfg.sns_topic_arn, cfg.report) {
        (None, _) => ReportStatus::NoTopic,
        (Some(_), ReportMode::Findings) if outcome.findings.is_empty() => ReportStatus::NotNeeded,
        (Some(topic), _) => {
            let message_id = rotor_core::notify::publish(
                &ctx.sns,
                topic,
                &sns_report::subject(&outcome),
                &sns_report::body(&outcome),
            )
            .await?;
            ReportStatus::Sent { message_id }
        }
    };
    outcome.calls = ctx.calls.since(&before);
    info!(
        environment = %outcome.environment,
        as_of = %outcome.as_of,
        secrets_audited = outcome.secrets_audited,
        parameters_audited = outcome.parameters_audited,
        findings = outcome.findings.len(),
        counts = ?outcome.counts,
        managed = outcome.managed.len(),
        skipped_by_policy = outcome.skipped_by_policy,
        rotations_started = outcome.rotations_with(RotationOutcome::Started),
        rotation_start_failures = outcome.rotations_with(RotationOutcome::Failed),
        report = ?outcome.report,
        calls = ?outcome.calls,
        "audit finished"
    );
    Ok(outcome)
}
