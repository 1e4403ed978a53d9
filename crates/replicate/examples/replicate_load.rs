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

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use futures::{StreamExt, stream};
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use rotor_core::config::Settings;
use rotor_replicate::{Config, Context, handler};
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
    let pairs = [
        ("SOURCE_REGION", "us-east-1"),
        ("TARGET_REGIONS", "us-west-2,eu-west-1"),
        ("PARAMETER_INCLUDE_PREFIXES", prefix.as_str()),
        ("SECRET_INCLUDE_PREFIXES", prefix.as_str()),
        ("MAX_CONCURRENCY", "16"),
    ];
    let config = Config::from_settings(&Settings::from_pairs(&pairs))?;
    let ctx = Context::new(&moto().sdk_config("us-east-1").await, config);
    let ssm = moto().ssm("us-east-1").await;
    let name = |i: usize| format!("{prefix}svc{}/key{i:05}", i % 20);

    let started = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let request = ssm
                .put_parameter()
                .name(name(i))
                .value(format!("value-{i}"))
                .r#type(if i % 4 == 0 {
                    ParameterType::SecureString
                } else {
                    ParameterType::String
                });
            async move { request.send().await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
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
            reset_peak_memory();
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
    reset_peak_memory();
    let started = Instant::now();
    run(ctx, event).await?;
    Ok((started.elapsed(), Memory::now()))
}

/// `p50 / p99 / max` of a sample, in milliseconds.
fn percentiles(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "no runs".to_owned();
    }
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:>8.1} ms   p99 {:>8.1} ms   max {:>8.1} ms   ({} runs)",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

/// The resident set now and its peak since the last reset (`/proc/self/status`).
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

impl Memory {
    fn now() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RSS {:>6.1} MiB, peak {:>6.1} MiB",
            self.rss_kib as f64 / 1024.0,
            self.peak_kib as f64 / 1024.0
        )
    }
}

/// Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM) to the current RSS.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
