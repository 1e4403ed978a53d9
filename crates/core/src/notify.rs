//! Notifications: one SNS message per report.

use aws_sdk_sns::Client;

use crate::aws_calls::CallCounter;
use aws_types::SdkConfig;

use crate::error::{AwsError, AwsResultExt};

/// SNS subjects are at most 100 characters, ASCII, no line breaks.
fn subject_line(subject: &str) -> String {
    subject
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .take(100)
        .collect()
}

/// The SDK configuration for publishing to `topic_arn`: in the topic's own region (an ARN's
/// fourth field), which may not be the function's (a central notification region). SNS
/// accepts a Publish only in the topic's region.
pub fn topic_sdk(sdk: &SdkConfig, topic_arn: &str) -> SdkConfig {
    match topic_arn.split(':').nth(3).filter(|r| !r.is_empty()) {
        Some(region) => crate::aws::in_region(sdk, region),
        None => sdk.clone(),
    }
}

/// The client that publishes to `topic_arn` (in the topic's region; the function's region
/// when no topic is set), counting its calls with the function's other clients.
pub fn topic_client(sdk: &SdkConfig, topic_arn: Option<&str>, calls: &CallCounter) -> Client {
    let sdk = match topic_arn {
        Some(arn) => topic_sdk(sdk, arn),
        None => sdk.clone(),
    };
    Client::from_conf(
        aws_sdk_sns::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    )
}

/// Publishes a message and returns its message id.
pub async fn publish(
    sns: &Client,
    topic_arn: &str,
    subject: &str,
    message: &str,
) -> Result<String, AwsError> {
    let out = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject_line(subject))
        .message(message)
        .send()
        .await
        .aws("Publish")?;
    let id = out.message_id().unwrap_or_default().to_owned();
    tracing::info!(topic_arn, message_id = %id, "published notification");
    Ok(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_are_cut_to_what_sns_accepts() {
        let s = super::subject_line(&format!("rotor: 3 failures\n{}é", "x".repeat(200)));
        assert_eq!(s.len(), 100);
        assert!(s.is_ascii() && !s.contains('\n'));
    }
}
