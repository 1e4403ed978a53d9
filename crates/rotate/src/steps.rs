//! The four steps for each kind of secret. Every step first checks the protocol (rotation
//! enabled, the token is this secret's AWSPENDING version) and is safe to run again at any
//! point: Secrets Manager retries the whole rotation after any failure.

use std::fmt;
use std::time::Duration;

use rotor_core::{CredentialsError, DbCredentials, SecretString};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::Context;
use crate::app;
use crate::config::Strategy;
use crate::database::{self, Credential, Login, login_error, try_login};
use crate::deadline::Deadline;
use crate::error::RotateError;
use crate::event::{RotationEvent, Step};
use crate::master;
use crate::secret::{self, CURRENT, PENDING, PREVIOUS, SecretInfo};
use rotor_core::pg::{FailureKind, PgError};

/// Tag that chooses the strategy of one secret (same values as `ROTATION_STRATEGY`).
pub const STRATEGY_TAG: &str = "rotor:strategy";
/// Tag naming the keys of an app secret to regenerate (comma-separated).
pub const APP_KEYS_TAG: &str = "rotor:app-secret-keys";

const CLONE_SUFFIX: &str = "_clone";
const MAX_IDENTIFIER_BYTES: usize = 63;

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// createSecret stored a new AWSPENDING value.
    Created,
    /// createSecret found the AWSPENDING value already stored.
    AlreadyCreated,
    /// setSecret changed the password in the database.
    PasswordSet,
    /// setSecret found the pending credentials already working.
    AlreadySet,
    /// testSecret logged in with the pending credentials.
    Tested,
    /// setSecret/testSecret of an app secret: the pending value is well-formed.
    Validated,
    /// finishSecret moved AWSCURRENT to the new version.
    Finished,
    /// The token's version is already AWSCURRENT: nothing to do.
    AlreadyCurrent,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::AlreadyCreated => "already-created",
            Outcome::PasswordSet => "password-set",
            Outcome::AlreadySet => "already-set",
            Outcome::Tested => "tested",
            Outcome::Validated => "validated",
            Outcome::Finished => "finished",
            Outcome::AlreadyCurrent => "already-current",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of rotation a secret gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    SingleUser,
    AlternatingUsers,
    AppSecret(Vec<String>),
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::SingleUser => "single-user",
            Kind::AlternatingUsers => "alternating-users",
            Kind::AppSecret(_) => "app-secret",
        }
    }
}

/// Runs one step: protocol checks, then the work for the secret's kind.
pub async fn run(
    ctx: &Context,
    event: &RotationEvent,
    deadline: &Deadline,
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    if event.step == Step::FinishSecret {
        let info = secret::describe(&ctx.secrets, id).await?;
        if let Some(outcome) = check_protocol(&info, id, &event.token)? {
            return Ok(outcome);
        }
        return finish(ctx, &info, id, &event.token).await;
    }
    // The reads the step needs, at once: none depends on another, and each is a round trip
    // to Secrets Manager. The protocol is checked before either value is used. testSecret
    // of a database secret needs only the pending value, so it decides the kind from that
    // (a copy of AWSCURRENT with new credentials) and reads AWSCURRENT only for an app
    // secret, whose previous values it checks.
    let needs_current = event.step != Step::TestSecret;
    let read_current = || secret::required_value(&ctx.secrets, id, CURRENT, None);
    let (info, current, pending) = tokio::join!(
        secret::describe(&ctx.secrets, id),
        async {
            if needs_current {
                read_current().await.map(Some)
            } else {
                Ok(None)
            }
        },
        secret::value(&ctx.secrets, id, PENDING, Some(&event.token)),
    );
    let info = info?;
    if let Some(outcome) = check_protocol(&info, id, &event.token)? {
        return Ok(outcome);
    }
    let (current, pending) = (current?, pending?);
    let pending = pending.as_ref();
    let (stage, text) = match &current {
        Some(current) => ("AWSCURRENT", current),
        None => ("AWSPENDING", pending.ok_or_else(|| missing_pending(id))?),
    };
    let value = json_object(id, stage, text)?;
    let kind = choose_kind(ctx, &info, id, &value)?;
    tracing::info!(kind = kind.as_str(), "rotation kind chosen");
    match kind {
        Kind::AppSecret(keys) => {
            let current = match current {
                Some(_) => value,
                None => json_object(id, "AWSCURRENT", &read_current().await?)?,
            };
            app_step(ctx, event, &current, pending, &keys).await
        }
        _ if event.step == Step::TestSecret => {
            test_db(ctx, event, &pending_db(id, pending)?, deadline).await
        }
        kind => {
            let current = db_credentials(id, "AWSCURRENT", value)?;
            check_engine(id, &current)?;
            let alternating = kind == Kind::AlternatingUsers;
            match event.step {
                Step::CreateSecret => create_db(ctx, event, &current, pending, alternating).await,
                Step::SetSecret => {
                    let pending = pending_db(id, pending)?;
                    if alternating {
                        set_alternating(ctx, event, &current, &pending, deadline).await
                    } else {
                        set_single(ctx, event, &current, &pending, deadline).await
                    }
                }
                Step::TestSecret => unreachable!("handled above"),
                Step::FinishSecret => unreachable!("handled above"),
            }
        }
    }
}

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

