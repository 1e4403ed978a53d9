//! One audit run: list secrets (about one call per 100), decide what the listing decides,
//! make the few follow-up calls it cannot, list SecureString parameters, optionally start
//! rotations, then metrics and the report.

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, StatusType};
use aws_sdk_ssm::types::ParameterStringFilter;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use rotor_core::error::{AwsError, AwsResultExt};
use tracing::{debug, info, warn};

use crate::checks::{self, Extra, RegionAccess, VersionDates};
use crate::config::ReportMode;
use crate::findings::{Code, Finding};
use crate::listing::{ParameterRecord, SecretRecord, to_chrono};
use crate::outcome::{Managed, Outcome, ReportStatus, RotationStart, count_by_code};
use crate::policy::{Policy, TagProblem};
use crate::{Context, Error, emf, report};

/// ListSecrets returns at most 100 per page; ListSecrets filters take at most 10 values.
const PAGE: i32 = 100;
const MAX_FILTER_VALUES: usize = 10;
/// Follow-up calls in flight at once: well under the per-operation rate limits
/// (ListSecretVersionIds and DescribeSecret allow 50 per second or more).
const CONCURRENCY: usize = 8;

/// A secret the listing could not fully decide.
struct Pending {
    record: SecretRecord,
    policy: Policy,
    problems: Vec<TagProblem>,
    wants: checks::Wants,
}

/// Secrets eligible for AUTO_ROTATE once found too old.
struct Rotatable {
    name: String,
    arn: Option<String>,
}

#[derive(Default)]
struct Tally {
    secrets_audited: u64,
    parameters_audited: u64,
    skipped_by_policy: u64,
    replicas_skipped: u64,
    findings: Vec<Finding>,
    managed: Vec<Managed>,
    rotatable: Vec<Rotatable>,
}

impl Tally {
    fn add(&mut self, record: &SecretRecord, findings: Vec<Finding>) {
        for f in &findings {
            info!(
                code = f.code.as_str(),
                secret = %f.name,
                age_days = f.age_days,
                limit_days = f.limit_days,
                detail = %f.detail,
                "finding"
            );
        }
        debug!(secret = %record.name, findings = findings.len(), "audited");
        let too_old = findings.iter().any(|f| f.code == Code::TooOld);
        // Only a rotation Secrets Manager can run by itself, and none already under way.
        if too_old
            && record.rotation_enabled
            && record.rotation_lambda_arn.is_some()
            && record.pending_version.is_none()
            && record.owning_service.is_none()
        {
            self.rotatable.push(Rotatable {
                name: record.name.clone(),
                arn: record.arn.clone(),
            });
        }
        self.findings.extend(findings);
    }
}

pub async fn run(ctx: &Context, now: DateTime<Utc>) -> Result<Outcome, Error> {
    let before = ctx.calls.snapshot();
    let cfg = &ctx.config;
    let mut tally = Tally::default();

    let pending = list_secrets(ctx, now, &mut tally).await?;
    follow_up(ctx, now, pending, &mut tally).await?;
    if cfg.audit_parameters {
        audit_parameters(ctx, now, &mut tally).await?;
    }

    tally
        .findings
        .sort_by(|a, b| (a.code, a.resource, &a.name).cmp(&(b.code, b.resource, &b.name)));
    tally.managed.sort_by(|a, b| a.name.cmp(&b.name));
    let rotations = if cfg.auto_rotate {
        start_rotations(ctx, &tally.rotatable).await
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
                &report::subject(&outcome),
                &report::body(&outcome),
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
        rotations_started = outcome.rotations_with("started"),
        rotation_start_failures = outcome.rotations_with("failed"),
        report = ?outcome.report,
        calls = ?outcome.calls,
        "audit finished"
    );
    Ok(outcome)
}

/// Pages through ListSecrets, deciding every secret the listing can decide. Returns the
/// ones that need a follow-up call.
async fn list_secrets(
    ctx: &Context,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<Vec<Pending>, Error> {
    let cfg = &ctx.config;
    let mut request = ctx
        .secrets
        .list_secrets()
        .max_results(PAGE)
        .include_planned_deletion(true);
    // The `name` filter is a case-sensitive prefix match, so the service returns only
    // secrets in scope; the scope check below also covers more than 10 prefixes.
    if !cfg.prefixes.is_empty() && cfg.prefixes.len() <= MAX_FILTER_VALUES {
        request = request.filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .set_values(Some(cfg.prefixes.clone()))
                .build(),
        );
    }
    let mut pages = request.into_paginator().send();
    let mut pending = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.aws("ListSecrets")?;
        for entry in page.secret_list() {
            let record = SecretRecord::from_entry(entry);
            if !cfg.in_scope(&record.name) {
                continue;
            }
            if let Some(primary) = &record.primary_region
                && primary != &ctx.region
            {
                debug!(secret = %record.name, primary_region = %primary, "replica; audited in its primary region");
                tally.replicas_skipped += 1;
                continue;
            }
            let (policy, problems) = cfg.policy_for(&record.name).with_tags(record.tags());
            if policy.skip {
                info!(secret = %record.name, "skipped by policy");
                tally.skipped_by_policy += 1;
                continue;
            }
            tally.secrets_audited += 1;
            if let Some(service) = &record.owning_service {
                tally.managed.push(Managed {
                    name: record.name.clone(),
                    arn: record.arn.clone(),
                    owning_service: service.clone(),
                });
            }
            let ev = checks::evaluate_secret(&record, &policy, &problems, now, &Extra::default());
            if ev.wants.any() {
                pending.push(Pending {
                    record,
                    policy,
                    problems,
                    wants: ev.wants,
                });
            } else {
                tally.add(&record, ev.findings);
            }
        }
    }
    Ok(pending)
}

