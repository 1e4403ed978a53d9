//! Benchmark (not a test): the `rotor-rotate` binary built with the same profile as this
//! example, under cargo-lambda's emulator against moto and a local PostgreSQL. Prints the
//! binary's size, its start-up time to the first answered invocation, the time of a full
//! four-step rotation (several rounds) with each step's time, AWS calls and logins (from
//! the function's own `step succeeded` lines), the time of one TLS + SCRAM login by rotor
//! and by libpq (`pgbench -C`, when installed), the function's peak memory (RSS), and a
//! verdict per target.
//!
//! ```sh
//! cargo build --release -p rotor-rotate --bin rotor-rotate
//! cargo run --release -p rotor-rotate --example rotate_bench -- [rounds]
//! ```
//!
//! The time of a rotation includes moto's (Python) answers and two SCRAM logins, each
//! 4096 PBKDF2 rounds on both sides; PostgreSQL and moto run on the same machine.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use rotor_core::{ExposeSecret, SecretString};
use rotor_testkit::lambda::{self, built_binary, moto_env};
use rotor_testkit::measure::{StepTimes, record};
use rotor_testkit::{moto, postgres, random_hex, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

/// The targets: the four steps at least 2.5 times faster than AWS's Python single-user
/// sample, which the issue put at about 50 ms on this local world (the sample took 126 ms
/// then); and, when `scripts/python-sample.sh` has prepared the sample, the ratio against
/// the sample measured in the same run, both handlers called in-process on the same moto
/// and PostgreSQL; 17 MB of peak memory; under 10,000,000 bytes for the deployed (arm64)
/// binary, judged by `scripts/bench.sh --arm64`; and a login no slower than libpq's,
/// measured here.
const SPEED_UP_TARGET: f64 = 2.5;
const FOUR_STEPS_TARGET_MS: f64 = 50.0;
const PEAK_RSS_TARGET_MB: f64 = 17.0;

/// Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB ("Configure Lambda
/// function memory", AWS Lambda Developer Guide); the template's functions have 128 MB.
const ONE_VCPU_MB: f64 = 1769.0;
const DEPLOYED_MB: f64 = 128.0;

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
    // JSON lines, as on Lambda: the step costs are read from them.
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));

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
    let mut step_times = StepTimes::new();
    let admin = pg.admin().await;
    for _ in 0..rounds {
        let (arn, token) = rotation_started(&sm, &admin).await?;
        let started = Instant::now();
        for step in STEPS {
            let event = json!({"Step": step, "SecretId": arn, "ClientRequestToken": token});
            let step_started = Instant::now();
            function
                .invoke(&event)
                .await
                .map_err(|e| anyhow::anyhow!("{step}: {e}"))?;
            record(&mut step_times, step, step_started);
        }
        rotations.push(started.elapsed());
        rotor_testkit::rotation::end(&sm, &arn, &token).await;
    }
    let peak_kib = peak_rss_kib(function.pid());
    let costs = step_costs(&function.log());

    let (in_process, cpu_per_rotation) = in_process_rotations(rounds).await?;
    let sample = python_sample(rounds)?;
    let rotor_login = rotor_login_time(rounds.max(10)).await?;
    let libpq_login = libpq_login_time(rounds.max(10));

    println!("start-up to first answer: {}", summary(&mut startups));
    println!("full four-step rotation:  {}", summary(&mut rotations));
    let mut in_process_sorted = in_process.clone();
    println!(
        "  the same, the handler called in this process (no emulator): {}",
        summary(&mut in_process_sorted)
    );
    for step in STEPS {
        let cost = costs
            .get(step)
            .map(|c| c.to_string())
            .unwrap_or_else(|| "no log line".to_owned());
        let times = step_times.get_mut(step).context("step timed")?;
        println!("  {step:<13} {}; {cost}", summary(times));
    }
    match &sample {
        Some(sample) => println!(
            "AWS's Python single-user sample, its handler called in-process on the same moto \
             and PostgreSQL: {sample}"
        ),
        None => {
            println!("AWS's Python single-user sample: not prepared (./scripts/python-sample.sh)")
        }
    }
    println!(
        "one login (TLS verify-full + SCRAM): rotor median {:.1} ms, libpq {}",
        ms(rotor_login),
        libpq_login
            .map(|d| format!("{:.1} ms (pgbench -C average)", ms(d)))
            .unwrap_or_else(|| "unavailable (no pgbench)".to_owned())
    );
    let peak_mb = peak_kib.map(|kib| kib as f64 * 1024.0 / 1e6);
    match peak_kib {
        Some(kib) => println!(
            "peak memory (RSS):        {:.1} MiB ({:.1} MB) after {rounds} rotations",
            kib as f64 / 1024.0,
            kib as f64 * 1024.0 / 1e6
        ),
        None => println!("peak memory (RSS):        unavailable (no /proc)"),
    }

    // At 128 MB a rotation's CPU time, stretched by the share of a vCPU it gets, is a floor
    // under its duration on Lambda (this machine's cores, not Graviton's).
    let at_deployed = |cpu_ms: f64| cpu_ms * ONE_VCPU_MB / DEPLOYED_MB;
    let cpu_ms = ms(cpu_per_rotation);
    print!(
        "CPU time per rotation (in-process, every thread): rotor {cpu_ms:.1} ms; at {DEPLOYED_MB:.0} MB (1/{:.1} of a vCPU) \
         that alone takes {:.0} ms",
        ONE_VCPU_MB / DEPLOYED_MB,
        at_deployed(cpu_ms)
    );
    match sample.as_ref().and_then(|s| s.0.get("cpu")) {
        Some(cpu) => println!(
            "; the sample {cpu:.1} ms, {:.0} ms ({:.1}x)",
            at_deployed(*cpu),
            cpu / cpu_ms
        ),
        None => println!(),
    }

    let median_rotation = ms(rotations[rotations.len() / 2]);
    let in_function: u64 = costs.values().map(|c| c.elapsed_ms).sum();
    let median_in_process = ms(in_process_sorted[in_process_sorted.len() / 2]);
    println!("targets:");
    let figures = format!(
        "median {median_in_process:.0} ms with the handler called in-process, \
         {median_rotation:.0} ms through the emulator; the steps' medians inside the function \
         add up to {in_function} ms"
    );
    verdict(
        "four steps <= 50 ms (the issue's figure for this world: 2.5x the 126 ms the sample took \
         when it was filed)",
        median_in_process <= FOUR_STEPS_TARGET_MS,
        figures.clone(),
    );
    if let Some(sample) = &sample {
        verdict(
            "four steps at least 2.5x faster than AWS's Python single-user sample in this run",
            median_in_process * SPEED_UP_TARGET <= sample.median_total(),
            format!(
                "{:.2}x: {figures}; the sample {:.0} ms",
                sample.median_total() / median_in_process,
                sample.median_total()
            ),
        );
    }
    if let Some(libpq) = libpq_login {
        verdict(
            "a login no slower than libpq's",
            rotor_login <= libpq.mul_f64(1.05),
            format!("{:.1} ms vs {:.1} ms", ms(rotor_login), ms(libpq)),
        );
    }
    if let Some(mb) = peak_mb {
        verdict(
            "peak RSS <= 17 MB",
            mb <= PEAK_RSS_TARGET_MB,
            format!("{mb:.1} MB"),
        );
    }
    Ok(())
}

