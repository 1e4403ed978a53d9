//! End-to-end support: the functions' built binaries run under cargo-lambda's emulator
//! (see `rotor_testkit::lambda`) and are invoked the way a user does it locally,
//! `cargo lambda invoke --data-file events/<fixture>.json`, with the fixture's
//! resource names swapped for the test's own.
//!
//! The binaries are those `cargo test --workspace` builds for the function packages'
//! own tests; `scripts/test.sh` runs exactly that.

use std::path::{Path, PathBuf};
use std::process::Command;

use rotor_testkit::lambda::{ErrorResponse, Function};
use serde_json::Value;

/// An `events/` fixture.
pub fn fixture(name: &str) -> Value {
    let path = rotor_testkit::workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `event` with the value at each JSON pointer replaced.
pub fn with(mut event: Value, replacements: &[(&str, Value)]) -> Value {
    for (pointer, value) in replacements {
        *event
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("the fixture has no {pointer}")) = value.clone();
    }
    event
}

/// Invokes `function` with `event` through `cargo lambda invoke --data-file`, as a user
/// would. The event is written to a file first (the emulator gets exactly its bytes).
pub fn invoke_cli(function: &Function, event: &Value) -> Result<Value, ErrorResponse> {
    let dir = std::env::temp_dir().join(format!("rotor-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create event dir");
    let file = dir.join(format!("{}.json", rotor_testkit::random_hex(6)));
    std::fs::write(
        &file,
        serde_json::to_vec_pretty(event).expect("serialise event"),
    )
    .expect("write event file");
    let result = invoke_file_cli(function, &file);
    let _ = std::fs::remove_file(&file);
    result
}

fn cargo_lambda() -> PathBuf {
    let path = rotor_testkit::workspace_root().join(".venv/bin/cargo-lambda");
    assert!(
        path.exists(),
        "cargo-lambda is not installed; run ./scripts/setup.sh"
    );
    path
}

/// `cargo lambda invoke <function> --data-file <file>` against the function's emulator.
pub fn invoke_file_cli(function: &Function, file: &Path) -> Result<Value, ErrorResponse> {
    let out = Command::new(cargo_lambda())
        .current_dir(rotor_testkit::workspace_root())
        .args([
            "lambda",
            "invoke",
            &function.name,
            "--invoke-address",
            "127.0.0.1",
        ])
        .args([
            "--invoke-port",
            &function.port.to_string(),
            "--output-format",
            "json",
        ])
        .arg("--data-file")
        .arg(file)
        .output()
        .expect("run cargo lambda invoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Ok(
            serde_json::from_str(stdout.trim()).unwrap_or(Value::String(stdout.trim().to_owned()))
        );
    }
    // cargo lambda reports a function error as `Error: <errorType>` and the message
    // on the following `×` / `│` lines.
    let text = format!("{stdout}\n{stderr}");
    let error_type = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Error: "))
        .unwrap_or("Unknown")
        .trim()
        .to_owned();
    let error_message = text
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix('×').or_else(|| l.strip_prefix('│')))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    Err(ErrorResponse {
        error_type,
        error_message: if error_message.is_empty() {
            text.trim().to_owned()
        } else {
            error_message
        },
    })
}

/// A built function binary (`target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    rotor_testkit::lambda::built_binary(name)
}
