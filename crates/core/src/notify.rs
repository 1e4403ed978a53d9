//! Notifications: one SNS message per report.

use aws_sdk_sns::Client;

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
