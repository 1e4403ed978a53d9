//! Writing replicas: PutParameter for values and properties, tag calls for tags, and
//! deletes of replicas whose source is gone.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterTier, ParameterType, ResourceTypeForTagging};
use rotor_core::error::AwsResultExt;
use secrecy::{ExposeSecret, SecretString};

use super::plan::{Plan, Put, wanted_tier};
use super::tags::{replica_tags, tag};
use super::{MONITORED_KEY, MONITORED_VALUE, Param};
use crate::error::ItemError;

/// Writes a plan to a target; the replica's new version when it was put. A new replica is created with its tags in one call; an
/// existing one is overwritten (PutParameter rejects Tags with Overwrite) and its tags
/// are then adjusted.
pub async fn apply(
    ssm: &Client,
    source: &Param,
    target: Option<&Param>,
    plan: &Plan,
    kms_key: Option<&str>,
    source_region: &str,
) -> Result<Option<i64>, ItemError> {
    let mut version = None;
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
        version = Some(req.send().await.aws("PutParameter")?.version());
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
    Ok(version)
}

/// Tags the source with the original tool's monitoring tag.
pub async fn mark_source(ssm: &Client, name: &str) -> Result<(), ItemError> {
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .tags(tag(MONITORED_KEY, MONITORED_VALUE)?)
        .send()
        .await
        .aws("AddTagsToResource")?;
    Ok(())
}

pub async fn delete(ssm: &Client, name: &str) -> Result<(), ItemError> {
    match ssm
        .delete_parameter()
        .name(name)
        .send()
        .await
        .aws("DeleteParameter")
    {
        // Already gone: the goal is reached.
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()).map_err(ItemError::from),
    }
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

    #[test]
    fn causes_never_carry_the_value() {
        let v = SecretString::from("hunter2-value".to_owned());
        assert_eq!(
            scrub("bad hunter2-value here".into(), &v),
            "bad [REDACTED] here"
        );
    }
}
