//! Parameters: read the source and every target in pages, compare property by property,
//! and write only what differs. Replicas carry a mark naming their source region; only
//! marked parameters are ever deleted from a target.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{
    ParameterMetadata, ParameterStringFilter, ParameterTier, ParameterType, ResourceTypeForTagging,
    Tag,
};
use futures::{StreamExt, TryStreamExt, stream};
use rotor_core::error::{AwsError, AwsResultExt};
use secrecy::{ExposeSecret, SecretString};

use crate::scope::Scope;

/// The original tool's tag on source parameters; kept so teams migrating see no change.
pub const MONITORED_KEY: &str = "ReplicationStatus";
pub const MONITORED_VALUE: &str = "monitored-by-parameter-store-replication-lambda";
/// The mark on every replica this function writes; its value is the source region.
pub const REPLICA_KEY: &str = "rotor:replica-of";
/// `rotor:replicate=false` on a source item keeps it (and, for secrets, its replicas) out.
pub const OPT_OUT_KEY: &str = "rotor:replicate";

/// GetParameters takes at most 10 names.
const VALUE_BATCH: usize = 10;

/// One parameter as the comparison needs it. `Debug` shows the value redacted.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: String,
    pub value: SecretString,
    pub description: String,
    pub allowed_pattern: String,
    pub tier: String,
    pub data_type: String,
    /// Policy texts (Advanced tier), sorted.
    pub policies: Vec<String>,
    pub key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Param {
    pub fn is_replica(&self) -> bool {
        self.tags.contains_key(REPLICA_KEY)
    }

    pub fn is_replica_of(&self, region: &str) -> bool {
        self.tags.get(REPLICA_KEY).map(String::as_str) == Some(region)
    }

    pub fn opted_out(&self) -> bool {
        opted_out(&self.tags)
    }
}

pub fn opted_out(tags: &BTreeMap<String, String>) -> bool {
    tags.get(OPT_OUT_KEY)
        .is_some_and(|v| rotor_core::config::parse_bool(v) == Some(false))
}

/// Metadata of one parameter, as DescribeParameters returns it.
#[derive(Debug, Clone)]
pub struct Meta {
    pub name: String,
    pub kind: String,
    pub description: String,
    pub allowed_pattern: String,
    pub tier: String,
    pub data_type: String,
    pub policies: Vec<String>,
    pub key_id: Option<String>,
}

impl From<&ParameterMetadata> for Meta {
    fn from(m: &ParameterMetadata) -> Self {
        let mut policies: Vec<String> = m
            .policies()
            .iter()
            .filter_map(|p| p.policy_text().map(str::to_owned))
            .collect();
        policies.sort();
        Self {
            name: m.name().unwrap_or_default().to_owned(),
            kind: m
                .r#type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            description: m.description().unwrap_or_default().to_owned(),
            allowed_pattern: m.allowed_pattern().unwrap_or_default().to_owned(),
            tier: m
                .tier()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_else(|| "Standard".to_owned()),
            data_type: m.data_type().unwrap_or("text").to_owned(),
            policies,
            key_id: m.key_id().map(str::to_owned),
        }
    }
}

/// Every parameter's metadata in scope, paging to the end: DescribeParameters can return
/// an empty page that still carries a NextToken.
pub async fn describe_all(ssm: &Client, scope: &Scope) -> Result<Vec<Meta>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ssm
            .describe_parameters()
            .max_results(50)
            .set_next_token(token.take())
            .send()
            .await
            .aws("DescribeParameters")?;
        out.extend(
            page.parameters()
                .iter()
                .map(Meta::from)
                .filter(|m| scope.contains(&m.name)),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One parameter's metadata, or `None` when it does not exist.
pub async fn describe_one(ssm: &Client, name: &str) -> Result<Option<Meta>, AwsError> {
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| AwsError {
            operation: "DescribeParameters",
            code: "InvalidFilter".into(),
            message: e.to_string(),
            kind: rotor_core::error::AwsErrorKind::Other,
        })?;
    let mut token: Option<String> = None;
    loop {
        let page = ssm
            .describe_parameters()
            .parameter_filters(filter.clone())
            .set_next_token(token.take())
            .send()
            .await
            .aws("DescribeParameters")?;
        if let Some(m) = page.parameters().iter().find(|m| m.name() == Some(name)) {
            return Ok(Some(Meta::from(m)));
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(None),
        }
    }
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
pub async fn read_one(ssm: &Client, name: &str) -> Result<Option<Param>, AwsError> {
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
        Err(e) => return Err(e),
    };
    let Some((kind, value)) = value else {
        return Ok(None);
    };
    let tags = match tags(ssm, name).await {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(assemble(meta, kind, value, tags)))
}

