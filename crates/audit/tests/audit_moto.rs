//! rotor-audit against moto: a mixed account (set up and audited once, then checked part
//! by part), the SNS report read back through SQS, the
//! EMF line, AUTO_ROTATE and DRY_RUN, pagination, and no secret value read or logged.
//!
//! "Now" is the scheduled event's `time`, so these tests audit weeks ahead instead of
//! waiting. moto dates every secret "now", never returns `LastAccessedDate`, and dates
//! every version "now" in ListSecretVersionIds; the decisions those fields drive are
//! covered by the unit tests in `checks.rs`.

mod support;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use futures::StreamExt;
use rotor_audit::{Code, ReportStatus, RotationOutcome};
use rotor_testkit::{moto, unique};
use serde_json::Value;
use support::{CMK, Spec, audit, create, days_from_now, last_rotated, pending_version};

const REGION: &str = "us-east-1";

fn found(outcome: &rotor_audit::Outcome) -> BTreeSet<(String, String)> {
    outcome
        .findings
        .iter()
        .map(|f| (f.code.as_str().to_owned(), f.name.clone()))
        .collect()
}

/// (name, outcome) of every rotation AUTO_ROTATE reported.
fn rotations(outcome: &rotor_audit::Outcome) -> Vec<(&str, RotationOutcome)> {
    outcome
        .rotations
        .iter()
        .map(|r| (r.name.as_str(), r.outcome))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    expected
        .iter()
        .map(|(c, n)| ((*c).to_owned(), (*n).to_owned()))
        .collect()
}

/// The mixed account, audited once as of 60 days ahead; the tests below each check one
/// part of that run. Its secrets and parameters are named under their own prefix, so the
/// other tests running beside it do not disturb it.
struct MixedAccount {
    /// The prefix in scope, with its trailing slash.
    p: String,
    /// (code, name) of every finding the run must produce.
    expected: Vec<(&'static str, String)>,
    outcome: rotor_audit::Outcome,
    /// The SNS messages read back from the topic's queue.
    messages: Vec<String>,
    /// The EMF lines the run wrote.
    emf: Vec<String>,
    /// Every secret and parameter value created, to prove none shows anywhere.
    values: Vec<String>,
}

impl MixedAccount {
    fn n(&self, s: &str) -> String {
        format!("{}{s}", self.p)
    }

    fn emf(&self) -> Value {
        assert_eq!(self.emf.len(), 1, "one metrics line per run");
        serde_json::from_str(&self.emf[0]).expect("EMF is one JSON object")
    }
}

/// Set up and audited once, on a runtime of its own, so no test's runtime owns the
/// clients; a failure here fails every mixed-account test with the set-up's message.
fn mixed() -> &'static MixedAccount {
    static MIXED: OnceLock<MixedAccount> = OnceLock::new();
    MIXED.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the set-up")
                .block_on(set_up_mixed_account())
        })
        .join()
        .expect("the mixed account is set up and audited")
    })
}