fn json_object(
    secret: &str,
    stage: &'static str,
    text: &SecretString,
) -> Result<Map<String, Value>, RotateError> {
    let format = |source| RotateError::Format {
        secret: secret.to_owned(),
        stage,
        source,
    };
    // Parse errors keep only the position: serde's messages may quote the text.
    match serde_json::from_str::<Value>(text.expose_secret()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format(CredentialsError::NotObject)),
        Err(e) => Err(format(CredentialsError::NotJson(format!(
            "line {} column {}",
            e.line(),
            e.column()
        )))),
    }
}

fn db_credentials(
    secret: &str,
    stage: &'static str,
    map: Map<String, Value>,
) -> Result<DbCredentials, RotateError> {
    DbCredentials::from_map(map).map_err(|source| RotateError::Format {
        secret: secret.to_owned(),
        stage,
        source,
    })
}

async fn read_db(
    ctx: &Context,
    secret: &str,
    stage: &'static str,
    version: Option<&str>,
) -> Result<Option<DbCredentials>, RotateError> {
    match secret::value(&ctx.secrets, secret, stage, version).await? {
        None => Ok(None),
        Some(text) => {
            let map = json_object(secret, stage, &text)?;
            db_credentials(secret, stage, map).map(Some)
        }
    }
}

/// The AWSPENDING value read for the event's token, which must exist and hold credentials.
fn pending_db(secret: &str, pending: Option<&SecretString>) -> Result<DbCredentials, RotateError> {
    let text = pending.ok_or_else(|| missing_pending(secret))?;
    let map = json_object(secret, "AWSPENDING", text)?;
    let pending = db_credentials(secret, "AWSPENDING", map)?;
    check_engine(secret, &pending)?;
    Ok(pending)
}

fn missing_pending(secret: &str) -> RotateError {
    RotateError::MissingValue {
        secret: secret.to_owned(),
        stage: PENDING,
        hint: " (createSecret has not stored one yet)",
    }
}

