//! The source: the rotating credentials secret, read at its AWSCURRENT version. An
//! RDS-managed secret holds only `username` and `password`; others may add `host`,
//! `port` and `dbname`.

use aws_sdk_secretsmanager::Client;
use rotor_core::credentials::{CredentialFields, CredentialsError};
use rotor_core::secrets::{self, CURRENT};
use secrecy::ExposeSecret;

use crate::error::SyncError;

/// The values the source offers for the URL.
pub type SourceValues = CredentialFields;

/// The source secret's current version.
#[derive(Debug, Clone)]
pub struct Source {
    pub arn: String,
    pub version_id: String,
    pub values: SourceValues,
}

/// Reads and parses the source. A missing `password` is an error here: it is the one value
/// that may come from nowhere else.
pub async fn read(client: &Client, id: &str) -> Result<Source, SyncError> {
    let stored = secrets::read_at(client, id, CURRENT, None)
        .await
        .map_err(|e| SyncError::SourceRead {
            secret: id.into(),
            source: Box::new(e),
        })?
        .ok_or_else(|| SyncError::SourceNotFound { secret: id.into() })?;
    let format_error = |problem| SyncError::SourceFormat {
        secret: id.into(),
        problem,
    };
    let text = stored
        .text
        .ok_or_else(|| format_error(CredentialsError::Binary))?;
    let values = CredentialFields::parse(text.expose_secret()).map_err(format_error)?;
    if values.password.is_none() {
        return Err(format_error(CredentialsError::Missing("password")));
    }
    Ok(Source {
        arn: stored.arn.unwrap_or_else(|| id.to_owned()),
        version_id: stored.version_id.unwrap_or_default(),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rds_managed_secret_offers_user_and_password_only() {
        let v = CredentialFields::parse(r#"{"username":"postgres","password":"pw"}"#).unwrap();
        assert_eq!(v.username.as_deref(), Some("postgres"));
        assert_eq!(v.password.unwrap().expose_secret(), "pw");
        assert!(v.host.is_none() && v.port.is_none() && v.dbname.is_none());
    }

    #[test]
    fn a_full_secret_offers_every_part_and_ports_may_be_strings() {
        let v = CredentialFields::parse(
            r#"{"username":"u","password":"p","host":"h","port":"6432","dbname":"d"}"#,
        )
        .unwrap();
        assert_eq!(v.host.as_deref(), Some("h"));
        assert_eq!(v.port, Some(6432));
        assert_eq!(v.dbname.as_deref(), Some("d"));
    }

    #[test]
    fn malformed_secrets_are_described_without_their_values() {
        for (text, want) in [
            ("hunter2", "not valid JSON"),
            (r#""hunter2""#, "not an object"),
            (r#"{"password":7}"#, "`password`"),
            (r#"{"password":"hunter2","port":"http"}"#, "`port`"),
        ] {
            let err = CredentialFields::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let v = CredentialFields::parse(r#"{"username":"u","password":"hunter2"}"#).unwrap();
        assert!(!format!("{v:?}").contains("hunter2"));
    }

    #[test]
    fn malformed_credentials_never_reach_the_errors_display_or_debug() {
        for text in [
            "c4nary7",
            r#"{"password":"c4nary7"#,
            r#"{"password":"c4nary7",}"#,
            r#"{"password":"c4nary7" "username":"u"}"#,
            r#"["c4nary7"]"#,
            r#"{"password":"pw","port":"c4nary7"}"#,
            r#"{"password":"pw","host":["c4nary7"]}"#,
            r#"{"password":"pw","dbname":{"c4nary7":1}}"#,
        ] {
            let problem = CredentialFields::parse(text).expect_err(text);
            let err = SyncError::SourceFormat {
                secret: "rds!db-1".into(),
                problem,
            };
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("c4nary7"), "{shown}");
        }
    }
}
