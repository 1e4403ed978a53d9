//! PostgreSQL connections built from credentials: a `tokio_postgres::Config` (never a
//! concatenated string), the TLS mode applied explicitly (trust, channel binding and the
//! shared connectors are in `tls`), and failures classified so a log line can say why a
//! login failed without ever saying the password.

mod rds;
mod tls;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use postgres_native_tls::MakeTlsConnector;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::SslMode as WireSslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, Connection, NoTls, Socket};

use crate::credentials::{CredentialsError, DbCredentials};

pub use rds::roots as rds_roots;
pub use tls::{ChannelBinding, Tls, TlsPolicy, Trust, TrustError};

/// How a connection uses TLS. `verify-full` is the default everywhere in rotor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain text. Only ever used when chosen explicitly.
    Disable,
    /// Encrypted, certificate not checked.
    Require,
    /// Encrypted, certificate chain checked, host name not checked.
    VerifyCa,
    /// Encrypted, certificate chain and host name checked.
    #[default]
    VerifyFull,
}

impl SslMode {
    pub const ALLOWED: &'static str = "disable, require, verify-ca or verify-full";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disable" => Ok(Self::Disable),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            _ => Err(format!("unknown TLS mode; expected {}", Self::ALLOWED)),
        }
    }
}

/// Why a connection or login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Timeout,
    Refused,
    Dns,
    Authentication,
    /// The server refuses unencrypted connections.
    TlsRequired,
    /// The TLS handshake failed or the server does not offer TLS.
    Tls,
    /// The server's certificate was not trusted or does not match the host.
    Certificate,
    /// Channel binding is required and the server did not offer SCRAM with it.
    ChannelBinding,
    /// The server refused a statement for want of a privilege (SQLSTATE 42501).
    Permission,
    /// Anything else (a query failing, a closed connection...).
    Other,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Refused => "refused",
            Self::Dns => "dns",
            Self::Authentication => "authentication",
            Self::TlsRequired => "tls-required",
            Self::Tls => "tls",
            Self::Certificate => "certificate",
            Self::ChannelBinding => "channel-binding",
            Self::Permission => "permission",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PostgreSQL failure, classified. The detail comes from the driver and the server,
/// which name users and hosts but never passwords.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct PgError {
    pub kind: FailureKind,
    pub detail: String,
}

impl PgError {
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn classify(err: &tokio_postgres::Error) -> Self {
        let detail = chain(err);
        // tokio-postgres' words (connect_raw.rs, `can_skip_channel_binding`) when
        // `channel_binding` is `require` and the server asks for anything but
        // SCRAM-SHA-256-PLUS; it stops there, before sending any password.
        if detail.contains("did not use channel binding") {
            return Self::new(
                FailureKind::ChannelBinding,
                "channel binding is required, but the server did not offer SCRAM with channel \
                 binding (it asked for a clear-text or MD5 password, or for SCRAM without \
                 binding to the TLS channel); no password was sent",
            );
        }
        if let Some(db) = err.as_db_error() {
            let code = db.code();
            let kind = if *code == SqlState::INVALID_PASSWORD {
                FailureKind::Authentication
            } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                if db.message().contains("no encryption") {
                    FailureKind::TlsRequired
                } else {
                    FailureKind::Authentication
                }
            } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                FailureKind::Permission
            } else if *code == SqlState::LOCK_NOT_AVAILABLE || *code == SqlState::QUERY_CANCELED {
                // lock_timeout, statement_timeout (or a cancel): the server gave up waiting.
                FailureKind::Timeout
            } else {
                FailureKind::Other
            };
            return Self::new(kind, detail);
        }
        let lower = detail.to_ascii_lowercase();
        let kind = if let Some(io) = find_io(err) {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => FailureKind::Refused,
                std::io::ErrorKind::TimedOut => FailureKind::Timeout,
                _ if lower.contains("lookup") || lower.contains("resolve") => FailureKind::Dns,
                _ if lower.contains("certificate") => FailureKind::Certificate,
                _ => FailureKind::Other,
            }
        } else if lower.contains("certificate") {
            FailureKind::Certificate
        } else if lower.contains("tls") || lower.contains("ssl") {
            FailureKind::Tls
        } else if lower.contains("timeout") || lower.contains("timed out") {
            FailureKind::Timeout
        } else {
            FailureKind::Other
        };
        Self::new(kind, detail)
    }
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn find_io<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut source = err.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// Connection parameters for one login. The password is held redacted.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: SecretString,
    pub connect_timeout: Duration,
}