/// The strategy from the secret's tag, else the setting; `auto` decides from the value.
pub fn choose_kind(
    ctx: &Context,
    info: &SecretInfo,
    secret: &str,
    current: &Map<String, Value>,
) -> Result<Kind, RotateError> {
    let strategy = match info.tag(STRATEGY_TAG) {
        Some(v) => v.parse::<Strategy>().map_err(|_| {
            RotateError::invalid(
                secret,
                format!(
                    "tag {STRATEGY_TAG} is `{}`; expected {}",
                    v.chars().take(40).collect::<String>(),
                    Strategy::ALLOWED
                ),
            )
        })?,
        None => ctx.config.strategy,
    };
    let tagged_keys = info.tag(APP_KEYS_TAG).map(app::parse_keys);
    let has = |key: &str| current.get(key).is_some_and(|v| !v.is_null());
    let kind = match strategy {
        Strategy::AppSecret => {
            Kind::AppSecret(tagged_keys.unwrap_or_else(|| ctx.config.app_secret_keys.clone()))
        }
        Strategy::Auto if tagged_keys.is_some() && !has("engine") => {
            Kind::AppSecret(tagged_keys.unwrap_or_default())
        }
        Strategy::Auto if has("masterarn") => Kind::AlternatingUsers,
        Strategy::Auto | Strategy::SingleUser => Kind::SingleUser,
        Strategy::AlternatingUsers => Kind::AlternatingUsers,
    };
    if let Kind::AppSecret(keys) = &kind {
        if has("engine") {
            return Err(RotateError::invalid(
                secret,
                "app-secret rotation was chosen but the secret has a database `engine`; \
                 database credentials need a database rotation",
            ));
        }
        app::check_keys(current, keys).map_err(RotateError::app_secret(secret))?;
    }
    Ok(kind)
}

fn check_engine(secret: &str, creds: &DbCredentials) -> Result<(), RotateError> {
    match creds.engine() {
        None => Ok(()),
        Some(e)
            if e.eq_ignore_ascii_case("postgres")
                || e.eq_ignore_ascii_case("aurora-postgresql") =>
        {
            Ok(())
        }
        Some(e) => Err(RotateError::WrongEngine {
            secret: secret.to_owned(),
            engine: e.to_owned(),
        }),
    }
}

fn format_error<'a>(
    secret: &'a str,
    stage: &'static str,
) -> impl FnOnce(CredentialsError) -> RotateError + 'a {
    move |source| RotateError::Format {
        secret: secret.to_owned(),
        stage,
        source,
    }
}

/// `app` ↔ `app_clone`.
pub fn alternate_username(username: &str) -> String {
    match username.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => format!("{username}{CLONE_SUFFIX}"),
    }
}

fn base_username(username: &str) -> &str {
    match username.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base,
        _ => username,
    }
}

// ---------------------------------------------------------------- createSecret

async fn create_db(
    ctx: &Context,
    event: &RotationEvent,
    current: &DbCredentials,
    pending: Option<&SecretString>,
    alternating: bool,
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    current.host().map_err(format_error(id, "AWSCURRENT"))?;
    let mut next = current.clone();
    if alternating {
        if current.masterarn().is_none() {
            return Err(RotateError::MissingMasterArn {
                secret: id.to_owned(),
            });
        }
        let username = alternate_username(current.username());
        if username.len() > MAX_IDENTIFIER_BYTES {
            return Err(RotateError::UsernameTooLong {
                secret: id.to_owned(),
                len: username.len(),
                username,
            });
        }
        next = next.with_username(&username);
    }
    if already_created(pending) {
        return Ok(Outcome::AlreadyCreated);
    }
    let password = secret::random_password(&ctx.secrets, id, &ctx.config.password).await?;
    let next = next.with_password(password);
    secret::put_pending(
        &ctx.secrets,
        id,
        &event.token,
        event.rotation_token.as_deref(),
        &next.to_json(),
    )
    .await?;
    tracing::info!(
        outcome = "created",
        username = %next.username(),
        "stored new credentials as AWSPENDING"
    );
    Ok(Outcome::Created)
}

/// createSecret's retry check: a value under the token means an earlier attempt stored
/// it, and it must not be replaced (setSecret may already have used it).
fn already_created(pending: Option<&SecretString>) -> bool {
    if pending.is_some() {
        tracing::info!(
            outcome = "already-created",
            "AWSPENDING already has a value"
        );
    }
    pending.is_some()
}

// ---------------------------------------------------------------- setSecret

