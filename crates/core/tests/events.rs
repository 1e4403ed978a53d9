//! Every fixture in `events/` is a real-shaped event of the trigger it names.

use std::path::PathBuf;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::secretsmanager::SecretsManagerSecretRotationEvent;

fn events_dir() -> PathBuf {
    rotor_testkit::workspace_root().join("events")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_fixture_is_valid_json_with_a_known_shape() {
    let mut seen = 0;
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rotation = value.get("Step").is_some();
        let eventbridge = value.get("detail-type").is_some() && value.get("detail").is_some();
        assert!(
            rotation || eventbridge,
            "{}: neither a rotation step nor an EventBridge event",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected at least the four rotation steps and a schedule"
    );
}

#[test]
fn the_four_rotation_step_fixtures_parse_as_rotation_events() {
    for (file, step) in [
        ("rotate-create-secret.json", "createSecret"),
        ("rotate-set-secret.json", "setSecret"),
        ("rotate-test-secret.json", "testSecret"),
        ("rotate-finish-secret.json", "finishSecret"),
    ] {
        let event: SecretsManagerSecretRotationEvent = serde_json::from_str(&read(file)).unwrap();
        assert_eq!(event.step, step, "{file}");
        assert!(
            event.secret_id.starts_with("arn:aws:secretsmanager:"),
            "{file}"
        );
        assert!(!event.client_request_token.is_empty(), "{file}");
    }
}

#[test]
fn every_eventbridge_fixture_parses_as_an_eventbridge_event() {
    let mut schedules = 0;
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("\"detail-type\"") {
            continue;
        }
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(event.time.is_some(), "{}: no time", path.display());
        if event.detail_type == "Scheduled Event" {
            assert_eq!(event.source, "aws.events", "{}", path.display());
            schedules += 1;
        }
    }
    assert!(
        schedules >= 3,
        "a schedule fixture for sync-url, replicate and audit"
    );
}
