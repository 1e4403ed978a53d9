//! Convergence: make every target match the source, for everything in scope (full sync)
//! or for the names an event gave. Both paths share the comparison and the writes, so a
//! missed event is repaired by the next full sync with the same result.

use std::collections::BTreeSet;
use std::sync::Mutex;

use futures::{StreamExt, future::join_all, stream};
use rotor_core::deadline::Deadline;

use crate::error::ItemError;
use crate::params::{self, MONITORED_KEY, MONITORED_VALUE, Param, Snapshot};
use crate::report::{Failure, Kind, Outcome, Planned, Report};
use crate::secrets::{self, Need, State};
use crate::{Context, ReplicateError};

/// Collects outcomes from concurrent work and writes the log line of each.
pub struct Recorder {
    report: Mutex<Report>,
    dry_run: bool,
}

impl Recorder {
    pub fn new(report: Report) -> Self {
        let dry_run = report.dry_run;
        Self {
            report: Mutex::new(report),
            dry_run,
        }
    }

    pub fn into_report(self) -> Report {
        self.report.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn with(&self, f: impl FnOnce(&mut Report)) {
        let mut guard = self.report.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }

    pub fn done(&self, kind: Kind, name: &str, region: &str, outcome: Outcome, changes: &[&str]) {
        if outcome == Outcome::Unchanged {
            tracing::debug!(
                kind = kind.as_str(),
                name,
                region,
                outcome = outcome.as_str(),
                "replica up to date"
            );
        } else {
            tracing::info!(
                kind = kind.as_str(),
                name,
                region,
                outcome = outcome.as_str(),
                changes = ?changes,
                dry_run = self.dry_run,
                "{}",
                if self.dry_run { "would change replica (dry run)" } else { "changed replica" }
            );
        }
        self.with(|r| {
            r.tally(kind).add(region, outcome);
            if self.dry_run && outcome != Outcome::Unchanged {
                r.planned.push(Planned {
                    kind,
                    name: name.to_owned(),
                    region: region.to_owned(),
                    action: outcome.as_str().to_owned(),
                    changes: changes.iter().map(|c| (*c).to_owned()).collect(),
                });
            }
        });
    }

    /// A change to the source itself (its monitoring tag); not a replica outcome.
    pub fn source_tagged(&self, name: &str, region: &str) {
        tracing::info!(
            kind = "parameter",
            name,
            region,
            outcome = "tagged-source",
            dry_run = self.dry_run,
            "tagged source parameter {MONITORED_KEY}={MONITORED_VALUE}"
        );
        if self.dry_run {
            self.with(|r| {
                r.planned.push(Planned {
                    kind: Kind::Parameter,
                    name: name.to_owned(),
                    region: region.to_owned(),
                    action: "tag-source".to_owned(),
                    changes: vec![MONITORED_KEY.to_owned()],
                })
            });
        }
    }

    pub fn failed(&self, kind: Kind, name: &str, region: &str, cause: String) {
        tracing::warn!(kind = kind.as_str(), name, region, outcome = "failed", cause = %cause, "replication failed");
        self.with(|r| {
            r.tally(kind).add(region, Outcome::Failed);
            r.failures.push(Failure {
                kind,
                name: name.to_owned(),
                region: region.to_owned(),
                cause,
            });
        });
    }

    pub fn add_remaining(&self, n: u64) {
        if n > 0 {
            self.with(|r| {
                r.complete = false;
                r.remaining += n;
            });
        }
    }
}

/// Converges one source parameter into every target, then tags the source. Returns, per
/// target, the replica's version once it matches (`None`: it failed, or a dry run); or
/// `Err(NeedsValue)`, having changed nothing, when `source` was read without its value
/// (a tags-only check) and some replica needs more than tags.
pub(crate) async fn replicate_param(
    ctx: &Context,
    rec: &Recorder,
    source: &Param,
    targets: Vec<Result<Option<&Param>, String>>,
    values_read: bool,
) -> Result<Vec<Option<i64>>, NeedsValue> {
    let src_region = ctx.config.source_region.as_str();
    // Plans first (no calls): a tags-only check that finds more to do stops here.
    let plans: Vec<Result<TargetPlan, String>> = ctx
        .targets
        .iter()
        .zip(targets)
        .map(|(t, state)| {
            let target = state?;
            let key = if source.kind == "SecureString" {
                crate::keys::replica_key(
                    source.key_id.as_deref(),
                    "alias/aws/ssm",
                    ctx.config.kms_key(&t.region),
                    ctx.config.allow_aws_managed_key,
                    &t.region,
                )?
            } else {
                None
            };
            let plan = params::plan(source, target, key.as_deref(), src_region);
            Ok((target, key, plan))
        })
        .collect();
    if !values_read
        && plans
            .iter()
            .any(|p| p.as_ref().is_ok_and(|(_, _, plan)| plan.put.is_some()))
    {
        return Err(NeedsValue);
    }
    let work = ctx
        .targets
        .iter()
        .zip(plans)
        .map(|(t, planned)| async move {
            let (target, key, plan) = match planned {
                Ok(p) => p,
                Err(cause) => {
                    rec.failed(Kind::Parameter, &source.name, &t.region, cause);
                    return None;
                }
            };
            let key = key.as_deref();
            let outcome = match (plan.is_empty(), target.is_none()) {
                (true, _) => Outcome::Unchanged,
                (false, true) => Outcome::Copied,
                (false, false) => Outcome::Updated,
            };
            let written = if outcome == Outcome::Unchanged || ctx.config.dry_run {
                Ok(target.filter(|_| !ctx.config.dry_run).map(|t| t.version))
            } else {
                params::apply(&t.ssm, source, target, &plan, key, src_region)
                    .await
                    // Tags alone leave the version as it was.
                    .map(|version| version.or(target.map(|t| t.version)))
            };
            match written {
                Ok(version) => {
                    rec.done(
                        Kind::Parameter,
                        &source.name,
                        &t.region,
                        outcome,
                        &plan.changes,
                    );
                    version
                }
                Err(e) => {
                    rec.failed(
                        Kind::Parameter,
                        &source.name,
                        &t.region,
                        params::scrub(e.to_string(), &source.value),
                    );
                    None
                }
            }
        });
    let versions = join_all(work).await;
    if source.tags.get(MONITORED_KEY).map(String::as_str) != Some(MONITORED_VALUE) {
        if ctx.config.dry_run {
            rec.source_tagged(&source.name, src_region);
        } else {
            match params::mark_source(&ctx.source.ssm, &source.name).await {
                Ok(()) => rec.source_tagged(&source.name, src_region),
                Err(e) => rec.failed(Kind::Parameter, &source.name, src_region, e.to_string()),
            }
        }
    }
    Ok(versions)
}

/// A replica (as read, absent when `None`), the key it gets, and what it needs.
type TargetPlan<'a> = (Option<&'a Param>, Option<String>, params::Plan);

