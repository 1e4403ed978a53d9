//! The full sync with a state table: it reads metadata in pages and the state it left
//! last time, and reads values and tags only of what changed since; it stops before the
//! invocation's deadline and hands the rest on.
//!
//! A sync runs in phases (secrets, parameters, orphans), each resumable from a cursor kept
//! in the sync record. Per page of 50 source parameters it makes one DescribeParameters
//! call in the source, one per target region (the same 50 names, `Name Equals`), and one
//! BatchGetItem. A parameter is read in full (value, tags, each replica) and converged
//! only when
//! - there is no state for it, or its source version is not the one replicated last,
//! - a replica's version is not the one this function left (changed or deleted behind its
//!   back), or
//! - it is in today's slice: a stable hash of its name picks one day in `TAG_CHECK_DAYS`,
//!   so tag drift (which changes no version) is repaired within that many days when the
//!   CloudTrail event that should have repaired it was missed.
//!
//! Orphans (replicas whose source is gone) are found from the state table: a name the
//! table holds whose source no longer exists has its marked replicas deleted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, future::join_all, stream};
use rotor_core::deadline::Deadline;
use rotor_core::error::AwsResultExt;

use crate::error::ItemError;
use crate::handover::HandOver;
use crate::params::read::{PAGE, scope_filter};
use crate::params::{self, Meta, Param, Snapshot};
use crate::report::{Kind, Outcome};
use crate::state::{ParamState, Phase, Store, SyncRecord};
use crate::sync::{Recorder, delete_replica, replicate_param};
use crate::{Context, ReplicateError};

/// What started this invocation's part of a sync.
#[derive(Debug, Clone)]
pub enum Start {
    /// The schedule: start a sync, or resume one that did not finish.
    Scheduled,
    /// A hand-over message from the invocation before.
    HandOver(HandOver),
}

/// Where this invocation left the sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub sync_id: Option<String>,
    pub completed: bool,
    pub handed_over: bool,
    /// Hand-overs of this sync so far.
    pub hand_overs: u64,
    /// The message was stale (already handled, or the sync was taken over): nothing done.
    pub stale: bool,
}

enum Step {
    Done,
    /// Stopped for the deadline; resume from this cursor.
    Stopped(Option<String>),
}

fn now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A value no other invocation will pick: the time, this process and a counter.
fn new_lease() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}-{:x}-{:x}",
        now().as_nanos(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether `name` is in the slice checked in full on `day` (days since the epoch), one
/// day in `days`. FNV-1a: stable across processes and releases, unlike std's hasher.
pub fn in_slice(name: &str, day: u64, days: u32) -> bool {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % u64::from(days) == day % u64::from(days)
}

pub async fn run(
    ctx: &Context,
    rec: &Recorder,
    deadline: &Deadline,
    store: &Store,
    start: Start,
) -> Result<Progress, ReplicateError> {
    let Some(mut record) = claim(store, &start).await? else {
        tracing::info!(
            mode = "hand-over",
            "stale hand-over: the sync has moved on; nothing to do"
        );
        return Ok(Progress {
            stale: true,
            ..Progress::default()
        });
    };
    tracing::info!(sync_id = %record.sync_id, phase = record.phase.as_str(), hand_overs = record.hand_overs, "sync claimed");
    let day = (record.started / 86_400).max(0) as u64;
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let step = match record.phase {
            Phase::Secrets => {
                if deadline.expired() {
                    Step::Stopped(None)
                } else {
                    crate::sync::all_secrets(ctx, rec).await?;
                    Step::Done
                }
            }
            Phase::Parameters => {
                parameters(
                    ctx,
                    rec,
                    deadline,
                    store,
                    record.cursor.clone(),
                    day,
                    &mut seen,
                )
                .await?
            }
            Phase::Orphans => {
                orphans(ctx, rec, deadline, store, record.cursor.clone(), &seen).await?
            }
            Phase::Done => return complete(store, record).await,
        };
        match step {
            Step::Done => {
                record.phase = match record.phase {
                    Phase::Secrets => Phase::Parameters,
                    Phase::Parameters => Phase::Orphans,
                    Phase::Orphans | Phase::Done => Phase::Done,
                };
                record.cursor = None;
            }
            Step::Stopped(cursor) => {
                record.cursor = cursor;
                return hand_over(ctx, store, record).await;
            }
        }
    }
}

