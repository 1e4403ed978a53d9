//! The source: the rotating credentials secret, read at its AWSCURRENT version. An
//! RDS-managed secret holds only `username` and `password`; others may add `host`,
//! `port` and `dbname`.

use std::fmt;

use aws_sdk_secretsmanager::Client;
use rotor_core::error::AwsResultExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::error::SyncError;

/// The values the source offers for the URL.
#[derive(Clone, Default)]
pub struct SourceValues {
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
}

impl fmt::Debug for SourceValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceValues")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .finish()
    }
}

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
    // Always name the stage: see DESIGN (moto returns a stale value without it; AWS
    // returns AWSCURRENT either way).
    let out = client
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .aws("GetSecretValue")
        .map_err(|e| {
            if e.is_not_found() {
                SyncError::SourceNotFound { secret: id.into() }
            } else {
                SyncError::SourceRead {
                    secret: id.into(),
                    source: Box::new(e),
                }
            }
        })?;
    let format_error = |problem: String| SyncError::SourceFormat {
        secret: id.into(),
        problem,
    };
    let text = out
        .secret_string()
        .map(|s| SecretString::from(s.to_owned()))
        .ok_or_else(|| format_error("holds a binary value, not a JSON string".into()))?;
    let values = parse(text.expose_secret()).map_err(format_error)?;
    if values.password.is_none() {
        return Err(format_error("has no `password` key".into()));
    }
    Ok(Source {
        arn: out.arn().unwrap_or(id).to_owned(),
        version_id: out.version_id().unwrap_or_default().to_owned(),
        values,
    })
}

/// Parses the credentials JSON. Problems name keys and the line, never values: not even
/// `serde_json`'s message (it quotes what it found) or the column (in a one-line secret it
/// tells how long the value before it is).
pub fn parse(text: &str) -> Result<SourceValues, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "ends too early",
            _ => "has a syntax error",
        };
        format!("is not valid JSON ({what} on line {})", e.line())
    })?;
    let Value::Object(map) = value else {
        return Err("is JSON but not an object".into());
    };
    Ok(SourceValues {
        username: string(&map, "username")?,
        password: string(&map, "password")?.map(SecretString::from),
        host: string(&map, "host")?,
        port: port(&map)?,
        dbname: string(&map, "dbname")?,
    })
}

/// A string value; absent, `null` and `""` all count as not there.
fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("has a `{key}` key that is not a string")),
    }
}

fn port(map: &Map<String, Value>) -> Result<Option<u16>, String> {
    let n = match map.get("port") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match n.and_then(|n| u16::try_from(n).ok()) {
        Some(p) if p > 0 => Ok(Some(p)),
        _ => Err("has a `port` key that is not a port number 1-65535".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rds_managed_secret_offers_user_and_password_only() {
        let v = parse(r#"{"username":"postgres","password":"pw"}"#).unwrap();
        assert_eq!(v.username.as_deref(), Some("postgres"));
        assert_eq!(v.password.unwrap().expose_secret(), "pw");
        assert!(v.host.is_none() && v.port.is_none() && v.dbname.is_none());
    }

    #[test]
    fn a_full_secret_offers_every_part_and_ports_may_be_strings() {
        let v = parse(r#"{"username":"u","password":"p","host":"h","port":"6432","dbname":"d"}"#)
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
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let v = parse(r#"{"username":"u","password":"hunter2"}"#).unwrap();
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
            let problem = parse(text).expect_err(text);
            let err = SyncError::SourceFormat {
                secret: "rds!db-1".into(),
                problem,
            };
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("c4nary7"), "{shown}");
        }
    }
}