fn verdict(target: &str, met: bool, figure: String) {
    let word = if met { "met" } else { "NOT met" };
    println!("  {target}: {word} ({figure})");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One step's median cost inside the function, from its `step succeeded` lines.
struct StepCost {
    elapsed_ms: u64,
    aws_calls: u64,
    aws_operations: String,
    logins: u64,
}

impl std::fmt::Display for StepCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "in the function {} ms, {} AWS calls ({}), {} logins",
            self.elapsed_ms, self.aws_calls, self.aws_operations, self.logins
        )
    }
}

/// Each step's median cost inside the function, from its `step succeeded` lines (JSON:
/// fields, and the span with the step's name).
fn step_costs(log: &str) -> BTreeMap<String, StepCost> {
    let mut by_step: BTreeMap<String, Vec<StepCost>> = BTreeMap::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let field = |k: &str| v["fields"].get(k).or_else(|| v.get(k)).cloned();
        if field("message") != Some(json!("step succeeded")) {
            continue;
        }
        let step = v["span"]["step"]
            .as_str()
            .or_else(|| v["step"].as_str())
            .unwrap_or("?")
            .to_owned();
        let num = |k: &str| field(k).and_then(|x| x.as_u64()).unwrap_or(0);
        by_step.entry(step).or_default().push(StepCost {
            elapsed_ms: num("elapsed_ms"),
            aws_calls: num("aws_calls"),
            aws_operations: field("aws_operations")
                .and_then(|x| x.as_str().map(str::to_owned))
                .unwrap_or_default(),
            logins: num("logins"),
        });
    }
    by_step
        .into_iter()
        .map(|(step, mut runs)| {
            runs.sort_by_key(|c| c.elapsed_ms);
            let median = runs.swap_remove(runs.len() / 2);
            (step, median)
        })
        .collect()
}

