//! Shared set-up for the replication tests: a context against moto with source us-east-1
//! and targets us-west-2 and eu-west-1, scoped to a prefix no other test uses.

#![allow(dead_code)]

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType, ResourceTypeForTagging, Tag};
use futures::{StreamExt, stream};
use lambda_runtime::LambdaEvent;
use rotor_core::config::Settings;
use rotor_replicate::{Config, Context, ReplicateError, Report, handler};
use rotor_testkit::moto;
use serde_json::Value;

pub const SOURCE: &str = "us-east-1";
pub const WEST: &str = "us-west-2";
pub const EU: &str = "eu-west-1";
pub const TARGETS: [&str; 2] = [WEST, EU];

/// A test's own names: parameters under `/<base>/`, secrets under `<base>/`.
pub struct Names {
    pub base: String,
}

impl Names {
    pub fn new() -> Self {
        rotor_testkit::logs::capture();
        Self {
            base: rotor_testkit::unique("rep"),
        }
    }

    pub fn param(&self, leaf: &str) -> String {
        format!("/{}/{leaf}", self.base)
    }

    pub fn secret(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.base)
    }

    pub fn param_prefix(&self) -> String {
        format!("/{}/", self.base)
    }

    pub fn secret_prefix(&self) -> String {
        format!("{}/", self.base)
    }

    /// This test's state table (created on first use) and hand-over queue URL.
    pub async fn state(&self) -> (String, String) {
        let table = format!("{}-state", self.base);
        let ddb = dynamodb(SOURCE).await;
        if ddb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .is_err()
        {
            create_state_table(&table).await;
        }
        let queue = moto()
            .sqs(SOURCE)
            .await
            .create_queue()
            .queue_name(format!("{}-handover", self.base))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue URL");
        (table, queue)
    }

    /// A context scoped to this test's names, with its own state table and hand-over
    /// queue; `extra` settings come first and win.
    pub async fn context(&self, extra: &[(&str, &str)]) -> Context {
        let (table, queue) = self.state().await;
        let mut pairs: Vec<(&str, &str)> = extra.to_vec();
        pairs.extend([
            ("STATE_TABLE", table.as_str()),
            ("HANDOVER_QUEUE_URL", queue.as_str()),
        ]);
        self.stateless_context(&pairs).await
    }

    /// A context with no state table (unless `extra` names one).
    pub async fn stateless_context(&self, extra: &[(&str, &str)]) -> Context {
        let (pp, sp) = (self.param_prefix(), self.secret_prefix());
        let mut pairs: Vec<(&str, &str)> = extra.to_vec();
        pairs.extend([
            ("SOURCE_REGION", SOURCE),
            ("TARGET_REGIONS", "us-west-2,eu-west-1"),
            ("PARAMETER_INCLUDE_PREFIXES", pp.as_str()),
            ("SECRET_INCLUDE_PREFIXES", sp.as_str()),
        ]);
        let config = Config::from_settings(&Settings::from_pairs(&pairs)).expect("valid settings");
        Context::new(&moto().sdk_config(SOURCE).await, config)
    }
}

pub async fn invoke(ctx: &Context, event: Value) -> Result<Report, ReplicateError> {
    handler(
        LambdaEvent::new(event, lambda_runtime::Context::default()),
        ctx,
    )
    .await
}

/// The report of a run that must succeed (the error text holds names and causes only).
pub async fn invoke_ok(ctx: &Context, event: Value) -> Report {
    match invoke(ctx, event).await {
        Ok(r) => r,
        Err(e) => panic!("the run failed: {e}"),
    }
}

