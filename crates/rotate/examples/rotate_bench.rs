//! Benchmark (not a test): the `rotor-rotate` binary built with the same profile as this
//! example, under cargo-lambda's emulator against moto and a local PostgreSQL. Prints the
//! binary's size, its start-up time to the first answered invocation, the time of a full
//! four-step rotation (several rounds), and the function's peak memory (RSS).
//!
//! ```sh
//! cargo build --release -p rotor-rotate --bin rotor-rotate
//! cargo run --release -p rotor-rotate --example rotate_bench -- [rounds]
//! ```
//!
//! The time of a rotation includes moto's (Python) answers and three SCRAM logins, each
//! 4096 PBKDF2 rounds on both sides; PostgreSQL and moto run on the same machine.

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::lambda::{self, built_binary, moto_env};
use rotor_testkit::{moto, postgres, random_hex, unique};
use serde_json::json;

const REGION: &str = "us-east-1";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()
        .context("rounds must be a whole number")?
        .unwrap_or(5);
    let binary = built_binary("rotor-rotate");
    let size = std::fs::metadata(&binary)?.len();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("binary:            {} ({profile})", binary.display());
    println!(
        "binary size:       {:.1} MiB ({size} bytes)",
        size as f64 / 1048576.0
    );

    let pg = postgres();
    let sm = moto().secrets(REGION).await;
    let mut env = moto_env(REGION);
    env.push((
        "PG_SSLROOTCERT".into(),
        pg.ca_file.to_string_lossy().into_owned(),
    ));

    // Start-up: from spawning the process to its first answer (an invalid event, which
    // the function refuses without calling AWS or the database).
    let mut startups = Vec::new();
    for _ in 0..rounds {
        let function = lambda::start(&binary, &env);
        let spawned = Instant::now();
        let answer = function.invoke(&json!({"Step": "warmUp"})).await;
        startups.push(spawned.elapsed());
        ensure!(answer.is_err(), "an invalid event must be refused");
    }

    let function = lambda::start(&binary, &env);
    let mut rotations = Vec::new();
    for _ in 0..rounds {
        let user = format!("bench_{}", random_hex(4));
        let password = SecretString::from(random_hex(16));
        pg.create_role(&user, &password).await;
        let arn = sm
            .create_secret()
            .name(unique("bench/db"))
            .secret_string(
                json!({"engine": "postgres", "host": pg.host, "port": pg.port,
                       "username": user, "password": password.expose_secret(),
                       "dbname": "postgres"})
                .to_string(),
            )
            .send()
            .await?
            .arn
            .context("no ARN")?;
        let token = rotor_testkit::rotation::begin(&sm, &arn).await;
        let started = Instant::now();
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            let event = json!({"Step": step, "SecretId": arn, "ClientRequestToken": token});
            function
                .invoke(&event)
                .await
                .map_err(|e| anyhow::anyhow!("{step}: {e}"))?;
        }
        rotations.push(started.elapsed());
    }
    let peak_kib = peak_rss_kib(function.pid());

    println!("start-up to first answer: {}", summary(&mut startups));
    println!("full four-step rotation:  {}", summary(&mut rotations));
    match peak_kib {
        Some(kib) => println!(
            "peak memory (RSS):        {:.1} MiB after {rounds} rotations",
            kib as f64 / 1024.0
        ),
        None => println!("peak memory (RSS):        unavailable (no /proc)"),
    }
    Ok(())
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "min {:.0} ms, median {:.0} ms, max {:.0} ms ({} runs)",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

/// `VmHWM` (the peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