/// Takes the sync for this invocation, or `None` when the message is stale.
async fn claim(store: &Store, start: &Start) -> Result<Option<SyncRecord>, ReplicateError> {
    match start {
        Start::Scheduled => {
            // Two schedules at once (a retry) race on the condition; the loser re-reads.
            for _ in 0..3 {
                let current = store.sync().await?;
                let lease = new_lease();
                let (next, expected) = match &current {
                    Some(cur) if cur.phase != Phase::Done => {
                        tracing::warn!(sync_id = %cur.sync_id, phase = cur.phase.as_str(), hand_overs = cur.hand_overs, "the last sync did not finish; resuming it");
                        (
                            SyncRecord {
                                lease,
                                ..cur.clone()
                            },
                            Some(cur.lease.as_str()),
                        )
                    }
                    last => (
                        SyncRecord {
                            sync_id: now().as_millis().to_string(),
                            lease,
                            phase: Phase::Secrets,
                            cursor: None,
                            started: now().as_secs() as i64,
                            hand_overs: 0,
                            last_completed: last.as_ref().and_then(|l| l.last_completed),
                        },
                        last.as_ref().map(|l| l.lease.as_str()),
                    ),
                };
                if store.put_sync(&next, expected).await? {
                    return Ok(Some(next));
                }
            }
            Ok(None)
        }
        Start::HandOver(msg) => {
            // The lease stays the message's until this part hands on or completes: a part
            // that fails is retried by SQS with the same message, which still holds it. A
            // copy delivered while the part runs works alongside it harmlessly (every write
            // converges), and only one of them can hand on: the other's conditional write
            // fails and it stops.
            let current = store.sync().await?;
            Ok(current.filter(|cur| {
                cur.sync_id == msg.sync_id && cur.lease == msg.lease && cur.phase != Phase::Done
            }))
        }
    }
}

async fn complete(store: &Store, mut record: SyncRecord) -> Result<Progress, ReplicateError> {
    let held = record.lease.clone();
    record.last_completed = Some(now().as_secs() as i64);
    record.cursor = None;
    let mine = store.put_sync(&record, Some(&held)).await?;
    tracing::info!(sync_id = %record.sync_id, hand_overs = record.hand_overs, "sync completed");
    Ok(Progress {
        sync_id: Some(record.sync_id),
        completed: mine,
        hand_overs: record.hand_overs,
        ..Progress::default()
    })
}

/// Saves where the sync stands under a new lease, then sends that lease on. The record is
/// written first: a message read before it would find the old lease and be dropped.
async fn hand_over(
    ctx: &Context,
    store: &Store,
    mut record: SyncRecord,
) -> Result<Progress, ReplicateError> {
    let held = record.lease.clone();
    record.lease = new_lease();
    record.hand_overs += 1;
    if !store.put_sync(&record, Some(&held)).await? {
        tracing::warn!(sync_id = %record.sync_id, "another invocation took the sync over; stopping");
        return Ok(Progress {
            sync_id: Some(record.sync_id),
            stale: true,
            ..Progress::default()
        });
    }
    let message = HandOver {
        sync_id: record.sync_id.clone(),
        lease: record.lease.clone(),
        phase: record.phase.as_str().to_owned(),
        cursor: record.cursor.clone(),
    };
    match &ctx.queue {
        Some(queue) => queue
            .send(&message)
            .await
            .map_err(ReplicateError::HandOver)?,
        None => tracing::warn!(
            sync_id = %record.sync_id,
            "HANDOVER_QUEUE_URL is not set: the next scheduled sync resumes from here"
        ),
    }
    tracing::info!(sync_id = %record.sync_id, phase = record.phase.as_str(), hand_overs = record.hand_overs, "deadline near: sync handed on");
    Ok(Progress {
        sync_id: Some(record.sync_id),
        handed_over: true,
        hand_overs: record.hand_overs,
        ..Progress::default()
    })
}

