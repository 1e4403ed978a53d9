//! Event mode against moto: CloudTrail events for parameters and secrets converge the two
//! target regions; events that must change nothing change nothing.

mod common;

use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use common::*;
use rotor_replicate::Trigger;
use rotor_replicate::params::{MONITORED_KEY, MONITORED_VALUE, REPLICA_KEY};
use rotor_testkit::{logs, moto, random_hex};

#[tokio::test]
async fn a_put_parameter_event_copies_every_kind_of_parameter_to_both_targets() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let ssm = moto().ssm(SOURCE).await;
    let (plain, list, secure, advanced) = (
        n.param("plain"),
        n.param("list"),
        n.param("secure"),
        n.param("advanced"),
    );
    let secure_value = format!("pw-{}", random_hex(12));
    ssm.put_parameter()
        .name(&plain)
        .value("db.internal")
        .r#type(ParameterType::String)
        .description("Orders database host")
        .tags(Tag::builder().key("team").value("orders").build().unwrap())
        .send()
        .await
        .unwrap();
    put(SOURCE, &list, "a,b,c", ParameterType::StringList).await;
    ssm.put_parameter()
        .name(&secure)
        .value(&secure_value)
        .r#type(ParameterType::SecureString)
        .description("Orders database password")
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name(&advanced)
        .value("x".repeat(5000))
        .r#type(ParameterType::String)
        .tier(ParameterTier::Advanced)
        .send()
        .await
        .unwrap();

    for name in [&plain, &list, &secure, &advanced] {
        let report = invoke_ok(
            &ctx,
            parameter_event("replicate-put-parameter.json", &[name]),
        )
        .await;
        assert_eq!(report.mode, "event");
        assert_eq!(report.parameters.total.copied, 2, "{name}");
    }

    for region in TARGETS {
        let p = read(region, &plain).await.expect("plain replica");
        assert_eq!(
            (p.value.as_str(), p.kind.as_str(), p.description.as_str()),
            ("db.internal", "String", "Orders database host")
        );
        assert_eq!(p.tags.get("team").map(String::as_str), Some("orders"));
        assert_eq!(
            p.tags.get(REPLICA_KEY).map(String::as_str),
            Some(SOURCE),
            "replicas carry their source region"
        );
        assert!(
            !p.tags.contains_key(MONITORED_KEY),
            "the source's monitoring tag is not copied"
        );
        let l = read(region, &list).await.expect("list replica");
        assert_eq!((l.value.as_str(), l.kind.as_str()), ("a,b,c", "StringList"));
        let s = read(region, &secure).await.expect("secure replica");
        assert_eq!(s.kind, "SecureString");
        assert!(
            s.value == secure_value,
            "the SecureString replica holds the decrypted source value"
        );
        assert_eq!(s.description, "Orders database password");
        let a = read(region, &advanced).await.expect("advanced replica");
        assert_eq!(a.tier, "Advanced");
        assert_eq!(a.value.len(), 5000);
    }
    let src = read(SOURCE, &plain).await.unwrap();
    assert_eq!(
        src.tags.get(MONITORED_KEY).map(String::as_str),
        Some(MONITORED_VALUE)
    );

    // The same event again (a retry, or a duplicate delivery) writes nothing.
    let again = invoke_ok(
        &ctx,
        parameter_event("replicate-put-parameter.json", &[&secure]),
    )
    .await;
    assert_eq!(again.write_calls, 0, "{:?}", again.api_calls);
    assert_eq!(again.parameters.total.unchanged, 2);
    logs::assert_absent(&secure_value, "SecureString value");
}

