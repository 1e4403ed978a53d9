//! rotor-sync-url under injected faults: after a password rotation, a sync through a
//! proxy in front of moto meets each fault at each of its AWS requests (refused, cut,
//! held silent until the invocation is killed at its deadline, delayed). Whatever point it
//! stops at, the target never holds a URL that does not log in (only the URL it held
//! before, or a working one); the next run converges, and the one after writes nothing.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use rotor_core::config::Settings;
use rotor_core::{ExposeSecret, SecretString};
use rotor_sync_url::{Config, Context, handler};
use rotor_testkit::fault::{self, Fault, Kind, Proxy, When};
use rotor_testkit::{logs, moto, postgres, random_hex, unique};
use serde_json::json;

const REGION: &str = "us-east-1";
/// When Lambda stops an invocation held by a silent connection.
const DEADLINE: Duration = Duration::from_secs(3);

fn faults() -> [(When, Kind); 6] {
    [
        (When::Before, Kind::Refuse),
        (When::Before, Kind::Cut),
        (When::Before, Kind::Silent),
        (When::Before, Kind::Delay(Duration::from_millis(300))),
        (When::After, Kind::Cut),
        (When::After, Kind::Silent),
    ]
}

/// A source and target pair whose database password has just rotated.
struct Pair {
    source: String,
    target: String,
    /// The target's URL from before the rotation (no longer logs in).
    old_url: SecretString,
    secrets: Vec<String>,
}

async fn current(sm: &aws_sdk_secretsmanager::Client, id: &str) -> Option<SecretString> {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .ok()?;
    Some(SecretString::from(out.secret_string()?.to_owned()))
}

async fn version_count(sm: &aws_sdk_secretsmanager::Client, id: &str) -> usize {
    sm.list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(true)
        .send()
        .await
        .expect("ListSecretVersionIds")
        .versions()
        .len()
}

/// Whether a URL logs in (tokio-postgres, TLS checked against the test CA).
async fn logs_in(url: &SecretString) -> bool {
    let Ok(config) = url.expose_secret().parse::<tokio_postgres::Config>() else {
        return false;
    };
    let pem = std::fs::read(&postgres().ca_file).expect("CA");
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&pem).expect("PEM"))
        .build()
        .expect("TLS connector");
    match config
        .connect(postgres_native_tls::MakeTlsConnector::new(tls))
        .await
    {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client.simple_query("select 1").await.is_ok()
        }
        Err(_) => false,
    }
}

fn context(sdk: &aws_config::SdkConfig, pair: &Pair) -> Context {
    let pg = postgres();
    let port = pg.port.to_string();
    let config = Config::from_settings(&Settings::from_pairs(&[
        ("RDS_SECRET_ARN", &pair.source),
        ("CUSTOM_SECRET_ARN", &pair.target),
        ("DB_HOST", &pg.host),
        ("DB_PORT", &port),
        ("DB_NAME", "postgres"),
    ]))
    .expect("valid settings");
    Context::new(sdk, config)
}

/// A scheduled invocation, stopped at [`DEADLINE`] as Lambda would stop it.
async fn invoke(ctx: &Context) -> Result<(), String> {
    let fixture = rotor_testkit::workspace_root().join("events/sync-url-scheduled.json");
    let event = serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture"))
        .expect("fixture is JSON");
    let run = handler(
        LambdaEvent::new(event, lambda_runtime::Context::default()),
        ctx,
    );
    match tokio::time::timeout(DEADLINE, run).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("stopped at the deadline".to_owned()),
    }
}

