//! Parameters: read the source and every target in pages ([`read`]), compare property
//! by property ([`plan`]), and write only what differs ([`write`]). Replicas carry a mark
//! naming their source region ([`tags`]); only marked parameters are ever deleted from a
//! target.

pub mod plan;
pub mod read;
pub mod tags;
pub mod write;

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterMetadata;
use secrecy::SecretString;

pub use plan::{Plan, Put, plan};
pub use read::{Snapshot, describe_all, describe_names, read_one, snapshot};
pub use tags::replica_tags;
pub use write::{apply, delete, mark_source, scrub};

/// The original tool's tag on source parameters; kept so teams migrating see no change.
pub const MONITORED_KEY: &str = "ReplicationStatus";
pub const MONITORED_VALUE: &str = "monitored-by-parameter-store-replication-lambda";
/// The mark on every replica this function writes; its value is the source region.
pub const REPLICA_KEY: &str = "rotor:replica-of";
/// `rotor:replicate=false` on a source item keeps it (and, for secrets, its replicas) out.
pub const OPT_OUT_KEY: &str = "rotor:replicate";

/// One parameter as the comparison needs it: its metadata (which it reads as, through
/// `Deref`), its value and its tags. `Debug` shows the value redacted.
#[derive(Debug, Clone)]
pub struct Param {
    pub meta: Meta,
    pub value: SecretString,
    pub tags: BTreeMap<String, String>,
}

impl std::ops::Deref for Param {
    type Target = Meta;

    fn deref(&self) -> &Meta {
        &self.meta
    }
}

impl std::ops::DerefMut for Param {
    fn deref_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
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
    /// Every PutParameter makes a new version; tagging does not.
    pub version: i64,
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
            version: m.version(),
        }
    }
}