async fn set_up_mixed_account() -> MixedAccount {
    let sm = moto().secrets(REGION).await;
    let ssm = moto().ssm(REGION).await;
    let p = format!("{}/", unique("audit-mixed"));
    let other = format!("{}/", unique("audit-elsewhere"));
    let n = |s: &str| format!("{p}{s}");
    let (topic, queue) = moto()
        .topic_with_queue(REGION, &unique("audit-mixed"))
        .await;
    let on_cmk = || Spec {
        kms: Some(CMK),
        ..Default::default()
    };
    let rotating = Spec::rotating_on_cmk;
    let tagged =
        |tags: &'static [(&'static str, &'static str)], base: Spec<'static>| Spec { tags, ..base };

    let mut values = Vec::new();
    for (name, spec) in [
        (n("app/fresh"), rotating(90)),
        (n("db/old"), rotating(90)),
        (n("db/never-rotated"), on_cmk()),
        (n("app/rotation-off"), on_cmk()),
        (n("app/overdue"), rotating(7)),
        (
            n("app/pending-left"),
            Spec {
                leave_pending: true,
                ..rotating(90)
            },
        ),
        (
            n("legacy/unused"),
            Spec {
                replica_region: Some("eu-west-1"),
                ..rotating(90)
            },
        ),
        (
            n("app/aws-key"),
            Spec {
                rotation_days: Some(90),
                ..Default::default()
            },
        ),
        (
            n("app/tagged-max-age"),
            tagged(&[("rotor:max-age-days", "30")], rotating(90)),
        ),
        (
            n("app/tagged-skip"),
            tagged(&[("rotor:audit", "skip")], Spec::default()),
        ),
        (
            n("app/tagged-bad"),
            tagged(&[("rotor:max-age-days", "soon")], rotating(90)),
        ),
        (
            n("app/tagged-interval"),
            tagged(&[("rotor:max-rotation-interval-days", "30")], rotating(90)),
        ),
        (
            n("app/rds-managed"),
            tagged(&[("aws:secretsmanager:owningService", "rds")], on_cmk()),
        ),
        (n("app/deleted"), on_cmk()),
        (format!("{other}out-of-scope"), Spec::default()),
    ] {
        values.push(create(&sm, &name, spec).await);
    }
    sm.delete_secret()
        .secret_id(n("app/deleted"))
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    for (name, kind) in [
        (format!("/{p}db/password"), "SecureString"),
        (format!("/{p}app/token"), "SecureString"),
        (format!("/{p}app/plain"), "String"),
        (format!("/{other}param"), "SecureString"),
    ] {
        let value = rotor_testkit::random_hex(16);
        ssm.put_parameter()
            .name(name)
            .value(&value)
            .r#type(kind.into())
            .send()
            .await
            .unwrap();
        values.push(value);
    }

    let rules = format!(
        r#"[{{"prefix":"{p}db/","max_age_days":30}},{{"prefix":"{p}legacy/","unused_days":30}}]"#
    );
    let run = audit(
        REGION,
        &[
            ("PREFIXES", &p),
            ("ENVIRONMENT", "prod"),
            ("AUDIT_PARAMETERS", "true"),
            ("REQUIRE_CUSTOMER_KEY", "true"),
            ("POLICY_RULES", &rules),
            ("SNS_TOPIC_ARN", &topic),
        ],
        days_from_now(60),
    )
    .await;
    let messages = moto().drain_queue(REGION, &queue).await;

    let expected = vec![
        ("too-old", n("db/old")),
        ("too-old", n("db/never-rotated")),
        ("rotation-disabled", n("db/never-rotated")),
        ("rotation-disabled", n("app/rotation-off")),
        ("rotation-overdue", n("app/overdue")),
        ("rotation-failing", n("app/pending-left")),
        ("unused", n("legacy/unused")),
        ("no-customer-key", n("app/aws-key")),
        ("too-old", n("app/tagged-max-age")),
        ("invalid-policy", n("app/tagged-bad")),
        ("rotation-disabled", n("app/tagged-interval")),
        ("scheduled-for-deletion", n("app/deleted")),
        ("too-old", format!("/{p}db/password")),
    ];
    MixedAccount {
        p,
        expected,
        outcome: run.outcome,
        messages,
        emf: run.emf,
        values,
    }
}

#[test]
fn a_mixed_account_yields_exactly_the_expected_findings() {
    let m = mixed();
    let expected: Vec<(&str, &str)> = m.expected.iter().map(|(c, n)| (*c, n.as_str())).collect();
    assert_eq!(found(&m.outcome), pairs(&expected));
}

#[test]
fn a_mixed_account_counts_what_is_in_scope_and_what_policy_skipped() {
    let o = &mixed().outcome;
    assert_eq!(o.secrets_audited, 13, "14 in scope minus the skipped one");
    assert_eq!(o.parameters_audited, 2, "SecureStrings in scope only");
    assert_eq!(o.skipped_by_policy, 1);
    assert_eq!(o.environment, "prod");
}

#[test]
fn a_mixed_account_lists_its_rds_owned_secret_as_managed() {
    let m = mixed();
    assert_eq!(
        m.outcome
            .managed
            .iter()
            .map(|m| (m.name.as_str(), m.owning_service.as_str()))
            .collect::<Vec<_>>(),
        [(m.n("app/rds-managed").as_str(), "rds")]
    );
}

#[test]
fn each_finding_of_a_mixed_account_names_the_security_hub_control_of_its_code() {
    for f in &mixed().outcome.findings {
        let control = match f.code {
            Code::RotationDisabled => Some("SecretsManager.1"),
            Code::RotationOverdue => Some("SecretsManager.2"),
            Code::Unused => Some("SecretsManager.3"),
            Code::TooOld => Some("SecretsManager.4"),
            _ => None,
        };
        assert_eq!(f.control, control, "{}", f.code.as_str());
    }
}

