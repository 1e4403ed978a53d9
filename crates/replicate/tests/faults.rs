//! rotor-replicate under injected faults, black-box through its handler: a full sync of
//! parameters through a proxy in front of moto meets a fault at each of its AWS requests
//! (refused, held silent until Lambda stops the invocation, answer lost after the write).
//! The next runs converge on the source, and a parameter of the target region that the
//! function did not write is never deleted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use rotor_core::config::Settings;
use rotor_replicate::{Config, Context, handler};
use rotor_testkit::fault::{self, Fault, Kind, Proxy, When};
use rotor_testkit::{logs, moto, random_hex, unique};

const SOURCE: &str = "us-east-1";
const TARGET: &str = "us-west-2";
/// When Lambda stops an invocation held by a silent connection.
const DEADLINE: Duration = Duration::from_secs(4);

fn faults() -> [(When, Kind); 4] {
    [
        (When::Before, Kind::Refuse),
        (When::Before, Kind::Silent),
        (When::After, Kind::Cut),
        (When::After, Kind::Silent),
    ]
}

/// A test's own parameters: three in the source, one of the target's own.
struct Scene {
    prefix: String,
    source: BTreeMap<String, String>,
    local: (String, String),
}

async fn scene() -> Scene {
    let prefix = format!("/{}/", unique("rep-fault"));
    let ssm = moto().ssm(SOURCE).await;
    let mut source = BTreeMap::new();
    for leaf in ["a", "b", "c"] {
        let (name, value) = (format!("{prefix}{leaf}"), format!("v-{}", random_hex(6)));
        ssm.put_parameter()
            .name(&name)
            .value(&value)
            .r#type(ParameterType::String)
            .send()
            .await
            .expect("PutParameter");
        source.insert(name, value);
    }
    let local = (format!("{prefix}local"), format!("own-{}", random_hex(6)));
    moto()
        .ssm(TARGET)
        .await
        .put_parameter()
        .name(&local.0)
        .value(&local.1)
        .r#type(ParameterType::String)
        .send()
        .await
        .expect("PutParameter");
    Scene {
        prefix,
        source,
        local,
    }
}

fn context(sdk: &aws_config::SdkConfig, scene: &Scene) -> Context {
    let secrets = format!("{}-none/", scene.prefix.trim_matches('/'));
    let config = Config::from_settings(&Settings::from_pairs(&[
        ("SOURCE_REGION", SOURCE),
        ("TARGET_REGIONS", TARGET),
        ("PARAMETER_INCLUDE_PREFIXES", &scene.prefix),
        ("SECRET_INCLUDE_PREFIXES", &secrets),
        // One call at a time, so that request k is the same request in every run.
        ("MAX_CONCURRENCY", "1"),
    ]))
    .expect("valid settings");
    Context::new(sdk, config)
}

/// A full sync, stopped at [`DEADLINE`] as Lambda would stop it.
async fn invoke(ctx: &Context) -> Result<(), String> {
    let fixture = rotor_testkit::workspace_root().join("events/replicate-full-sync.json");
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

/// The target region's parameters under the scene's prefix, by name.
async fn target_params(scene: &Scene) -> BTreeMap<String, String> {
    let ssm = moto().ssm(TARGET).await;
    let mut out = BTreeMap::new();
    let mut next = None;
    loop {
        let page = ssm
            .get_parameters_by_path()
            .path(scene.prefix.trim_end_matches('/'))
            .recursive(true)
            .set_next_token(next)
            .send()
            .await
            .expect("GetParametersByPath");
        for p in page.parameters() {
            out.insert(
                p.name().unwrap_or_default().to_owned(),
                p.value().unwrap_or_default().to_owned(),
            );
        }
        next = page.next_token;
        if next.is_none() {
            return out;
        }
    }
}

/// Whether the target holds exactly the source's parameters plus its own.
async fn converged(scene: &Scene) -> Result<(), String> {
    let mut want = scene.source.clone();
    want.insert(scene.local.0.clone(), scene.local.1.clone());
    let have = target_params(scene).await;
    if have.get(&scene.local.0) != Some(&scene.local.1) {
        return Err("the target's own parameter was deleted or changed".to_owned());
    }
    if have != want {
        return Err(format!(
            "the target has {} of {} parameters right",
            want.iter().filter(|(k, v)| have.get(*k) == Some(v)).count(),
            want.len()
        ));
    }
    Ok(())
}

/// Whether the fault struck, and the first broken promise if any.
type Cell = fault::Outcome;

async fn scenario(sdk: &aws_config::SdkConfig, fault: Fault) -> Cell {
    let scene = scene().await;
    let proxy = Proxy::http(&moto().endpoint).await;
    let ctx = context(
        &sdk.to_builder().endpoint_url(proxy.endpoint()).build(),
        &scene,
    );
    proxy.arm(fault);
    let _ = invoke(&ctx).await;
    let fired = proxy.fired();
    proxy.heal();
    let result = async {
        // Nothing it did not write is deleted, even mid-sync.
        if target_params(&scene).await.get(&scene.local.0) != Some(&scene.local.1) {
            return Err("the target's own parameter was deleted mid-sync".to_owned());
        }
        let mut tries = 0;
        while let Err(e) = invoke(&ctx).await {
            tries += 1;
            if tries == 5 {
                return Err(format!("the next runs still fail: {e}"));
            }
        }
        converged(&scene).await
    };
    (fired, result.await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_interrupted_at_any_request_converges_on_the_next_run() {
    logs::capture_at("INFO");
    let started = Instant::now();
    let sdk = fault::sdk_config(&moto().endpoint, SOURCE).await;

    // A clean run counts the points: the sync's AWS requests.
    let clean = scene().await;
    let proxy = Proxy::http(&moto().endpoint).await;
    invoke(&context(
        &sdk.to_builder().endpoint_url(proxy.endpoint()).build(),
        &clean,
    ))
    .await
    .expect("clean sync");
    converged(&clean).await.expect("a clean sync converges");
    let points = proxy.units();

    // In this task, four at a time (the handler's future is not `Send` for every
    // lifetime, so it is not spawned).
    let all: Vec<Fault> = (0..points)
        .flat_map(|at| faults().map(|(when, kind)| Fault { at, when, kind }))
        .collect();
    let results: Vec<(Fault, Cell)> = futures::stream::iter(all)
        .map(|fault| {
            let sdk = &sdk;
            async move { (fault, scenario(sdk, fault).await) }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    fault::report("replicate", points as u64, results, started);
}
