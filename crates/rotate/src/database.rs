//! PostgreSQL work of a rotation: logging in with one of the secret's credentials (each
//! failure logged with the credential tried, the TLS mode and the classified cause), and
//! changing passwords without the clear text ever leaving the function.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use rotor_core::DbCredentials;
use rotor_core::SecretString;
use rotor_core::pg::{FailureKind, PgError, SslMode, Target, Tls, scram_verifier};
use secrecy::ExposeSecret;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::Context;
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
    Ok(config.tls.tls(mode))
}

/// A login: the credentials (their `dbname` is the database), which of them, and their
/// TLS settings.
pub struct Login<'a> {
    pub creds: &'a DbCredentials,
    pub credential: Credential,
    pub tls: Tls,
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
        })
    }

    pub fn target(&self, secret: &str, connect_timeout: Duration) -> Result<Target, RotateError> {
        Target::from_credentials(self.creds, connect_timeout).map_err(|source| {
            RotateError::Format {
                secret: secret.to_owned(),
                stage: stage_name(self.credential),
                source,
            }
        })
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
    ctx: &Context,
    deadline: &Deadline,
    secret: &str,
    login: &Login<'_>,
) -> Result<Result<Client, PgError>, RotateError> {
    let limit = deadline.cap(ctx.config.connect_timeout);
    if limit.is_zero() {
        return Ok(Err(PgError::new(
            FailureKind::Timeout,
            "no time left before the Lambda deadline",
        )));
    }
    let target = login.target(secret, limit)?;
    ctx.logins
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

/// The first statements of every transaction rotor runs: every unqualified name resolves
/// in `pg_catalog` only.
///
/// rotor runs statements in databases other teams own. A function or operator planted in a
/// schema the caller can write (`public.format(text, text, text)`, say) beats
/// `pg_catalog.format(text, VARIADIC "any")` when its argument types match exactly,
/// whatever the search order, and would run with the master's rights. So every call below
/// is schema-qualified (`pg_catalog.format`, `OPERATOR(pg_catalog.=)`), and the search path
/// is pinned as well, for anything a qualified call resolves internally. `pg_temp` is
/// named last so it is never searched first, and functions are never looked up in it.
///
/// A transaction is ended only by `COMMIT` in the same batch as its last statements. One
/// that is not (an error, a refusal) is rolled back by the server when the step drops the
/// connection: rotor never uses a connection for more than one step.
///
/// Its time is limited on the server as well (see [`server_limit`]): a step that gives up
/// at its deadline drops the connection, but a server waiting for a lock does not notice,
/// and once the lock is released it would run the rest of the batch it already holds,
/// `COMMIT` included. The password would change after rotor had said it did not, and with
/// AWSCURRENT still the old one the application would be locked out until a retry.
const BEGIN_GUARDED: &str = "BEGIN; SET LOCAL search_path = pg_catalog, pg_temp";

/// How long the server may work on a transaction rotor begins now: what is left of the
/// step's time less a quarter of it (at most a second), so that the server's refusal
/// reaches rotor before rotor gives up. `None` for a step without a deadline.
pub fn server_limit(deadline: &Deadline) -> Option<Duration> {
    deadline.instant()?;
    let left = deadline.remaining();
    let slack = (left / 4).min(Duration::from_secs(1));
    // Zero would mean no limit at all to the server.
    Some((left - slack).max(Duration::from_millis(1)))
}

/// [`BEGIN_GUARDED`] with the server's limits: a lock wait (`lock_timeout`) and any one
/// statement (`statement_timeout`) give up within the [`server_limit`], and
/// [`COMMIT_GUARD`] refuses to commit a transaction that took longer in all. A session left
/// idle in the transaction that long (an invocation frozen or killed between two batches,
/// its connection not yet closed) is ended by the server, rather than kept open holding
/// what the transaction holds.
fn begin_sql(deadline: &Deadline) -> String {
    match server_limit(deadline) {
        None => BEGIN_GUARDED.to_owned(),
        Some(limit) => {
            // A lock wait begins after its statement, and gives up a little before the
            // statement would: the error then says it was a lock.
            let ms = limit.as_millis();
            let lock_ms = (ms * 9 / 10).max(1);
            format!(
                "{BEGIN_GUARDED}; SET LOCAL lock_timeout = {lock_ms}; \
                 SET LOCAL statement_timeout = {ms}; \
                 SET LOCAL idle_in_transaction_session_timeout = {ms}"
            )
        }
    }
}

/// The statement before every `COMMIT`: the time limits above hold each statement, this
/// holds them all. A transaction that has run longer (by the server's clock) than the
/// `statement_timeout` set at its `BEGIN` is refused, so its `COMMIT`, skipped.
const COMMIT_GUARD: &str = "DO $rotor$
DECLARE
  limit_text pg_catalog.text := pg_catalog.current_setting('statement_timeout');
BEGIN
  -- OPERATOR(...) forms share one precedence, left to right: hence the parentheses.
  IF limit_text OPERATOR(pg_catalog.<>) '0' AND pg_catalog.clock_timestamp()
      OPERATOR(pg_catalog.>) (pg_catalog.transaction_timestamp()
      OPERATOR(pg_catalog.+) limit_text::pg_catalog.interval) THEN
    RAISE EXCEPTION USING ERRCODE = 'query_canceled',
      MESSAGE = 'the transaction ran past rotor''s time limit (' OPERATOR(pg_catalog.||)
        limit_text OPERATOR(pg_catalog.||) '); nothing was committed';
  END IF;
END
$rotor$";

/// Opens a guarded transaction (see [`BEGIN_GUARDED`]), limited to the step's time, for
/// the statements that follow on this connection.
pub async fn begin_guarded(client: &Client, deadline: &Deadline) -> Result<(), PgError> {
    client
        .batch_execute(&begin_sql(deadline))
        .await
        .map_err(classify)
}

fn classify(e: tokio_postgres::Error) -> PgError {
    PgError::classify(&e)
}

/// [`classify`], adding `note` to a failure of `kind`: what it means where it happened.
fn classify_noting(
    kind: FailureKind,
    note: &'static str,
) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    move |e| {
        let mut err = classify(e);
        if err.kind == kind {
            err.detail.push_str(note);
        }
        err
    }
}