/// Both setSecret flavours: the pending version must name the same host and port as the
/// current one.
fn check_same_host(
    id: &str,
    current: &DbCredentials,
    pending: &DbCredentials,
) -> Result<(), RotateError> {
    let host = pending.host().map_err(format_error(id, "AWSPENDING"))?;
    if Some(host) != current.host_opt() {
        return Err(RotateError::Mismatch {
            secret: id.to_owned(),
            what: "host",
        });
    }
    if pending.port() != current.port() {
        return Err(RotateError::Mismatch {
            secret: id.to_owned(),
            what: "port",
        });
    }
    Ok(())
}

fn already_set() -> Outcome {
    tracing::info!(
        outcome = "already-set",
        "the pending credentials already log in"
    );
    Outcome::AlreadySet
}

async fn set_single(
    ctx: &Context,
    event: &RotationEvent,
    current: &DbCredentials,
    pending: &DbCredentials,
    deadline: &Deadline,
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    let config = &ctx.config;
    if pending.username() != current.username() {
        return Err(RotateError::Mismatch {
            secret: id.to_owned(),
            what: "username",
        });
    }
    check_same_host(id, current, pending)?;

    // One login on the common path: AWSCURRENT logs in until the password changes. When it
    // does not, an earlier attempt may have set the password already (the pending
    // credentials log in), or the database may still hold the older password because
    // AWSCURRENT changed without it (a manual PutSecretValue, a restored database).
    let as_current = Login::new(config, current, Credential::Current, id)?;
    let mut attempts = Vec::new();
    let mut client = match try_login(ctx, deadline, id, &as_current).await? {
        Ok(client) => Some(client),
        // Only a refused password is worth another credential: a server that cannot be
        // reached or trusted will not be reached or trusted with other credentials.
        Err(e) if e.kind != FailureKind::Authentication => {
            return Err(login_error(id, &as_current, vec![(Credential::Current, e)]));
        }
        Err(e) => {
            attempts.push((Credential::Current, e));
            None
        }
    };
    if client.is_none() {
        let as_pending = Login::new(config, pending, Credential::Pending, id)?;
        match try_login(ctx, deadline, id, &as_pending).await? {
            Ok(_) => return Ok(already_set()),
            Err(e) => attempts.push((Credential::Pending, e)),
        }
        match read_db(ctx, id, PREVIOUS, None).await? {
            Some(previous)
                if previous.username() == pending.username()
                    && previous.host_opt() == pending.host_opt()
                    && previous.port() == pending.port() =>
            {
                let as_previous = Login::new(config, &previous, Credential::Previous, id)?;
                match try_login(ctx, deadline, id, &as_previous).await? {
                    Ok(c) => client = Some(c),
                    Err(e) => attempts.push((Credential::Previous, e)),
                }
            }
            Some(_) => tracing::info!("AWSPREVIOUS is for another user or host; not tried"),
            None => {}
        }
    }
    let Some(mut client) = client else {
        return Err(login_error(id, &as_current, attempts));
    };
    let user = pending.username();
    let failed = |source| {
        db_error(
            id,
            pending,
            format!("changing the password of role {user}"),
            source,
        )
    };
    let tx = database::guarded(&mut client).await.map_err(failed)?;
    database::set_password(&tx, user, pending.password(), false)
        .await
        .map_err(failed)?;
    tx.commit()
        .await
        .map_err(|e| failed(PgError::classify(&e)))?;
    tracing::info!(outcome = "password-set", username = %user, "password changed");
    Ok(Outcome::PasswordSet)
}

fn db_error(secret: &str, creds: &DbCredentials, action: String, source: PgError) -> RotateError {
    RotateError::Database(Box::new(crate::error::DatabaseFailure {
        secret: secret.to_owned(),
        action,
        host: creds.host_opt().unwrap_or("?").to_owned(),
        port: creds.port(),
        source,
    }))
}

