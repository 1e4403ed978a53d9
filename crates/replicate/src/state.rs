//! What the full sync remembers between runs, in a DynamoDB table (`STATE_TABLE`, created by
//! the template): per parameter, the source version last replicated and each replica's
//! version as this function left it, so a sync reads and writes only what changed since;
//! and one record of the sync in progress (its id, the phase and cursor to resume from,
//! and a lease that makes every hand-over idempotent).
//!
//! Items are keyed by one string attribute, `pk`: `param#<name>` for a parameter,
//! `sync` for the sync record. Nothing secret is stored: names, versions, a cursor.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use rotor_core::error::{AwsError, AwsResultExt, ErrorType};

const PARAM: &str = "param#";
const SYNC: &str = "sync";
/// BatchGetItem reads at most 100 keys, BatchWriteItem writes at most 25 items.
const GET_BATCH: usize = 100;
const WRITE_BATCH: usize = 25;
/// Attempts at the items DynamoDB leaves unprocessed (throttling) before giving up.
const UNPROCESSED_ATTEMPTS: u32 = 8;

/// Why the state could not be used. The sync stops (and says so) rather than guess.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state table: {0}")]
    Aws(#[from] AwsError),
    /// An item the function did not write in this shape (edited by hand, or another tool).
    #[error("state table item {key} is malformed: {what}")]
    Malformed { key: String, what: &'static str },
    /// DynamoDB kept leaving part of a batch unprocessed.
    #[error(
        "state table: {operation} left {left} item(s) unprocessed after {UNPROCESSED_ATTEMPTS} attempts"
    )]
    Unprocessed {
        operation: &'static str,
        left: usize,
    },
    /// A request could not be built.
    #[error("state table: could not build a {what} request")]
    InvalidRequest {
        what: &'static str,
        #[source]
        source: aws_smithy_types::error::operation::BuildError,
    },
}

impl ErrorType for StateError {
    fn error_type(&self) -> String {
        match self {
            Self::Aws(e) => format!("Rotor.State.{}", e.code),
            Self::Malformed { .. } => "Rotor.State.Malformed".into(),
            Self::Unprocessed { .. } => "Rotor.State.Unprocessed".into(),
            Self::InvalidRequest { .. } => "Rotor.State.InvalidRequest".into(),
        }
    }
}

/// One parameter as the last sync left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamState {
    /// The source's version when it was last replicated (or found skipped).
    pub source_version: i64,
    /// Why the source is not replicated (`replica`, `opted-out`), decided at that version.
    pub skip: Option<String>,
    /// Target region → the replica's version after this function's last look or write.
    pub replicas: BTreeMap<String, i64>,
}

/// Where a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Secrets,
    Parameters,
    Orphans,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secrets => "secrets",
            Self::Parameters => "parameters",
            Self::Orphans => "orphans",
            Self::Done => "done",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "secrets" => Self::Secrets,
            "parameters" => Self::Parameters,
            "orphans" => Self::Orphans,
            "done" => Self::Done,
            _ => return None,
        })
    }
}

/// The sync in progress (or the last one, when `phase` is `Done`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    pub sync_id: String,
    /// Who may work on the sync now: the invocation that set it, or the hand-over message
    /// carrying it. A message whose lease is not this one is stale and changes nothing.
    pub lease: String,
    pub phase: Phase,
    /// Where to resume within the phase: a DescribeParameters NextToken (parameters) or
    /// the last state key swept (orphans).
    pub cursor: Option<String>,
    /// Epoch seconds.
    pub started: i64,
    pub hand_overs: u64,
    /// Epoch seconds of the last completed sync.
    pub last_completed: Option<i64>,
}

/// The state table.
#[derive(Clone)]
pub struct Store {
    ddb: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk))])
}

fn num(item: &HashMap<String, AttributeValue>, k: &str, pk: &str) -> Result<i64, StateError> {
    let malformed = || StateError::Malformed {
        key: pk.to_owned(),
        what: "a number attribute is missing or not a number",
    };
    match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| malformed()),
        _ => Err(malformed()),
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
    match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    }
}

fn param_from(item: &HashMap<String, AttributeValue>, pk: &str) -> Result<ParamState, StateError> {
    let replicas = match item.get("r") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(region, v)| match v {
                AttributeValue::N(v) => v.parse().map(|v| (region.clone(), v)).map_err(|_| ()),
                _ => Err(()),
            })
            .collect::<Result<BTreeMap<_, _>, ()>>()
            .map_err(|()| StateError::Malformed {
                key: pk.to_owned(),
                what: "a replica version is not a number",
            })?,
        None => BTreeMap::new(),
        Some(_) => {
            return Err(StateError::Malformed {
                key: pk.to_owned(),
                what: "the replicas attribute is not a map",
            });
        }
    };
    Ok(ParamState {
        source_version: num(item, "sv", pk)?,
        skip: text(item, "skip").map(str::to_owned),
        replicas,
    })
}

fn param_item(name: &str, state: &ParamState) -> HashMap<String, AttributeValue> {
    let mut item = key(format!("{PARAM}{name}"));
    item.insert("sv".into(), n(state.source_version));
    if let Some(skip) = &state.skip {
        item.insert("skip".into(), s(skip.clone()));
    }
    item.insert(
        "r".into(),
        AttributeValue::M(
            state
                .replicas
                .iter()
                .map(|(r, v)| (r.clone(), n(v)))
                .collect(),
        ),
    );
    item
}

async fn pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
}

