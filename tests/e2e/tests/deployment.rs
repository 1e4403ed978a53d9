//! What a first deployment relies on, read from the files a user runs `sam` with:
//! `samconfig.toml` answers everything `sam deploy --guided` would ask but the stack name,
//! and the capability it grants is the one the template needs.

use rotor_testkit::workspace_root;

fn read(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `key = value` lines of one `[section]` of a TOML file (enough for samconfig's flat
/// tables).
fn section(toml: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("[{name}]");
    toml.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

#[test]
fn samconfig_answers_what_a_first_deploy_asks_but_the_stack_name() {
    let samconfig = read("samconfig.toml");
    let deploy = section(&samconfig, "default.deploy.parameters");
    let get = |k: &str| {
        deploy
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("capabilities"), Some("CAPABILITY_IAM"));
    assert_eq!(get("resolve_s3"), Some("true"));
    assert_eq!(get("confirm_changeset"), Some("true"));
    assert_eq!(
        get("stack_name"),
        None,
        "the stack name is the user's to choose"
    );
    let build = section(&samconfig, "default.build.parameters");
    assert!(build.iter().any(|(k, v)| k == "parallel" && v == "true"));
    assert!(build.iter().any(|(k, _)| k == "cached"));
}

#[test]
fn the_template_needs_no_capability_beyond_iam() {
    let template = read("template.yaml");
    // Custom names on IAM resources need CAPABILITY_NAMED_IAM (inline policy names do
    // not); nested applications need CAPABILITY_AUTO_EXPAND.
    let keys: Vec<&str> = template
        .lines()
        .filter_map(|l| l.trim_start().trim_start_matches("- ").split_once(':'))
        .map(|(k, _)| k)
        .collect();
    for named in [
        "RoleName",
        "UserName",
        "GroupName",
        "ManagedPolicyName",
        "InstanceProfileName",
    ] {
        assert!(
            !keys.contains(&named),
            "template.yaml names an IAM resource ({named}): samconfig.toml needs CAPABILITY_NAMED_IAM"
        );
    }
    assert!(
        !template.contains("AWS::Serverless::Application"),
        "a nested application needs CAPABILITY_AUTO_EXPAND"
    );
}

#[test]
fn the_published_version_is_the_workspace_version() {
    let cargo = read("Cargo.toml");
    let version = cargo
        .lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| l.trim().strip_prefix("version = "))
        .expect("workspace version")
        .trim_matches('"')
        .to_owned();
    let template = read("template.yaml");
    let published = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("SemanticVersion:"))
        .expect("SemanticVersion in the template's metadata")
        .trim()
        .to_owned();
    assert_eq!(published, version);
}

#[test]
fn the_audit_may_start_a_secret_s_rotation_but_never_choose_its_function() {
    let template = read("template.yaml");
    let statement: String = template
        .lines()
        .skip_while(|l| !l.contains("Sid: StartRotationOfTooOldSecrets"))
        .take_while(|l| !l.contains("AWS::NoValue"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        statement.contains("secretsmanager:RotateSecret"),
        "{statement}"
    );
    let null = statement
        .split("\"Null\":")
        .nth(1)
        .unwrap_or_else(|| panic!("no Null condition: {statement}"));
    assert!(
        null.contains("secretsmanager:RotationLambdaARN: \"true\""),
        "RotateSecret must require the request to carry no RotationLambdaARN: {statement}"
    );
}