fn assemble(
    meta: Meta,
    kind: String,
    value: SecretString,
    tags: BTreeMap<String, String>,
) -> Param {
    Param {
        name: meta.name,
        kind: if kind.is_empty() { meta.kind } else { kind },
        value,
        description: meta.description,
        allowed_pattern: meta.allowed_pattern,
        tier: meta.tier,
        data_type: meta.data_type,
        policies: meta.policies,
        key_id: meta.key_id,
        tags,
    }
}

/// How a replica must change to match its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub put: Option<Put>,
    /// Which properties differ (names only).
    pub changes: Vec<&'static str>,
    pub add_tags: BTreeMap<String, String>,
    pub remove_tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Create,
    Overwrite,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.put.is_none() && self.add_tags.is_empty() && self.remove_tags.is_empty()
    }
}

/// The tags a replica should carry: the source's own tags (not the original tool's
/// monitoring tag), plus the replica mark.
pub fn replica_tags(source: &Param, source_region: &str) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = source
        .tags
        .iter()
        .filter(|(k, _)| k.as_str() != MONITORED_KEY && k.as_str() != REPLICA_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert(REPLICA_KEY.to_owned(), source_region.to_owned());
    tags
}

/// Never downgrade: Advanced cannot go back to Standard.
fn wanted_tier(source: &Param, target: Option<&Param>) -> &'static str {
    let advanced = |p: &Param| p.tier == "Advanced";
    if advanced(source) || target.is_some_and(advanced) {
        "Advanced"
    } else {
        "Standard"
    }
}

