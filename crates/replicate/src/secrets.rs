//! Secrets: Secrets Manager's native replication, added for every target region a secret
//! lacks. Only primaries of the source region are touched; a secret tagged
//! `rotor:replicate=false` has its replicas in the target regions removed, which is what
//! deleting a replicated secret needs (a primary with replicas cannot be deleted).

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{ReplicaRegionType, StatusType};
use futures::{StreamExt, stream};
use rotor_core::error::{AwsError, AwsResultExt};

use crate::error::ItemError;
use crate::params::opted_out;
use crate::scope::Scope;

/// In-scope secrets of the source region that are primaries here (ARNs), paging to the end.
pub async fn list(
    sm: &Client,
    scope: &Scope,
    source_region: &str,
) -> Result<Vec<String>, AwsError> {
    let pages = sm
        .list_secrets()
        .max_results(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("ListSecrets")?;
    let mut out: Vec<String> = pages
        .iter()
        .flat_map(|page| page.secret_list())
        .filter(|s| {
            let name = s.name().unwrap_or_default();
            let primary_elsewhere = s.primary_region().is_some_and(|p| p != source_region);
            scope.contains(name) && !primary_elsewhere && s.deleted_date().is_none()
        })
        .filter_map(|s| s.arn().map(str::to_owned))
        .collect();
    out.sort();
    Ok(out)
}

/// What one secret needs, per target region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A replica is there and in sync (or getting there).
    InPlace,
    /// No replica: add one.
    Add,
    /// Opted out: remove the replica.
    Remove,
    /// Nothing there and nothing wanted.
    Absent,
    /// The replica failed; Secrets Manager's message says why.
    Failed(String),
}

/// The state of a secret as read from its primary region.
pub struct State {
    pub arn: String,
    pub name: String,
    /// The source's KMS key as DescribeSecret gives it (`None`: the AWS managed key).
    pub kms_key_id: Option<String>,
    /// Why the secret is skipped altogether (a replica here, scheduled for deletion).
    pub skip: Option<&'static str>,
    pub needs: BTreeMap<String, Need>,
}

pub async fn read(
    sm: &Client,
    id: &str,
    source_region: &str,
    targets: &[String],
) -> Result<Option<State>, AwsError> {
    let out = match sm
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .aws("DescribeSecret")
    {
        Ok(out) => out,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(state(&out, source_region, targets)))
}

pub fn state(out: &DescribeSecretOutput, source_region: &str, targets: &[String]) -> State {
    let tags: BTreeMap<String, String> = rotor_core::secrets::tag_pairs(out.tags())
        .into_iter()
        .collect();
    let skip = if out.primary_region().is_some_and(|p| p != source_region) {
        Some("a replica here; its primary is in another region")
    } else if out.deleted_date().is_some() {
        Some("scheduled for deletion")
    } else {
        None
    };
    let out_of_it = opted_out(&tags);
    let needs = targets
        .iter()
        .map(|region| {
            let replica = out
                .replication_status()
                .iter()
                .find(|r| r.region() == Some(region.as_str()));
            let need = match (replica, out_of_it) {
                (Some(_), true) => Need::Remove,
                (None, true) => Need::Absent,
                (None, false) => Need::Add,
                (Some(r), false) if r.status() == Some(&StatusType::Failed) => Need::Failed(
                    r.status_message()
                        .unwrap_or("replication failed")
                        .to_owned(),
                ),
                (Some(_), false) => Need::InPlace,
            };
            (region.clone(), need)
        })
        .collect();
    State {
        arn: out.arn().unwrap_or_default().to_owned(),
        name: out.name().unwrap_or_default().to_owned(),
        kms_key_id: out.kms_key_id().map(str::to_owned),
        skip,
        needs,
    }
}

/// Adds one replica region. One call per region, so a region that fails (a KMS key that
/// does not exist there, a same-named secret) does not hold back the others. A
/// same-named secret in the target is never overwritten.
pub async fn add_replica(
    sm: &Client,
    arn: &str,
    region: &str,
    kms_key: Option<&str>,
) -> Result<(), ItemError> {
    let replica = ReplicaRegionType::builder()
        .region(region)
        .set_kms_key_id(kms_key.map(str::to_owned))
        .build();
    let out = sm
        .replicate_secret_to_regions()
        .secret_id(arn)
        .add_replica_regions(replica)
        .force_overwrite_replica_secret(false)
        .send()
        .await
        .aws("ReplicateSecretToRegions")?;
    // Replication is asynchronous; a replica that failed at once says so here.
    if let Some(r) = out
        .replication_status()
        .iter()
        .find(|r| r.region() == Some(region) && r.status() == Some(&StatusType::Failed))
    {
        return Err(ItemError::ReplicationFailed {
            region: region.to_owned(),
            message: r
                .status_message()
                .unwrap_or("replication failed")
                .to_owned(),
        });
    }
    Ok(())
}

pub async fn remove_replica(sm: &Client, arn: &str, region: &str) -> Result<(), ItemError> {
    sm.remove_regions_from_replication()
        .secret_id(arn)
        .remove_replica_regions(region)
        .send()
        .await
        .aws("RemoveRegionsFromReplication")?;
    Ok(())
}

/// Reads every listed secret, a few at a time.
pub async fn read_all(
    sm: &Client,
    arns: Vec<String>,
    source_region: &str,
    targets: &[String],
    concurrency: usize,
) -> Vec<(String, Result<Option<State>, AwsError>)> {
    stream::iter(arns)
        .map(|arn| async move {
            let state = read(sm, &arn, source_region, targets).await;
            (arn, state)
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
}
