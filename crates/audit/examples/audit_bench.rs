//! Benchmark (not a test): audits 2,000 secrets in a local moto server and prints the
//! AWS calls made, the time taken and the peak memory of the audit.
//!
//! ```text
//! cargo run -p rotor-audit --example audit_bench --release
//! BENCH_SECRETS=10000 cargo run -p rotor-audit --example audit_bench --release
//! ```
//!
//! moto answers far faster than AWS but does more work per ListSecrets page (it filters
//! every secret in the region each time), so the time says little about AWS; the call
//! counts are what carry over: about one ListSecrets call per 100 secrets.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, Utc};
use futures::StreamExt;
use rotor_audit::{Config, Context};
use rotor_core::config::Settings;
use rotor_testkit::measure::Memory;
use rotor_testkit::{moto, unique};

const REGION: &str = "us-east-1";
const CMK: &str = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("BENCH_SECRETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let sm = moto().secrets(REGION).await;
    let prefix = format!("{}/", unique("bench"));

    let started = Instant::now();
    futures::stream::iter(0..count)
        .for_each_concurrent(32, |i| {
            let sm = &sm;
            let prefix = &prefix;
            async move {
                let mut req = sm
                    .create_secret()
                    .name(format!("{prefix}app{}/secret-{i:05}", i % 10))
                    .secret_string("bench");
                // A mix: most on a customer key, every tenth on the AWS-managed one.
                if i % 10 != 0 {
                    req = req.kms_key_id(CMK);
                }
                req.send().await.expect("CreateSecret");
            }
        })
        .await;
    println!("created {count} secrets in {:.1?}", started.elapsed());

    let config = Config::from_settings(&Settings::from_pairs(&[
        ("PREFIXES", prefix.as_str()),
        ("REPORT", "findings"),
    ]))?;
    let sdk = moto().sdk_config(REGION).await;
    let sink: Arc<Mutex<Vec<u8>>> = Arc::default();
    let ctx = Context::new(&sdk, config).with_metrics_out(sink);
    let event = lambda_runtime::LambdaEvent::new(
        serde_json::json!({ "time": (Utc::now() + Duration::days(100)).to_rfc3339() }),
        lambda_runtime::Context::default(),
    );

    Memory::reset_peak();
    let started = Instant::now();
    let outcome = rotor_audit::handler(event, &ctx).await?;
    let elapsed = started.elapsed();

    println!(
        "audited {} secrets in {:.2?} ({:.0} secrets/s)",
        outcome.secrets_audited,
        elapsed,
        outcome.secrets_audited as f64 / elapsed.as_secs_f64()
    );
    println!("findings: {}", outcome.findings.len());
    for (code, n) in &outcome.counts {
        println!("  {code:<24}{n:>7}");
    }
    println!("AWS calls:");
    let total: u64 = outcome.calls.values().sum();
    for (op, n) in &outcome.calls {
        println!("  {op:<24}{n:>7}");
    }
    println!(
        "  {:<24}{total:>7}  ({:.1} secrets per call)",
        "total",
        outcome.secrets_audited as f64 / total.max(1) as f64
    );
    println!(
        "note: moto never records LastAccessedDate, so every secret here looks unused and \
         costs one DescribeSecret (for its replicas' access); on AWS only the secrets this \
         region already shows unused do"
    );
    println!(
        "peak resident memory of this process during the audit: {:.1} MiB",
        Memory::now().peak_kib as f64 / 1024.0
    );
    Ok(())
}
