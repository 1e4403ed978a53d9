//! The steps for app secrets: createSecret generates new values for the chosen keys and
//! keeps the old ones under `<key>_previous`; setSecret and testSecret check that
//! AWSPENDING is well-formed (there is no database to change).

use rotor_core::SecretString;
use serde_json::{Map, Value};

use super::create::{Stored, already_created, new_password, store_pending};
use super::{Outcome, json_object, missing_pending};
use crate::Context;
use crate::app_secret;
use crate::error::RotateError;
use crate::event::RotationEvent;

/// createSecret: new values for `keys`, the old ones kept as `<key>_previous`.
pub(super) async fn create(
    ctx: &Context,
    event: &RotationEvent,
    current: &Map<String, Value>,
    pending: Option<&SecretString>,
    keys: &[String],
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    if already_created(pending) {
        return Ok(Outcome::AlreadyCreated);
    }
    let mut fresh = Vec::with_capacity(keys.len());
    for key in keys {
        fresh.push((key.clone(), new_password(ctx, id)?));
    }
    let next = app_secret::next_value(current, &fresh);
    let stored = store_pending(
        ctx,
        event,
        &SecretString::from(Value::Object(next).to_string()),
        None,
    )
    .await?;
    if stored == Stored::Earlier {
        return Ok(Outcome::AlreadyCreated);
    }
    tracing::info!(outcome = "created", keys = %keys.join(","), "stored new app secret values as AWSPENDING");
    Ok(Outcome::Created)
}

/// setSecret and testSecret: AWSPENDING has a new value for every key and keeps the
/// current ones as `<key>_previous`.
pub(super) fn check(
    id: &str,
    current: &Map<String, Value>,
    pending: Option<&SecretString>,
    keys: &[String],
) -> Result<Outcome, RotateError> {
    let text = pending.ok_or_else(|| missing_pending(id))?;
    let pending = json_object(id, "AWSPENDING", text)?;
    app_secret::validate(&pending, current, keys).map_err(RotateError::app_secret(id))?;
    tracing::info!(outcome = "validated", keys = %keys.join(","), "AWSPENDING holds new values and the previous ones");
    Ok(Outcome::Validated)
}
