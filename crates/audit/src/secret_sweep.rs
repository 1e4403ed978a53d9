//! The sweep over secrets: page through ListSecrets (about one call per 100 secrets),
//! decide what the listing decides, then make the few follow-up calls it cannot.

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, StatusType};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rotor_core::error::{AwsError, AwsResultExt};
use tracing::{debug, info};

use crate::auto_rotate::Rotatable;
use crate::checks::{self, Extra, RegionAccess, VersionDates};
use crate::findings::{Code, Finding};
use crate::listing::{SecretRecord, VersionRole, to_chrono};
use crate::policy::{Policy, TagProblem};
use crate::run::Tally;
use crate::run_outcome::Managed;
use crate::{Context, Error};

/// ListSecrets and ListSecretVersionIds return at most 100 per page; ListSecrets filters
/// take at most 10 values.
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

/// Every secret in scope, its findings added to `tally`.
pub(crate) async fn sweep(
    ctx: &Context,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let pending = list_secrets(ctx, now, tally).await?;
    follow_up(ctx, now, pending, tally).await
}

/// Keeps one secret's findings, and the secret as a rotation candidate when too old.
fn add_secret(tally: &mut Tally, record: &SecretRecord, findings: Vec<Finding>) {
    debug!(secret = %record.name, findings = findings.len(), "audited");
    if findings.iter().any(|f| f.code == Code::TooOld)
        && let Some(r) = Rotatable::of(record)
    {
        tally.rotatable.push(r);
    }
    for f in findings {
        tally.add_finding(f);
    }
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
                add_secret(tally, &record, ev.findings);
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
                add_secret(tally, &p.record, ev.findings);
            }
            Err(e) if e.is_not_found() => {
                // Deleted since the listing: nothing left to audit.
                info!(secret = %p.record.name, "secret disappeared during the audit");
                tally.secrets_audited = tally.secrets_audited.saturating_sub(1);
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
        extra.versions = Some(version_dates(ctx, r, id).await?);
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

/// The creation dates of the AWSCURRENT and AWSPENDING versions. Secrets Manager keeps
/// about 100 labelled versions, so this is nearly always one call; but the API reference
/// of ListSecretVersionIds warns that it "might return fewer results than the maximum
/// even when there are more results available", so the paginator follows NextToken.
async fn version_dates(
    ctx: &Context,
    r: &SecretRecord,
    id: &str,
) -> Result<VersionDates, AwsError> {
    let mut dates = VersionDates::default();
    let mut pages = ctx
        .secrets
        .list_secret_version_ids()
        .secret_id(id)
        .max_results(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for v in page.aws("ListSecretVersionIds")?.versions() {
            let created = v.created_date().and_then(to_chrono);
            match VersionRole::of(v.version_stages()) {
                VersionRole::Current => dates.current_created = created,
                VersionRole::Pending => dates.pending_created = created,
                VersionRole::Other => {}
            }
        }
    }
    debug!(secret = %r.name, "read version dates");
    Ok(dates)
}