/// A fresh role, its secret, and a rotation begun as Secrets Manager begins one: the
/// secret's ARN and the AWSPENDING token. The role is made through `admin`, one session
/// for all rounds, as the sample's harness does: a session closed per round would end on
/// the server while the next rotation runs.
async fn rotation_started(
    sm: &aws_sdk_secretsmanager::Client,
    admin: &tokio_postgres::Client,
) -> anyhow::Result<(String, String)> {
    let pg = postgres();
    let user = format!("bench_{}", random_hex(4));
    let password = SecretString::from(random_hex(16));
    rotor_testkit::create_role_on(admin, &user, &password).await?;
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
    let token = rotor_testkit::rotation::begin(sm, &arn).await;
    Ok((arn, token))
}

/// Full rotations with the handler called in this process, as Lambda would call it but
/// without the emulator's HTTP round trips: comparable with a sample's handler called
/// in-process. Returns each rotation's time and the CPU time (user + system, every thread
/// of this process) a rotation took on average.
async fn in_process_rotations(rounds: usize) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let sm = moto().secrets(REGION).await;
    let ctx = support::local_context(REGION).await?;
    let admin = postgres().admin().await;
    let mut times = Vec::new();
    let mut cpu = Duration::ZERO;
    for _ in 0..rounds {
        let (arn, token) = rotation_started(&sm, &admin).await?;
        let cpu0 = cpu_time();
        let started = Instant::now();
        for step in STEPS {
            let event = json!({"Step": step, "SecretId": arn, "ClientRequestToken": token});
            let mut lambda_ctx = lambda_runtime::Context::default();
            lambda_ctx.request_id = random_hex(8);
            lambda_ctx.deadline = (std::time::SystemTime::now() + Duration::from_secs(60))
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as u64;
            rotor_rotate::handler(lambda_runtime::LambdaEvent::new(event, lambda_ctx), &ctx)
                .await
                .map_err(|e| anyhow::anyhow!("{step}: {e}"))?;
        }
        times.push(started.elapsed());
        cpu += cpu_time() - cpu0;
        rotor_testkit::rotation::end(&sm, &arn, &token).await;
    }
    Ok((times, cpu / rounds.max(1) as u32))
}

/// Medians of the sample's rounds, in milliseconds: the four steps and each step.
struct SampleTimes(BTreeMap<String, f64>);

impl SampleTimes {
    fn median_total(&self) -> f64 {
        self.0.get("total").copied().unwrap_or(f64::NAN)
    }
}