/// A pair synced once, then rotated: the database and the source have a new password.
async fn rotated_pair(sm: &aws_sdk_secretsmanager::Client) -> Pair {
    let pg = postgres();
    let old = format!("old-{}", random_hex(12));
    let new = format!("new-{}", random_hex(12));
    let user = unique("sync_fault").replace('-', "_");
    pg.create_role(&user, &SecretString::from(old.clone()))
        .await;
    let creds = |p: &str| json!({"username": user, "password": p}).to_string();
    let source = sm
        .create_secret()
        .name(unique("rds!db"))
        .secret_string(creds(&old))
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("arn");
    let target = sm
        .create_secret()
        .name(unique("app/database-url"))
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("arn");
    let mut pair = Pair {
        source,
        target,
        old_url: SecretString::from(String::new()),
        secrets: vec![old, new.clone()],
    };
    invoke(&context(&moto().sdk_config(REGION).await, &pair))
        .await
        .expect("first sync");
    pair.old_url = current(sm, &pair.target).await.expect("a URL");
    let sql = format!(
        "ALTER ROLE {} PASSWORD '{}'",
        rotor_core::pg::quote_ident(&user),
        rotor_core::pg::scram_verifier(&SecretString::from(new.clone()))
    );
    pg.admin()
        .await
        .batch_execute(&sql)
        .await
        .expect("ALTER ROLE");
    sm.put_secret_value()
        .secret_id(&pair.source)
        .secret_string(creds(&new))
        .send()
        .await
        .expect("PutSecretValue");
    pair
}

/// Whether the fault struck, and the first broken promise if any.
type Cell = fault::Outcome;

/// One point: the first broken promise, if any.
async fn scenario(
    sm: &aws_sdk_secretsmanager::Client,
    sdk: &aws_config::SdkConfig,
    fault: Fault,
) -> Cell {
    let proxy = Proxy::http(&moto().endpoint).await;
    let sdk = sdk.to_builder().endpoint_url(proxy.endpoint()).build();
    let mut pair = rotated_pair(sm).await;
    let ctx = context(&sdk, &pair);
    proxy.arm(fault);
    let first = invoke(&ctx).await;
    let fired = proxy.fired();
    proxy.heal();
    let check = async {
        let held = current(sm, &pair.target)
            .await
            .ok_or("the target lost its value")?;
        pair.secrets.push(pair.old_url.expose_secret().to_owned());
        if held.expose_secret() != pair.old_url.expose_secret() && !logs_in(&held).await {
            return Err("the target holds a URL that does not log in".to_owned());
        }
        let mut errors: Vec<String> = first.err().into_iter().collect();
        let mut tries = 0;
        while let Err(e) = invoke(&ctx).await {
            errors.push(e);
            tries += 1;
            if tries == 5 {
                return Err("the sync still fails after 5 retries".to_owned());
            }
        }
        let url = current(sm, &pair.target).await.ok_or("no URL")?;
        pair.secrets.push(url.expose_secret().to_owned());
        if !logs_in(&url).await {
            return Err("after the retries the URL does not log in".to_owned());
        }
        let versions = version_count(sm, &pair.target).await;
        invoke(&ctx).await?;
        if version_count(sm, &pair.target).await != versions {
            return Err("a run with nothing to change wrote a version".to_owned());
        }
        if errors
            .iter()
            .any(|e| pair.secrets.iter().any(|s| e.contains(s.as_str())))
        {
            return Err("a secret value is in an error".to_owned());
        }
        let log = logs::contents();
        if pair.secrets.iter().any(|s| log.contains(s.as_str())) {
            return Err("a secret value is in the log".to_owned());
        }
        Ok(())
    };
    (fired, check.await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_interrupted_at_any_request_never_leaves_a_url_that_does_not_log_in() {
    // INFO, as deployed: every line the function writes on a failure.
    logs::capture_at("INFO");
    let started = Instant::now();
    let sm = moto().secrets(REGION).await;
    let sdk = fault::sdk_config(&moto().endpoint, REGION).await;

    // A clean run counts the points: the sync's AWS requests.
    let proxy = Proxy::http(&moto().endpoint).await;
    let pair = rotated_pair(&sm).await;
    let ctx = context(
        &sdk.to_builder().endpoint_url(proxy.endpoint()).build(),
        &pair,
    );
    invoke(&ctx).await.expect("clean sync");
    let points = proxy.units();
    assert!(
        points >= 2,
        "the sync reads the source and writes the target"
    );

    // In this task, four at a time (the handler's future is not `Send` for every
    // lifetime, so it is not spawned).
    let all: Vec<Fault> = (0..points)
        .flat_map(|at| faults().map(|(when, kind)| Fault { at, when, kind }))
        .collect();
    let results: Vec<(Fault, Cell)> = futures::stream::iter(all)
        .map(|fault| {
            let (sm, sdk) = (&sm, &sdk);
            async move { (fault, scenario(sm, sdk, fault).await) }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    fault::report("sync-url", points as u64, results, started);
}
