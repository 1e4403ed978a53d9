//! "Never locked out", proven at every point of a rotation: for each strategy (single user,
//! alternating users, app secret), every AWS request and every PostgreSQL client flight of
//! every step is a point; each fault is injected at each point through a proxy in front of
//! moto or PostgreSQL; then the test does what Secrets Manager does (retries the failed
//! step with the same token, later rotates again with a new token) and checks that a
//! stored credential always logs in and that nothing is lost, half-written or logged.
//! Each suite prints its table (strategy x step x service x fault -> survived). PostgreSQL
//! sessions are TLS, so its points are client flights (protocol turns), not statements.
//! A last test stops and restarts the database server itself before each step.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::LambdaEvent;
use rotor_core::config::Settings;
use rotor_core::{ExposeSecret, SecretString};
use rotor_rotate::{Context, Step, handler};
use rotor_testkit::fault::{self, Fault, Kind, Proxy, When};
use rotor_testkit::{Postgres, logs, moto, other_postgres, postgres, random_hex, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
/// The invocation deadline of a step under test (with no margin kept): what ends a step
/// whose AWS call or statement is held silent. Generous, as are the timeouts below, so
/// that a clean retry on a loaded two-core machine is not mistaken for a fault.
const STEP_DEADLINE: Duration = Duration::from_millis(6000);
/// Attempts of a step as Secrets Manager retries it.
const RETRIES: usize = 6;
/// Scenarios run at once (each has its own proxies, secret and roles).
const PARALLEL: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Strategy {
    SingleUser,
    Alternating,
    AppSecret,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single-user",
            Strategy::Alternating => "alternating",
            Strategy::AppSecret => "app-secret",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Service {
    Moto,
    Postgres,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Moto => "moto",
            Service::Postgres => "pg",
        }
    }
}

/// Every fault kind, as (when, kind).
const ALL_FAULTS: [(When, Kind); 6] = [
    (When::Before, Kind::Refuse),
    (When::Before, Kind::Cut),
    (When::Before, Kind::Silent),
    (When::Before, Kind::Delay(Duration::from_millis(300))),
    (When::After, Kind::Cut),
    (When::After, Kind::Silent),
];

/// The faults injected at the `n`-th point of a strategy's rotation, as (when, kind).
///
/// With `ROTOR_FAULTS=all`, every kind at every point (about 600 scenarios: ten minutes
/// or more on two cores). By default, one kind per point, taking turns along the
/// rotation's points, so that every point gets a fault and every kind strikes about
/// equally often (about 100 scenarios).
fn faults(n: u64) -> Vec<(When, Kind)> {
    if std::env::var("ROTOR_FAULTS").is_ok_and(|v| v == "all") {
        return ALL_FAULTS.to_vec();
    }
    vec![ALL_FAULTS[(n % ALL_FAULTS.len() as u64) as usize]]
}

/// The function, pointed at proxies in front of moto and a PostgreSQL server.
struct Rig {
    moto: Proxy,
    pg: Proxy,
    ctx: Context,
}

impl Rig {
    async fn new(aws: &Aws, server: &Postgres) -> Rig {
        let moto = Proxy::http(&moto().endpoint).await;
        let pg = Proxy::postgres(server).await;
        let ca = server.ca_file.to_string_lossy().into_owned();
        let config = rotor_rotate::Config::from_settings(&Settings::from_pairs(&[
            ("PG_SSLROOTCERT", &ca),
            ("PG_CONNECT_TIMEOUT", "3"),
            ("TEST_RETRY_SECONDS", "1"),
            ("DEADLINE_MARGIN_SECONDS", "0"),
        ]))
        .expect("test settings are valid");
        let sdk = aws.sdk.to_builder().endpoint_url(moto.endpoint()).build();
        let ctx = Context::new(&sdk, config);
        Rig { moto, pg, ctx }
    }

    fn proxy(&self, service: Service) -> &Proxy {
        match service {
            Service::Moto => &self.moto,
            Service::Postgres => &self.pg,
        }
    }

    /// One step as Lambda invokes it, with [`STEP_DEADLINE`] left.
    async fn invoke(&self, step: Step, s: &Subject, token: &str) -> Result<(), String> {
        let mut lambda_ctx = lambda_runtime::Context::default();
        lambda_ctx.request_id = random_hex(8);
        lambda_ctx.deadline = (SystemTime::now() + STEP_DEADLINE)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let event = json!({"Step": step.as_str(), "SecretId": s.arn, "ClientRequestToken": token});
        match handler(LambdaEvent::new(event, lambda_ctx), &self.ctx).await {
            Ok(_) => Ok(()),
            // Kept as text to check it for secrets; never printed with a value in it.
            Err(e) => Err(format!("{e}")),
        }
    }