/// A tags-only check found a replica that needs its value or properties written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeedsValue;

/// Deletes a replica whose source is gone; the caller has checked the mark. False when
/// the delete failed (recorded).
pub(crate) async fn delete_replica(
    ctx: &Context,
    rec: &Recorder,
    t: &crate::Target,
    name: &str,
) -> bool {
    if !ctx.config.dry_run
        && let Err(e) = params::delete(&t.ssm, name).await
    {
        rec.failed(Kind::Parameter, name, &t.region, e.to_string());
        return false;
    }
    rec.done(
        Kind::Parameter,
        name,
        &t.region,
        Outcome::Deleted,
        &["source-deleted"],
    );
    true
}

/// Event mode for one parameter name.
pub async fn parameter(ctx: &Context, rec: &Recorder, name: &str) {
    let src_region = ctx.config.source_region.as_str();
    let source = match params::read_one(&ctx.source.ssm, name).await {
        Ok(s) => s,
        Err(e) => return rec.failed(Kind::Parameter, name, src_region, e.to_string()),
    };
    let reads = join_all(ctx.targets.iter().map(|t| params::read_one(&t.ssm, name))).await;
    match source {
        Some(p) if p.is_replica() => {
            tracing::info!(
                kind = "parameter",
                name,
                outcome = "skipped",
                "source parameter is itself a replica; not replicated again"
            );
        }
        Some(p) if p.opted_out() => {
            tracing::info!(
                kind = "parameter",
                name,
                outcome = "skipped",
                "source parameter is tagged rotor:replicate=false"
            );
        }
        Some(p) => {
            let states: Vec<Result<Option<&Param>, String>> = reads
                .iter()
                .map(|r| r.as_ref().map(Option::as_ref).map_err(ItemError::to_string))
                .collect();
            let _ = replicate_param(ctx, rec, &p, states, true).await;
        }
        None => {
            let work = ctx.targets.iter().zip(reads).map(|(t, read)| async move {
                match read {
                    Err(e) => rec.failed(Kind::Parameter, name, &t.region, e.to_string()),
                    Ok(Some(r)) if r.is_replica_of(src_region) => {
                        delete_replica(ctx, rec, t, name).await;
                    }
                    Ok(Some(_)) => tracing::info!(kind = "parameter", name, region = %t.region, outcome = "left-alone", "source is gone but the target parameter was not written by rotor-replicate"),
                    Ok(None) => tracing::debug!(kind = "parameter", name, region = %t.region, "source and replica both absent"),
                }
            });
            join_all(work).await;
        }
    }
}

