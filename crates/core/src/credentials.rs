//! The Secrets Manager database-credentials JSON, parsed strictly and written back with
//! every key it did not change left exactly as it was.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// Why a secret value could not be used as database credentials. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("secret value is not valid JSON ({0})")]
    NotJson(String),
    #[error("secret value is JSON but not an object")]
    NotObject,
    #[error("secret value is binary, not a JSON string")]
    Binary,
    #[error("secret JSON has no `{0}` key")]
    Missing(&'static str),
    #[error("secret JSON key `{key}` is malformed: expected {expected}")]
    Malformed {
        key: &'static str,
        expected: &'static str,
    },
}

/// Database credentials as Secrets Manager stores them (`engine`, `host`, `port`,
/// `username`, `password`, `dbname`, `masterarn`, `ssl`, `dbClusterIdentifier`,
/// `dbInstanceIdentifier`), plus any other keys, which are kept untouched.
///
/// `Debug` shows the key names and non-secret fields only; the password never.
#[derive(Clone)]
pub struct DbCredentials {
    raw: Map<String, Value>,
    username: String,
    password: SecretString,
    host: Option<String>,
    port: Option<u16>,
    dbname: Option<String>,
    engine: Option<String>,
    masterarn: Option<String>,
    ssl: Option<bool>,
    db_cluster_identifier: Option<String>,
    db_instance_identifier: Option<String>,
}

impl DbCredentials {
    /// Parses a secret string. `username` and `password` are required (an RDS-managed
    /// secret holds only those two); the rest is checked for type when present.
    pub fn parse(text: &str) -> Result<Self, CredentialsError> {
        Self::from_map(json_object(text)?)
    }

    pub fn from_map(raw: Map<String, Value>) -> Result<Self, CredentialsError> {
        let fields = CredentialFields::from_map(&raw)?;
        Ok(Self {
            username: fields
                .username
                .ok_or(CredentialsError::Missing("username"))?,
            password: fields
                .password
                .ok_or(CredentialsError::Missing("password"))?,
            host: fields.host,
            port: fields.port,
            dbname: fields.dbname,
            engine: optional_string(&raw, "engine")?,
            masterarn: optional_string(&raw, "masterarn")?,
            ssl: ssl(&raw)?,
            db_cluster_identifier: optional_string(&raw, "dbClusterIdentifier")?,
            db_instance_identifier: optional_string(&raw, "dbInstanceIdentifier")?,
            raw,
        })
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn password(&self) -> &SecretString {
        &self.password
    }

    /// The host, or an error naming the missing key.
    pub fn host(&self) -> Result<&str, CredentialsError> {
        self.host
            .as_deref()
            .ok_or(CredentialsError::Missing("host"))
    }

    pub fn host_opt(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The port as written in the secret, if any.
    pub fn port_opt(&self) -> Option<u16> {
        self.port
    }

    /// The port, 5432 when the secret has none.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(5432)
    }

    pub fn dbname_opt(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The database name, `postgres` when the secret has none (tokio-postgres would
    /// otherwise default to the user name, which rarely exists as a database).
    pub fn dbname(&self) -> &str {
        self.dbname.as_deref().unwrap_or("postgres")
    }

    pub fn engine(&self) -> Option<&str> {
        self.engine.as_deref()
    }

    pub fn masterarn(&self) -> Option<&str> {
        self.masterarn.as_deref()
    }

    /// The samples' `ssl` key: `true`/`false`, as a boolean or a string.
    pub fn ssl(&self) -> Option<bool> {
        self.ssl
    }

    pub fn db_cluster_identifier(&self) -> Option<&str> {
        self.db_cluster_identifier.as_deref()
    }

    pub fn db_instance_identifier(&self) -> Option<&str> {
        self.db_instance_identifier.as_deref()
    }

    /// Every key of the secret, in its original order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.raw.keys().map(String::as_str)
    }

    /// A copy with a new password; every other key is unchanged.
    pub fn with_password(&self, password: SecretString) -> Self {
        let mut next = self.clone();
        next.raw.insert(
            "password".into(),
            Value::String(password.expose_secret().to_owned()),
        );
        next.password = password;
        next
    }

    /// A copy with a new username; every other key is unchanged.
    pub fn with_username(&self, username: &str) -> Self {
        let mut next = self.clone();
        next.raw
            .insert("username".into(), Value::String(username.to_owned()));
        next.username = username.to_owned();
        next
    }

    /// A copy with host and port set (both written in the forms the samples use).
    pub fn with_endpoint(&self, host: &str, port: u16) -> Self {
        let mut next = self.clone();
        next.raw
            .insert("host".into(), Value::String(host.to_owned()));
        next.raw.insert("port".into(), Value::from(port));
        next.host = Some(host.to_owned());
        next.port = Some(port);
        next
    }

    /// The JSON to store, with unknown keys and key order preserved.
    pub fn to_json(&self) -> SecretString {
        SecretString::from(Value::Object(self.raw.clone()).to_string())
    }
}

/// The connection keys of a credentials secret (`username`, `password`, `host`, `port`,
/// `dbname`), each optional and checked for type: for a reader that can take what is
/// missing from elsewhere (rotor-sync-url takes the host from RDS, for example).
#[derive(Clone, Default)]
pub struct CredentialFields {
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
}

impl CredentialFields {
    pub fn parse(text: &str) -> Result<Self, CredentialsError> {
        Self::from_map(&json_object(text)?)
    }

    pub fn from_map(raw: &Map<String, Value>) -> Result<Self, CredentialsError> {
        Ok(Self {
            username: optional_string(raw, "username")?,
            password: optional_string(raw, "password")?.map(SecretString::from),
            host: optional_string(raw, "host")?,
            port: port(raw)?,
            dbname: optional_string(raw, "dbname")?,
        })
    }
}

impl fmt::Debug for CredentialFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialFields")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .finish()
    }
}

