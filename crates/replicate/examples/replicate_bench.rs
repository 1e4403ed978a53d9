//! Benchmark (not a test): a full sync of many parameters into two target regions on the
//! local moto server, with the state table and the hand-over queue, then a sync with
//! nothing to do. Prints API calls by operation, calls per parameter per region, and
//! times (moto answers each call in milliseconds, so the debug build measures the same
//! thing).
//!
//!     cargo run -p rotor-replicate --example replicate_bench [-- <parameters> [<seconds>]]
//!
//! `<seconds>` (default 60) is each invocation's time: the first sync is handed on through
//! the queue, as the template's event source mapping would, until it completes.
//!
//! Stock moto's DescribeParameters returns pages of 10 whatever MaxResults says; AWS's hold
//! up to 50. The figures are printed as measured, and with the page-bound calls scaled to
//! AWS's page size. With `ROTOR_MOTO_AWS_PAGES=1` the test kit starts moto through its
//! launcher that pages DescribeParameters by MaxResults (50 here, as on AWS) and answers
//! each page in time proportional to the page: then nothing is scaled (the two columns
//! are equal) and 100,000 parameters run in reasonable time:
//!
//!     ROTOR_MOTO_AWS_PAGES=1 cargo run --release -p rotor-replicate --example replicate_bench -- 100000 300
//!
//! moto's memory (resident set and peak) is printed after each sync.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use rotor_replicate::{Context, Report, handler};
use rotor_testkit::measure::Memory;
use rotor_testkit::moto;
use serde_json::{Value, json};

const REGIONS: u64 = 2;
/// Page sizes of DescribeParameters: stock moto's, and AWS's largest (which the sync asks
/// for, and which moto started with `ROTOR_MOTO_AWS_PAGES=1` returns).
const STOCK_MOTO_PAGE: f64 = 10.0;
const AWS_PAGE: f64 = 50.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(60);
    let base = rotor_testkit::unique("bench");
    let prefix = format!("/{base}/");
    let table = format!("{base}-state");
    let sdk = moto().sdk_config("us-east-1").await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await?;
    let sqs = moto().sqs("us-east-1").await;
    let queue = sqs
        .create_queue()
        .queue_name(format!("{base}-handover"))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let config = support::config(
        &prefix,
        &[
            ("STATE_TABLE", table.as_str()),
            ("HANDOVER_QUEUE_URL", queue.as_str()),
        ],
    )?;
    let ctx = Context::new(&sdk, config);

    let started = Instant::now();
    moto()
        .put_parameters("us-east-1", count, |i| {
            format!("{prefix}svc{}/key{i:06}", i % 20)
        })
        .await?;
    println!(
        "created {count} source parameters in {:.1}s; each invocation has {seconds}s",
        started.elapsed().as_secs_f64()
    );
    let page = if moto().aws_pages {
        println!(
            "moto pages DescribeParameters by MaxResults ({AWS_PAGE} here, as AWS does): \
             the \"AWS p·r\" column is the measured one, nothing is scaled"
        );
        AWS_PAGE
    } else {
        println!(
            "stock moto pages DescribeParameters by {STOCK_MOTO_PAGE} whatever MaxResults says: \
             the \"AWS p·r\" column scales its calls to AWS's {AWS_PAGE} a page \
             (set ROTOR_MOTO_AWS_PAGES=1 to measure them instead)"
        );
        STOCK_MOTO_PAGE
    };

    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let budget = Duration::from_secs(seconds);
    let first = sync(&ctx, &sqs, &queue, &schedule, budget).await?;
    print("first full sync", &first, count as u64, page);
    let second = sync(&ctx, &sqs, &queue, &schedule, budget).await?;
    print("no-change sync", &second, count as u64, page);
    Ok(())
}

/// One full sync, handed on through the queue (as the event source mapping would) until
/// it completes.
struct Sync {
    wall: Duration,
    parts: Vec<Report>,
}

async fn sync(
    ctx: &Context,
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    schedule: &Value,
    budget: Duration,
) -> anyhow::Result<Sync> {
    let started = Instant::now();
    let mut parts = vec![run(ctx, schedule.clone(), budget).await?];
    while !parts.last().is_some_and(|r| r.complete) {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(1)
            .send()
            .await?;
        let Some(message) = out.messages.unwrap_or_default().into_iter().next() else {
            anyhow::bail!("the sync stopped without handing on");
        };
        sqs.delete_message()
            .queue_url(queue)
            .receipt_handle(message.receipt_handle.unwrap_or_default())
            .send()
            .await?;
        let event = json!({"Records": [{"eventSource": "aws:sqs", "body": message.body.unwrap_or_default()}]});
        parts.push(run(ctx, event, budget).await?);
    }
    Ok(Sync {
        wall: started.elapsed(),
        parts,
    })
}

fn print(label: &str, sync: &Sync, params: u64, page: f64) {
    let mut calls = BTreeMap::new();
    let (mut copied, mut updated, mut unchanged, mut failed, mut writes) = (0, 0, 0, 0, 0);
    for r in &sync.parts {
        for (op, n) in &r.api_calls {
            *calls.entry(op.clone()).or_insert(0) += n;
        }
        let c = r.parameters.total;
        copied += c.copied;
        updated += c.updated;
        unchanged += c.unchanged;
        failed += c.failed;
        writes += r.write_calls;
    }
    println!(
        "\n{label}: {:.1}s in {} invocation(s) ({} hand-over(s)); copied {copied} updated {updated} \
         unchanged {unchanged} failed {failed}; write calls {writes}",
        sync.wall.as_secs_f64(),
        sync.parts.len(),
        sync.parts.len() - 1
    );
    print_calls(&calls, params, page);
    println!("  moto: {}", Memory::of(moto().pid));
}

async fn run(ctx: &Context, event: Value, budget: Duration) -> anyhow::Result<Report> {
    let mut lambda = LambdaContext::default();
    lambda.deadline = (SystemTime::now() + budget)
        .duration_since(UNIX_EPOCH)?
        .as_millis() as u64;
    handler(LambdaEvent::new(event, lambda), ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Calls by operation, per parameter per target region, as measured on moto and with
/// DescribeParameters' pages (`page` items on this moto) at AWS's size.
fn print_calls(calls: &BTreeMap<String, u64>, params: u64, page: f64) {
    let per = |n: f64| n / (params * REGIONS) as f64;
    let aws = |op: &str, n: u64| {
        if op == "DescribeParameters" {
            n as f64 * page / AWS_PAGE
        } else {
            n as f64
        }
    };
    println!(
        "  {:<22} {:>8} {:>10} {:>10}",
        "operation", "calls", "per p·r", "AWS p·r"
    );
    let (mut total, mut total_aws) = (0u64, 0f64);
    for (op, n) in calls {
        total += n;
        total_aws += aws(op, *n);
        println!(
            "  {op:<22} {n:>8} {:>10.4} {:>10.4}",
            per(*n as f64),
            per(aws(op, *n))
        );
    }
    println!(
        "  {:<22} {total:>8} {:>10.4} {:>10.4}",
        "total",
        per(total as f64),
        per(total_aws)
    );
}
