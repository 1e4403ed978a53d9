//! Reading parameters: metadata in pages of 50 (DescribeParameters), values in batches of
//! 10 (GetParameters), tags one parameter at a time (ListTagsForResource, which has no
//! batch form).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterStringFilter, ResourceTypeForTagging};
use futures::{StreamExt, TryStreamExt, stream};
use rotor_core::error::{AwsError, AwsResultExt};
use secrecy::SecretString;

use super::{Meta, Param};
use crate::error::ItemError;
use crate::scope::Scope;

/// GetParameters takes at most 10 names.
const VALUE_BATCH: usize = 10;
/// DescribeParameters' largest page, and the most values one of its filters takes.
pub const PAGE: usize = 50;

/// Every parameter's metadata in scope, paging to the end (DescribeParameters can return
/// an empty page that still carries a NextToken; the paginator follows it).
pub async fn describe_all(ssm: &Client, scope: &Scope) -> Result<Vec<Meta>, ItemError> {
    let mut out: Vec<Meta> = describe(ssm, scope_filter(scope)?)
        .await?
        .into_iter()
        .filter(|m| scope.contains(&m.name))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Every parameter's metadata a DescribeParameters filter selects, [`PAGE`] at a time, every
/// page.
async fn describe(
    ssm: &Client,
    filters: Option<Vec<ParameterStringFilter>>,
) -> Result<Vec<Meta>, ItemError> {
    let pages = ssm
        .describe_parameters()
        .set_parameter_filters(filters)
        .max_results(PAGE as i32)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("DescribeParameters")?;
    Ok(pages
        .iter()
        .flat_map(|p| p.parameters())
        .map(Meta::from)
        .collect())
}

/// The server-side part of a scope: its include prefixes as a `Name BeginsWith` filter,
/// so an account's other parameters are not even listed. (Excludes are applied after.)
/// DescribeParameters takes `Equals` and `BeginsWith` for every key, and `Name` also
/// `Contains` (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterStringFilter.html);
/// its pages are best effort: anything from none to `MaxResults` items, with a NextToken
/// while there may be more.
pub fn scope_filter(scope: &Scope) -> Result<Option<Vec<ParameterStringFilter>>, ItemError> {
    if scope.include().is_empty() {
        return Ok(None);
    }
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("BeginsWith")
        .set_values(Some(scope.include().to_vec()))
        .build()
        .map_err(ItemError::invalid("name prefix filter"))?;
    Ok(Some(vec![filter]))
}

/// The metadata of the named parameters that exist: one filtered DescribeParameters
/// call per [`PAGE`] names (`Name Equals` takes at most 50 values), more only if the
/// service splits an answer into pages. `Name Equals` matches each name at most once, so
/// once every name is found the rest of the pages can only be empty and are not read (a
/// full page carries a NextToken whether or not anything follows).
pub async fn describe_names(
    ssm: &Client,
    names: &[String],
) -> Result<HashMap<String, Meta>, ItemError> {
    let mut out = HashMap::new();
    for chunk in names.chunks(PAGE) {
        let wanted: HashSet<&str> = chunk.iter().map(String::as_str).collect();
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(ItemError::invalid("name filter"))?;
        let mut pages = ssm
            .describe_parameters()
            .parameter_filters(filter)
            .max_results(PAGE as i32)
            .into_paginator()
            .send();
        let mut found = 0;
        while let Some(page) = pages.next().await {
            for meta in page
                .aws("DescribeParameters")?
                .parameters()
                .iter()
                .map(Meta::from)
            {
                if wanted.contains(meta.name.as_str())
                    && out.insert(meta.name.clone(), meta).is_none()
                {
                    found += 1;
                }
            }
            if found == wanted.len() {
                break;
            }
        }
    }
    Ok(out)
}

/// One parameter's metadata, or `None` when it does not exist.
pub async fn describe_one(ssm: &Client, name: &str) -> Result<Option<Meta>, ItemError> {
    Ok(describe_names(ssm, &[name.to_owned()]).await?.remove(name))
}

/// Values (decrypted) of the named parameters, read 10 at a time. Names that vanished
/// in between are simply absent from the result.
pub async fn values(
    ssm: &Client,
    names: &[String],
    concurrency: usize,
) -> Result<HashMap<String, (String, SecretString)>, AwsError> {
    let batches: Vec<Vec<String>> = names.chunks(VALUE_BATCH).map(<[String]>::to_vec).collect();
    let pages: Vec<Vec<(String, (String, SecretString))>> = stream::iter(batches)
        .map(|batch| async move {
            let out = ssm
                .get_parameters()
                .set_names(Some(batch))
                .with_decryption(true)
                .send()
                .await
                .aws("GetParameters")?;
            Ok::<_, AwsError>(
                out.parameters()
                    .iter()
                    .map(|p| {
                        (
                            p.name().unwrap_or_default().to_owned(),
                            (
                                p.r#type()
                                    .map(|t| t.as_str().to_owned())
                                    .unwrap_or_default(),
                                SecretString::from(p.value().unwrap_or_default().to_owned()),
                            ),
                        )
                    })
                    .collect(),
            )
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().collect())
}

pub async fn tags(ssm: &Client, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let out = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .aws("ListTagsForResource")?;
    Ok(out
        .tag_list()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

/// A region's parameters: each name's full state, or why it could not be read.
pub type Snapshot = BTreeMap<String, Result<Param, AwsError>>;

/// Reads the given metadata's values (for `with_value` names) and tags. A parameter whose
/// value is not needed gets an empty value.
pub async fn snapshot(
    ssm: &Client,
    metas: Vec<Meta>,
    with_value: impl Fn(&str) -> bool,
    concurrency: usize,
) -> Result<Snapshot, AwsError> {
    let wanted: Vec<String> = metas
        .iter()
        .filter(|m| with_value(&m.name))
        .map(|m| m.name.clone())
        .collect();
    let mut vals = values(ssm, &wanted, concurrency).await?;
    let read: Vec<(String, Result<Param, AwsError>)> = stream::iter(metas)
        .map(|meta| {
            let value = vals.remove(&meta.name);
            let needed = with_value(&meta.name);
            async move {
                let name = meta.name.clone();
                let result = match (value, needed) {
                    // Deleted between the listing and the value read: leave it out.
                    (None, true) => return None,
                    (value, _) => tags(ssm, &meta.name).await.map(|tags| {
                        let (kind, value) =
                            value.unwrap_or_else(|| (meta.kind.clone(), SecretString::from("")));
                        assemble(meta, kind, value, tags)
                    }),
                };
                Some((name, result))
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    Ok(read.into_iter().collect())
}

/// One parameter's full state, or `None` when it does not exist.
pub async fn read_one(ssm: &Client, name: &str) -> Result<Option<Param>, ItemError> {
    let Some(meta) = describe_one(ssm, name).await? else {
        return Ok(None);
    };
    let value = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .aws("GetParameter")
    {
        Ok(out) => out.parameter().map(|p| {
            (
                p.r#type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                SecretString::from(p.value().unwrap_or_default().to_owned()),
            )
        }),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let Some((kind, value)) = value else {
        return Ok(None);
    };
    let tags = match tags(ssm, name).await {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(assemble(meta, kind, value, tags)))
}

fn assemble(
    mut meta: Meta,
    kind: String,
    value: SecretString,
    tags: BTreeMap<String, String>,
) -> Param {
    if !kind.is_empty() {
        meta.kind = kind;
    }
    Param { meta, value, tags }
}