#[test]
fn a_mixed_account_costs_per_secret_calls_only_where_the_listing_left_a_check_open() {
    // The left-over AWSPENDING (its age) and the unused candidate (its replicas' access).
    let calls = &mixed().outcome.calls;
    assert_eq!(calls.get("ListSecrets"), Some(&1));
    assert_eq!(calls.get("ListSecretVersionIds"), Some(&1));
    assert_eq!(calls.get("DescribeSecret"), Some(&1));
    assert_eq!(calls.get("Publish"), Some(&1));
    assert!(calls.get("DescribeParameters").is_some());
    assert!(!calls.contains_key("RotateSecret"), "AUTO_ROTATE is off");
}

#[test]
fn auditing_a_mixed_account_never_calls_get_secret_value() {
    let calls = &mixed().outcome.calls;
    assert!(!calls.contains_key("GetSecretValue"), "{calls:?}");
}

#[test]
fn a_mixed_account_report_is_one_sns_message_naming_every_finding() {
    let m = mixed();
    assert_eq!(m.messages.len(), 1);
    let report = &m.messages[0];
    assert!(matches!(m.outcome.report, ReportStatus::Sent { .. }));
    assert!(report.contains("Audited 13 secrets and 2 parameters: 13 findings."));
    for (code, name) in &m.expected {
        assert!(
            report.contains(&format!("== {code}")),
            "report lacks {code}"
        );
        assert!(report.contains(name.as_str()), "report lacks {name}");
    }
    assert!(report.contains("== Managed by another service =="));
    assert!(!report.contains(&m.n("app/fresh")));
    assert!(!report.contains("out-of-scope"));
}

#[test]
fn a_mixed_account_writes_one_emf_line_with_the_environment_and_a_count_per_code() {
    let emf = mixed().emf();
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    assert!(emf["_aws"]["Timestamp"].as_i64().unwrap() > 0);
    assert_eq!(directive["Namespace"], "rotor");
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["Environment"]])
    );
    assert_eq!(emf["Environment"], "prod");
    let declared: BTreeSet<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["Unit"], "Count");
            m["Name"].as_str().unwrap()
        })
        .collect();
    for name in &declared {
        assert!(emf[*name].is_number(), "{name} declared but absent");
    }
    for code in Code::ALL {
        assert!(
            declared.contains(code.as_str()),
            "{} not declared",
            code.as_str()
        );
    }
    assert_eq!(emf["SecretsAudited"], 13.0);
    assert_eq!(emf["ParametersAudited"], 2.0);
    assert_eq!(emf["too-old"], 4.0);
    assert_eq!(emf["rotation-disabled"], 3.0);
    assert_eq!(emf["unused"], 1.0);
    assert_eq!(emf["ManagedByService"], 1.0);
}

#[test]
fn no_value_of_a_mixed_account_reaches_the_output_report_metrics_or_logs() {
    // The audit never had a value to leak; this proves it.
    let m = mixed();
    let output = serde_json::to_string(&m.outcome).unwrap();
    for v in &m.values {
        rotor_testkit::logs::assert_absent(v, "secret value");
        assert!(
            !output.contains(v.as_str()),
            "the output contains a secret value"
        );
        for report in &m.messages {
            assert!(
                !report.contains(v.as_str()),
                "the report contains a secret value"
            );
        }
        for line in &m.emf {
            assert!(
                !line.contains(v.as_str()),
                "the metrics contain a secret value"
            );
        }
    }
}

