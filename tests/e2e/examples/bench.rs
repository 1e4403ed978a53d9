//! Benchmark (not a test): each function's release binary under cargo-lambda's emulator,
//! against moto and PostgreSQL. Prints, per function, the binary's size (x86_64 here, and
//! arm64 when `scripts/sam-build.sh` has built it), the start-up time from exec to the
//! first answered invocation, the time of a warm invocation of its fixture, and its peak
//! memory (RSS) after the fixture run; then the time of a full four-step rotation.
//!
//! ```sh
//! ./scripts/bench.sh            # builds the release binaries, then runs this
//! ./scripts/bench.sh --arm64    # also builds the arm64 binaries with sam build
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rotor_core::{ExposeSecret, SecretString};
use rotor_e2e::{fixture, with};
use rotor_testkit::lambda::{self, Function, moto_env};
use rotor_testkit::{moto, postgres, random_hex, unique, workspace_root};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
const ROUNDS: usize = 5;

struct Row {
    name: &'static str,
    size: u64,
    arm64: Option<u64>,
    startup: Duration,
    warm: Duration,
    rss_kib: u64,
}

fn release_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("release").join(name);
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/bench.sh",
        path.display()
    );
    path
}

fn arm64_size(logical_id: &str) -> Option<u64> {
    let path = workspace_root()
        .join(".aws-sam/build")
        .join(logical_id)
        .join("bootstrap");
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn peak_rss_kib(function: &Function) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", function.pid())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median time from exec to the first answer (to an event the function refuses at once).
async fn startup(binary: &Path, env: &[(String, String)]) -> Duration {
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let function = lambda::start(binary, env);
        let spawned = Instant::now();
        let _ = function
            .invoke(&json!({"bench": "not an event this function handles"}))
            .await;
        times.push(spawned.elapsed());
    }
    median(times)
}

/// Median time of `ROUNDS` invocations with `event`, after a first (cold) one.
async fn warm(function: &Function, event: &Value) -> Duration {
    function.invoke(event).await.expect("first invocation");
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        function.invoke(event).await.expect("warm invocation");
        times.push(started.elapsed());
    }
    median(times)
}

async fn measure(
    name: &'static str,
    logical_id: &str,
    env: Vec<(String, String)>,
    event: Value,
) -> Row {
    let binary = release_binary(name);
    let startup = startup(&binary, &env).await;
    let function = lambda::start(&binary, &env);
    let warm = warm(&function, &event).await;
    Row {
        name,
        size: std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0),
        arm64: arm64_size(logical_id),
        startup,
        warm,
        rss_kib: peak_rss_kib(&function),
    }
}

async fn db_secret() -> (String, String) {
    let pg = postgres();
    let user = format!("bench_{}", random_hex(4));
    let password = SecretString::from(random_hex(16));
    pg.create_role(&user, &password).await;
    let creds = json!({"engine": "postgres", "host": pg.host, "port": pg.port, "username": user,
        "password": password.expose_secret(), "dbname": "postgres"});
    let arn = moto()
        .secrets(REGION)
        .await
        .create_secret()
        .name(unique("bench/db"))
        .secret_string(creds.to_string())
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("arn");
    (arn, user)
}

const STEPS: [&str; 4] = [
    "rotate-create-secret.json",
    "rotate-set-secret.json",
    "rotate-test-secret.json",
    "rotate-finish-secret.json",
];

