//! Handing a full sync on to the next invocation: a message on an SQS queue
//! (`HANDOVER_QUEUE_URL`, created by the template, which also makes the queue trigger the
//! function). The message names the sync and the lease that lets its reader continue; where
//! to continue is read from the state table, so a message delivered again after its part
//! handed on, or late, finds the lease gone and changes nothing.

use rotor_core::error::{AwsError, AwsResultExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of a hand-over message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    pub sync_id: String,
    pub lease: String,
    /// For people reading the queue: where the sync stood when it was handed on.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A hand-over event that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("an SQS record is not a hand-over message")]
pub struct NotAHandOver(#[source] pub serde_json::Error);

/// The hand-over messages of an SQS event, or `None` when `payload` is not an SQS event.
pub fn from_sqs_event(payload: &Value) -> Option<Result<Vec<HandOver>, NotAHandOver>> {
    let records = payload.get("Records")?.as_array()?;
    if !records
        .iter()
        .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        || records.is_empty()
    {
        return None;
    }
    Some(
        records
            .iter()
            .map(|r| {
                let body = r.get("body").and_then(Value::as_str).unwrap_or_default();
                serde_json::from_str(body).map_err(NotAHandOver)
            })
            .collect(),
    )
}

/// The queue the function hands a sync on through.
#[derive(Clone)]
pub struct Queue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl Queue {
    pub async fn send(&self, message: &HandOver) -> Result<(), AwsError> {
        let body = serde_json::to_string(message).unwrap_or_default();
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .aws("SendMessage")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_sqs_event_carries_hand_overs_and_other_events_are_not_sqs() {
        let msg = HandOver {
            sync_id: "1".into(),
            lease: "l".into(),
            phase: "parameters".into(),
            cursor: Some("tok".into()),
        };
        let event = json!({"Records": [{
            "eventSource": "aws:sqs",
            "body": serde_json::to_string(&msg).unwrap(),
        }]});
        assert_eq!(from_sqs_event(&event).unwrap().unwrap(), vec![msg]);
        let bad = json!({"Records": [{"eventSource": "aws:sqs", "body": "hello"}]});
        assert!(from_sqs_event(&bad).unwrap().is_err());
        assert!(from_sqs_event(&json!({"detail-type": "Scheduled Event"})).is_none());
        assert!(from_sqs_event(&json!({"Records": [{"eventSource": "aws:s3"}]})).is_none());
    }
}