#[tokio::test]
async fn a_clean_account_sends_no_report_unless_report_is_always() {
    let sm = moto().secrets(REGION).await;
    let p = format!("{}/", unique("audit-clean"));
    let (topic, queue) = moto()
        .topic_with_queue(REGION, &unique("audit-clean"))
        .await;
    create(&sm, &format!("{p}db/main"), Spec::rotating_on_cmk(30)).await;
    let settings = [("PREFIXES", p.as_str()), ("SNS_TOPIC_ARN", topic.as_str())];

    let run = audit(REGION, &settings, days_from_now(1)).await;
    assert!(
        run.outcome.findings.is_empty(),
        "{:?}",
        run.outcome.findings
    );
    assert_eq!(run.outcome.secrets_audited, 1);
    assert_eq!(run.outcome.report, ReportStatus::NotNeeded);
    assert!(!run.outcome.calls.contains_key("Publish"));
    assert!(moto().drain_queue(REGION, &queue).await.is_empty());

    let always = [settings[0], settings[1], ("REPORT", "always")];
    let run = audit(REGION, &always, days_from_now(1)).await;
    assert!(matches!(run.outcome.report, ReportStatus::Sent { .. }));
    let messages = moto().drain_queue(REGION, &queue).await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("Audited 1 secrets and 0 parameters: 0 findings."));
}