#[tokio::main]
async fn main() {
    let pg = postgres();
    let mut rows = Vec::new();

    // rotor-rotate: the warm invocation is testSecret (a TLS login and a query).
    let mut env = moto_env(REGION);
    env.push((
        "PG_SSLROOTCERT".into(),
        pg.ca_file.to_string_lossy().into_owned(),
    ));
    let (arn, _) = db_secret().await;
    let token = rotor_testkit::rotation::begin(&moto().secrets(REGION).await, &arn).await;
    let rotate = lambda::start(&release_binary("rotor-rotate"), &env);
    for step in &STEPS[..2] {
        let event = with(
            fixture(step),
            &[
                ("/SecretId", json!(arn)),
                ("/ClientRequestToken", json!(token)),
            ],
        );
        rotate.invoke(&event).await.expect(step);
    }
    drop(rotate);
    let test_step = with(
        fixture(STEPS[2]),
        &[
            ("/SecretId", json!(arn)),
            ("/ClientRequestToken", json!(token)),
        ],
    );
    rows.push(measure("rotor-rotate", "RotateFunction", env.clone(), test_step).await);

    // A full rotation through the emulator, step by step.
    let rotate = lambda::start(&release_binary("rotor-rotate"), &env);
    let mut rotations = Vec::new();
    for _ in 0..ROUNDS {
        let (arn, _) = db_secret().await;
        let token = rotor_testkit::rotation::begin(&moto().secrets(REGION).await, &arn).await;
        let started = Instant::now();
        for step in STEPS {
            let event = with(
                fixture(step),
                &[
                    ("/SecretId", json!(arn)),
                    ("/ClientRequestToken", json!(token)),
                ],
            );
            rotate.invoke(&event).await.expect(step);
        }
        rotations.push(started.elapsed());
        rotor_testkit::rotation::end(&moto().secrets(REGION).await, &arn, &token).await;
    }
    let rotation = median(rotations);

    // rotor-sync-url: RotationSucceeded for its source; warm runs find nothing to change.
    let (source, user) = db_secret().await;
    let target = moto()
        .secrets(REGION)
        .await
        .create_secret()
        .name(unique("bench/url"))
        .secret_string(format!(
            "postgres://{user}:x@{}:{}/postgres",
            pg.host, pg.port
        ))
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("arn");
    let mut env = moto_env(REGION);
    env.push(("RDS_SECRET_ARN".into(), source.clone()));
    env.push(("CUSTOM_SECRET_ARN".into(), target));
    let event = with(
        fixture("sync-url-rotation-succeeded.json"),
        &[("/detail/additionalEventData/SecretId", json!(source))],
    );
    rows.push(measure("rotor-sync-url", "SyncUrlFunction", env, event).await);

    // rotor-replicate: a PutParameter event for one parameter, to two regions.
    let prefix = format!("/{}/", unique("bench"));
    let name = format!("{prefix}db-host");
    moto()
        .ssm(REGION)
        .await
        .put_parameter()
        .name(&name)
        .value("db.internal")
        .r#type("String".into())
        .send()
        .await
        .expect("PutParameter");
    let mut env = moto_env(REGION);
    env.push(("TARGET_REGIONS".into(), "us-west-2,eu-west-1".into()));
    env.push(("PARAMETER_INCLUDE_PREFIXES".into(), prefix));
    let event = with(
        fixture("replicate-put-parameter.json"),
        &[("/detail/requestParameters/name", json!(name))],
    );
    rows.push(measure("rotor-replicate", "ReplicateFunction", env, event).await);

    // rotor-audit: the scheduled audit of 20 secrets.
    let prefix = format!("{}/", unique("bench-audit"));
    let sm = moto().secrets(REGION).await;
    for n in 0..20 {
        sm.create_secret()
            .name(format!("{prefix}s{n}"))
            .secret_string("x")
            .send()
            .await
            .expect("CreateSecret");
    }
    let mut env = moto_env(REGION);
    env.push(("PREFIXES".into(), prefix));
    rows.push(
        measure(
            "rotor-audit",
            "AuditFunction",
            env,
            fixture("audit-scheduled.json"),
        )
        .await,
    );

    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1_048_576.0);
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!("| function | size x86_64 | size arm64 | start-up | warm invocation | peak RSS |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| `{}` | {} | {} | {} | {} | {:.1} MiB |",
            r.name,
            mib(r.size),
            r.arm64.map(mib).unwrap_or_else(|| "not built".into()),
            ms(r.startup),
            ms(r.warm),
            r.rss_kib as f64 / 1024.0
        );
    }
    println!();
    println!(
        "Full four-step rotation through the emulator (median of {ROUNDS}): {}",
        ms(rotation)
    );
    println!();
    for line in targets(&rows) {
        println!("{line}");
    }
}

/// The issue's targets, each with the worst figure: size under 10 MB (10,000,000 bytes) for
/// the binaries Lambda runs (arm64), start-up under 30 ms, peak RSS under 40 MB.
fn targets(rows: &[Row]) -> Vec<String> {
    let worst = |f: &dyn Fn(&Row) -> Option<u64>| {
        rows.iter().filter_map(|r| f(r).map(|v| (v, r.name))).max()
    };
    let verdict = |what: &str, worst: Option<(u64, &str)>, limit: u64, unit: &str| match worst {
        None => format!("target {what}: not measured (run ./scripts/bench.sh --arm64)"),
        Some((v, name)) => format!(
            "target {what}: {} (largest: {name}, {v} {unit})",
            if v < limit { "met" } else { "NOT met" }
        ),
    };
    vec![
        verdict(
            "arm64 binary < 10 MB",
            worst(&|r| r.arm64),
            10_000_000,
            "bytes",
        ),
        verdict(
            "start-up < 30 ms",
            worst(&|r| Some(r.startup.as_micros() as u64)),
            30_000,
            "µs",
        ),
        verdict(
            "peak RSS < 40 MB",
            worst(&|r| Some(r.rss_kib * 1024)),
            40_000_000,
            "bytes",
        ),
    ]
}