#[tokio::test]
async fn a_put_parameter_event_overwrites_a_changed_replica_and_syncs_tags() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let name = n.param("host");
    put(SOURCE, &name, "old", ParameterType::String).await;
    invoke_ok(
        &ctx,
        parameter_event("replicate-put-parameter.json", &[&name]),
    )
    .await;
    moto()
        .ssm(SOURCE)
        .await
        .put_parameter()
        .name(&name)
        .value("new")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    tag(SOURCE, &name, "team", "orders").await;
    let report = invoke_ok(
        &ctx,
        parameter_event("replicate-put-parameter.json", &[&name]),
    )
    .await;
    assert_eq!(report.parameters.total.updated, 2);
    assert_eq!(report.api_calls.get("PutParameter"), Some(&2));
    for region in TARGETS {
        let p = read(region, &name).await.unwrap();
        assert_eq!(p.value, "new");
        assert_eq!(p.tags.get("team").map(String::as_str), Some("orders"));
    }
    // A tag removed at the source is removed from the replicas on the tag event.
    moto()
        .ssm(SOURCE)
        .await
        .remove_tags_from_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id(&name)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let report = invoke_ok(
        &ctx,
        parameter_event("replicate-remove-tags-from-resource.json", &[&name]),
    )
    .await;
    assert_eq!(report.api_calls.get("RemoveTagsFromResource"), Some(&2));
    assert_eq!(
        report.api_calls.get("PutParameter"),
        None,
        "a tag change does not rewrite the value"
    );
    for region in TARGETS {
        assert!(!read(region, &name).await.unwrap().tags.contains_key("team"));
    }
    tag(SOURCE, &name, "tier", "gold").await;
    invoke_ok(
        &ctx,
        parameter_event("replicate-add-tags-to-resource.json", &[&name]),
    )
    .await;
    invoke_ok(
        &ctx,
        parameter_event("replicate-label-parameter-version.json", &[&name]),
    )
    .await;
    for region in TARGETS {
        assert_eq!(
            read(region, &name)
                .await
                .unwrap()
                .tags
                .get("tier")
                .map(String::as_str),
            Some("gold")
        );
    }
}

#[tokio::test]
async fn delete_parameter_events_delete_the_replicas() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let (one, two, three) = (n.param("one"), n.param("two"), n.param("three"));
    for name in [&one, &two, &three] {
        put(SOURCE, name, "v", ParameterType::String).await;
        invoke_ok(
            &ctx,
            parameter_event("replicate-put-parameter.json", &[name]),
        )
        .await;
    }
    let ssm = moto().ssm(SOURCE).await;
    ssm.delete_parameter().name(&one).send().await.unwrap();
    let report = invoke_ok(
        &ctx,
        parameter_event("replicate-delete-parameter.json", &[&one]),
    )
    .await;
    assert_eq!(report.parameters.total.deleted, 2);
    ssm.delete_parameters()
        .names(&two)
        .names(&three)
        .send()
        .await
        .unwrap();
    let report = invoke_ok(
        &ctx,
        parameter_event("replicate-delete-parameters.json", &[&two, &three]),
    )
    .await;
    assert_eq!(report.parameters.total.deleted, 4);
    for region in TARGETS {
        for name in [&one, &two, &three] {
            assert!(!exists(region, name).await, "{name} still in {region}");
        }
    }
}

#[tokio::test]
async fn a_delete_event_leaves_a_target_parameter_the_function_did_not_write() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let name = n.param("regional");
    put(WEST, &name, "west's own", ParameterType::String).await;
    let report = invoke_ok(
        &ctx,
        parameter_event("replicate-delete-parameter.json", &[&name]),
    )
    .await;
    assert_eq!(report.write_calls, 0);
    assert!(exists(WEST, &name).await);
}

#[tokio::test]
async fn a_create_secret_event_starts_native_replication_to_both_targets() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let sm = moto().secrets(SOURCE).await;
    let name = n.secret("db");
    let value = format!(r#"{{"username":"app","password":"{}"}}"#, random_hex(16));
    let arn = sm
        .create_secret()
        .name(&name)
        .secret_string(&value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let report = invoke_ok(
        &ctx,
        secret_event("replicate-create-secret.json", &name, Some(&arn)),
    )
    .await;
    assert_eq!(report.secrets.total.copied, 2);
    let described = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    let mut regions: Vec<&str> = described
        .replication_status()
        .iter()
        .filter_map(|r| r.region())
        .collect();
    regions.sort();
    assert_eq!(regions, [EU, WEST]);
    for region in TARGETS {
        let replica = moto()
            .secrets(region)
            .await
            .describe_secret()
            .secret_id(&name)
            .send()
            .await
            .unwrap();
        assert_eq!(replica.primary_region(), Some(SOURCE));
    }
    let again = invoke_ok(
        &ctx,
        secret_event("replicate-create-secret.json", &name, None),
    )
    .await;
    assert_eq!(again.write_calls, 0);
    assert_eq!(again.secrets.total.unchanged, 2);
    logs::assert_absent(&value, "secret value");
}

#[tokio::test]
async fn a_secret_replicated_to_one_target_gets_the_other_too() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let name = n.secret("partly");
    replicated_secret(&name, &[WEST]).await;
    let report = invoke_ok(
        &ctx,
        secret_event("replicate-create-secret.json", &name, None),
    )
    .await;
    assert_eq!(report.secrets.region(WEST).unchanged, 1);
    assert_eq!(report.secrets.region(EU).copied, 1);
    assert_eq!(report.api_calls.get("ReplicateSecretToRegions"), Some(&1));
}