/// Full sync of every parameter in scope.
pub async fn all_parameters(
    ctx: &Context,
    rec: &Recorder,
    deadline: &Deadline,
) -> Result<(), ReplicateError> {
    let conc = ctx.config.concurrency;
    let src_region = ctx.config.source_region.as_str();
    let metas = params::describe_all(&ctx.source.ssm, &ctx.config.parameters)
        .await
        .map_err(ReplicateError::Source)?;
    let source_names: BTreeSet<String> = metas.iter().map(|m| m.name.clone()).collect();
    let source = params::snapshot(&ctx.source.ssm, metas, |_| true, conc)
        .await
        .map_err(|e| ReplicateError::Source(e.into()))?;
    let targets: Vec<Result<Snapshot, ItemError>> = join_all(ctx.targets.iter().map(|t| {
        let names = &source_names;
        async move {
            let metas = params::describe_all(&t.ssm, &ctx.config.parameters).await?;
            Ok(params::snapshot(&t.ssm, metas, |n| names.contains(n), conc).await?)
        }
    }))
    .await;
    for (t, snap) in ctx.targets.iter().zip(&targets) {
        if let Err(e) = snap {
            tracing::warn!(region = %t.region, cause = %e, "could not read the target region's parameters");
        }
    }
    let mut items = Vec::new();
    for (name, read) in &source {
        match read {
            Err(e) => rec.failed(Kind::Parameter, name, src_region, e.to_string()),
            Ok(p) if p.is_replica() || p.opted_out() => {
                tracing::debug!(kind = "parameter", name = %name, "skipped: a replica or opted out");
            }
            Ok(p) => items.push(p),
        }
    }
    let total = items.len() as u64;
    let started: u64 = stream::iter(items)
        .map(|p| {
            let targets = &targets;
            async move {
                if deadline.expired() {
                    return 0;
                }
                let states = targets
                    .iter()
                    .zip(&ctx.targets)
                    .map(|(snap, t)| match snap {
                        Err(e) => Err(format!("could not read parameters in {}: {e}", t.region)),
                        Ok(snap) => match snap.get(&p.name) {
                            None => Ok(None),
                            Some(Ok(t)) => Ok(Some(t)),
                            Some(Err(e)) => Err(e.to_string()),
                        },
                    })
                    .collect();
                let _ = replicate_param(ctx, rec, p, states, true).await;
                1
            }
        })
        .buffer_unordered(conc)
        .fold(0u64, |n, done| async move { n + done })
        .await;
    rec.add_remaining(total - started);
    // Orphans: replicas this function wrote from this source region whose source is gone.
    let orphans: Vec<(&crate::Target, &String)> = ctx
        .targets
        .iter()
        .zip(&targets)
        .filter_map(|(t, snap)| snap.as_ref().ok().map(|s| (t, s)))
        .flat_map(|(t, snap)| {
            snap.iter()
                .filter(|(name, read)| {
                    !source_names.contains(*name)
                        && read.as_ref().is_ok_and(|p| p.is_replica_of(src_region))
                })
                .map(move |(name, _)| (t, name))
        })
        .collect();
    let orphan_total = orphans.len() as u64;
    let deleted: u64 = stream::iter(orphans)
        .map(|(t, name)| async move {
            if deadline.expired() {
                return 0;
            }
            delete_replica(ctx, rec, t, name).await;
            1
        })
        .buffer_unordered(conc)
        .fold(0u64, |n, done| async move { n + done })
        .await;
    rec.add_remaining(orphan_total - deleted);
    Ok(())
}