impl Store {
    pub fn new(ddb: Client, table: impl Into<String>) -> Self {
        Self {
            ddb,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The state of each named parameter that has one.
    pub async fn params(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, ParamState>, StateError> {
        let mut out = HashMap::new();
        for chunk in names.chunks(GET_BATCH) {
            let mut keys: Vec<_> = chunk
                .iter()
                .map(|name| key(format!("{PARAM}{name}")))
                .collect();
            for attempt in 0.. {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|source| StateError::InvalidRequest {
                        what: "BatchGetItem",
                        source,
                    })?;
                let page = self
                    .ddb
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .aws("BatchGetItem")?;
                for item in page
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let pk = text(item, "pk").unwrap_or_default();
                    if let Some(name) = pk.strip_prefix(PARAM) {
                        out.insert(name.to_owned(), param_from(item, pk)?);
                    }
                }
                keys = page
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if keys.is_empty() {
                    break;
                }
                if attempt + 1 >= UNPROCESSED_ATTEMPTS {
                    return Err(StateError::Unprocessed {
                        operation: "BatchGetItem",
                        left: keys.len(),
                    });
                }
                pause(attempt).await;
            }
        }
        Ok(out)
    }

    /// Records the state of each parameter given.
    pub async fn put_params(&self, items: &[(String, ParamState)]) -> Result<(), StateError> {
        for chunk in items.chunks(WRITE_BATCH) {
            let mut writes = chunk
                .iter()
                .map(|(name, state)| {
                    let put = PutRequest::builder()
                        .set_item(Some(param_item(name, state)))
                        .build()
                        .map_err(|source| StateError::InvalidRequest {
                            what: "PutRequest",
                            source,
                        })?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, StateError>>()?;
            for attempt in 0.. {
                let out = self
                    .ddb
                    .batch_write_item()
                    .request_items(&self.table, writes)
                    .send()
                    .await
                    .aws("BatchWriteItem")?;
                writes = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if writes.is_empty() {
                    break;
                }
                if attempt + 1 >= UNPROCESSED_ATTEMPTS {
                    return Err(StateError::Unprocessed {
                        operation: "BatchWriteItem",
                        left: writes.len(),
                    });
                }
                pause(attempt).await;
            }
        }
        Ok(())
    }

    pub async fn forget_param(&self, name: &str) -> Result<(), StateError> {
        self.ddb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("{PARAM}{name}"))))
            .send()
            .await
            .aws("DeleteItem")?;
        Ok(())
    }

    /// One page of parameter states after `after` (a name), and the name to continue
    /// after, if there is more.
    pub async fn scan_params(
        &self,
        after: Option<&str>,
    ) -> Result<(Vec<(String, ParamState)>, Option<String>), StateError> {
        let out = self
            .ddb
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", s(PARAM))
            .set_exclusive_start_key(after.map(|a| key(format!("{PARAM}{a}"))))
            .limit(1000)
            .consistent_read(true)
            .send()
            .await
            .aws("Scan")?;
        let items = out
            .items()
            .iter()
            .filter_map(|item| {
                let pk = text(item, "pk")?;
                let name = pk.strip_prefix(PARAM)?;
                Some(param_from(item, pk).map(|st| (name.to_owned(), st)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key()
            .and_then(|k| text(k, "pk"))
            .and_then(|pk| pk.strip_prefix(PARAM))
            .map(str::to_owned);
        Ok((items, next))
    }

    /// The sync record, read consistently.
    pub async fn sync(&self) -> Result<Option<SyncRecord>, StateError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(SYNC.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .aws("GetItem")?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let malformed = |what| StateError::Malformed {
            key: SYNC.to_owned(),
            what,
        };
        Ok(Some(SyncRecord {
            sync_id: text(item, "sync_id")
                .ok_or_else(|| malformed("no sync_id"))?
                .to_owned(),
            lease: text(item, "lease")
                .ok_or_else(|| malformed("no lease"))?
                .to_owned(),
            phase: text(item, "phase")
                .and_then(Phase::parse)
                .ok_or_else(|| malformed("no known phase"))?,
            cursor: text(item, "cursor").map(str::to_owned),
            started: num(item, "started", SYNC)?,
            hand_overs: num(item, "hand_overs", SYNC)?.max(0) as u64,
            last_completed: item
                .contains_key("last_completed")
                .then(|| num(item, "last_completed", SYNC))
                .transpose()?,
        }))
    }

    /// Writes the sync record if its lease is still `expected` (`None`: if there is no
    /// record). False when another invocation holds the sync now.
    pub async fn put_sync(
        &self,
        record: &SyncRecord,
        expected: Option<&str>,
    ) -> Result<bool, StateError> {
        let mut item = key(SYNC.to_owned());
        item.insert("sync_id".into(), s(record.sync_id.clone()));
        item.insert("lease".into(), s(record.lease.clone()));
        item.insert("phase".into(), s(record.phase.as_str()));
        if let Some(c) = &record.cursor {
            item.insert("cursor".into(), s(c.clone()));
        }
        item.insert("started".into(), n(record.started));
        item.insert("hand_overs".into(), n(record.hand_overs));
        if let Some(t) = record.last_completed {
            item.insert("last_completed".into(), n(t));
        }
        let req = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(lease) => req
                .condition_expression("lease = :lease")
                .expression_attribute_values(":lease", s(lease)),
        };
        match req.send().await.aws("PutItem") {
            Ok(_) => Ok(true),
            Err(e) if e.code == "ConditionalCheckFailedException" => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_state_reads_back_as_written() {
        let st = ParamState {
            source_version: 7,
            skip: None,
            replicas: BTreeMap::from([("us-west-2".into(), 3), ("eu-west-1".into(), 1)]),
        };
        let item = param_item("/app/x", &st);
        assert_eq!(param_from(&item, "param#/app/x").unwrap(), st);
        let mut bad = item.clone();
        bad.insert("sv".into(), s("seven"));
        assert!(matches!(
            param_from(&bad, "param#/app/x"),
            Err(StateError::Malformed { .. })
        ));
    }
}