#[tokio::test]
async fn failed_out_of_scope_and_foreign_region_events_change_nothing() {
    let n = Names::new();
    let role = "arn:aws:iam::123456789012:role/rotor-ReplicateRole-abc";
    let ctx = n.context(&[("OWN_ROLE_ARN", role)]).await;
    let name = n.param("quiet");
    put(SOURCE, &name, "v", ParameterType::String).await;

    let failed = fixture_named("replicate-put-parameter-failed.json", &name);
    let mut foreign = parameter_event("replicate-put-parameter.json", &[&name]);
    foreign["detail"]["awsRegion"] = WEST.into();
    let out_of_scope = parameter_event("replicate-put-parameter.json", &["/elsewhere/quiet"]);
    let mut own = parameter_event("replicate-put-parameter.json", &[&name]);
    own["detail"]["userIdentity"] = serde_json::json!({
        "type": "AssumedRole",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role}}
    });

    for (what, event) in [
        ("failed call", failed),
        ("call in a target region", foreign),
        ("out-of-scope name", out_of_scope),
        ("own write", own),
    ] {
        let report = invoke_ok(&ctx, event).await;
        assert_eq!(report.mode, "ignored", "{what}");
        assert!(report.ignored.is_some(), "{what}");
        assert_eq!(report.write_calls, 0, "{what}");
    }
    for region in TARGETS {
        assert!(!exists(region, &name).await);
    }
    let src = read(SOURCE, &name).await.unwrap();
    assert!(
        !src.tags.contains_key(MONITORED_KEY),
        "the source was not touched either"
    );

    // rotor's user agent, sent by someone else, suppresses nothing.
    let mut disguised = parameter_event("replicate-put-parameter.json", &[&name]);
    disguised["detail"]["userAgent"] =
        "aws-sdk-rust/1.3.9 os/linux lang/rust/1.94.0 app/rotor-replicate".into();
    let report = invoke_ok(&ctx, disguised).await;
    assert_eq!(report.mode, "event");
    for region in TARGETS {
        assert!(exists(region, &name).await, "replicated to {region}");
    }
}

fn fixture_named(file: &str, name: &str) -> serde_json::Value {
    parameter_event(file, &[name])
}

#[tokio::test]
async fn a_source_parameter_that_is_itself_a_replica_is_not_replicated_again() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let name = n.param("from-eu");
    moto()
        .ssm(SOURCE)
        .await
        .put_parameter()
        .name(&name)
        .value("v")
        .r#type(ParameterType::String)
        .tags(Tag::builder().key(REPLICA_KEY).value(EU).build().unwrap())
        .send()
        .await
        .unwrap();
    let report = invoke_ok(
        &ctx,
        parameter_event("replicate-put-parameter.json", &[&name]),
    )
    .await;
    assert_eq!(report.write_calls, 0);
    assert!(!exists(WEST, &name).await);
}

#[test]
fn every_replicate_fixture_is_understood() {
    let config =
        rotor_replicate::Config::from_settings(&rotor_core::config::Settings::from_pairs(&[
            ("SOURCE_REGION", SOURCE),
            ("TARGET_REGIONS", "us-west-2,eu-west-1"),
        ]))
        .unwrap();
    let dir = rotor_testkit::workspace_root().join("events");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if !file.starts_with("replicate-") {
            continue;
        }
        let trigger = rotor_replicate::event::classify(&fixture(&file), &config).unwrap();
        let expected = match file.as_str() {
            "replicate-full-sync.json" => matches!(trigger, Trigger::FullSync),
            "replicate-create-secret.json" => matches!(trigger, Trigger::Secret { .. }),
            f if f.ends_with("-failed.json") => matches!(trigger, Trigger::Ignore { .. }),
            _ => matches!(trigger, Trigger::Parameters { .. }),
        };
        assert!(expected, "{file}: {trigger:?}");
        seen += 1;
    }
    assert_eq!(seen, 10);
}