fn refused_role(secret: &str, reason: String) -> RotateError {
    RotateError::Refused {
        secret: secret.to_owned(),
        what: "Role",
        reason,
    }
}

async fn set_alternating(
    ctx: &Context,
    event: &RotationEvent,
    current: &DbCredentials,
    pending: &DbCredentials,
    deadline: &Deadline,
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    let config = &ctx.config;
    let master_arn = current
        .masterarn()
        .or(pending.masterarn())
        .ok_or_else(|| RotateError::MissingMasterArn {
            secret: id.to_owned(),
        })?
        .to_owned();
    let expected = alternate_username(current.username());
    if pending.username() != expected {
        return Err(RotateError::invalid(
            id,
            format!(
                "the AWSPENDING user `{}` is not the alternate of the AWSCURRENT user `{}` (expected `{expected}`)",
                pending.username(),
                current.username()
            ),
        ));
    }
    check_same_host(id, current, pending)?;

    // What the secret's writer could turn the master against is settled before any login:
    // the master's own role, and a database other than the master's.
    let master = master::resolve(ctx, &master_arn).await?;
    let user = pending.username();
    let base = base_username(user);
    if let Some(role) = [user, base].into_iter().find(|r| *r == master.username()) {
        return Err(refused_role(
            id,
            format!("the secret names role {role}, which is the master user itself"),
        ));
    }
    master::check_same_database(ctx, id, &master_arn, &master, current).await?;

    // An earlier attempt may have set the password already. And the current user must
    // still work: rotating its twin while it is broken would leave the application with
    // no working credentials at all. Both logins at once: neither depends on the other.
    let as_pending = Login::new(config, pending, Credential::Pending, id)?;
    let as_current = Login::new(config, current, Credential::Current, id)?;
    let (pending_login, current_login) = tokio::join!(
        try_login(ctx, deadline, id, &as_pending),
        try_login(ctx, deadline, id, &as_current)
    );
    if pending_login?.is_ok() {
        return Ok(already_set());
    }
    if let Err(e) = current_login? {
        return Err(login_error(id, &as_current, vec![(Credential::Current, e)]));
    }

    // The master works in its own database: CREATE ROLE, ALTER ROLE and GRANT are
    // cluster-wide, and a database an application team owns may hold settings and objects
    // planted for whoever logs in next.
    let as_master = Login::new(config, &master, Credential::Master, &master_arn)?;
    let mut client = match try_login(ctx, deadline, id, &as_master).await? {
        Ok(c) => c,
        Err(e) => {
            return Err(login_error(
                &master_arn,
                &as_master,
                vec![(Credential::Master, e)],
            ));
        }
    };
    let on_master = &master;
    let failed = |action: String| move |source| db_error(id, on_master, action, source);
    let tx = database::guarded(&mut client)
        .await
        .map_err(failed(format!("starting the change of role {user}")))?;
    let target = database::role_info(&tx, user)
        .await
        .map_err(failed(format!("looking up role {user}")))?;
    let base_role = if base == user {
        target.clone()
    } else {
        database::role_info(&tx, base)
            .await
            .map_err(failed(format!("looking up role {base}")))?
    };
    for info in [&target, &base_role].into_iter().flatten() {
        if let Some(why) = info.too_powerful() {
            return Err(refused_role(
                id,
                format!(
                    "rotor does not set the password of role {} or grant it to another: {why}",
                    info.name
                ),
            ));
        }
    }
    let exists = target.is_some();
    let action = if exists {
        "changing the password of role"
    } else {
        "creating role"
    };
    database::set_password(&tx, user, pending.password(), !exists)
        .await
        .map_err(failed(format!("{action} {user}")))?;
    let clone = format!("{base}{CLONE_SUFFIX}");
    database::grant_membership(&tx, base, &clone)
        .await
        .map_err(failed(format!("granting {base} to {clone}")))?;
    // Objects the clone creates would otherwise be its own, and the base user could not
    // alter or drop them after the next rotation. Re-asserted each rotation.
    if config.clone_set_role {
        database::set_session_role(&tx, &clone, base)
            .await
            .map_err(failed(format!("making {clone}'s sessions act as {base}")))?;
    }
    tx.commit()
        .await
        .map_err(|e| failed(format!("{action} {user}"))(PgError::classify(&e)))?;
    tracing::info!(
        outcome = "password-set",
        username = %user,
        created = !exists,
        member_of = %base,
        clone_acts_as_base = config.clone_set_role,
        "password of the alternate user changed"
    );
    Ok(Outcome::PasswordSet)
}