/// The server-side half of [`set_password`]: reads the role and verifier from the
/// session's temporary table and runs the statement. A failure is re-raised without its
/// context: PL/pgSQL would otherwise quote the failed statement, verifier and all, in the
/// error the client receives and the server logs. `others` leaves out `query_canceled`
/// (the time limits of [`begin_sql`]), so that is named as well.
const SET_PASSWORD_BLOCK: &str = "DO $rotor$
DECLARE
  target pg_catalog.text;
  verifier pg_catalog.text;
  detail pg_catalog.text;
BEGIN
  SELECT t.role, t.verifier INTO STRICT target, verifier FROM pg_temp.rotor_password t;
  IF (SELECT t.create_role FROM pg_temp.rotor_password t) THEN
    EXECUTE pg_catalog.format('CREATE ROLE %I WITH LOGIN PASSWORD %L', target, verifier);
  ELSE
    EXECUTE pg_catalog.format('ALTER ROLE %I WITH PASSWORD %L', target, verifier);
  END IF;
EXCEPTION WHEN query_canceled OR others THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  IF detail OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM;
  END IF;
  RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM, DETAIL = detail;
END
$rotor$";

/// The table the verifier travels to, for the session only. Not `ON COMMIT DROP`: the
/// session ends with the step (dropping it), and a drop at commit costs a catalog change.
/// Its columns are bounded so that a row can never need TOAST, and the server creates no
/// TOAST table for it (a third less work than with `text` columns). A role name has at
/// most 63 bytes; a verifier [`VERIFIER_MAX_CHARS`].
const CREATE_PASSWORD_TABLE: &str = "CREATE TEMPORARY TABLE rotor_password \
     (role pg_catalog.varchar(128), verifier pg_catalog.varchar(256), \
     create_role pg_catalog.bool)";

/// What a refused temporary table means, for the operator: the privilege and why rotor
/// needs it rather than a way round it.
const NO_TEMPORARY_TABLE: &str = " (the new password's verifier travels as COPY data into a \
     temporary table, which no statement log records: the role rotor logs in as needs the \
     TEMPORARY privilege on this database, which PUBLIC has unless it was revoked)";

/// The longest verifier the password table takes. A SCRAM-SHA-256 verifier is about 133
/// characters whatever the password (`SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`).
pub const VERIFIER_MAX_CHARS: usize = 256;

/// A password change: `role`'s new verifier, whether to create the role (with LOGIN), and
/// what else to run in the same transaction once it is set.
pub struct PasswordChange<'a> {
    pub role: &'a str,
    pub verifier: &'a Verifier,
    pub create: bool,
    /// Statements run after the password is set, before the commit.
    pub then: Vec<String>,
}

/// Where [`set_password`] runs: in the guarded transaction [`begin_guarded`] opened on the
/// connection already, or in one it begins, limited to the step's time.
#[derive(Debug, Clone, Copy)]
pub enum Transaction<'a> {
    AlreadyBegun,
    Begin(&'a Deadline),
}

