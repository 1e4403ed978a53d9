//! moto's standalone server, from the project's virtualenv, on a free loopback port.
//! One server answers for every region (the region comes from the request signature).
//!
//! It is started through `crates/testkit/moto/server.py`: moto's own server with one change,
//! which makes Secrets Manager keep a stored AWSPENDING value as AWS keeps it (PutSecretValue
//! under that version id with another value is refused, where stock moto overwrites it).
//! With `ROTOR_MOTO_AWS_PAGES=1` (benchmarks at scale) it also applies
//! `crates/testkit/moto/aws_pages.py`: `DescribeParameters` paged by `MaxResults` (up to 50,
//! as AWS pages it) and each page costing time in proportion to the page rather than to the
//! region's parameter count. The tests keep moto's own paging.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::process::{free_port, spawn_tied};

/// moto's account id.
pub const ACCOUNT_ID: &str = "123456789012";

/// The variable that selects the AWS-paged launcher (value `1`).
pub const AWS_PAGES_VAR: &str = "ROTOR_MOTO_AWS_PAGES";

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    pub log_file: PathBuf,
    /// The server's process id (for its memory figures).
    pub pid: u32,
    /// Whether it runs with AWS's `DescribeParameters` pages (see the module's note).
    pub aws_pages: bool,
}

/// The moto server of this test binary, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start)
}

fn start() -> Moto {
    let root = crate::workspace_root();
    let server = root.join(".venv/bin/moto_server");
    assert!(
        server.exists(),
        "moto is not installed at {}; run ./scripts/setup.sh (the README's test command does)",
        server.display()
    );
    let dir = crate::postgres::scratch_dir("moto");
    let log_file = dir.join("moto.log");
    let log = std::fs::File::create(&log_file).expect("create moto log");
    let port = free_port();
    let aws_pages = std::env::var(AWS_PAGES_VAR).is_ok_and(|v| v == "1");
    let mut cmd = Command::new(root.join(".venv/bin/python"));
    cmd.arg(root.join("crates/testkit/moto/server.py"))
        .env(AWS_PAGES_VAR, if aws_pages { "1" } else { "0" });
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log);
    let mut child = spawn_tied(cmd, libc::SIGTERM).expect("start moto_server");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "moto_server exited ({status}); its log:\n{}",
                std::fs::read_to_string(&log_file).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The child handle is dropped without waiting; the keeper's death signal stops it.
    std::mem::forget(child);
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        log_file,
        pid,
        aws_pages,
    }
}

impl Moto {
    /// SDK configuration for `region` pointed at this server, built through rotor-core's
    /// loader as the functions build theirs, with fixed test credentials.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        rotor_core::aws::loader("rotor-test")
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "testkit",
            ))
            .load()
            .await
    }

    /// Creates `count` parameters in `region` for a benchmark, named by `name(i)`, valued
    /// `value-<i>`, every fourth a SecureString; sixteen requests at a time.
    pub async fn put_parameters(
        &self,
        region: &str,
        count: usize,
        name: impl Fn(usize) -> String,
    ) -> anyhow::Result<()> {
        use aws_sdk_ssm::types::ParameterType;
        use futures::{StreamExt, TryStreamExt, stream};
        let ssm = self.ssm(region).await;
        stream::iter(0..count)
            .map(|i| {
                let kind = if i % 4 == 0 {
                    ParameterType::SecureString
                } else {
                    ParameterType::String
                };
                let request = ssm
                    .put_parameter()
                    .name(name(i))
                    .value(format!("value-{i}"))
                    .r#type(kind);
                async move { request.send().await }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    pub async fn secrets(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config(region).await)
    }

    pub async fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk_config(region).await)
    }

    pub async fn sns(&self, region: &str) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk_config(region).await)
    }

    pub async fn sqs(&self, region: &str) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config(region).await)
    }

    /// A new SNS topic with an SQS queue subscribed to it (raw delivery), so a test can
    /// read back what was published. Returns `(topic_arn, queue_url)`.
    pub async fn topic_with_queue(&self, region: &str, name: &str) -> (String, String) {
        let sns = self.sns(region).await;
        let sqs = self.sqs(region).await;
        let topic = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("topic arn");
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue url");
        let queue_arn = format!("arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}");
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("Subscribe");
        (topic, queue_url)
    }

    /// Every message waiting in the queue (bodies), removing them.
    pub async fn drain_queue(&self, region: &str, queue_url: &str) -> Vec<String> {
        let sqs = self.sqs(region).await;
        let mut bodies = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for m in messages {
                bodies.extend(m.body);
                if let Some(handle) = m.receipt_handle {
                    let _ = sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
        }
    }
}
