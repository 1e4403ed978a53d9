//! Secrets Manager calls of the rotation protocol: the secret's versions and stages, reading
//! a value by stage, writing AWSPENDING, and moving AWSCURRENT.
//!
//! Reads always name the stage (and the version where known): moto, unlike Secrets
//! Manager, returns a stale value when neither is given.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use rotor_core::SecretString;
use rotor_core::error::AwsResultExt;

use crate::error::RotateError;
use crate::versions::Versioned;

pub use rotor_core::secrets::{CURRENT, PENDING, PREVIOUS};

/// What DescribeSecret says about a secret (ids, stages, tags; no value).
#[derive(Debug, Clone)]
pub struct SecretInfo {
    pub arn: String,
    pub rotation_enabled: bool,
    pub versions: HashMap<String, Vec<String>>,
    pub tags: Vec<(String, String)>,
}

impl SecretInfo {
    pub fn stages_of(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    /// The version holding `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// A tag's value; keys compare case-insensitively (RDS writes `aws:rds:primaryDBInstanceArn`,
    /// AWS's samples look for it in lower case).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

pub async fn describe(sm: &Client, secret_id: &str) -> Result<SecretInfo, RotateError> {
    let out = sm
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
        .aws("DescribeSecret")
        .map_err(RotateError::aws(secret_id))?;
    Ok(SecretInfo {
        arn: out.arn().unwrap_or(secret_id).to_owned(),
        rotation_enabled: out.rotation_enabled().unwrap_or(false),
        versions: out
            .version_ids_to_stages()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        tags: rotor_core::secrets::tag_pairs(out.tags()),
    })
}

/// The value at `stage` (of `version` when given); `None` when that version has no value.
pub async fn value(
    sm: &Client,
    secret_id: &str,
    stage: &str,
    version: Option<&str>,
) -> Result<Option<SecretString>, RotateError> {
    let stored = rotor_core::secrets::read_at(sm, secret_id, stage, version)
        .await
        .map_err(RotateError::aws(secret_id))?;
    Ok(stored.and_then(|v| v.text))
}

/// The AWSCURRENT value (of `version` when given) with the id of its version, which must
/// exist.
pub async fn current(
    sm: &Client,
    secret_id: &str,
    version: Option<&str>,
) -> Result<Versioned, RotateError> {
    let stored = rotor_core::secrets::read_at(sm, secret_id, CURRENT, version)
        .await
        .map_err(RotateError::aws(secret_id))?;
    match stored {
        Some(rotor_core::secrets::StoredValue {
            version_id: Some(version),
            text: Some(text),
            ..
        }) => Ok(Versioned { version, text }),
        _ => Err(RotateError::MissingValue {
            secret: secret_id.to_owned(),
            stage: CURRENT,
            hint: "",
        }),
    }
}

/// The value at `stage`, which must exist.
pub async fn required_value(
    sm: &Client,
    secret_id: &str,
    stage: &'static str,
    version: Option<&str>,
) -> Result<SecretString, RotateError> {
    value(sm, secret_id, stage, version)
        .await?
        .ok_or_else(|| RotateError::MissingValue {
            secret: secret_id.to_owned(),
            stage,
            hint: if stage == PENDING {
                " (createSecret has not stored one yet)"
            } else {
                ""
            },
        })
}

/// Stores `value` as the AWSPENDING version `token`. Safe to repeat: Secrets Manager
/// accepts the same token with the same value again.
pub async fn put_pending(
    sm: &Client,
    secret_id: &str,
    token: &str,
    rotation_token: Option<&str>,
    value: &SecretString,
) -> Result<(), RotateError> {
    use secrecy::ExposeSecret;
    sm.put_secret_value()
        .secret_id(secret_id)
        .client_request_token(token)
        .secret_string(value.expose_secret())
        .version_stages(PENDING)
        .set_rotation_token(rotation_token.map(str::to_owned))
        .send()
        .await
        .aws("PutSecretValue")
        .map_err(RotateError::aws(secret_id))?;
    Ok(())
}

/// Moves AWSCURRENT to `token`, taking it from `from` (which becomes AWSPREVIOUS).
pub async fn promote(
    sm: &Client,
    secret_id: &str,
    token: &str,
    from: Option<&str>,
) -> Result<(), RotateError> {
    sm.update_secret_version_stage()
        .secret_id(secret_id)
        .version_stage(CURRENT)
        .move_to_version_id(token)
        .set_remove_from_version_id(from.map(str::to_owned))
        .send()
        .await
        .aws("UpdateSecretVersionStage")
        .map_err(RotateError::aws(secret_id))?;
    Ok(())
}