pub fn plan(
    source: &Param,
    target: Option<&Param>,
    kms_key: Option<&str>,
    source_region: &str,
) -> Plan {
    let want_tags = replica_tags(source, source_region);
    let Some(t) = target else {
        return Plan {
            put: Some(Put::Create),
            changes: vec!["created"],
            ..Plan::default()
        };
    };
    let mut changes = Vec::new();
    if t.value.expose_secret() != source.value.expose_secret() {
        changes.push("value");
    }
    if t.kind != source.kind {
        changes.push("type");
    }
    if t.description != source.description {
        changes.push("description");
    }
    if t.allowed_pattern != source.allowed_pattern {
        changes.push("allowed-pattern");
    }
    if t.data_type != source.data_type {
        changes.push("data-type");
    }
    if t.tier != wanted_tier(source, target) {
        changes.push("tier");
    }
    if t.policies != source.policies {
        changes.push("policies");
    }
    if source.kind == "SecureString"
        && let Some(key) = kms_key
        && t.key_id.as_deref() != Some(key)
    {
        changes.push("kms-key");
    }
    let put = (!changes.is_empty()).then_some(Put::Overwrite);
    let add_tags: BTreeMap<String, String> = want_tags
        .iter()
        .filter(|(k, v)| t.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove_tags: Vec<String> = t
        .tags
        .keys()
        .filter(|k| !want_tags.contains_key(*k))
        .cloned()
        .collect();
    if !add_tags.is_empty() || !remove_tags.is_empty() {
        changes.push("tags");
    }
    Plan {
        put,
        changes,
        add_tags,
        remove_tags,
    }
}

/// Writes a plan to a target. A new replica is created with its tags in one call; an
/// existing one is overwritten (PutParameter rejects Tags with Overwrite) and its tags
/// are then adjusted.
pub async fn apply(
    ssm: &Client,
    source: &Param,
    target: Option<&Param>,
    plan: &Plan,
    kms_key: Option<&str>,
    source_region: &str,
) -> Result<(), AwsError> {
    if let Some(put) = plan.put {
        let mut req = ssm
            .put_parameter()
            .name(&source.name)
            .value(source.value.expose_secret())
            .r#type(ParameterType::from(source.kind.as_str()))
            .tier(ParameterTier::from(wanted_tier(source, target)))
            .data_type(&source.data_type)
            .overwrite(put == Put::Overwrite);
        if !source.description.is_empty() || target.is_some_and(|t| !t.description.is_empty()) {
            req = req.description(&source.description);
        }
        if !source.allowed_pattern.is_empty() {
            req = req.allowed_pattern(&source.allowed_pattern);
        }
        // PutParameter wants the policies as one JSON array; omitted when there are none.
        if !source.policies.is_empty() {
            req = req.policies(format!("[{}]", source.policies.join(",")));
        }
        if source.kind == "SecureString"
            && let Some(key) = kms_key
        {
            req = req.key_id(key);
        }
        if put == Put::Create {
            for (k, v) in replica_tags(source, source_region) {
                req = req.tags(tag(&k, &v)?);
            }
        }
        req.send().await.aws("PutParameter")?;
    }
    if !plan.add_tags.is_empty() {
        let tags = plan
            .add_tags
            .iter()
            .map(|(k, v)| tag(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        ssm.add_tags_to_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(&source.name)
            .set_tags(Some(tags))
            .send()
            .await
            .aws("AddTagsToResource")?;
    }
    if !plan.remove_tags.is_empty() {
        ssm.remove_tags_from_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(&source.name)
            .set_tag_keys(Some(plan.remove_tags.clone()))
            .send()
            .await
            .aws("RemoveTagsFromResource")?;
    }
    Ok(())
}

/// Tags the source with the original tool's monitoring tag.
pub async fn mark_source(ssm: &Client, name: &str) -> Result<(), AwsError> {
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .tags(tag(MONITORED_KEY, MONITORED_VALUE)?)
        .send()
        .await
        .aws("AddTagsToResource")?;
    Ok(())
}

pub async fn delete(ssm: &Client, name: &str) -> Result<(), AwsError> {
    match ssm
        .delete_parameter()
        .name(name)
        .send()
        .await
        .aws("DeleteParameter")
    {
        // Already gone: the goal is reached.
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

fn tag(key: &str, value: &str) -> Result<Tag, AwsError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| AwsError {
            operation: "Tag",
            code: "InvalidTag".into(),
            message: e.to_string(),
            kind: rotor_core::error::AwsErrorKind::Other,
        })
}

/// An error's text with the value cut out, should a service ever echo it.
pub fn scrub(cause: String, value: &SecretString) -> String {
    let v = value.expose_secret();
    if v.len() >= 4 && cause.contains(v) {
        cause.replace(v, "[REDACTED]")
    } else {
        cause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(value: &str) -> Param {
        Param {
            name: "/app/x".into(),
            kind: "String".into(),
            value: SecretString::from(value.to_owned()),
            description: "d".into(),
            allowed_pattern: String::new(),
            tier: "Standard".into(),
            data_type: "text".into(),
            policies: vec![],
            key_id: None,
            tags: BTreeMap::from([
                ("team".into(), "a".into()),
                (MONITORED_KEY.into(), MONITORED_VALUE.into()),
            ]),
        }
    }

    fn replica(source: &Param) -> Param {
        let mut r = source.clone();
        r.tags = replica_tags(source, "us-east-1");
        r
    }

    #[test]
    fn an_identical_replica_needs_nothing() {
        let s = param("v1");
        assert!(plan(&s, Some(&replica(&s)), None, "us-east-1").is_empty());
    }

    #[test]
    fn a_changed_value_is_an_overwrite_naming_only_the_field() {
        let s = param("v2");
        let p = plan(&s, Some(&replica(&param("v1"))), None, "us-east-1");
        assert_eq!(p.put, Some(Put::Overwrite));
        assert_eq!(p.changes, ["value"]);
    }

    #[test]
    fn tags_are_synced_without_overwriting_and_the_monitoring_tag_is_not_copied() {
        let s = param("v");
        let mut t = replica(&s);
        t.tags.insert("stale".into(), "x".into());
        t.tags.insert(MONITORED_KEY.into(), MONITORED_VALUE.into());
        t.tags.remove("team");
        let p = plan(&s, Some(&t), None, "us-east-1");
        assert_eq!(p.put, None);
        assert_eq!(p.add_tags, BTreeMap::from([("team".into(), "a".into())]));
        assert_eq!(
            p.remove_tags,
            [MONITORED_KEY.to_owned(), "stale".to_owned()]
        );
    }

    #[test]
    fn advanced_is_never_downgraded_and_the_kms_key_is_enforced() {
        let s = param("v");
        let mut t = replica(&s);
        t.tier = "Advanced".into();
        assert!(plan(&s, Some(&t), None, "us-east-1").is_empty());
        let mut secure = param("v");
        secure.kind = "SecureString".into();
        let mut t = replica(&secure);
        t.key_id = Some("alias/aws/ssm".into());
        assert_eq!(
            plan(&secure, Some(&t), Some("alias/dr"), "us-east-1").changes,
            ["kms-key"]
        );
        assert!(plan(&secure, Some(&t), Some("alias/aws/ssm"), "us-east-1").is_empty());
    }

    #[test]
    fn causes_never_carry_the_value() {
        let v = SecretString::from("hunter2-value".to_owned());
        assert_eq!(
            scrub("bad hunter2-value here".into(), &v),
            "bad [REDACTED] here"
        );
    }
}