    /// Runs `step` until it succeeds, as Secrets Manager retries it; `errors` gets every
    /// failure. Err when it still fails after [`RETRIES`] attempts.
    async fn until_ok(
        &self,
        step: Step,
        s: &Subject,
        token: &str,
        errors: &mut Vec<String>,
    ) -> Result<(), String> {
        for _ in 0..RETRIES {
            match self.invoke(step, s, token).await {
                Ok(()) => return Ok(()),
                Err(e) => errors.push(e),
            }
        }
        Err(format!(
            "{step} still fails after {RETRIES} attempts: {}",
            errors.last().map(String::as_str).unwrap_or_default()
        ))
    }
}

/// The secret under rotation and what it held before.
struct Subject {
    strategy: Strategy,
    arn: String,
    original: Value,
    /// Every secret value this scenario has seen, to look for in logs and errors.
    secrets: Vec<String>,
}

/// The SDK configuration and the Secrets Manager client the test itself uses, built once
/// per test (loading a configuration builds an HTTPS client: too slow to do per call).
struct Aws {
    sdk: aws_config::SdkConfig,
    sm: aws_sdk_secretsmanager::Client,
}

impl Aws {
    async fn new() -> Arc<Aws> {
        // INFO, the level deployments run at: every line rotor writes on a failure (its
        // errors included) is there. At DEBUG and TRACE the SDK's own lines make this
        // suite five times slower; the rotation tests capture TRACE for the same check.
        logs::capture_at("INFO");
        let sdk = fault::sdk_config(&moto().endpoint, REGION).await;
        let sm = aws_sdk_secretsmanager::Client::new(&moto().sdk_config(REGION).await);
        Arc::new(Aws { sdk, sm })
    }
}

async fn create_secret(aws: &Aws, value: &Value, tags: &[(&str, &str)]) -> String {
    let mut req = aws
        .sm
        .create_secret()
        .name(unique("rotate/fault"))
        .secret_string(value.to_string());
    for (k, v) in tags {
        req = req.tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build(),
        );
    }
    req.send().await.expect("CreateSecret").arn.expect("arn")
}

/// A secret of `strategy` whose database host and port are `pg_port` (a proxy) on `server`.
async fn subject(aws: &Aws, strategy: Strategy, server: &Postgres, pg_port: u16) -> Subject {
    let mut secrets = Vec::new();
    let (arn, original) = match strategy {
        Strategy::AppSecret => {
            let value = json!({
                "signing_key": format!("sk-{}", random_hex(12)),
                "api_url": "https://api.example.internal",
            });
            secrets.push(value["signing_key"].as_str().unwrap().to_owned());
            let arn = create_secret(aws, &value, &[("rotor:app-secret-keys", "signing_key")]).await;
            (arn, value)
        }
        Strategy::SingleUser | Strategy::Alternating => {
            let name = format!("fault_{}", random_hex(4));
            let password = SecretString::from(format!("old-{}", random_hex(12)));
            server.create_role(&name, &password).await;
            secrets.push(password.expose_secret().to_owned());
            let mut value = json!({
                "engine": "postgres", "host": server.host, "port": pg_port,
                "username": name, "password": password.expose_secret(), "dbname": "postgres",
            });
            if strategy == Strategy::Alternating {
                secrets.push(server.admin_password.expose_secret().to_owned());
                let master = create_secret(
                    aws,
                    &json!({
                        "engine": "postgres", "host": server.host, "port": pg_port,
                        "username": server.admin_user,
                        "password": server.admin_password.expose_secret(),
                        "dbname": "postgres",
                    }),
                    &[],
                )
                .await;
                value["masterarn"] = json!(master);
            }
            (create_secret(aws, &value, &[]).await, value)
        }
    };
    Subject {
        strategy,
        arn,
        original,
        secrets,
    }
}

async fn stages(aws: &Aws, arn: &str) -> HashMap<String, Vec<String>> {
    aws.sm
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .expect("DescribeSecret")
        .version_ids_to_stages
        .unwrap_or_default()
}

