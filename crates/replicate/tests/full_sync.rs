//! Full-sync mode against moto: everything in scope converges, a second run writes
//! nothing, only what changed is written, only marked replicas are deleted, failures are
//! reported in one SNS message, and a dry run writes nothing.

mod common;

use aws_sdk_secretsmanager::types::Tag as SecretTag;
use aws_sdk_ssm::types::ParameterType;
use common::*;
use futures::{StreamExt, stream};
use rotor_replicate::ReplicateError;
use rotor_replicate::params::{MONITORED_KEY, MONITORED_VALUE, REPLICA_KEY};
use rotor_testkit::{logs, moto, random_hex};

#[tokio::test]
async fn full_sync_copies_everything_then_writes_nothing_then_only_what_changed() {
    let n = Names::new();
    let ctx = n.context(&[("MAX_CONCURRENCY", "16")]).await;
    let values: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                n.param(&format!("app/p{i:03}")),
                format!("value-{i}-{}", random_hex(6)),
            )
        })
        .collect();
    put_many(SOURCE, values.clone()).await;
    let sm = moto().secrets(SOURCE).await;
    let secret_values: Vec<String> = (0..20)
        .map(|_| format!(r#"{{"password":"{}"}}"#, random_hex(12)))
        .collect();
    stream::iter(secret_values.iter().enumerate())
        .map(|(i, v)| {
            let (sm, name) = (sm.clone(), n.secret(&format!("s{i:02}")));
            async move {
                sm.create_secret()
                    .name(name)
                    .secret_string(v)
                    .send()
                    .await
                    .expect("CreateSecret")
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    // Someone's own parameter in a target, inside the replicated path: never touched.
    let foreign = n.param("app/west-only");
    put(WEST, &foreign, "kept", ParameterType::String).await;

    let first = invoke_ok(&ctx, full_sync()).await;
    assert!(first.complete);
    for region in TARGETS {
        assert_eq!(first.parameters.region(region).copied, 300, "{region}");
        assert_eq!(first.secrets.region(region).copied, 20, "{region}");
    }
    for (name, value) in values.iter().step_by(37) {
        for region in TARGETS {
            let r = read(region, name).await.expect("replica");
            assert!(
                &r.value == value,
                "{name} in {region} has the source's value"
            );
            assert_eq!(r.tags.get("team").map(String::as_str), Some("orders"));
        }
        let src = read(SOURCE, name).await.unwrap();
        assert_eq!(
            src.tags.get(MONITORED_KEY).map(String::as_str),
            Some(MONITORED_VALUE)
        );
    }

    let second = invoke_ok(&ctx, full_sync()).await;
    assert_eq!(
        second.write_calls, 0,
        "a no-change sync writes nothing: {:?}",
        second.api_calls
    );
    assert_eq!(second.parameters.total.unchanged, 600);
    assert_eq!(second.secrets.total.unchanged, 40);

    let ssm = moto().ssm(SOURCE).await;
    change_values(SOURCE, &values[..5]).await;
    for (name, _) in &values[5..10] {
        ssm.delete_parameter().name(name).send().await.unwrap();
    }
    let third = invoke_ok(&ctx, full_sync()).await;
    for region in TARGETS {
        let c = third.parameters.region(region);
        assert_eq!(
            (c.updated, c.deleted, c.copied, c.failed),
            (5, 5, 0, 0),
            "{region}"
        );
        assert_eq!(c.unchanged, 290, "{region}");
    }
    assert_eq!(third.api_calls.get("PutParameter"), Some(&10));
    assert_eq!(third.api_calls.get("DeleteParameter"), Some(&10));
    assert_eq!(third.write_calls, 20, "{:?}", third.api_calls);
    for region in TARGETS {
        for (name, _) in &values[5..10] {
            assert!(!exists(region, name).await, "{name} deleted from {region}");
        }
    }
    assert_eq!(read(WEST, &foreign).await.expect("survives").value, "kept");
    for (_, v) in values.iter().take(10) {
        logs::assert_absent(v, "parameter value");
    }
    for v in &secret_values {
        logs::assert_absent(v, "secret value");
    }
}

#[tokio::test]
async fn full_sync_takes_over_the_original_tools_replicas_without_rewriting_values() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let name = n.param("legacy");
    // What the original left behind: a tagged source and identical unmarked copies.
    for region in [SOURCE, WEST, EU] {
        put(region, &name, "same", ParameterType::String).await;
        tag(region, &name, MONITORED_KEY, MONITORED_VALUE).await;
    }
    let report = invoke_ok(&ctx, full_sync()).await;
    assert_eq!(
        report.api_calls.get("PutParameter"),
        None,
        "values are not rewritten"
    );
    assert_eq!(report.parameters.total.updated, 2);
    for region in TARGETS {
        let r = read(region, &name).await.unwrap();
        assert_eq!(r.tags.get(REPLICA_KEY).map(String::as_str), Some(SOURCE));
        assert!(!r.tags.contains_key(MONITORED_KEY));
    }
    assert_eq!(invoke_ok(&ctx, full_sync()).await.write_calls, 0);
}

/// Stands for an opt-in region that is not enabled in the account: moto, like AWS in that
/// case, rejects every call there.
const DEAD: &str = "xx-dead-1";

#[tokio::test]
async fn a_target_that_fails_every_call_is_reported_once_and_the_other_target_completes() {
    let n = Names::new();
    let (topic, queue) = moto()
        .topic_with_queue(SOURCE, &rotor_testkit::unique("rep-alerts"))
        .await;
    let targets = format!("{WEST},{DEAD}");
    let ctx = n
        .context(&[
            ("TARGET_REGIONS", &targets),
            ("SNS_TOPIC_ARN", &topic),
            ("AWS_MAX_ATTEMPTS", "1"),
        ])
        .await;
    let names: Vec<String> = (0..3).map(|i| n.param(&format!("p{i}"))).collect();
    for name in &names {
        put(SOURCE, name, "v", ParameterType::String).await;
    }
    let secret = n.secret("db");
    moto()
        .secrets(SOURCE)
        .await
        .create_secret()
        .name(&secret)
        .secret_string("x")
        .send()
        .await
        .unwrap();

    let err = invoke(&ctx, full_sync())
        .await
        .expect_err("the invocation reports failure");
    let ReplicateError::ItemsFailed(report) = &err else {
        panic!("{err}")
    };
    let diagnostic: lambda_runtime::Diagnostic = ReplicateError::ItemsFailed(report.clone()).into();
    assert_eq!(diagnostic.error_type, "Rotor.Replicate.ItemsFailed");
    assert_eq!(report.parameters.region(WEST).copied, 3);
    assert_eq!(report.secrets.region(WEST).copied, 1);
    assert_eq!(report.parameters.region(DEAD).failed, 3);
    assert_eq!(report.secrets.region(DEAD).failed, 1);
    for name in &names {
        assert!(exists(WEST, name).await);
    }
    let messages = moto().drain_queue(SOURCE, &queue).await;
    assert_eq!(messages.len(), 1, "one message for the whole run");
    for name in names.iter().chain([&secret]) {
        assert!(
            messages[0].contains(&format!("{name} -> {DEAD}")),
            "the message names {name}"
        );
    }
}

#[tokio::test]
async fn dry_run_writes_nothing_and_reports_what_it_would_do() {
    let n = Names::new();
    let live = n.context(&[]).await;
    let dry = n.context(&[("DRY_RUN", "true")]).await;
    let (kept, gone, fresh) = (n.param("kept"), n.param("gone"), n.param("fresh"));
    put(SOURCE, &kept, "v", ParameterType::String).await;
    put(SOURCE, &gone, "v", ParameterType::String).await;
    invoke_ok(&live, full_sync()).await;
    moto()
        .ssm(SOURCE)
        .await
        .delete_parameter()
        .name(&gone)
        .send()
        .await
        .unwrap();
    let value = format!("s3cr3t-{}", random_hex(8));
    put(SOURCE, &fresh, &value, ParameterType::SecureString).await;
    let secret = n.secret("db");
    moto()
        .secrets(SOURCE)
        .await
        .create_secret()
        .name(&secret)
        .secret_string("x")
        .send()
        .await
        .unwrap();

    let report = invoke_ok(&dry, full_sync()).await;
    assert!(report.dry_run);
    assert_eq!(report.write_calls, 0, "{:?}", report.api_calls);
    let planned = |action: &str, name: &str| {
        report
            .planned
            .iter()
            .filter(|p| p.action == action && p.name == name)
            .count()
    };
    assert_eq!(planned("copied", &fresh), 2);
    assert_eq!(planned("deleted", &gone), 2);
    assert_eq!(planned("tag-source", &fresh), 1);
    assert_eq!(planned("copied", &secret), 2);
    assert_eq!(planned("copied", &kept), 0);
    for region in TARGETS {
        assert!(!exists(region, &fresh).await);
        assert!(exists(region, &gone).await, "nothing deleted in {region}");
    }
    assert!(
        !read(SOURCE, &fresh)
            .await
            .unwrap()
            .tags
            .contains_key(MONITORED_KEY)
    );
    logs::assert_absent(&value, "SecureString value");
}

#[tokio::test]
async fn without_a_state_table_a_full_sync_reads_everything_and_converges_all_the_same() {
    let n = Names::new();
    let ctx = n.stateless_context(&[]).await;
    for i in 0..4 {
        put(
            SOURCE,
            &n.param(&format!("p{i}")),
            "v",
            ParameterType::String,
        )
        .await;
    }
    let report = invoke_ok(&ctx, full_sync()).await;
    assert!(report.complete);
    assert_eq!(report.sync_id, None);
    assert_eq!(report.parameters.total.copied, 8);
    let again = invoke_ok(&ctx, full_sync()).await;
    assert_eq!(again.write_calls, 0);
    assert_eq!(again.parameters.total.unchanged, 8);
}

#[tokio::test]
async fn a_secret_tagged_not_to_replicate_loses_its_replicas_so_it_can_be_deleted() {
    let n = Names::new();
    let ctx = n.context(&[("REMOVE_OPTED_OUT_REPLICAS", "true")]).await;
    let sm = moto().secrets(SOURCE).await;
    let name = n.secret("retired");
    replicated_secret(&name, &[WEST, EU]).await;
    assert!(
        sm.delete_secret().secret_id(&name).send().await.is_err(),
        "a primary with replicas cannot be deleted"
    );
    opt_out(&sm, &name).await;
    let report = invoke_ok(&ctx, full_sync()).await;
    assert_eq!(report.secrets.total.deleted, 2);
    assert!(
        sm.describe_secret()
            .secret_id(&name)
            .send()
            .await
            .unwrap()
            .replication_status()
            .is_empty()
    );
    sm.delete_secret()
        .secret_id(&name)
        .send()
        .await
        .expect("deletable now");
}

#[tokio::test]
async fn without_the_setting_an_opted_out_secret_keeps_its_replicas_and_the_report_says_why() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let sm = moto().secrets(SOURCE).await;
    let name = n.secret("kept");
    replicated_secret(&name, &[WEST, EU]).await;
    opt_out(&sm, &name).await;
    // The kept replicas are failures of the run: the invocation fails (the errors alarm)
    // and says why.
    let err = invoke(&ctx, full_sync())
        .await
        .expect_err("kept replicas fail the run")
        .to_string();
    assert!(
        err.contains("2 item(s) failed")
            && err.contains("is kept")
            && err.contains("REMOVE_OPTED_OUT_REPLICAS"),
        "{err}"
    );
    let replicas = sm
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap()
        .replication_status()
        .len();
    assert_eq!(replicas, 2, "both replicas are still there");
}

/// Tags a secret `rotor:replicate=false`.
async fn opt_out(sm: &aws_sdk_secretsmanager::Client, name: &str) {
    sm.tag_resource()
        .secret_id(name)
        .tags(
            SecretTag::builder()
                .key("rotor:replicate")
                .value("false")
                .build(),
        )
        .send()
        .await
        .unwrap();
}
