//! The four steps for each kind of secret. Every step first checks the protocol (rotation
//! enabled, the token is this secret's AWSPENDING version) and is safe to run again at any
//! point: Secrets Manager retries the whole rotation after any failure.
//!
//! `protocol` holds the checks of the event against the secret, `strategy` the choice of
//! rotation, and one module each the work of a step: `create`, `set`, `test`, `finish`;
//! app secrets have their own four steps in `app_secret`.

use std::fmt;

use rotor_core::{CredentialsError, DbCredentials, SecretString};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::Context;
use crate::deadline::Deadline;
use crate::error::RotateError;
use crate::event::{RotationEvent, Step};
use crate::secret::{self, CURRENT, PENDING};
use crate::versions::Versioned;

mod app_secret;
mod create;
mod early;
mod finish;
mod protocol;
mod set;
pub mod strategy;
mod test;

pub use create::alternate_username;
pub use protocol::check_protocol;
pub use strategy::{APP_KEYS_TAG, STRATEGY_TAG, choose_kind};

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
        let outcome = match check_protocol(&info, id, &event.token)? {
            Some(outcome) => outcome,
            None => finish::run(ctx, &info, id, &event.token).await?,
        };
        ctx.known.forget();
        return Ok(outcome);
    }
    // The reads the step needs, at once: none depends on another, and each is a round trip
    // to Secrets Manager. Values an earlier step of this rotation read or stored on this
    // instance are not read again (see `versions`). The protocol is checked before any
    // value is used. testSecret of a database secret needs only the pending value, so it
    // decides the kind from that (a copy of AWSCURRENT with new credentials) and reads
    // AWSCURRENT only for an app secret, whose previous values it checks. createSecret
    // does not read AWSPENDING: it stores its value under the token and looks only when
    // that is refused (see `create::store_pending`). With values kept, the step's first
    // login begins at once too (see `early`).
    let known = ctx.known.get(id, &event.token);
    let needs_current = event.step != Step::TestSecret;
    let (info, current, pending, early) = tokio::join!(
        secret::describe(&ctx.secrets, id),
        async {
            match known.current.clone() {
                _ if !needs_current => Ok(None),
                Some(kept) => Ok(Some(kept)),
                None => secret::current(&ctx.secrets, id, None).await.map(Some),
            }
        },
        async {
            match known.pending.clone() {
                Some(kept) => Ok(Some(kept)),
                None if event.step == Step::CreateSecret => Ok(None),
                None => secret::value(&ctx.secrets, id, PENDING, Some(&event.token)).await,
            }
        },
        early::login(ctx, event, &known, deadline),
    );
    let info = info?;
    if let Some(outcome) = check_protocol(&info, id, &event.token)? {
        return Ok(outcome);
    }
    let (current, pending) = (current?, pending?);
    let current = match current {
        Some(c) => Some(current_as_described(ctx, id, &info, Some(c)).await?),
        None => None,
    };
    let early = early::Begun::of(
        early,
        current.as_ref().map(|c| c.version.as_str()),
        known.verifier.clone(),
    );
    if let Some(current) = &current {
        ctx.known.keep_current(id, &event.token, current);
    }
    if let Some(pending) = &pending {
        ctx.known.keep_pending(id, &event.token, pending, None);
    }
    let current = current.map(|c| c.text);
    let pending = pending.as_ref();
    let (stage, text) = match &current {
        Some(current) => ("AWSCURRENT", current),
        None => ("AWSPENDING", pending.ok_or_else(|| missing_pending(id))?),
    };
    let value = json_object(id, stage, text)?;
    let kind = strategy::choose_kind(&ctx.config, &info, id, &value)?;
    tracing::info!(kind = kind.as_str(), "rotation kind chosen");
    match (kind, event.step) {
        (_, Step::FinishSecret) => finish::run(ctx, &info, id, &event.token).await,
        (Kind::AppSecret(keys), step) => {
            let current = match current {
                Some(_) => value,
                None => {
                    // Not read above (testSecret): kept by an earlier step, or read now.
                    let current =
                        current_as_described(ctx, id, &info, known.current.clone()).await?;
                    json_object(id, "AWSCURRENT", &current.text)?
                }
            };
            if step == Step::CreateSecret {
                app_secret::create(ctx, event, &current, pending, &keys).await
            } else {
                app_secret::check(id, &current, pending, &keys)
            }
        }
        (_, Step::TestSecret) => {
            test::run(ctx, event, &pending_db(id, pending)?, deadline, early).await
        }
        (kind, step) => {
            let current = db_credentials(id, "AWSCURRENT", value)?;
            check_engine(id, &current)?;
            let alternating = kind == Kind::AlternatingUsers;
            if step == Step::CreateSecret {
                return create::run(ctx, event, &current, pending, alternating).await;
            }
            let pending = pending_db(id, pending)?;
            set::run(ctx, event, &current, &pending, deadline, alternating, early).await
        }
    }
}

/// The AWSCURRENT value as DescribeSecret shows it: `value` (read or kept) when it is of
/// the described version, else that version's, read now (AWSCURRENT moved meanwhile, or
/// nothing was read yet).
async fn current_as_described(
    ctx: &Context,
    id: &str,
    info: &secret::SecretInfo,
    value: Option<Versioned>,
) -> Result<Versioned, RotateError> {
    let described = info.version_with(CURRENT);
    match value {
        Some(value) if described.is_none_or(|v| v == value.version) => Ok(value),
        _ => secret::current(&ctx.secrets, id, described).await,
    }
}

pub(super) fn json_object(
    secret: &str,
    stage: &'static str,
    text: &SecretString,
) -> Result<Map<String, Value>, RotateError> {
    let format = |source| RotateError::Format {
        secret: secret.to_owned(),
        stage,
        source,
    };
    rotor_core::credentials::json_object(text.expose_secret()).map_err(format)
}

pub(super) fn db_credentials(
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

pub(super) async fn read_db(
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
pub(super) fn pending_db(
    secret: &str,
    pending: Option<&SecretString>,
) -> Result<DbCredentials, RotateError> {
    let text = pending.ok_or_else(|| missing_pending(secret))?;
    let map = json_object(secret, "AWSPENDING", text)?;
    let pending = db_credentials(secret, "AWSPENDING", map)?;
    check_engine(secret, &pending)?;
    Ok(pending)
}

pub(super) fn missing_pending(secret: &str) -> RotateError {
    RotateError::MissingValue {
        secret: secret.to_owned(),
        stage: PENDING,
        hint: " (createSecret has not stored one yet)",
    }
}

pub(super) fn check_engine(secret: &str, creds: &DbCredentials) -> Result<(), RotateError> {
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

pub(super) fn format_error<'a>(
    secret: &'a str,
    stage: &'static str,
) -> impl FnOnce(CredentialsError) -> RotateError + 'a {
    move |source| RotateError::Format {
        secret: secret.to_owned(),
        stage,
        source,
    }
}