async fn parameters(
    ctx: &Context,
    rec: &Recorder,
    deadline: &Deadline,
    store: &Store,
    cursor: Option<String>,
    day: u64,
    seen: &mut HashSet<String>,
) -> Result<Step, ReplicateError> {
    let filters = scope_filter(&ctx.config.parameters).map_err(ReplicateError::Source)?;
    let mut pages = ctx
        .source
        .ssm
        .describe_parameters()
        .set_parameter_filters(filters)
        .max_results(PAGE as i32)
        .set_next_token(cursor.clone())
        .into_paginator()
        .send();
    // Pages are gathered into batches of at least PAGE names, so the state and the targets
    // are looked up PAGE names a call even where the service returns smaller pages. `at`
    // is the token that fetches the next page; `batch_start` the one that fetched the
    // batch's first page: where to resume if the batch is not finished.
    let mut at = cursor;
    let mut batch_start = at.clone();
    let mut batch: Vec<Meta> = Vec::new();
    loop {
        if batch.is_empty() && deadline.expired() {
            return Ok(Step::Stopped(at));
        }
        let page = match pages.next().await {
            None => None,
            Some(page) => Some(
                page.aws("DescribeParameters")
                    .map_err(|e| ReplicateError::Source(e.into()))?,
            ),
        };
        let next = page
            .as_ref()
            .and_then(|p| p.next_token())
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if let Some(page) = &page {
            batch.extend(
                page.parameters()
                    .iter()
                    .map(Meta::from)
                    .filter(|m| ctx.config.parameters.contains(&m.name)),
            );
        }
        let last = next.is_none();
        if batch.len() >= PAGE || last {
            let metas = std::mem::take(&mut batch);
            if !page_sync(ctx, rec, deadline, store, metas, day, seen).await? {
                return Ok(Step::Stopped(batch_start));
            }
            if last {
                return Ok(Step::Done);
            }
            batch_start = next.clone();
        }
        at = next;
    }
}

enum Verdict {
    Unchanged,
    Skipped,
    /// Read in full: value, tags, every replica.
    Full,
    /// Only the slice's check is due: tags and metadata, values left unread.
    TagsOnly,
}

/// What converging one parameter left: its new state, or nothing to record (it failed
/// and the next sync tries again).
type Converged = Option<(String, ParamState)>;

/// Why a parameter was not converged in a pass.
enum NotDone {
    /// Not started: the deadline came first.
    Deadline,
    /// The tags-only check found more to do; read again with values.
    NeedsValue(Meta),
}

