//! The functions' built binaries run under cargo-lambda's local Lambda emulator, as Lambda
//! runs them: the runtime API, invocations with a request id and a deadline, error
//! responses with `errorType` and `errorMessage`.
//!
//! [`start`] runs `cargo lambda watch --only-lambda-apis` (from the project's `.venv`) on a
//! free port and starts an already built function binary against it, with the environment
//! Lambda gives a function plus the test's own (pointed at moto and PostgreSQL).
//! The emulator does not compile anything, so tests never rebuild inside the shared target
//! directory. It accepts only names of the workspace's binaries and runs one instance per
//! name, so each started function gets its own emulator: tests with different settings run
//! in parallel. [`Function::invoke`] sends an event through the emulator's Invoke API, as
//! `cargo lambda invoke` does. Both processes stop when the [`Function`] is dropped, and
//! in any case when the test binary exits.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{free_port, spawn_tied};

/// The error a function returned (the Invoke API's `errorType` and `errorMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub error_type: String,
    pub error_message: String,
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl std::error::Error for ErrorResponse {}

/// A function binary running under its own emulator.
#[derive(Debug)]
pub struct Function {
    /// The function's name: the binary's name, as in `cargo lambda invoke <name>`.
    pub name: String,
    /// The emulator's port (`cargo lambda invoke --invoke-port <port>`).
    pub port: u16,
    /// The function's stdout and stderr.
    pub log_file: PathBuf,
    /// The emulator's own output.
    pub emulator_log_file: PathBuf,
    function: Mutex<Child>,
    emulator: Mutex<Child>,
}

/// The environment that points a function's AWS SDK at moto in `region`.
pub fn moto_env(region: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", crate::moto().endpoint.as_str()),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A binary of this workspace built by cargo, next to the running test or example
/// (`target/<profile>/<name>`). Integration tests of the function's own package should
/// prefer `env!("CARGO_BIN_EXE_<name>")`, which cargo guarantees is built.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if matches!(
        dir.file_name().and_then(|n| n.to_str()),
        Some("deps" | "examples")
    ) {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build -p {name}` (with the same profile) first",
        path.display()
    );
    path
}

/// Starts an emulator and the function `binary` against it, with the environment Lambda
/// gives a function plus `env`. The name is the binary's file name.
pub fn start(binary: &Path, env: &[(String, String)]) -> Function {
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .expect("binary has a file name")
        .to_owned();
    let root = crate::workspace_root();
    let cargo_lambda = root.join(".venv/bin/cargo-lambda");
    assert!(
        cargo_lambda.exists(),
        "cargo-lambda is not installed at {}; run ./scripts/setup.sh",
        cargo_lambda.display()
    );
    let dir = crate::postgres::scratch_dir("lambda");
    let emulator_log_file = dir.join("emulator.log");
    let log = std::fs::File::create(&emulator_log_file).expect("create emulator log");
    let port = free_port();
    let mut cmd = Command::new(&cargo_lambda);
    // It reads the workspace's metadata (the function names it accepts) at start.
    cmd.current_dir(&root)
        .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"])
        .arg("127.0.0.1")
        .arg("--invoke-port")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log);
    let mut emulator = spawn_tied(cmd, libc::SIGTERM).expect("start cargo lambda watch");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = emulator.try_wait() {
            panic!(
                "cargo lambda watch exited ({status}); its log:\n{}",
                std::fs::read_to_string(&emulator_log_file).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let log_file = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_file).expect("create function log");
    let mut cmd = Command::new(binary);
    cmd.env(
        "AWS_LAMBDA_RUNTIME_API",
        format!("http://127.0.0.1:{port}/.rt/{name}"),
    )
    .env("AWS_LAMBDA_FUNCTION_NAME", &name)
    .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    .env("AWS_LAMBDA_LOG_STREAM_NAME", &name)
    .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    .stdin(Stdio::null())
    .stdout(log.try_clone().expect("clone log handle"))
    .stderr(log);
    let function = match spawn_tied(cmd, libc::SIGTERM) {
        Ok(child) => child,
        Err(e) => {
            let _ = emulator.kill();
            let _ = emulator.wait();
            panic!("start {}: {e}", binary.display());
        }
    };
    Function {
        name,
        port,
        log_file,
        emulator_log_file,
        function: Mutex::new(function),
        emulator: Mutex::new(emulator),
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        for child in [&self.function, &self.emulator] {
            if let Ok(mut child) = child.lock() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Function {
    /// Everything the function has printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The function process's id (for `/proc/<pid>/status` and the like).
    pub fn pid(&self) -> u32 {
        self.function.lock().map(|c| c.id()).unwrap_or(0)
    }

    /// Whether the function's process is still running (it exits on a start-up error).
    pub fn is_running(&self) -> bool {
        self.function
            .lock()
            .map(|mut c| matches!(c.try_wait(), Ok(None)))
            .unwrap_or(false)
    }

    /// Invokes the function with `event` (waiting at most 120 s).
    pub async fn invoke(&self, event: &Value) -> Result<Value, ErrorResponse> {
        self.invoke_within(event, Duration::from_secs(120)).await
    }

    /// Invokes the function with the JSON in `path` (an `events/` fixture), as
    /// `cargo lambda invoke --data-file <path>` does.
    pub async fn invoke_file(&self, path: &Path) -> Result<Value, ErrorResponse> {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let event: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        self.invoke(&event).await
    }

    /// As [`Function::invoke`], with a limit on the wait. Panics when the function
    /// does not answer at all (with whether its process still runs).
    pub async fn invoke_within(
        &self,
        event: &Value,
        limit: Duration,
    ) -> Result<Value, ErrorResponse> {
        let body = serde_json::to_vec(event).expect("serialise event");
        let request = format!(
            "POST /2015-03-31/functions/{}/invocations HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.name,
            self.port,
            body.len()
        );
        // One write, and no Nagle: headers and body in two segments would wait for the
        // emulator's delayed ACK of the first (40 ms on Linux) on every invocation.
        let mut message = request.into_bytes();
        message.extend_from_slice(&body);
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            stream.set_nodelay(true)?;
            stream.write_all(&message).await?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await?;
            Ok::<_, std::io::Error>(response)
        };
        let response = match tokio::time::timeout(limit, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("invoke {}: {e}", self.name),
            Err(_) => panic!(
                "invoke {}: no response within {limit:?} (function running: {})",
                self.name,
                self.is_running()
            ),
        };
        let (status, headers, body) = parse_response(&response)
            .unwrap_or_else(|| panic!("invoke {}: malformed HTTP response", self.name));
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        let function_error = headers.iter().any(|(k, _)| k == "x-amz-function-error");
        if status >= 300 || function_error {
            return Err(ErrorResponse {
                error_type: value["errorType"].as_str().unwrap_or("Unknown").to_owned(),
                error_message: value["errorMessage"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("HTTP {status}: {value}")),
            });
        }
        Ok(value)
    }
}

type Headers = Vec<(String, String)>;

/// Status, lower-cased headers and the (de-chunked) body of an HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> Option<(u16, Headers, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some((status, headers, body))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_length_or_chunked_bodies() {
        let (status, headers, body) =
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((status, body.as_slice()), (200, b"{}".as_slice()));
        assert!(headers.iter().any(|(k, _)| k == "content-length"));
        let (_, _, body) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(body, b"{\"a\":1}");
    }
}