impl std::fmt::Display for SampleTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "median {:.0} ms (", self.median_total())?;
        for (i, step) in STEPS.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(
                f,
                "{sep}{step} {:.0}",
                self.0.get(*step).copied().unwrap_or(f64::NAN)
            )?;
        }
        write!(f, ")")
    }
}

/// AWS's Python single-user sample, when `scripts/python-sample.sh` has prepared it: its
/// handler called in-process by `examples/python_sample/harness.py` against this run's moto
/// and PostgreSQL, `rounds` rotations.
fn python_sample(rounds: usize) -> anyhow::Result<Option<SampleTimes>> {
    let root = rotor_testkit::workspace_root();
    let dir = root.join("target/python-sample");
    let python = dir.join("venv/bin/python");
    if !python.exists() || !dir.join("lambda_function.py").exists() {
        return Ok(None);
    }
    let pg = postgres();
    let out = Command::new(&python)
        .arg(root.join("crates/rotate/examples/python_sample/harness.py"))
        .env("SAMPLE_DIR", &dir)
        .env("CA", &pg.ca_file)
        .env("SECRETS_MANAGER_ENDPOINT", &moto().endpoint)
        .env("PGHOST", &pg.host)
        .env("PGPORT", pg.port.to_string())
        .env("ADMIN", &pg.admin_user)
        .env("ADMIN_PASSWORD", pg.admin_password.expose_secret())
        .env("ROUNDS", rounds.to_string())
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .context("run the Python sample")?;
    ensure!(
        out.status.success(),
        "the Python sample failed ({}); its last lines:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let rounds: Vec<BTreeMap<String, f64>> =
        serde_json::from_slice(&out.stdout).context("the harness's JSON")?;
    let mut medians = BTreeMap::new();
    for key in STEPS.iter().copied().chain(["total", "cpu"]) {
        let mut v: Vec<f64> = rounds.iter().filter_map(|r| r.get(key).copied()).collect();
        v.sort_by(f64::total_cmp);
        if let Some(m) = v.get(v.len() / 2) {
            medians.insert(key.to_owned(), *m);
        }
    }
    Ok(Some(SampleTimes(medians)))
}

/// The median time of one login by rotor's own code (the shared TLS connector, verify-full,
/// SCRAM), in this process.
async fn rotor_login_time(n: usize) -> anyhow::Result<Duration> {
    let pg = postgres();
    let tls = pg.tls();
    let target = pg.admin_target();
    let mut times = Vec::new();
    for _ in 0..n + 1 {
        let started = Instant::now();
        let client = target
            .connect(&tls)
            .await
            .map_err(|e| anyhow::anyhow!("login: {e}"))?;
        times.push(started.elapsed());
        drop(client);
    }
    times.remove(0); // the first builds the connector
    times.sort();
    Ok(times[times.len() / 2])
}

/// libpq's average connection time over `n` logins (`pgbench -C`, verify-full, SCRAM).
fn libpq_login_time(n: usize) -> Option<Duration> {
    let pg = postgres();
    let dir = std::env::temp_dir().join(format!("rotor-bench-{}", random_hex(4)));
    std::fs::create_dir_all(&dir).ok()?;
    let script = dir.join("select1.sql");
    std::fs::write(&script, "SELECT 1;\n").ok()?;
    let out = Command::new("pgbench")
        .args(["-n", "-C", "-t"])
        .arg(n.to_string())
        .arg("-f")
        .arg(&script)
        .args([
            "-h",
            &pg.host,
            "-p",
            &pg.port.to_string(),
            "-U",
            &pg.admin_user,
        ])
        .arg("postgres")
        .env("PGPASSWORD", pg.admin_password.expose_secret())
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &pg.ca_file)
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let average = text
        .lines()
        .find_map(|l| l.strip_prefix("average connection time = "))?
        .trim_end_matches(" ms")
        .trim()
        .parse::<f64>()
        .ok()?;
    Some(Duration::from_secs_f64(average / 1000.0))
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

fn cpu_time() -> Duration {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    t(u.ru_utime) + t(u.ru_stime)
}
