//! Benchmark (not a test): a full sync of 1,000 parameters into two target regions on the
//! local moto server, then a run with nothing to do. Prints API call counts and times
//! (moto answers each call in milliseconds, so the debug build measures the same thing).
//!
//!     cargo run -p rotor-replicate --example replicate_bench [-- <parameters>]

use std::time::Instant;

use aws_sdk_ssm::types::ParameterType;
use futures::{StreamExt, stream};
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use rotor_core::config::Settings;
use rotor_replicate::{Config, Context, Report, handler};
use rotor_testkit::moto;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1000);
    let base = rotor_testkit::unique("bench");
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

    let started = Instant::now();
    let ssm = moto().ssm("us-east-1").await;
    stream::iter(0..count)
        .map(|i| {
            let (ssm, name) = (ssm.clone(), format!("{prefix}svc{}/key{i:05}", i % 20));
            async move {
                ssm.put_parameter()
                    .name(name)
                    .value(format!("value-{i}"))
                    .r#type(if i % 4 == 0 {
                        ParameterType::SecureString
                    } else {
                        ParameterType::String
                    })
                    .send()
                    .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    println!(
        "created {count} source parameters in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let event = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let first = run(&ctx, event.clone()).await?;
    print("full sync", &first);
    let second = run(&ctx, event).await?;
    print("no-change sync", &second);
    Ok(())
}

async fn run(ctx: &Context, event: serde_json::Value) -> anyhow::Result<Report> {
    handler(LambdaEvent::new(event, LambdaContext::default()), ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn print(label: &str, r: &Report) {
    let c = r.parameters.total;
    println!(
        "\n{label}: {:.1}s  copied {} updated {} deleted {} unchanged {} failed {}  write calls {}",
        r.duration_ms as f64 / 1000.0,
        c.copied,
        c.updated,
        c.deleted,
        c.unchanged,
        c.failed,
        r.write_calls
    );
    let total: u64 = r.api_calls.values().sum();
    for (op, n) in &r.api_calls {
        println!("  {op:<26} {n:>6}");
    }
    println!("  {:<26} {total:>6}", "total");
}