/// The per-secret calls the listing left necessary, a few at a time.
async fn follow_up(
    ctx: &Context,
    now: DateTime<Utc>,
    pending: Vec<Pending>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let mut results = futures::stream::iter(pending)
        .map(|p| async move {
            let extra = fetch_extra(ctx, &p.record, p.wants).await;
            (p, extra)
        })
        .buffer_unordered(CONCURRENCY);
    while let Some((p, extra)) = results.next().await {
        match extra {
            Ok(extra) => {
                let ev = checks::evaluate_secret(&p.record, &p.policy, &p.problems, now, &extra);
                tally.add(&p.record, ev.findings);
            }
            Err(e) if e.is_not_found() => {
                // Deleted since the listing: nothing left to audit.
                info!(secret = %p.record.name, "secret disappeared during the audit");
                tally.secrets_audited -= 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn fetch_extra(
    ctx: &Context,
    r: &SecretRecord,
    wants: checks::Wants,
) -> Result<Extra, AwsError> {
    let id = r.arn.as_deref().unwrap_or(&r.name);
    let mut extra = Extra::default();
    if wants.versions {
        // Secrets Manager keeps about 100 versions at most; one page holds them all.
        let out = ctx
            .secrets
            .list_secret_version_ids()
            .secret_id(id)
            .max_results(PAGE)
            .send()
            .await
            .aws("ListSecretVersionIds")?;
        let mut dates = VersionDates::default();
        for v in out.versions() {
            let created = v.created_date().and_then(to_chrono);
            let stages = v.version_stages();
            if stages.iter().any(|s| s == "AWSCURRENT") {
                dates.current_created = created;
            } else if stages.iter().any(|s| s == "AWSPENDING") {
                dates.pending_created = created;
            }
        }
        debug!(secret = %r.name, "read version dates");
        extra.versions = Some(dates);
    }
    if wants.regions {
        // The primary's DescribeSecret lists each replica with its own last access date.
        let out = ctx
            .secrets
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .aws("DescribeSecret")?;
        let regions = out
            .replication_status()
            .iter()
            .filter(|s| s.status() != Some(&StatusType::Failed))
            .map(|s| RegionAccess {
                region: s.region().unwrap_or_default().to_owned(),
                last_accessed: s.last_accessed_date().and_then(to_chrono),
            })
            .collect::<Vec<_>>();
        debug!(secret = %r.name, replicas = regions.len(), "read per-region access");
        extra.regions = Some(regions);
    }
    Ok(extra)
}

async fn audit_parameters(
    ctx: &Context,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let cfg = &ctx.config;
    let filter = ParameterStringFilter::builder()
        .key("Type")
        .option("Equals")
        .values("SecureString")
        .build()
        .map_err(|e| Error::Internal(format!("parameter filter: {e}")))?;
    // DescribeParameters may return an empty page with a NextToken; the paginator
    // follows it to the end.
    let mut pages = ctx
        .ssm
        .describe_parameters()
        .parameter_filters(filter)
        .max_results(50)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.aws("DescribeParameters")?;
        for meta in page.parameters() {
            let p = ParameterRecord::from_metadata(meta);
            if !cfg.in_scope(&p.name) {
                continue;
            }
            let policy = cfg.policy_for(&p.name);
            if policy.skip {
                tally.skipped_by_policy += 1;
                continue;
            }
            tally.parameters_audited += 1;
            for f in checks::evaluate_parameter(&p, &policy, now) {
                info!(
                    code = f.code.as_str(),
                    parameter = %f.name,
                    age_days = f.age_days,
                    limit_days = f.limit_days,
                    detail = %f.detail,
                    "finding"
                );
                tally.findings.push(f);
            }
        }
    }
    Ok(())
}

/// RotateSecret for each too-old secret that has rotation configured. Without a Lambda
/// ARN or rules the call runs the secret's own rotation immediately. A failure is
/// reported, not fatal: the audit's findings still go out.
async fn start_rotations(ctx: &Context, rotatable: &[Rotatable]) -> Vec<RotationStart> {
    let mut started = Vec::with_capacity(rotatable.len());
    for r in rotatable {
        let id = r.arn.as_deref().unwrap_or(&r.name);
        let (outcome, error) = if ctx.config.dry_run {
            info!(secret = %r.name, outcome = "would-start", "dry run: rotation not started");
            ("would-start", None)
        } else {
            match ctx
                .secrets
                .rotate_secret()
                .secret_id(id)
                .send()
                .await
                .aws("RotateSecret")
            {
                Ok(out) => {
                    info!(secret = %r.name, version_id = out.version_id().unwrap_or(""), outcome = "started", "rotation started");
                    ("started", None)
                }
                Err(e) => {
                    warn!(secret = %r.name, outcome = "failed", error = %e, "could not start rotation");
                    ("failed", Some(e.to_string()))
                }
            }
        };
        started.push(RotationStart {
            name: r.name.clone(),
            arn: r.arn.clone(),
            outcome,
            error,
        });
    }
    started
}