/// The secret string as a JSON object. A syntax error gives its line only: serde's
/// message quotes what it found, and in a one-line secret the column tells how long the
/// value before it is.
pub fn json_object(text: &str) -> Result<Map<String, Value>, CredentialsError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "ends too early",
            _ => "has a syntax error",
        };
        CredentialsError::NotJson(format!("{what} on line {}", e.line()))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(CredentialsError::NotObject),
    }
}

impl fmt::Debug for DbCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbCredentials")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("engine", &self.engine)
            .field("masterarn", &self.masterarn)
            .field("ssl", &self.ssl)
            .field("dbClusterIdentifier", &self.db_cluster_identifier)
            .field("dbInstanceIdentifier", &self.db_instance_identifier)
            .field("keys", &self.raw.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A string value; `null` and `""` count as absent.
fn optional_string(
    raw: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, CredentialsError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CredentialsError::Malformed {
            key,
            expected: "a string",
        }),
    }
}

fn port(raw: &Map<String, Value>) -> Result<Option<u16>, CredentialsError> {
    const MALFORMED: CredentialsError = CredentialsError::Malformed {
        key: "port",
        expected: "a port number 1-65535, as a number or a string",
    };
    let n = match raw.get("port") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match n.and_then(|n| u16::try_from(n).ok()) {
        Some(p) if p > 0 => Ok(Some(p)),
        _ => Err(MALFORMED),
    }
}