/// One batch of source parameters; false when the deadline stopped it part-way (the
/// state of what was done is saved, so the batch's rest is all a resumed run does again).
async fn page_sync(
    ctx: &Context,
    rec: &Recorder,
    deadline: &Deadline,
    store: &Store,
    metas: Vec<Meta>,
    day: u64,
    seen: &mut HashSet<String>,
) -> Result<bool, ReplicateError> {
    if metas.is_empty() {
        return Ok(true);
    }
    let names: Vec<String> = metas.iter().map(|m| m.name.clone()).collect();
    seen.extend(names.iter().cloned());
    let states = store.params(&names).await?;
    let found: Vec<Result<HashMap<String, Meta>, ItemError>> = join_all(
        ctx.targets
            .iter()
            .map(|t| params::describe_names(&t.ssm, &names)),
    )
    .await;
    let (mut full, mut tags_only) = (Vec::new(), Vec::new());
    for meta in metas {
        let due = in_slice(&meta.name, day, ctx.config.tag_check_days);
        let verdict = match states.get(&meta.name) {
            None => Verdict::Full,
            Some(st) if st.source_version != meta.version => Verdict::Full,
            Some(st) if st.skip.is_some() => {
                if due {
                    Verdict::TagsOnly
                } else {
                    Verdict::Skipped
                }
            }
            Some(st) => {
                let drift = ctx
                    .targets
                    .iter()
                    .zip(&found)
                    .any(|(t, found)| match found {
                        Err(_) => true,
                        Ok(found) => {
                            found.get(&meta.name).map(|m| m.version)
                                != st.replicas.get(&t.region).copied()
                        }
                    });
                match (drift, due) {
                    (true, _) => Verdict::Full,
                    (false, true) => Verdict::TagsOnly,
                    (false, false) => Verdict::Unchanged,
                }
            }
        };
        match verdict {
            Verdict::Unchanged => {
                for t in &ctx.targets {
                    rec.done(
                        Kind::Parameter,
                        &meta.name,
                        &t.region,
                        Outcome::Unchanged,
                        &[],
                    );
                }
            }
            Verdict::Skipped => {}
            Verdict::Full => full.push(meta),
            Verdict::TagsOnly => tags_only.push(meta),
        }
    }
    let mut results = converge(ctx, rec, deadline, tags_only, &found, false).await;
    full.extend(results.iter().filter_map(|r| match r {
        Err(NotDone::NeedsValue(meta)) => Some(meta.clone()),
        _ => None,
    }));
    results.extend(converge(ctx, rec, deadline, full, &found, true).await);
    let complete = !results.iter().any(|r| matches!(r, Err(NotDone::Deadline)));
    let changed: Vec<(String, ParamState)> = results
        .into_iter()
        .filter_map(|r| r.ok().flatten())
        .filter(|(name, st)| states.get(name) != Some(st))
        .collect();
    store.put_params(&changed).await?;
    Ok(complete)
}

/// Reads the given source parameters and their replicas (values only `with_values`) and
/// converges them, a few at a time, starting none after the deadline.
async fn converge(
    ctx: &Context,
    rec: &Recorder,
    deadline: &Deadline,
    metas: Vec<Meta>,
    found: &[Result<HashMap<String, Meta>, ItemError>],
    with_values: bool,
) -> Vec<Result<Converged, NotDone>> {
    if metas.is_empty() {
        return Vec::new();
    }
    let conc = ctx.config.concurrency;
    let src_region = ctx.config.source_region.as_str();
    let names: Vec<String> = metas.iter().map(|m| m.name.clone()).collect();
    let by_name: HashMap<String, Meta> =
        metas.iter().map(|m| (m.name.clone(), m.clone())).collect();
    let source: Snapshot =
        match params::snapshot(&ctx.source.ssm, metas, |_| with_values, conc).await {
            Ok(s) => s,
            Err(e) => {
                // Nothing recorded: the next sync tries these again.
                for name in &names {
                    rec.failed(Kind::Parameter, name, src_region, e.to_string());
                }
                return Vec::new();
            }
        };
    let targets: Vec<Result<Snapshot, String>> =
        join_all(ctx.targets.iter().zip(found).map(|(t, found)| {
            let names = &names;
            async move {
                let found = found
                    .as_ref()
                    .map_err(|e| format!("could not read parameters in {}: {e}", t.region))?;
                let metas: Vec<Meta> = names.iter().filter_map(|n| found.get(n).cloned()).collect();
                params::snapshot(&t.ssm, metas, |_| with_values, conc)
                    .await
                    .map_err(|e| format!("could not read parameters in {}: {e}", t.region))
            }
        }))
        .await;
    stream::iter(source)
        .map(|(name, read)| {
            let (targets, by_name) = (&targets, &by_name);
            async move {
                if deadline.expired() {
                    return Err(NotDone::Deadline);
                }
                let p: Param = match read {
                    Err(e) => {
                        rec.failed(Kind::Parameter, &name, src_region, e.to_string());
                        return Ok(None);
                    }
                    Ok(p) => p,
                };
                if p.is_replica() || p.opted_out() {
                    tracing::debug!(kind = "parameter", name = %name, "skipped: a replica or opted out");
                    let why = if p.is_replica() { "replica" } else { "opted-out" };
                    return Ok(Some((
                        name,
                        ParamState {
                            source_version: p.version,
                            skip: Some(why.to_owned()),
                            replicas: Default::default(),
                        },
                    )));
                }
                let states = targets
                    .iter()
                    .map(|snap| match snap {
                        Err(e) => Err(e.clone()),
                        Ok(snap) => match snap.get(&p.name) {
                            None => Ok(None),
                            Some(Ok(t)) => Ok(Some(t)),
                            Some(Err(e)) => Err(e.to_string()),
                        },
                    })
                    .collect();
                let Ok(versions) = replicate_param(ctx, rec, &p, states, with_values).await else {
                    return Err(NotDone::NeedsValue(by_name[&name].clone()));
                };
                let replicas = ctx
                    .targets
                    .iter()
                    .zip(versions)
                    .filter_map(|(t, v)| v.map(|v| (t.region.clone(), v)))
                    .collect();
                Ok(Some((
                    name,
                    ParamState {
                        source_version: p.version,
                        skip: None,
                        replicas,
                    },
                )))
            }
        })
        .buffer_unordered(conc)
        .collect()
        .await
}