/// The value at `stage`, if that stage has one (may hold passwords: never print it).
async fn value_at(aws: &Aws, arn: &str, stage: &str) -> Option<Value> {
    let out = aws
        .sm
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .ok()?;
    serde_json::from_str(out.secret_string()?).ok()
}

/// Whether a stored value works: its user logs in to `server` (whatever port the value
/// names) or, for an app secret, it is complete.
async fn works(s: &Subject, server: &Postgres, value: &Value) -> bool {
    match s.strategy {
        Strategy::AppSecret => value["signing_key"].as_str().is_some_and(|k| k.len() >= 16),
        _ => {
            let (Some(user), Some(password)) =
                (value["username"].as_str(), value["password"].as_str())
            else {
                return false;
            };
            server
                .can_login(user, &SecretString::from(password.to_owned()))
                .await
        }
    }
}

/// Remembers the secret values now stored, to look for them in logs and errors.
async fn learn(aws: &Aws, s: &mut Subject) {
    for stage in ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"] {
        if let Some(v) = value_at(aws, &s.arn, stage).await {
            for key in ["password", "signing_key"] {
                if let Some(x) = v[key].as_str()
                    && !s.secrets.iter().any(|k| k == x)
                {
                    s.secrets.push(x.to_owned());
                }
            }
        }
    }
}

/// During a rotation: AWSCURRENT works, or AWSPENDING does.
async fn some_credential_works(aws: &Aws, s: &Subject, server: &Postgres) -> bool {
    for stage in ["AWSCURRENT", "AWSPENDING"] {
        if let Some(v) = value_at(aws, &s.arn, stage).await
            && works(s, server, &v).await
        {
            return true;
        }
    }
    false
}

/// After a rotation: AWSCURRENT works, AWSPREVIOUS holds `previous`, no AWSPENDING left.
async fn settled(
    aws: &Aws,
    s: &Subject,
    server: &Postgres,
    previous: &Value,
) -> Result<(), &'static str> {
    let current = value_at(aws, &s.arn, "AWSCURRENT")
        .await
        .ok_or("no AWSCURRENT")?;
    if !works(s, server, &current).await {
        return Err("AWSCURRENT does not log in");
    }
    if value_at(aws, &s.arn, "AWSPREVIOUS").await.as_ref() != Some(previous) {
        return Err("AWSPREVIOUS is not the value before the rotation");
    }
    if stages(aws, &s.arn)
        .await
        .values()
        .any(|st| st.iter().any(|x| x == "AWSPENDING"))
    {
        return Err("an AWSPENDING version is left behind");
    }
    Ok(())
}

/// Removes AWSPENDING after finishSecret, as Secrets Manager does (moto does not).
async fn end_rotation(aws: &Aws, arn: &str, token: &str) {
    rotor_testkit::rotation::end(&aws.sm, arn, token).await
}

/// Units each step sends through each proxy in a clean rotation of `strategy`.
async fn count_points(aws: &Aws, strategy: Strategy) -> BTreeMap<(usize, Service), u64> {
    let rig = Rig::new(aws, postgres()).await;
    let s = subject(aws, strategy, postgres(), rig.pg.port()).await;
    let token = rotor_testkit::rotation::begin(&aws.sm, &s.arn).await;
    let mut points = BTreeMap::new();
    for (i, step) in Step::ALL.into_iter().enumerate() {
        let before = (rig.moto.units(), rig.pg.units());
        rig.until_ok(step, &s, &token, &mut Vec::new())
            .await
            .unwrap_or_else(|e| panic!("clean run: {e}"));
        points.insert((i, Service::Moto), rig.moto.units() - before.0);
        points.insert((i, Service::Postgres), rig.pg.units() - before.1);
    }
    points
}

/// One cell of the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Point {
    strategy: Strategy,
    /// Index in `Step::ALL`.
    step: usize,
    service: Service,
    when: When,
    kind: &'static str,
    k: u64,
}

struct Outcome {
    fired: bool,
    /// The faulted attempt failed (and was retried).
    failed: bool,
    problem: Option<String>,
    /// The scenario's secret values, looked for in the log once all scenarios ran.
    secrets: Vec<String>,
}

