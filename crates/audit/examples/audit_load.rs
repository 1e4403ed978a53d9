//! Load run (not a test): one warm rotor-audit instance audits the benchmark's set (2,000
//! secrets on the local moto server) again and again. Prints the process's memory after
//! each audit (the resident set, and its peak during the audit) so growth from run to run
//! shows, and the p50 / p99 of an audit.
//!
//! ```sh
//! cargo run --release -p rotor-audit --example audit_load -- [secrets] [audits]
//! ```
//!
//! Defaults: 2,000 secrets, 10 audits.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use rotor_audit::{Config, Context};
use rotor_core::config::Settings;
use rotor_testkit::measure::{Memory, percentiles};
use rotor_testkit::{moto, unique};

const REGION: &str = "us-east-1";
const CMK: &str = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2_000);
    let audits: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let sm = moto().secrets(REGION).await;
    let prefix = format!("{}/", unique("load"));

    let started = Instant::now();
    futures::stream::iter(0..count)
        .for_each_concurrent(32, |i| {
            let mut request = sm
                .create_secret()
                .name(format!("{prefix}app{}/secret-{i:05}", i % 10))
                .secret_string("load");
            // A mix, as in the benchmark: most on a customer key, every tenth not.
            if i % 10 != 0 {
                request = request.kms_key_id(CMK);
            }
            async move {
                request.send().await.expect("CreateSecret");
            }
        })
        .await;
    println!(
        "created {count} secrets in {:.1}s (not measured below)",
        started.elapsed().as_secs_f64()
    );

    let config = Config::from_settings(&Settings::from_pairs(&[
        ("PREFIXES", prefix.as_str()),
        ("REPORT", "findings"),
    ]))?;
    // The metric lines go to a buffer that is emptied after each audit, as stdout would be.
    let sink: Arc<Mutex<Vec<u8>>> = Arc::default();
    let ctx = Context::new(&moto().sdk_config(REGION).await, config).with_metrics_out(sink.clone());

    println!("\nmemory after each audit (RSS, and its peak during the audit):");
    let mut times = Vec::new();
    for run in 1..=audits {
        let event = lambda_runtime::LambdaEvent::new(
            serde_json::json!({ "time": (chrono::Utc::now() + chrono::Duration::days(100)).to_rfc3339() }),
            lambda_runtime::Context::default(),
        );
        Memory::reset_peak();
        let started = Instant::now();
        let outcome = rotor_audit::handler(event, &ctx).await?;
        let took = started.elapsed();
        drop(outcome);
        sink.lock().expect("metrics buffer").clear();
        let Memory {
            rss_kib: rss,
            peak_kib: peak,
        } = Memory::now();
        println!(
            "  audit {run:>3} ({:.2}s): RSS {:>6.1} MiB, peak {:>6.1} MiB",
            took.as_secs_f64(),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        times.push(took);
    }
    println!(
        "\ntime per audit of {count} secrets: {}",
        percentiles(&mut times)
    );
    Ok(())
}
