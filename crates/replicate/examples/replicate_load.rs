//! Load run (not a test): one warm rotor-replicate instance over the benchmark's set (1,000
//! parameters into two target regions on the local moto server), driven only through its
//! public handler: a first full sync, then repeated no-change syncs, then one-parameter
//! CloudTrail events after source changes. Prints the process's memory after each run
//! (or batch of events) and the p50 / p99 of each kind of invocation.
//!
//! ```sh
//! cargo run --release -p rotor-replicate --example replicate_load -- [parameters] [syncs] [events]
//! ```
//!
//! Defaults: 1,000 parameters, 10 no-change syncs, 200 events (memory every 50).

mod support;

use std::time::{Duration, Instant};

use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use rotor_replicate::{Context, handler};
use rotor_testkit::measure::{Memory, percentiles};
use rotor_testkit::moto;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let syncs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let events: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let base = rotor_testkit::unique("load");
    let prefix = format!("/{base}/");
    let config = support::config(&prefix, &[])?;
    let ctx = Context::new(&moto().sdk_config("us-east-1").await, config);
    let ssm = moto().ssm("us-east-1").await;
    let name = |i: usize| format!("{prefix}svc{}/key{i:05}", i % 20);

    let started = Instant::now();
    moto().put_parameters("us-east-1", count, name).await?;
    println!(
        "created {count} source parameters in {:.1}s (not measured below)",
        started.elapsed().as_secs_f64()
    );

    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let first = timed(&ctx, schedule.clone()).await?;
    println!("\nmemory after each invocation (RSS, and its peak during the invocation):");
    println!(
        "  first full sync ({:.1}s): {}",
        first.0.as_secs_f64(),
        first.1
    );

    let mut no_change = Vec::new();
    for run in 1..=syncs {
        let (took, memory) = timed(&ctx, schedule.clone()).await?;
        println!(
            "  no-change sync {run:>3} ({:.1}s): {memory}",
            took.as_secs_f64()
        );
        no_change.push(took);
    }

    let mut one_parameter = Vec::new();
    let batch = 50;
    for i in 0..events {
        if i % batch == 0 {
            Memory::reset_peak();
        }
        let changed = name(i * 7 % count);
        ssm.put_parameter()
            .name(&changed)
            .value(format!("changed-{i}"))
            .overwrite(true)
            .send()
            .await?;
        let started = Instant::now();
        run(&ctx, put_parameter_event(&changed)).await?;
        one_parameter.push(started.elapsed());
        if (i + 1) % batch == 0 || i + 1 == events {
            println!(
                "  after {:>4} one-parameter events: {}",
                i + 1,
                Memory::now()
            );
        }
    }

    println!("\ntime per invocation:");
    println!(
        "  {:<22} {}",
        "no-change full sync",
        percentiles(&mut no_change)
    );
    println!(
        "  {:<22} {}",
        "one-parameter event",
        percentiles(&mut one_parameter)
    );
    Ok(())
}

/// What EventBridge delivers for a PutParameter call in the source region.
fn put_parameter_event(name: &str) -> Value {
    json!({
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ssm",
        "region": "us-east-1",
        "detail": {
            "eventSource": "ssm.amazonaws.com",
            "eventName": "PutParameter",
            "awsRegion": "us-east-1",
            "requestParameters": {"name": name, "value": "HIDDEN_DUE_TO_SECURITY_REASONS", "overwrite": true},
            "responseElements": {"version": 2, "tier": "Standard"},
            "userIdentity": {"sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/someone"}}},
        }
    })
}

async fn run(ctx: &Context, event: Value) -> anyhow::Result<()> {
    handler(LambdaEvent::new(event, LambdaContext::default()), ctx)
        .await
        .map(drop)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// One invocation with the peak reset before it: its time and the memory after it.
async fn timed(ctx: &Context, event: Value) -> anyhow::Result<(Duration, Memory)> {
    Memory::reset_peak();
    let started = Instant::now();
    run(ctx, event).await?;
    Ok((started.elapsed(), Memory::now()))
}