impl Target {
    /// The login described by a credentials secret (host required; dbname defaults to
    /// `postgres`).
    pub fn from_credentials(
        creds: &DbCredentials,
        connect_timeout: Duration,
    ) -> Result<Self, CredentialsError> {
        Ok(Self {
            host: creds.host()?.to_owned(),
            port: creds.port(),
            dbname: creds.dbname().to_owned(),
            user: creds.username().to_owned(),
            password: creds.password().clone(),
            connect_timeout,
        })
    }

    /// The driver configuration for this login under a TLS mode.
    pub fn config(&self, mode: SslMode) -> Config {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(&self.user)
            .password(self.password.expose_secret())
            .connect_timeout(self.connect_timeout)
            .application_name("rotor")
            .ssl_mode(match mode {
                SslMode::Disable => WireSslMode::Disable,
                _ => WireSslMode::Require,
            });
        config
    }

    /// Connects and logs in, with the TLS connector and channel binding of `tls`'s
    /// policy. The connection's background task is spawned on the runtime and ends when
    /// the returned client is dropped.
    pub async fn connect(&self, tls: &Tls) -> Result<Client, PgError> {
        let mut config = self.config(tls.mode);
        config.channel_binding(tls.policy().channel_binding().wire());
        match tls.policy().connector(tls.mode)? {
            None => spawn_connection(config.connect(NoTls).await),
            Some(connector) => {
                spawn_connection(config.connect(MakeTlsConnector::new(connector)).await)
            }
        }
    }
}

fn spawn_connection<T>(
    connected: Result<(Client, Connection<Socket, T>), tokio_postgres::Error>,
) -> Result<Client, PgError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, conn) = connected.map_err(|e| PgError::classify(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection closed with an error");
        }
    });
    Ok(client)
}

/// The role name as a quoted SQL identifier (`"` doubled), safe for any name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SCRAM-SHA-256 verifier for a password, computed here so that the clear-text
/// password never reaches the server, its statement log or `pg_stat_activity`. The
/// verifier is base64 and `$`/`:` only, so it can be written as a SQL literal (utility
/// statements such as `ALTER ROLE` take no bind parameters).
pub fn scram_verifier(password: &SecretString) -> String {
    postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_modes_parse_and_name_what_is_allowed() {
        assert_eq!("verify-full".parse::<SslMode>(), Ok(SslMode::VerifyFull));
        assert_eq!("VERIFY-CA".parse::<SslMode>(), Ok(SslMode::VerifyCa));
        assert_eq!("disable".parse::<SslMode>(), Ok(SslMode::Disable));
        assert!(
            "prefer"
                .parse::<SslMode>()
                .unwrap_err()
                .contains("verify-full")
        );
        assert_eq!(SslMode::default(), SslMode::VerifyFull);
    }

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn verifiers_are_scram_and_hold_no_quote_or_the_password() {
        let pw = SecretString::from("it's a s3cret");
        let v = scram_verifier(&pw);
        assert!(v.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!v.contains('\'') && !v.contains("s3cret"));
    }

    #[test]
    fn the_driver_config_debug_hides_the_password() {
        let t = Target {
            host: "h".into(),
            port: 5432,
            dbname: "postgres".into(),
            user: "u".into(),
            password: SecretString::from("hunter2-pw"),
            connect_timeout: Duration::from_secs(5),
        };
        let shown = format!("{t:?} {:?}", t.config(SslMode::VerifyFull));
        assert!(!shown.contains("hunter2-pw"), "{shown}");
    }
}