#[tokio::test]
async fn auto_rotate_starts_rotations_only_for_too_old_secrets_with_rotation_configured() {
    let sm = moto().secrets(REGION).await;
    let p = format!("{}/", unique("audit-rotate"));
    let name = |s: &str| format!("{p}{s}");
    let spec = |days: Option<i64>, pending: bool| Spec {
        kms: Some(CMK),
        rotation_days: days,
        leave_pending: pending,
        ..Default::default()
    };
    // Old: 40 days at the audit's "now", limit 30 under the prefix rule.
    create(&sm, &name("old/rotating"), spec(Some(60), false)).await;
    create(&sm, &name("old/no-rotation"), spec(None, false)).await;
    create(&sm, &name("old/stuck"), spec(Some(60), true)).await;
    create(&sm, &name("new/rotating"), spec(Some(60), false)).await;
    let rules = format!(r#"[{{"prefix":"{p}old/","max_age_days":30}}]"#);
    let settings = |dry_run| {
        [
            ("PREFIXES", p.as_str()),
            ("POLICY_RULES", rules.as_str()),
            ("AUTO_ROTATE", "true"),
            ("DRY_RUN", dry_run),
        ]
    };

    // DRY_RUN: says what it would start, starts nothing.
    let run = audit(REGION, &settings("true"), days_from_now(40)).await;
    assert_eq!(
        rotations(&run.outcome),
        [(name("old/rotating").as_str(), RotationOutcome::WouldStart)]
    );
    assert!(!run.outcome.calls.contains_key("RotateSecret"));
    for s in [
        "old/rotating",
        "old/no-rotation",
        "old/stuck",
        "new/rotating",
    ] {
        assert_eq!(
            last_rotated(&sm, &name(s)).await,
            None,
            "{s} was rotated in a dry run"
        );
    }

    let run = audit(REGION, &settings("false"), days_from_now(40)).await;
    assert_eq!(
        rotations(&run.outcome),
        [(name("old/rotating").as_str(), RotationOutcome::Started)]
    );
    assert_eq!(run.outcome.calls.get("RotateSecret"), Some(&1));
    assert!(last_rotated(&sm, &name("old/rotating")).await.is_some());
    for s in ["old/no-rotation", "old/stuck", "new/rotating"] {
        assert_eq!(
            last_rotated(&sm, &name(s)).await,
            None,
            "{s} should not rotate"
        );
    }
    assert!(pending_version(&sm, &name("old/stuck")).await.is_some());
    let emf: Value = serde_json::from_str(&run.emf[0]).unwrap();
    assert_eq!(emf["RotationsStarted"], 1.0);
}

#[tokio::test]
async fn pagination_audits_all_250_secrets() {
    let region = "us-west-2";
    let sm = moto().secrets(region).await;
    let p = format!("{}/", unique("audit-pages"));
    let names: BTreeSet<String> = (0..250).map(|i| format!("{p}s{i:03}")).collect();
    futures::stream::iter(names.iter())
        .for_each_concurrent(16, |name| {
            let sm = &sm;
            async move {
                sm.create_secret()
                    .name(name)
                    .secret_string("x")
                    .kms_key_id(CMK)
                    .send()
                    .await
                    .expect("CreateSecret");
            }
        })
        .await;

    let run = audit(region, &[("PREFIXES", &p)], days_from_now(0)).await;
    assert_eq!(run.outcome.secrets_audited, 250);
    let disabled: BTreeSet<String> = run
        .outcome
        .findings
        .iter()
        .filter(|f| f.code == Code::RotationDisabled)
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(disabled, names, "every secret was audited");
    assert_eq!(
        run.outcome.calls.get("ListSecrets"),
        Some(&3),
        "100 per page"
    );
}

#[tokio::test]
async fn an_invoke_without_a_time_audits_as_of_the_clock() {
    let (ctx, _) = support::context(REGION, &[("PREFIXES", "audit-nothing-here/")]).await;
    let before = chrono::Utc::now();
    let event =
        lambda_runtime::LambdaEvent::new(serde_json::json!({}), lambda_runtime::Context::default());
    let o = rotor_audit::handler(event, &ctx).await.unwrap();
    let as_of = chrono::DateTime::parse_from_rfc3339(&o.as_of).unwrap();
    assert!(
        (as_of.with_timezone(&chrono::Utc) - before)
            .num_seconds()
            .abs()
            < 60
    );
    assert_eq!(o.secrets_audited, 0);
    assert_eq!(o.report, ReportStatus::NoTopic);
}

#[tokio::test]
async fn a_bad_event_time_fails_with_a_stable_error_type() {
    let (ctx, _) = support::context(REGION, &[]).await;
    let event = lambda_runtime::LambdaEvent::new(
        serde_json::json!({"time": "tomorrow"}),
        lambda_runtime::Context::default(),
    );
    let err = rotor_audit::handler(event, &ctx).await.unwrap_err();
    let d: lambda_runtime::Diagnostic = err.into();
    assert_eq!(d.error_type, "Rotor.InvalidEvent");
    assert!(d.error_message.contains("time"));
    assert!(
        ctx.calls().snapshot().is_empty(),
        "no AWS call for a bad event"
    );
}

#[tokio::test]
async fn a_report_that_cannot_be_sent_fails_the_run_after_the_metrics_are_written() {
    let sm = moto().secrets(REGION).await;
    let p = format!("{}/", unique("audit-no-topic"));
    create(&sm, &format!("{p}db/main"), Spec::default()).await;
    let missing = "arn:aws:sns:us-east-1:123456789012:rotor-audit-no-such-topic";
    let (ctx, captured) =
        support::context(REGION, &[("PREFIXES", &p), ("SNS_TOPIC_ARN", missing)]).await;
    let event = lambda_runtime::LambdaEvent::new(
        support::scheduled_event(days_from_now(0)),
        lambda_runtime::Context::default(),
    );
    let err = rotor_audit::handler(event, &ctx).await.unwrap_err();
    let d: lambda_runtime::Diagnostic = err.into();
    assert_eq!(d.error_type, "Rotor.Aws.NotFound");
    assert!(
        d.error_message.starts_with("Publish failed"),
        "{}",
        d.error_message
    );
    let emf: Value = serde_json::from_str(&captured.lines()[0]).unwrap();
    assert_eq!(
        emf["rotation-disabled"], 1.0,
        "metrics still reach CloudWatch"
    );
}

#[test]
fn the_scheduled_fixture_carries_the_audit_moment() {
    let event = support::scheduled_event(days_from_now(0));
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            rotor_testkit::workspace_root().join("events/audit-scheduled.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(fixture["detail-type"], "Scheduled Event");
    assert_eq!(fixture["source"], "aws.events");
    let t = rotor_audit::event::as_of(&fixture).unwrap().unwrap();
    assert_eq!(t.to_rfc3339(), "2026-11-24T06:00:00+00:00");
    assert!(rotor_audit::event::as_of(&event).unwrap().is_some());
}

#[tokio::test]
async fn a_report_reaches_a_topic_in_another_region() {
    let sm = moto().secrets(REGION).await;
    let p = format!("{}/", unique("audit-elsewhere"));
    let elsewhere = "eu-central-1";
    let (topic, queue) = moto()
        .topic_with_queue(elsewhere, &unique("audit-elsewhere"))
        .await;
    create(&sm, &format!("{p}db/main"), Spec::rotating_on_cmk(30)).await;
    let settings = [
        ("PREFIXES", p.as_str()),
        ("SNS_TOPIC_ARN", topic.as_str()),
        ("REPORT", "always"),
    ];

    let run = audit(REGION, &settings, days_from_now(1)).await;

    assert!(
        matches!(run.outcome.report, ReportStatus::Sent { .. }),
        "{:?}",
        run.outcome.report
    );
    assert_eq!(moto().drain_queue(elsewhere, &queue).await.len(), 1);
}
