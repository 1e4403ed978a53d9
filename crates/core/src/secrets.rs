//! Reading Secrets Manager secrets as every rotor function does: always naming the stage
//! (moto, unlike Secrets Manager, returns a stale value when neither stage nor version is
//! given; AWS returns AWSCURRENT either way), with "no such secret or version" as `None`.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use secrecy::SecretString;

use crate::error::{AwsError, AwsResultExt};

pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// One stored version of a secret.
#[derive(Debug)]
pub struct StoredValue {
    pub arn: Option<String>,
    pub version_id: Option<String>,
    /// The secret string; `None` for a binary secret.
    pub text: Option<SecretString>,
}

/// The version at `stage` (and `version` when given); `None` when the secret, the version
/// or a value at that stage does not exist (Secrets Manager says ResourceNotFoundException
/// for each, including the AWSPENDING version it creates empty before createSecret).
pub async fn read_at(
    sm: &Client,
    secret_id: &str,
    stage: &str,
    version: Option<&str>,
) -> Result<Option<StoredValue>, AwsError> {
    let result = sm
        .get_secret_value()
        .secret_id(secret_id)
        .version_stage(stage)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .aws("GetSecretValue");
    match result {
        Ok(out) => Ok(Some(StoredValue {
            arn: out.arn,
            version_id: out.version_id,
            text: out.secret_string.map(SecretString::from),
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Tags as key/value pairs; a tag without a value has the value `""`.
pub fn tag_pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_pairs_and_a_missing_value_is_empty() {
        let tags = [
            Tag::builder().key("team").value("payments").build(),
            Tag::builder().key("flag").build(),
        ];
        assert_eq!(
            tag_pairs(&tags),
            [
                ("team".to_owned(), "payments".to_owned()),
                ("flag".to_owned(), String::new())
            ]
        );
    }
}
