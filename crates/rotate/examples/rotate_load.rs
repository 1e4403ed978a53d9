//! Load run (not a test): one warm rotor-rotate instance (one process, one `Context`, one
//! set of SDK clients, the JSON logging subscriber as on Lambda) rotates many secrets back
//! to back, each through its four steps, against moto and a local PostgreSQL. Prints the
//! process's memory after each batch of rotations (the resident set, and its peak during
//! the batch) so growth from batch to batch shows, and the p50 / p99 / max of each step.
//!
//! ```sh
//! cargo run --release -p rotor-rotate --example rotate_load -- [rotations] [batch]
//! ```
//!
//! Defaults: 500 rotations in batches of 50. `scripts/load.sh` runs it with the other
//! functions' load runs.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use futures::{StreamExt, stream};
use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::measure::{Memory, StepTimes, percentiles, record};
use rotor_testkit::{moto, postgres, random_hex, unique};
use serde_json::json;

const REGION: &str = "us-east-1";
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rotations: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500);
    let batch: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50)
        .max(1);

    // What a function's main does: the logging subscriber (JSON lines, here into a sink),
    // then the context, once.
    let log_settings = rotor_core::logging::Settings::from_lookup(|k| {
        (k == "AWS_LAMBDA_LOG_FORMAT").then(|| "JSON".to_owned())
    });
    tracing::subscriber::set_global_default(rotor_core::logging::subscriber(
        std::io::sink,
        &log_settings,
    ))?;
    let sm = moto().secrets(REGION).await;
    let ctx = support::local_context(REGION).await?;

    let started = Instant::now();
    let arns = secrets(&sm, rotations).await?;
    println!(
        "set up {rotations} roles and secrets in {:.1}s (not measured below)",
        started.elapsed().as_secs_f64()
    );

    let mut step_times = StepTimes::new();
    let mut whole = Vec::new();
    let mut series = Vec::new();
    let run_started = Instant::now();
    for (i, arn) in arns.iter().enumerate() {
        if i % batch == 0 {
            Memory::reset_peak();
        }
        let token = rotor_testkit::rotation::begin(&sm, arn).await;
        let rotation_started = Instant::now();
        for step in STEPS {
            let event = json!({"Step": step, "SecretId": arn, "ClientRequestToken": token});
            let mut lambda_ctx = lambda_runtime::Context::default();
            lambda_ctx.request_id = random_hex(8);
            lambda_ctx.deadline = (SystemTime::now() + Duration::from_secs(60))
                .duration_since(UNIX_EPOCH)?
                .as_millis() as u64;
            let step_started = Instant::now();
            rotor_rotate::handler(lambda_runtime::LambdaEvent::new(event, lambda_ctx), &ctx)
                .await
                .map_err(|e| anyhow::anyhow!("rotation {i}, {step}: {e}"))?;
            record(&mut step_times, step, step_started);
        }
        whole.push(rotation_started.elapsed());
        rotor_testkit::rotation::end(&sm, arn, &token).await;
        if (i + 1) % batch == 0 || i + 1 == arns.len() {
            series.push((i + 1, Memory::now()));
        }
    }
    let elapsed = run_started.elapsed();

    println!(
        "\n{rotations} rotations by one warm instance in {:.1}s ({:.1} rotations/s, \
         Secrets Manager's own calls around each rotation included)",
        elapsed.as_secs_f64(),
        rotations as f64 / elapsed.as_secs_f64()
    );
    println!("\nmemory after each batch of {batch} rotations:");
    print_series(&series);
    println!("\ntime per step (the handler called in this process):");
    for step in STEPS {
        let times = step_times.get_mut(step).context("step timed")?;
        println!("  {step:<14} {}", percentiles(times));
    }
    println!("  {:<14} {}", "four steps", percentiles(&mut whole));
    Ok(())
}

/// `count` login roles, each with a credentials secret, on one superuser connection.
async fn secrets(sm: &aws_sdk_secretsmanager::Client, count: usize) -> anyhow::Result<Vec<String>> {
    let pg = postgres();
    let admin = pg.admin().await;
    let run = random_hex(3);
    let mut users = Vec::new();
    for i in 0..count {
        let user = format!("load_{run}_{i}");
        let password = SecretString::from(random_hex(16));
        rotor_testkit::create_role_on(&admin, &user, &password).await?;
        users.push((user, password));
    }
    let prefix = unique("load/db");
    stream::iter(users.into_iter().enumerate())
        .map(|(i, (user, password))| {
            let secret = json!({"engine": "postgres", "host": pg.host, "port": pg.port,
                                "username": user, "password": password.expose_secret(),
                                "dbname": "postgres"});
            let request = sm
                .create_secret()
                .name(format!("{prefix}/{i:04}"))
                .secret_string(secret.to_string());
            async move { request.send().await }
        })
        .buffered(16)
        .map(|out| out?.arn.context("no ARN"))
        .collect::<Vec<anyhow::Result<String>>>()
        .await
        .into_iter()
        .collect()
}

/// The series, then the growth from the end of the first batch (which warms the
/// connectors, pools and caches) to the end of the last.
fn print_series(series: &[(usize, Memory)]) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    for (done, m) in series {
        println!(
            "  after {done:>5}: RSS {:>6.1} MiB ({:>6} KiB)   peak during the batch {:>6.1} MiB ({:>6} KiB)",
            mib(m.rss_kib),
            m.rss_kib,
            mib(m.peak_kib),
            m.peak_kib
        );
    }
    if let (Some((_, first)), Some((_, last))) = (series.first(), series.last()) {
        println!(
            "  growth after the first batch: RSS {:+} KiB, batch peak {:+} KiB",
            last.rss_kib as i64 - first.rss_kib as i64,
            last.peak_kib as i64 - first.peak_kib as i64
        );
    }
}