#[tokio::test]
async fn a_secret_named_by_partial_arn_is_scoped_by_its_real_name() {
    // `<base>/internal-signer` ends in six characters after a dash, like an ARN's random
    // suffix; a partial ARN of it must not be scoped as `<base>/internal`.
    let n = Names::new();
    let excluded = n.secret("internal-");
    let ctx = n
        .context(&[("SECRET_EXCLUDE_PREFIXES", excluded.as_str())])
        .await;
    let name = n.secret("internal-signer");
    let sm = moto().secrets(SOURCE).await;
    let arn = sm
        .create_secret()
        .name(&name)
        .secret_string("x")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let partial = arn.rsplit_once('-').unwrap().0.to_owned();
    assert!(partial.ends_with("internal-signer"), "{partial}");
    let mut event = secret_event("replicate-create-secret.json", &name, None);
    event["detail"]["eventName"] = "TagResource".into();
    event["detail"]["responseElements"] = serde_json::Value::Null;
    let request = event["detail"]["requestParameters"]
        .as_object_mut()
        .unwrap();
    request.remove("name");
    request.insert("secretId".into(), partial.into());

    let report = invoke_ok(&ctx, event).await;

    assert_eq!(report.mode, "event");
    let described = sm.describe_secret().secret_id(&name).send().await.unwrap();
    assert!(
        described.replication_status().is_empty(),
        "an excluded secret was replicated"
    );
}

/// The report of a run some of whose items failed.
async fn invoke_failed(
    ctx: &rotor_replicate::Context,
    event: serde_json::Value,
) -> rotor_replicate::report::Report {
    match invoke(ctx, event).await {
        Err(rotor_replicate::ReplicateError::ItemsFailed(report)) => *report,
        Err(e) => panic!("the run failed otherwise: {e}"),
        Ok(_) => panic!("the run succeeded; items should have failed"),
    }
}

#[tokio::test]
async fn a_secure_string_on_a_customer_key_is_never_replicated_under_the_aws_managed_key() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let ssm = moto().ssm(SOURCE).await;
    let (bare, aliased) = (n.param("on-cmk"), n.param("on-alias"));
    for (name, key) in [
        (
            &bare,
            "arn:aws:kms:us-east-1:123456789012:key/0d3b4c1e-7a2f-4c59-9b1e-2f6a8c9d0e1f",
        ),
        (&aliased, "alias/orders"),
    ] {
        ssm.put_parameter()
            .name(name)
            .value(format!("pw-{}", random_hex(8)))
            .r#type(ParameterType::SecureString)
            .key_id(key)
            .send()
            .await
            .unwrap();
    }

    let report = invoke_failed(
        &ctx,
        parameter_event("replicate-put-parameter.json", &[&bare]),
    )
    .await;
    assert_eq!(report.parameters.total.failed, 2);
    assert!(
        report.failures[0].cause.contains("TARGET_KMS_KEYS"),
        "{}",
        report.failures[0].cause
    );
    for region in TARGETS {
        assert!(!exists(region, &bare).await, "no replica in {region}");
    }

    let report = invoke_ok(
        &ctx,
        parameter_event("replicate-put-parameter.json", &[&aliased]),
    )
    .await;
    assert_eq!(report.parameters.total.copied, 2);
    for region in TARGETS {
        let replica = read(region, &aliased).await.expect("replica");
        assert_eq!(replica.key_id.as_deref(), Some("alias/orders"), "{region}");
    }

    let allowing = n.context(&[("ALLOW_AWS_MANAGED_KEY", "true")]).await;
    let report = invoke_ok(
        &allowing,
        parameter_event("replicate-put-parameter.json", &[&bare]),
    )
    .await;
    assert_eq!(report.parameters.total.copied, 2, "allowed explicitly");
}

#[tokio::test]
async fn a_secret_on_a_customer_key_is_not_replicated_without_a_key_for_the_target() {
    let n = Names::new();
    let ctx = n.context(&[]).await;
    let name = n.secret("on-cmk");
    let sm = moto().secrets(SOURCE).await;
    let arn = sm
        .create_secret()
        .name(&name)
        .secret_string("x")
        .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/0d3b4c1e-7a2f-4c59-9b1e-2f6a8c9d0e1f")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();

    let report = invoke_failed(
        &ctx,
        secret_event("replicate-create-secret.json", &name, Some(&arn)),
    )
    .await;

    assert_eq!(report.secrets.total.failed, 2);
    let described = sm.describe_secret().secret_id(&name).send().await.unwrap();
    assert!(described.replication_status().is_empty());
}
