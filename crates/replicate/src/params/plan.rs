//! Comparing a replica with its source, property by property: what a write must change.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;

use super::Param;
use super::tags::replica_tags;

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

/// Never downgrade: Advanced cannot go back to Standard.
pub(crate) fn wanted_tier(source: &Param, target: Option<&Param>) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{MONITORED_KEY, MONITORED_VALUE, Meta};
    use secrecy::SecretString;

    fn param(value: &str) -> Param {
        Param {
            meta: Meta {
                name: "/app/x".into(),
                kind: "String".into(),
                description: "d".into(),
                allowed_pattern: String::new(),
                tier: "Standard".into(),
                data_type: "text".into(),
                policies: vec![],
                key_id: None,
                version: 1,
            },
            value: SecretString::from(value.to_owned()),
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
}