/// Sets a role's password and commits, in a guarded transaction (see [`Transaction`]).
/// Three round trips: the table with the COPY prepared, the COPY, the change with its
/// commit.
///
/// Only a SCRAM-SHA-256 verifier computed here reaches the server, so the clear text is
/// never in the server's logs or `pg_stat_activity`. `ALTER ROLE` takes no bind
/// parameters, and bind parameters would be in the statement log anyway
/// (`log_statement = 'all'` logs them with each statement). So the role name and verifier
/// travel as `COPY` data into a temporary table, which no statement log records, and a
/// fixed `DO` block quotes them server-side with `format('%I', '%L')`. Neither the
/// statements the server logs nor those the driver logs hold the verifier.
pub async fn set_password(
    client: &Client,
    change: PasswordChange<'_>,
    transaction: Transaction<'_>,
) -> Result<(), PgError> {
    let open = match transaction {
        Transaction::AlreadyBegun => CREATE_PASSWORD_TABLE.to_owned(),
        Transaction::Begin(deadline) => format!("{}; {CREATE_PASSWORD_TABLE}", begin_sql(deadline)),
    };
    // The COPY is prepared in the same flight (pipelined): a COPY's table is looked up
    // when it runs, not when it is prepared.
    let (opened, copy) = tokio::join!(
        client.batch_execute(&open),
        client.prepare("COPY pg_temp.rotor_password FROM STDIN")
    );
    // Nothing else in the opening batch needs a privilege.
    opened.map_err(classify_noting(FailureKind::Permission, NO_TEMPORARY_TABLE))?;
    let copy = copy.map_err(classify)?;
    let row = format!(
        "{}\t{}\t{}\n",
        copy_text(change.role),
        change.verifier.0.expose_secret(),
        if change.create { "t" } else { "f" }
    );
    let sink = client.copy_in::<_, Bytes>(&copy).await.map_err(classify)?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from(row)).await.map_err(classify)?;
    sink.finish().await.map_err(classify)?;
    let mut finish = vec![SET_PASSWORD_BLOCK.to_owned()];
    finish.extend(change.then);
    finish.extend([COMMIT_GUARD.to_owned(), "COMMIT".to_owned()]);
    client
        .batch_execute(&finish.join(";\n"))
        .await
        .map_err(classify_noting(FailureKind::Timeout, OUT_OF_TIME))
}

/// What a change stopped by the server's time limit means, for the operator.
const OUT_OF_TIME: &str = " (the server stopped it at rotor's time limit, before the Lambda \
     deadline, and committed nothing: another transaction may be holding the role; the \
     step can be retried)";

/// The SCRAM-SHA-256 verifier of a new password: the only form of it the server receives.
#[derive(Clone)]
pub struct Verifier(SecretString);

impl Verifier {
    /// Computes it here (4096 rounds of HMAC); [`VerifierTask`] does it off the runtime.
    pub fn compute(password: &SecretString) -> Self {
        Verifier(SecretString::from(scram_verifier(password)))
    }
}

/// The verifier of a new password: computed already, or being computed on a blocking
/// thread (4096 rounds of HMAC, about a millisecond) while the step does its round trips.
pub enum VerifierTask {
    Ready(Verifier),
    Computing {
        password: SecretString,
        task: tokio::task::JoinHandle<Verifier>,
    },
}

impl VerifierTask {
    /// Starts computing the verifier of `password`.
    pub fn start(password: &SecretString) -> Self {
        let for_task = password.clone();
        VerifierTask::Computing {
            password: password.clone(),
            task: tokio::task::spawn_blocking(move || Verifier::compute(&for_task)),
        }
    }

    /// The verifier, once computed. The task fails only if the runtime is shutting down;
    /// then it is computed here.
    pub async fn ready(self) -> Verifier {
        match self {
            VerifierTask::Ready(verifier) => verifier,
            VerifierTask::Computing { password, task } => match task.await {
                Ok(verifier) => verifier,
                Err(_) => Verifier::compute(&password),
            },
        }
    }
}

/// A value as a field of `COPY`'s text format: backslash, tab, newline and carriage
/// return escaped, so a role name holding them stays one field.
fn copy_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Roles whose members administer the cluster on managed PostgreSQL services: a password
/// rotor sets for one of their members would hand out that power. The predefined roles
/// that read or write the server's files or run programs on it are superuser in all
/// but name.
pub const ADMIN_ROLES: &[&str] = &[
    "rds_superuser",
    "rds_password",
    "azure_pg_admin",
    "cloudsqlsuperuser",
    "alloydbsuperuser",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
];

/// What the master needs to know of a role before it sets the role's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: String,
    /// The role is the one the session logged in as (the master itself).
    pub is_session_user: bool,
    pub superuser: bool,
    pub createrole: bool,
    pub replication: bool,
    pub bypassrls: bool,
    /// The administrative roles of [`ADMIN_ROLES`], and the session's own role, that this
    /// role is a member of (directly or not).
    pub powerful_memberships: Vec<String>,
}

