//! testSecret for database secrets: log in with AWSPENDING's credentials, retrying for a
//! while (a replica or a pooler may take a moment to see the new password).

use std::time::Duration;

use rotor_core::DbCredentials;

use super::Outcome;
use super::early::Begun;
use crate::Context;
use crate::database::{self, Credential, Login, login_error, try_login};
use crate::deadline::Deadline;
use crate::error::RotateError;
use crate::event::RotationEvent;

pub(super) async fn run(
    ctx: &Context,
    event: &RotationEvent,
    pending: &DbCredentials,
    deadline: &Deadline,
    early: Begun,
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    let config = &ctx.config;
    let login = Login::new(config, pending, Credential::Pending, id)?;
    let mut first = early.login;
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let attempt = match first.take() {
            Some(begun) => begun,
            None => try_login(ctx, deadline, id, &login).await?,
        };
        let failure = match attempt {
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