fn ssl(raw: &Map<String, Value>) -> Result<Option<bool>, CredentialsError> {
    match raw.get("ssl") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match crate::config::parse_bool(s) {
            Some(b) => Ok(Some(b)),
            None => Err(CredentialsError::Malformed {
                key: "ssl",
                expected: "true or false",
            }),
        },
        Some(_) => Err(CredentialsError::Malformed {
            key: "ssl",
            expected: "true or false",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"engine":"postgres","host":"db.example.internal","port":"6543",
        "username":"app","password":"p@ss:w/rd","dbname":"orders",
        "masterarn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:master-AbCdEf",
        "ssl":"true","dbClusterIdentifier":"orders-cluster","dbInstanceIdentifier":"orders-1",
        "team":"payments","nested":{"a":[1,2]}}"#;

    #[test]
    fn every_field_form_parses() {
        let c = DbCredentials::parse(FULL).unwrap();
        assert_eq!(c.engine(), Some("postgres"));
        assert_eq!(c.host().unwrap(), "db.example.internal");
        assert_eq!(c.port(), 6543);
        assert_eq!(c.username(), "app");
        assert_eq!(c.password().expose_secret(), "p@ss:w/rd");
        assert_eq!(c.dbname(), "orders");
        assert!(c.masterarn().unwrap().ends_with("master-AbCdEf"));
        assert_eq!(c.ssl(), Some(true));
        assert_eq!(c.db_cluster_identifier(), Some("orders-cluster"));
        assert_eq!(c.db_instance_identifier(), Some("orders-1"));

        let numeric = DbCredentials::parse(
            r#"{"username":"u","password":"p","host":"h","port":5432,"ssl":false}"#,
        )
        .unwrap();
        assert_eq!(numeric.port(), 5432);
        assert_eq!(numeric.ssl(), Some(false));
        assert_eq!(numeric.dbname(), "postgres", "dbname defaults to postgres");
    }

    #[test]
    fn a_missing_host_is_reported_by_name() {
        let c = DbCredentials::parse(r#"{"username":"u","password":"p"}"#).unwrap();
        let err = c.host().unwrap_err();
        assert_eq!(err, CredentialsError::Missing("host"));
        assert_eq!(err.to_string(), "secret JSON has no `host` key");
    }

    #[test]
    fn missing_and_malformed_keys_are_named() {
        let err = DbCredentials::parse(r#"{"username":"u"}"#).unwrap_err();
        assert_eq!(err.to_string(), "secret JSON has no `password` key");
        let err =
            DbCredentials::parse(r#"{"username":"u","password":"p","port":"http"}"#).unwrap_err();
        assert!(err.to_string().contains("`port`"), "{err}");
        let err =
            DbCredentials::parse(r#"{"username":"u","password":"p","port":70000}"#).unwrap_err();
        assert!(err.to_string().contains("`port`"), "{err}");
        let err = DbCredentials::parse(r#"{"username":7,"password":"p"}"#).unwrap_err();
        assert!(err.to_string().contains("`username`"), "{err}");
    }

    #[test]
    fn errors_never_quote_the_secret_text() {
        for text in [
            r#""hunter2-secret""#,
            r#"{"password":"hunter2-secret""#,
            "hunter2-secret",
        ] {
            let err = DbCredentials::parse(text).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_survive_a_round_trip_with_a_new_password() {
        let c = DbCredentials::parse(FULL).unwrap();
        let next = c.with_password(SecretString::from("n3w"));
        let back: Value = serde_json::from_str(next.to_json().expose_secret()).unwrap();
        let orig: Value = serde_json::from_str(FULL).unwrap();
        for (k, v) in orig.as_object().unwrap() {
            if k != "password" {
                assert_eq!(&back[k], v, "key {k} changed");
            }
        }
        assert_eq!(back["password"], "n3w");
        assert_eq!(
            next.keys().collect::<Vec<_>>(),
            c.keys().collect::<Vec<_>>(),
            "key order is kept"
        );
    }

    #[test]
    fn debug_output_never_contains_the_password() {
        let c = DbCredentials::parse(FULL).unwrap();
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("p@ss:w/rd"), "{shown}");
        assert!(shown.contains("REDACTED"));
        assert!(
            shown.contains("team"),
            "unknown key names are shown: {shown}"
        );
    }
}