pub fn fixture(name: &str) -> Value {
    let path = rotor_testkit::workspace_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

pub fn full_sync() -> Value {
    fixture("replicate-full-sync.json")
}

/// A CloudTrail fixture pointed at other parameter names.
pub fn parameter_event(file: &str, names: &[&str]) -> Value {
    let mut e = fixture(file);
    let req = &mut e["detail"]["requestParameters"];
    if req.get("names").is_some() {
        req["names"] = names.iter().map(|n| Value::from(*n)).collect();
    } else if req.get("resourceId").is_some() {
        req["resourceId"] = names[0].into();
    } else {
        req["name"] = names[0].into();
    }
    e
}

pub fn secret_event(file: &str, name: &str, arn: Option<&str>) -> Value {
    let mut e = fixture(file);
    e["detail"]["requestParameters"]["name"] = name.into();
    if let Some(resp) = e["detail"]["responseElements"].as_object_mut() {
        resp.insert("name".into(), name.into());
        match arn {
            Some(a) => resp.insert("arn".into(), a.into()),
            None => resp.remove("arn"),
        };
    }
    e
}

pub async fn put(region: &str, name: &str, value: &str, kind: ParameterType) {
    moto()
        .ssm(region)
        .await
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .send()
        .await
        .expect("PutParameter");
}

pub async fn put_many(region: &str, params: Vec<(String, String)>) {
    let ssm = moto().ssm(region).await;
    stream::iter(params)
        .map(|(n, v)| {
            let ssm = ssm.clone();
            async move {
                ssm.put_parameter()
                    .name(n)
                    .value(v)
                    .r#type(ParameterType::String)
                    .tags(Tag::builder().key("team").value("orders").build().unwrap())
                    .send()
                    .await
                    .expect("PutParameter");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// Gives each of `params` (name, value) a new value in `region`: a new version.
pub async fn change_values(region: &str, params: &[(String, String)]) {
    let ssm = moto().ssm(region).await;
    for (name, _) in params {
        ssm.put_parameter()
            .name(name)
            .value(format!("changed-{}", rotor_testkit::random_hex(4)))
            .overwrite(true)
            .send()
            .await
            .expect("PutParameter");
    }
}

pub async fn tag(region: &str, name: &str, key: &str, value: &str) {
    moto()
        .ssm(region)
        .await
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .tags(Tag::builder().key(key).value(value).build().unwrap())
        .send()
        .await
        .expect("AddTagsToResource");
}

/// A parameter as read back from a region (value decrypted), or `None`.
pub struct Read {
    pub value: String,
    pub kind: String,
    pub description: String,
    pub tier: String,
    pub key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

pub async fn read(region: &str, name: &str) -> Option<Read> {
    let ssm = moto().ssm(region).await;
    let p = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => out.parameter.expect("parameter"),
        Err(_) => return None,
    };
    let meta = ssm
        .describe_parameters()
        .parameter_filters(
            ParameterStringFilter::builder()
                .key("Name")
                .option("Equals")
                .values(name)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("DescribeParameters")
        .parameters
        .unwrap_or_default()
        .into_iter()
        .next()
        .expect("described");
    let tags = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .expect("ListTagsForResource")
        .tag_list
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    Some(Read {
        value: p.value.unwrap_or_default(),
        kind: p.r#type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        description: meta.description.unwrap_or_default(),
        tier: meta.tier.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        key_id: meta.key_id,
        tags,
    })
}

pub async fn exists(region: &str, name: &str) -> bool {
    read(region, name).await.is_some()
}

/// A secret in the source region already replicated (by someone else) to `regions`.
pub async fn replicated_secret(name: &str, regions: &[&str]) {
    let sm = moto().secrets(SOURCE).await;
    sm.create_secret()
        .name(name)
        .secret_string("x")
        .send()
        .await
        .expect("CreateSecret");
    let mut replicate = sm.replicate_secret_to_regions().secret_id(name);
    for region in regions {
        replicate = replicate.add_replica_regions(
            aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                .region(*region)
                .build(),
        );
    }
    replicate.send().await.expect("ReplicateSecretToRegions");
}

pub async fn dynamodb(region: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&moto().sdk_config(region).await)
}

/// The table the template creates: one string key, `pk`.
pub async fn create_state_table(name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    dynamodb(SOURCE)
        .await
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateTable");
}

/// A Lambda context whose deadline is `budget` from now.
pub fn lambda_with(budget: std::time::Duration) -> lambda_runtime::Context {
    let mut lambda = lambda_runtime::Context::default();
    lambda.deadline = (std::time::SystemTime::now() + budget)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    lambda
}

pub async fn invoke_within(
    ctx: &Context,
    event: Value,
    budget: std::time::Duration,
) -> Result<Report, ReplicateError> {
    handler(LambdaEvent::new(event, lambda_with(budget)), ctx).await
}

/// The hand-over messages waiting on a queue, as the SQS event that delivers each (the
/// messages are deleted, as the event source mapping does after a successful invocation).
pub async fn handover_events(queue_url: &str) -> Vec<Value> {
    let bodies = moto().drain_queue(SOURCE, queue_url).await;
    bodies
        .into_iter()
        .enumerate()
        .map(|(n, body)| {
            serde_json::json!({"Records": [{
                "messageId": format!("handover-{n}"),
                "receiptHandle": "r",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:handover",
                "awsRegion": "us-east-1"
            }]})
        })
        .collect()
}

/// The parameter states the table holds (name → source version).
pub async fn state_items(table: &str) -> BTreeMap<String, i64> {
    let out = dynamodb(SOURCE)
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("Scan");
    out.items
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            let pk = item
                .get("pk")?
                .as_s()
                .ok()?
                .strip_prefix("param#")?
                .to_owned();
            let sv = item.get("sv")?.as_n().ok()?.parse().ok()?;
            Some((pk, sv))
        })
        .collect()
}
