//! PostgreSQL work of a rotation: logging in with one of the secret's credentials (each
//! failure logged with the credential tried, the TLS mode and the classified cause), and
//! changing passwords without the clear text ever leaving the function.

use std::fmt;
use std::time::Duration;

use bytes::BytesMut;
use rotor_core::DbCredentials;
use rotor_core::SecretString;
use rotor_core::pg::{FailureKind, PgError, SslMode, Target, Tls, scram_verifier};
use tokio_postgres::Client;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::config::Config;
use crate::deadline::Deadline;
use crate::error::RotateError;

/// Which of the secret's credentials a login used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Pending,
    Current,
    Previous,
    Master,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Pending => "pending",
            Credential::Current => "current",
            Credential::Previous => "previous",
            Credential::Master => "master",
        }
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TLS settings for a secret: its `ssl` key when present (as the samples), else
/// `PG_SSLMODE`. Plain text only when chosen explicitly: `PG_SSLMODE=disable`, or a
/// secret's `"ssl": false` together with `PG_ALLOW_PLAINTEXT=true`.
pub fn tls_for(config: &Config, creds: &DbCredentials, secret: &str) -> Result<Tls, RotateError> {
    let mode = match creds.ssl() {
        None => config.ssl_mode,
        Some(true) if config.ssl_mode == SslMode::Disable => SslMode::VerifyFull,
        Some(true) => config.ssl_mode,
        Some(false) if config.allow_plaintext => SslMode::Disable,
        Some(false) => {
            return Err(RotateError::invalid(
                secret,
                "the secret says \"ssl\": false, but plain-text connections are not allowed \
                 (set PG_ALLOW_PLAINTEXT=true to allow them, or remove the key to use PG_SSLMODE)",
            ));
        }
    };
    Ok(Tls::new(mode, config.ssl_root_cert.clone()))
}

/// A login: the credentials, which of them, their TLS settings and the database to use.
pub struct Login<'a> {
    pub creds: &'a DbCredentials,
    pub credential: Credential,
    pub tls: Tls,
    /// Overrides the credentials' `dbname` (the master logs in to the child's database).
    pub dbname: Option<&'a str>,
}

impl<'a> Login<'a> {
    /// A login with `creds`, over the TLS settings [`tls_for`] gives them.
    pub fn new(
        config: &Config,
        creds: &'a DbCredentials,
        credential: Credential,
        secret: &str,
    ) -> Result<Self, RotateError> {
        Ok(Login {
            creds,
            credential,
            tls: tls_for(config, creds, secret)?,
            dbname: None,
        })
    }

    /// The same login to another database.
    pub fn in_database(self, dbname: &'a str) -> Self {
        Login {
            dbname: Some(dbname),
            ..self
        }
    }

    pub fn target(&self, secret: &str, connect_timeout: Duration) -> Result<Target, RotateError> {
        let mut target =
            Target::from_credentials(self.creds, connect_timeout).map_err(|source| {
                RotateError::Format {
                    secret: secret.to_owned(),
                    stage: stage_name(self.credential),
                    source,
                }
            })?;
        if let Some(db) = self.dbname {
            target.dbname = db.to_owned();
        }
        Ok(target)
    }
}

fn stage_name(c: Credential) -> &'static str {
    match c {
        Credential::Pending => "AWSPENDING",
        Credential::Current => "AWSCURRENT",
        Credential::Previous => "AWSPREVIOUS",
        Credential::Master => "master secret's AWSCURRENT",
    }
}

/// Tries one login within the connect timeout and the step's deadline. A failure is logged
/// here (never with the password) and returned for the caller to decide.
pub async fn try_login(
    config: &Config,
    deadline: &Deadline,
    secret: &str,
    login: &Login<'_>,
) -> Result<Result<Client, PgError>, RotateError> {
    let limit = deadline.cap(config.connect_timeout);
    if limit.is_zero() {
        return Ok(Err(PgError::new(
            FailureKind::Timeout,
            "no time left before the Lambda deadline",
        )));
    }
    let target = login.target(secret, limit)?;
    // tokio-postgres' own timeout covers the TCP connect only; this one covers TLS and
    // the login exchange too (a server that accepts and then says nothing).
    let result = match tokio::time::timeout(limit, target.connect(&login.tls)).await {
        Ok(result) => result,
        Err(_) => Err(PgError::new(
            FailureKind::Timeout,
            format!(
                "no answer from {}:{} within {} ms",
                target.host,
                target.port,
                limit.as_millis()
            ),
        )),
    };
    match &result {
        Ok(_) => tracing::debug!(
            credential = login.credential.as_str(),
            user = %target.user,
            host = %target.host,
            port = target.port,
            tls = login.tls.mode.as_str(),
            "logged in"
        ),
        Err(e) => tracing::warn!(
            credential = login.credential.as_str(),
            user = %target.user,
            host = %target.host,
            port = target.port,
            dbname = %target.dbname,
            tls = login.tls.mode.as_str(),
            cause = e.kind.as_str(),
            detail = %e.detail,
            "login failed"
        ),
    }
    Ok(result)
}