// ---------------------------------------------------------------- testSecret

async fn test_db(
    ctx: &Context,
    event: &RotationEvent,
    pending: &DbCredentials,
    deadline: &Deadline,
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    let config = &ctx.config;
    let login = Login::new(config, pending, Credential::Pending, id)?;
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let failure = match try_login(ctx, deadline, id, &login).await? {
            Ok(client) => match database::check_session(&client).await {
                Ok(user) => {
                    tracing::info!(outcome = "tested", session_user = %user, "the pending credentials work");
                    return Ok(Outcome::Tested);
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        let waited = started.elapsed();
        if waited + pause > config.test_retry || deadline.cap(pause) < pause {
            return Err(login_error(
                id,
                &login,
                vec![(Credential::Pending, failure)],
            ));
        }
        tracing::info!(
            retry_in_ms = pause.as_millis() as u64,
            "pending credentials not working yet; retrying"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

// ---------------------------------------------------------------- finishSecret

async fn finish(
    ctx: &Context,
    info: &SecretInfo,
    secret: &str,
    token: &str,
) -> Result<Outcome, RotateError> {
    let from = info.version_with(CURRENT);
    secret::promote(&ctx.secrets, secret, token, from).await?;
    tracing::info!(
        outcome = "finished",
        previous_version = from.unwrap_or("none"),
        "AWSCURRENT moved to the new version"
    );
    Ok(Outcome::Finished)
}

// ---------------------------------------------------------------- app secrets

async fn app_step(
    ctx: &Context,
    event: &RotationEvent,
    current: &Map<String, Value>,
    pending: Option<&SecretString>,
    keys: &[String],
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    match event.step {
        Step::CreateSecret => {
            if already_created(pending) {
                return Ok(Outcome::AlreadyCreated);
            }
            let mut fresh = Vec::with_capacity(keys.len());
            for key in keys {
                fresh.push((
                    key.clone(),
                    secret::random_password(&ctx.secrets, id, &ctx.config.password).await?,
                ));
            }
            let next = app::next_value(current, &fresh);
            let text = SecretString::from(Value::Object(next).to_string());
            secret::put_pending(
                &ctx.secrets,
                id,
                &event.token,
                event.rotation_token.as_deref(),
                &text,
            )
            .await?;
            tracing::info!(outcome = "created", keys = %keys.join(","), "stored new app secret values as AWSPENDING");
            Ok(Outcome::Created)
        }
        Step::SetSecret | Step::TestSecret => {
            let text = pending.ok_or_else(|| missing_pending(id))?;
            let pending = json_object(id, "AWSPENDING", text)?;
            app::validate(&pending, current, keys).map_err(RotateError::app_secret(id))?;
            tracing::info!(outcome = "validated", keys = %keys.join(","), "AWSPENDING holds new values and the previous ones");
            Ok(Outcome::Validated)
        }
        Step::FinishSecret => unreachable!("finishSecret does not depend on the kind"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_alternate_between_the_base_and_its_clone() {
        assert_eq!(alternate_username("app"), "app_clone");
        assert_eq!(alternate_username("app_clone"), "app");
        assert_eq!(alternate_username("_clone"), "_clone_clone");
        assert_eq!(base_username("app_clone"), "app");
        assert_eq!(base_username("app"), "app");
    }

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
