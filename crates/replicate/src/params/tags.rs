//! The tags of a replica: the source's own tags (not the original tool's monitoring tag)
//! plus the replica mark, and the tag edits that bring a replica there.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::Tag;

use super::{MONITORED_KEY, Param, REPLICA_KEY};
use crate::error::ItemError;

/// The tags a replica should carry: the source's own tags (not the original tool's
/// monitoring tag), plus the replica mark.
pub fn replica_tags(source: &Param, source_region: &str) -> BTreeMap<String, String> {
    wanted(&source.tags, source_region)
}

/// The tags a replica of a source carrying `source_tags` should carry.
pub fn wanted(
    source_tags: &BTreeMap<String, String>,
    source_region: &str,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = source_tags
        .iter()
        .filter(|(k, _)| k.as_str() != MONITORED_KEY && k.as_str() != REPLICA_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert(REPLICA_KEY.to_owned(), source_region.to_owned());
    tags
}

/// The tags to add (or change) and to remove so that `have` becomes `want`.
pub fn diff(
    want: &BTreeMap<String, String>,
    have: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let add = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (add, remove)
}

pub fn tag(key: &str, value: &str) -> Result<Tag, ItemError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(ItemError::invalid("tag"))
}