/// The error for a login that did not work with any of the credentials tried.
pub fn login_error(
    secret: &str,
    login: &Login<'_>,
    attempts: Vec<(Credential, PgError)>,
) -> RotateError {
    let creds = login.creds;
    let summary = attempts
        .iter()
        .map(|(c, e)| format!("{} credentials: {e}", c.as_str()))
        .collect::<Vec<_>>()
        .join("; ");
    let source = attempts
        .into_iter()
        .next()
        .map(|(_, e)| e)
        .unwrap_or_else(|| PgError::new(FailureKind::Other, "no login was attempted"));
    RotateError::Login(Box::new(crate::error::LoginFailure {
        secret: secret.to_owned(),
        user: creds.username().to_owned(),
        host: creds.host_opt().unwrap_or("?").to_owned(),
        port: creds.port(),
        tls: login.tls.mode.as_str().to_owned(),
        attempts: summary,
        source,
    }))
}

/// A text parameter whose `Debug` is redacted: tokio-postgres logs statement parameters
/// with `Debug` at debug level, and a SCRAM verifier must not reach any log.
struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl ToSql for Redacted<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// Sets `role`'s password (creating the role with LOGIN when `create` is true).
///
/// Only a SCRAM-SHA-256 verifier computed here reaches the server, so the clear text is
/// never in the server's statement log or `pg_stat_activity`. `ALTER ROLE` takes no bind
/// parameters, so the role name and verifier travel as parameters of `set_config` and a
/// fixed `DO` block quotes them server-side with `format('%I', '%L')`: the statement text
/// the driver logs at debug level holds neither.
pub async fn set_password(
    client: &mut Client,
    role: &str,
    password: &SecretString,
    create: bool,
) -> Result<(), PgError> {
    let verifier = scram_verifier(password);
    let statement = if create {
        "DO $rotor$ BEGIN EXECUTE format('CREATE ROLE %I WITH LOGIN PASSWORD %L', \
         current_setting('rotor.role'), current_setting('rotor.verifier')); END $rotor$"
    } else {
        "DO $rotor$ BEGIN EXECUTE format('ALTER ROLE %I WITH PASSWORD %L', \
         current_setting('rotor.role'), current_setting('rotor.verifier')); END $rotor$"
    };
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::classify(&e))?;
    tx.execute(
        "SELECT set_config('rotor.role', $1, true), set_config('rotor.verifier', $2, true)",
        &[&role, &Redacted(&verifier)],
    )
    .await
    .map_err(|e| PgError::classify(&e))?;
    tx.batch_execute(statement)
        .await
        .map_err(|e| PgError::classify(&e))?;
    tx.commit().await.map_err(|e| PgError::classify(&e))
}

/// Whether a role exists.
pub async fn role_exists(client: &Client, role: &str) -> Result<bool, PgError> {
    client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await
        .map(|row| row.is_some())
        .map_err(|e| PgError::classify(&e))
}

/// `GRANT <member_of> TO <role>`: `role` gets `member_of`'s privileges. Repeating it is
/// harmless (PostgreSQL only notes that the membership exists).
pub async fn grant_membership(client: &Client, member_of: &str, role: &str) -> Result<(), PgError> {
    let sql = format!(
        "GRANT {} TO {}",
        rotor_core::pg::quote_ident(member_of),
        rotor_core::pg::quote_ident(role)
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| PgError::classify(&e))
}

/// A query proving the session works, returning the user it runs as.
pub async fn check_session(client: &Client) -> Result<String, PgError> {
    client
        .query_one("SELECT current_user::text", &[])
        .await
        .map(|row| row.get(0))
        .map_err(|e| PgError::classify(&e))
}