async fn replicate_secret(ctx: &Context, rec: &Recorder, state: State) {
    if let Some(why) = state.skip {
        tracing::info!(kind = "secret", name = %state.name, outcome = "skipped", reason = why, "secret not replicated");
        return;
    }
    let work = ctx.targets.iter().map(|t| {
        let state = &state;
        async move {
            let region = t.region.as_str();
            let need = state.needs.get(region).cloned().unwrap_or(Need::Absent);
            let (outcome, write) = match need {
                Need::Absent => return,
                Need::InPlace => {
                    return rec.done(Kind::Secret, &state.name, region, Outcome::Unchanged, &[]);
                }
                Need::Failed(msg) => {
                    return rec.failed(
                        Kind::Secret,
                        &state.name,
                        region,
                        format!("the replica in {region} failed: {msg}"),
                    );
                }
                Need::Remove if !ctx.config.remove_opted_out_replicas => {
                    return rec.failed(
                        Kind::Secret,
                        &state.name,
                        region,
                        format!(
                            "the replica in {region} is kept: the secret is tagged \
                             rotor:replicate=false, and removing replicas is off \
                             (REMOVE_OPTED_OUT_REPLICAS; the template's \
                             ReplicateRemoveOptedOutReplicas)"
                        ),
                    );
                }
                Need::Add => (Outcome::Copied, "replica-added"),
                Need::Remove => (Outcome::Deleted, "replica-removed (rotor:replicate=false)"),
            };
            // The replica's key is settled before anything is written, dry run included.
            let key = match crate::keys::replica_key(
                state.kms_key_id.as_deref(),
                "alias/aws/secretsmanager",
                ctx.config.kms_key(region),
                ctx.config.allow_aws_managed_key,
                region,
            ) {
                Ok(key) => key,
                Err(reason) if outcome == Outcome::Copied => {
                    return rec.failed(Kind::Secret, &state.name, region, reason);
                }
                Err(_) => None,
            };
            if !ctx.config.dry_run {
                let result = match outcome {
                    Outcome::Copied => {
                        secrets::add_replica(
                            &ctx.source.secrets,
                            &state.arn,
                            region,
                            key.as_deref(),
                        )
                        .await
                    }
                    _ => secrets::remove_replica(&ctx.source.secrets, &state.arn, region).await,
                };
                if let Err(e) = result {
                    return rec.failed(Kind::Secret, &state.name, region, e.to_string());
                }
            }
            rec.done(Kind::Secret, &state.name, region, outcome, &[write]);
        }
    });
    join_all(work).await;
}

/// Event mode for one secret.
pub async fn secret(ctx: &Context, rec: &Recorder, id: &str) {
    let src_region = ctx.config.source_region.as_str();
    match secrets::read(
        &ctx.source.secrets,
        id,
        src_region,
        &ctx.config.target_regions,
    )
    .await
    {
        // The event's id may be an ARN: scope is decided by the name the service gives.
        Ok(Some(state)) if !ctx.config.secrets.contains(&state.name) => tracing::info!(
            kind = "secret",
            name = %state.name,
            outcome = "skipped",
            "the secret is out of scope"
        ),
        Ok(Some(state)) => replicate_secret(ctx, rec, state).await,
        Ok(None) => tracing::info!(
            kind = "secret",
            name = id,
            outcome = "skipped",
            "the secret no longer exists"
        ),
        Err(e) => rec.failed(
            Kind::Secret,
            &crate::event::secret_name(id),
            src_region,
            e.to_string(),
        ),
    }
}

/// Full sync of every secret in scope.
pub async fn all_secrets(ctx: &Context, rec: &Recorder) -> Result<(), ReplicateError> {
    let src_region = ctx.config.source_region.as_str();
    let arns = secrets::list(&ctx.source.secrets, &ctx.config.secrets, src_region)
        .await
        .map_err(|e| ReplicateError::Source(e.into()))?;
    let states = secrets::read_all(
        &ctx.source.secrets,
        arns,
        src_region,
        &ctx.config.target_regions,
        ctx.config.concurrency,
    )
    .await;
    stream::iter(states)
        .map(|(arn, state)| async move {
            match state {
                Ok(Some(state)) => replicate_secret(ctx, rec, state).await,
                Ok(None) => {}
                Err(e) => rec.failed(
                    Kind::Secret,
                    &crate::event::secret_name(&arn),
                    src_region,
                    e.to_string(),
                ),
            }
        })
        .buffer_unordered(ctx.config.concurrency)
        .collect::<Vec<()>>()
        .await;
    Ok(())
}