/// One scenario: a rotation with `fault` at its point, retried to the end, then a second
/// rotation; every invariant checked.
async fn scenario(aws: &Aws, point: Point, fault_kind: Kind) -> Outcome {
    let server = postgres();
    let rig = Rig::new(aws, server).await;
    let mut s = subject(aws, point.strategy, server, rig.pg.port()).await;
    let mut errors = Vec::new();
    let mut fired = false;
    let mut failed = false;
    let problem = rotate_with_fault(
        aws,
        &rig,
        &mut s,
        &point,
        fault_kind,
        &mut errors,
        &mut fired,
        &mut failed,
    )
    .await
    .err();
    let problem = problem.or_else(|| {
        errors
            .iter()
            .any(|e| s.secrets.iter().any(|x| e.contains(x.as_str())))
            .then(|| "a secret value is in an error".to_owned())
    });
    Outcome {
        fired,
        failed,
        problem,
        secrets: s.secrets,
    }
}

/// The rotation with the fault, retried to the end, then a whole new rotation; the first
/// broken invariant, if any.
#[allow(clippy::too_many_arguments)]
async fn rotate_with_fault(
    aws: &Aws,
    rig: &Rig,
    s: &mut Subject,
    point: &Point,
    fault_kind: Kind,
    errors: &mut Vec<String>,
    fired: &mut bool,
    failed: &mut bool,
) -> Result<(), String> {
    let server = postgres();
    let token = rotor_testkit::rotation::begin(&aws.sm, &s.arn).await;
    for (i, step) in Step::ALL.into_iter().enumerate() {
        if i == point.step {
            let proxy = rig.proxy(point.service);
            proxy.arm(Fault {
                at: point.k,
                when: point.when,
                kind: fault_kind,
            });
            let result = rig.invoke(step, s, &token).await;
            *fired = proxy.fired();
            proxy.heal();
            learn(aws, s).await;
            if !some_credential_works(aws, s, server).await {
                return Err("no stored credential logs in".to_owned());
            }
            if let Err(e) = result {
                *failed = true;
                errors.push(e);
                rig.until_ok(step, s, &token, errors).await?;
            }
        } else {
            rig.until_ok(step, s, &token, errors).await?;
        }
    }
    end_rotation(aws, &s.arn, &token).await;
    learn(aws, s).await;
    settled(aws, s, server, &s.original)
        .await
        .map_err(|p| format!("after the retries: {p}"))?;
    // Later, a whole new rotation with a new token.
    let before = value_at(aws, &s.arn, "AWSCURRENT")
        .await
        .ok_or("no AWSCURRENT")?;
    let token = rotor_testkit::rotation::begin(&aws.sm, &s.arn).await;
    for step in Step::ALL {
        rig.until_ok(step, s, &token, errors).await?;
    }
    end_rotation(aws, &s.arn, &token).await;
    learn(aws, s).await;
    settled(aws, s, server, &before)
        .await
        .map_err(|p| format!("after the next rotation: {p}"))
}

/// Whether a secret value of `s` shows up in the captured logs or in an error.
fn leaked(s: &Subject, errors: &[String]) -> bool {
    let log = logs::contents();
    s.secrets.iter().any(|secret| {
        log.contains(secret.as_str()) || errors.iter().any(|e| e.contains(secret.as_str()))
    })
}

