//! The protocol checks every step makes first: rotation is enabled and the event's token
//! is this secret's AWSPENDING version (or already AWSCURRENT, when nothing is left to do).

use super::Outcome;
use crate::error::RotateError;
use crate::secret::{CURRENT, PENDING, SecretInfo};

/// `Some(outcome)` when the step has nothing to do; an error when the event does not
/// describe a rotation of this secret in progress.
pub fn check_protocol(
    info: &SecretInfo,
    secret: &str,
    token: &str,
) -> Result<Option<Outcome>, RotateError> {
    if !info.rotation_enabled {
        return Err(RotateError::RotationNotEnabled {
            secret: secret.to_owned(),
        });
    }
    let Some(stages) = info.stages_of(token) else {
        return Err(RotateError::UnknownVersion {
            secret: secret.to_owned(),
            version: token.to_owned(),
        });
    };
    if stages.iter().any(|s| s == CURRENT) {
        tracing::info!(
            outcome = "already-current",
            "the version is already AWSCURRENT; nothing to do"
        );
        return Ok(Some(Outcome::AlreadyCurrent));
    }
    if !stages.iter().any(|s| s == PENDING) {
        return Err(RotateError::NotPending {
            secret: secret.to_owned(),
            version: token.to_owned(),
            stages: if stages.is_empty() {
                "none".to_owned()
            } else {
                stages.join(", ")
            },
        });
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(stages: &[(&str, &[&str])], enabled: bool) -> SecretInfo {
        SecretInfo {
            arn: "arn".into(),
            rotation_enabled: enabled,
            versions: stages
                .iter()
                .map(|(v, s)| (v.to_string(), s.iter().map(|x| x.to_string()).collect()))
                .collect(),
            tags: vec![],
        }
    }

    #[test]
    fn the_protocol_checks_name_the_secret_and_version() {
        let i = info(
            &[
                ("v1", &["AWSCURRENT"]),
                ("v2", &["AWSPENDING"]),
                ("v0", &[]),
            ],
            true,
        );
        assert_eq!(check_protocol(&i, "s", "v2").unwrap(), None);
        assert_eq!(
            check_protocol(&i, "s", "v1").unwrap(),
            Some(Outcome::AlreadyCurrent)
        );
        let err = check_protocol(&i, "s", "v9").unwrap_err().to_string();
        assert!(err.contains("v9") && err.contains(" s"), "{err}");
        let err = check_protocol(&i, "s", "v0").unwrap_err().to_string();
        assert!(
            err.contains("not staged AWSPENDING") && err.contains("none"),
            "{err}"
        );
        let err = check_protocol(&info(&[], false), "s", "v2")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "rotation is not enabled on secret s");
    }
}