impl RoleInfo {
    /// Why rotor must not set this role's password (or grant it to another), if it must not.
    pub fn too_powerful(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.is_session_user {
            why.push("it is the master user itself".to_owned());
        }
        for (flag, attribute) in [
            (self.superuser, "SUPERUSER"),
            (self.createrole, "CREATEROLE"),
            (self.replication, "REPLICATION"),
            (self.bypassrls, "BYPASSRLS"),
        ] {
            if flag {
                why.push(format!("it has {attribute}"));
            }
        }
        if !self.powerful_memberships.is_empty() {
            why.push(format!(
                "it is a member of {}",
                self.powerful_memberships.join(", ")
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// The role's attributes and powerful memberships, or `None` when it does not exist.
pub async fn role_info(client: &Client, role: &str) -> Result<Option<RoleInfo>, PgError> {
    let row = client
        .query_opt(
            "SELECT r.rolname OPERATOR(pg_catalog.=) session_user, r.rolsuper, \
             r.rolcreaterole, r.rolreplication, r.rolbypassrls, \
             ARRAY(SELECT a.rolname FROM pg_catalog.pg_roles a \
                   WHERE a.oid OPERATOR(pg_catalog.<>) r.oid \
                     AND (a.rolname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]) \
                          OR a.rolname OPERATOR(pg_catalog.=) session_user) \
                     AND pg_catalog.pg_has_role(r.oid, a.oid, 'MEMBER') \
                   ORDER BY a.rolname) \
             FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1::pg_catalog.name",
            &[&role, &ADMIN_ROLES],
        )
        .await
        .map_err(classify)?;
    Ok(row.map(|row| RoleInfo {
        name: role.to_owned(),
        is_session_user: row.get(0),
        superuser: row.get(1),
        createrole: row.get(2),
        replication: row.get(3),
        bypassrls: row.get(4),
        powerful_memberships: row.get(5),
    }))
}

/// `GRANT <member_of> TO <role>`: `role` gets `member_of`'s privileges. Repeating it is
/// harmless (PostgreSQL only notes that the membership exists).
pub fn grant_membership(member_of: &str, role: &str) -> String {
    format!(
        "GRANT {} TO {}",
        rotor_core::pg::quote_ident(member_of),
        rotor_core::pg::quote_ident(role)
    )
}

/// `ALTER ROLE <role> SET role = <acts_as>`: every session of `role` starts as
/// `acts_as` (a role it is a member of), so the objects it creates belong to `acts_as`.
/// Repeating it is harmless.
pub fn set_session_role(role: &str, acts_as: &str) -> String {
    format!(
        "ALTER ROLE {} SET role = {}",
        rotor_core::pg::quote_ident(role),
        rotor_core::pg::quote_ident(acts_as)
    )
}

/// A query proving the session works, returning the user it runs as. `current_user` is
/// SQL syntax, not a function looked up by name; the batch pins the search path all the
/// same, as every transaction of rotor's does.
pub async fn check_session(client: &Client) -> Result<String, PgError> {
    let messages = client
        .simple_query(&format!("{BEGIN_GUARDED}; SELECT current_user; COMMIT"))
        .await
        .map_err(classify)?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .ok_or_else(|| PgError::new(FailureKind::Other, "the session check returned no row"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_fits_the_password_table_whatever_the_password() {
        for password in ["", "p", &"long-password-".repeat(100)] {
            let verifier = scram_verifier(&SecretString::from(password.to_owned()));
            assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
            assert!(verifier.len() < VERIFIER_MAX_CHARS, "{}", verifier.len());
        }
        assert!(CREATE_PASSWORD_TABLE.contains(&format!("varchar({VERIFIER_MAX_CHARS})")));
    }

    #[test]
    fn copy_fields_escape_what_would_split_them() {
        assert_eq!(copy_text("app"), "app");
        assert_eq!(copy_text("a\tb\nc\\d\re"), "a\\tb\\nc\\\\d\\re");
    }

    #[test]
    fn a_role_is_too_powerful_for_each_attribute_and_membership() {
        let plain = RoleInfo {
            name: "app".into(),
            is_session_user: false,
            superuser: false,
            createrole: false,
            replication: false,
            bypassrls: false,
            powerful_memberships: vec![],
        };
        assert_eq!(plain.too_powerful(), None);
        let strong = RoleInfo {
            is_session_user: true,
            createrole: true,
            powerful_memberships: vec!["rds_superuser".into()],
            ..plain.clone()
        };
        let why = strong.too_powerful().unwrap();
        assert!(why.contains("master user itself"), "{why}");
        assert!(why.contains("CREATEROLE"), "{why}");
        assert!(why.contains("member of rds_superuser"), "{why}");
    }
}