/// Runs every point of `strategies`, prints the table and asserts every cell survived.
async fn run_suite(strategies: &[Strategy]) {
    let started = Instant::now();
    let aws = Aws::new().await;
    let aws = &aws;
    let mut points = Vec::new();
    let mut per_strategy = BTreeMap::new();
    for &strategy in strategies {
        let counts = count_points(aws, strategy).await;
        let mut n = 0;
        for ((step, service), units) in counts {
            for k in 0..units {
                for (when, kind) in faults(n) {
                    points.push((
                        Point {
                            strategy,
                            step,
                            service,
                            when,
                            kind: kind.name(),
                            k,
                        },
                        kind,
                    ));
                }
                n += 1;
            }
        }
        per_strategy.insert(strategy, n);
    }
    // One limit for every suite of the binary (they run at the same time).
    static LIMIT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PARALLEL);
    let mut tasks = Vec::new();
    for (point, kind) in points {
        let aws = aws.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = LIMIT.acquire().await.expect("semaphore");
            let outcome = scenario(&aws, point.clone(), kind).await;
            (point, outcome)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("scenario task"));
    }
    // Every line any scenario logged, searched once for every value any of them stored.
    let log = logs::contents();
    for (_, outcome) in &mut results {
        if outcome.secrets.iter().any(|x| log.contains(x.as_str())) {
            outcome
                .problem
                .get_or_insert_with(|| "a secret value is in the log".to_owned());
        }
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    print_table(&results, &per_strategy, started.elapsed());
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(p, o)| {
            o.problem.as_ref().map(|why| {
                format!(
                    "{} {} {} {} {} #{}: {why}",
                    p.strategy.name(),
                    Step::ALL[p.step],
                    p.service.name(),
                    p.when.as_str(),
                    p.kind,
                    p.k
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "faults not survived:\n{}",
        failures.join("\n")
    );
}

/// strategy x step x service x fault -> points injected, struck, failed the step, survived.
fn print_table(
    results: &[(Point, Outcome)],
    per_strategy: &BTreeMap<Strategy, u64>,
    elapsed: Duration,
) {
    type Row = (Strategy, usize, Service, When, &'static str);
    let mut rows: BTreeMap<Row, [u64; 4]> = BTreeMap::new();
    for (p, o) in results {
        let row = rows
            .entry((p.strategy, p.step, p.service, p.when, p.kind))
            .or_default();
        row[0] += 1;
        row[1] += u64::from(o.fired);
        row[2] += u64::from(o.failed);
        row[3] += u64::from(o.problem.is_none());
    }
    println!(
        "\n{:<12} {:<13} {:<5} {:<15} {:>6} {:>6} {:>6} {:>8}",
        "strategy", "step", "svc", "fault", "points", "struck", "failed", "survived"
    );
    for ((strategy, step, service, when, kind), [n, fired, failed, ok]) in &rows {
        println!(
            "{:<12} {:<13} {:<5} {:<15} {:>6} {:>6} {:>6} {:>8}",
            strategy.name(),
            Step::ALL[*step].as_str(),
            service.name(),
            format!("{}-{}", when.as_str(), kind),
            n,
            fired,
            failed,
            ok
        );
    }
    let injected = results.len();
    let struck = results.iter().filter(|(_, o)| o.fired).count();
    let survived = results.iter().filter(|(_, o)| o.problem.is_none()).count();
    let points: Vec<String> = per_strategy
        .iter()
        .map(|(s, n)| format!("{} {n}", s.name()))
        .collect();
    println!(
        "points (AWS requests + PostgreSQL client flights): {}; faults injected {injected}, \
         struck {struck}, survived {survived}/{injected}; {:.1} s",
        points.join(", "),
        elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_user_rotation_survives_every_fault_at_every_point() {
    run_suite(&[Strategy::SingleUser]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alternating_users_rotation_survives_every_fault_at_every_point() {
    run_suite(&[Strategy::Alternating]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_secret_rotation_survives_every_fault_at_every_point() {
    run_suite(&[Strategy::AppSecret]).await;
}

/// The database server itself stops before a step and comes back before the retry (a
/// server of its own: no other test of this binary uses it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_survives_the_database_server_restarting_before_each_step() {
    let server = other_postgres();
    let aws = Aws::new().await;
    let aws = &aws;
    for strategy in [Strategy::SingleUser, Strategy::Alternating] {
        for faulted in Step::ALL {
            let rig = Rig::new(aws, server).await;
            let mut s = subject(aws, strategy, server, rig.pg.port()).await;
            let token = rotor_testkit::rotation::begin(&aws.sm, &s.arn).await;
            let mut errors = Vec::new();
            for step in Step::ALL {
                if step == faulted {
                    let stopped = fault::stop_server(server);
                    let result = rig.invoke(step, &s, &token).await;
                    stopped.start();
                    learn(aws, &mut s).await;
                    assert!(
                        some_credential_works(aws, &s, server).await,
                        "{} {step}: a stored credential logs in after the restart",
                        strategy.name()
                    );
                    if let Err(e) = result {
                        errors.push(e);
                    }
                }
                rig.until_ok(step, &s, &token, &mut errors)
                    .await
                    .unwrap_or_else(|e| panic!("{} {e}", strategy.name()));
            }
            end_rotation(aws, &s.arn, &token).await;
            learn(aws, &mut s).await;
            settled(aws, &s, server, &s.original)
                .await
                .unwrap_or_else(|p| panic!("{} {faulted}: {p}", strategy.name()));
            assert!(
                !leaked(&s, &errors),
                "a secret value is in the log or an error"
            );
            println!("{} restart before {faulted}: survived", strategy.name());
        }
    }
}