/// Deletes the replicas of parameters the state table knows but the source no longer has.
async fn orphans(
    ctx: &Context,
    rec: &Recorder,
    deadline: &Deadline,
    store: &Store,
    cursor: Option<String>,
    seen: &HashSet<String>,
) -> Result<Step, ReplicateError> {
    let mut after = cursor;
    loop {
        if deadline.expired() {
            return Ok(Step::Stopped(after));
        }
        let (items, next) = store.scan_params(after.as_deref()).await?;
        // A name this invocation saw in the source exists; only the others are looked up.
        let unseen: Vec<(String, ParamState)> = items
            .into_iter()
            .filter(|(name, _)| !seen.contains(name))
            .collect();
        for chunk in unseen.chunks(PAGE) {
            let names: Vec<String> = chunk.iter().map(|(n, _)| n.clone()).collect();
            let present = params::describe_names(&ctx.source.ssm, &names)
                .await
                .map_err(ReplicateError::Source)?;
            let gone: Vec<&String> = names.iter().filter(|n| !present.contains_key(*n)).collect();
            stream::iter(gone)
                .map(|name| async move {
                    if sweep(ctx, rec, name).await
                        && let Err(e) = store.forget_param(name).await
                    {
                        tracing::warn!(name = %name, cause = %e, "could not forget a deleted parameter; the next sync tries again");
                    }
                })
                .buffer_unordered(ctx.config.concurrency)
                .collect::<Vec<()>>()
                .await;
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(Step::Done),
        }
    }
}

/// Deletes `name`'s marked replicas in every target; true when none is left.
async fn sweep(ctx: &Context, rec: &Recorder, name: &str) -> bool {
    let src_region = ctx.config.source_region.as_str();
    let done = join_all(ctx.targets.iter().map(|t| async move {
        match params::read_one(&t.ssm, name).await {
            Ok(Some(r)) if r.is_replica_of(src_region) => delete_replica(ctx, rec, t, name).await,
            Ok(_) => true,
            Err(e) => {
                rec.failed(Kind::Parameter, name, &t.region, e.to_string());
                false
            }
        }
    }))
    .await;
    done.into_iter().all(|ok| ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_in_exactly_one_days_slice_per_cycle() {
        for name in ["/app/a", "/app/b", "/orders/db/url", ""] {
            let days: Vec<u64> = (0..30).filter(|d| in_slice(name, 20_000 + d, 30)).collect();
            assert_eq!(days.len(), 1, "{name}: {days:?}");
            assert!(
                in_slice(name, 20_000 + days[0] + 30, 30),
                "the same day next cycle"
            );
        }
        let today = (0..1000)
            .filter(|i| in_slice(&format!("/p/{i}"), 20_000, 30))
            .count();
        assert!((15..=60).contains(&today), "about a thirtieth: {today}");
        assert!(in_slice("/any", 5, 1), "one day means every day");
    }
}
