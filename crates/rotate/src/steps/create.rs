//! createSecret for database secrets: a copy of AWSCURRENT with a new password (and, for
//! alternating users, the other user's name), stored as AWSPENDING once.

use rotor_core::{DbCredentials, SecretString};

use super::{Outcome, format_error};
use crate::Context;
use crate::database::VerifierTask;
use crate::error::RotateError;
use crate::event::RotationEvent;
use crate::secret::{self, PENDING};

pub(super) const CLONE_SUFFIX: &str = "_clone";
const MAX_IDENTIFIER_BYTES: usize = 63;

/// `app` ↔ `app_clone`.
pub fn alternate_username(username: &str) -> String {
    match username.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => format!("{username}{CLONE_SUFFIX}"),
    }
}

pub(super) fn base_username(username: &str) -> &str {
    match username.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base,
        _ => username,
    }
}

pub(super) async fn run(
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
    let next = next.with_password(new_password(ctx, id)?);
    // setSecret needs the new password's verifier: computed while PutSecretValue is in
    // flight, it is ready then on this instance.
    let verifier = VerifierTask::start(next.password());
    if store_pending(ctx, event, &next.to_json(), Some(verifier)).await? == Stored::Earlier {
        return Ok(Outcome::AlreadyCreated);
    }
    tracing::info!(
        outcome = "created",
        username = %next.username(),
        "stored new credentials as AWSPENDING"
    );
    Ok(Outcome::Created)
}

/// A new password (or app key) under the configured policy.
pub(super) fn new_password(ctx: &Context, secret: &str) -> Result<SecretString, RotateError> {
    ctx.config
        .password
        .generate()
        .map_err(RotateError::password(secret))
}

/// Which value is the token's AWSPENDING value once [`store_pending`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stored {
    /// The value given: this attempt stored it.
    This,
    /// A value an earlier attempt stored, which stays.
    Earlier,
}

/// Stores `text` as the AWSPENDING version of the event's token, and keeps it (with its
/// password's `verifier`, for database credentials) for the rotation's next steps on this
/// instance, only once it is stored.
///
/// Stored first, looked at only when refused: a version's value cannot change, so
/// PutSecretValue under a token that already holds another value fails ("you can't modify
/// a secret version", its `ClientRequestToken` parameter in the Secrets Manager API
/// reference), and the same value again is ignored. Whatever the refusal, a value found
/// under the token is an earlier attempt's, which setSecret may already have used: it
/// stays. This saves the read of AWSPENDING that every first attempt would otherwise make,
/// and two attempts at once cannot both store.
pub(super) async fn store_pending(
    ctx: &Context,
    event: &RotationEvent,
    text: &SecretString,
    verifier: Option<VerifierTask>,
) -> Result<Stored, RotateError> {
    let id = event.secret_id.as_str();
    let put = secret::put_pending(
        &ctx.secrets,
        id,
        &event.token,
        event.rotation_token.as_deref(),
        text,
    )
    .await;
    if let Err(refused) = put {
        return match secret::value(&ctx.secrets, id, PENDING, Some(&event.token)).await {
            Ok(Some(earlier)) => {
                ctx.known.keep_pending(id, &event.token, &earlier, None);
                log_already_created();
                Ok(Stored::Earlier)
            }
            // Nothing stored: the refusal stands.
            Ok(None) | Err(_) => Err(refused),
        };
    }
    let verifier = match verifier {
        Some(task) => Some(task.ready().await),
        None => None,
    };
    ctx.known.keep_pending(id, &event.token, text, verifier);
    Ok(Stored::This)
}

/// createSecret's retry check: a value under the token means an earlier attempt stored
/// it, and it must not be replaced (setSecret may already have used it).
pub(super) fn already_created(pending: Option<&SecretString>) -> bool {
    if pending.is_some() {
        log_already_created();
    }
    pending.is_some()
}

fn log_already_created() {
    tracing::info!(
        outcome = "already-created",
        "AWSPENDING already has a value"
    );
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
}
