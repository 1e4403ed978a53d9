//! The first login of setSecret (single user) and testSecret, begun beside the step's
//! DescribeSecret when this instance kept the values it needs from an earlier step of the
//! same rotation (see `versions`): a login takes longer than DescribeSecret, so the step
//! then costs about one login instead of a DescribeSecret and a login.
//!
//! A login changes nothing. No statement runs on the session before the protocol check
//! passes and the step has chosen the same login itself: setSecret of a single user logs
//! in as AWSCURRENT, and the early session counts only while DescribeSecret still shows
//! AWSCURRENT on the version whose value was used; testSecret logs in as the token's
//! AWSPENDING value, which cannot change. Otherwise the session is closed unused. The
//! values used were kept only after an earlier step's protocol check (or once stored), they
//! name their engine (so they are not an app secret's, which logs in nowhere), and they
//! pass the same checks of user, host, port and engine that the step makes before its own
//! login.

use rotor_core::pg::PgError;
use tokio_postgres::Client;

use super::{check_engine, db_credentials, json_object, pending_db};
use crate::Context;
use crate::database::{Credential, Login, Verifier, VerifierTask, try_login};
use crate::deadline::Deadline;
use crate::event::{RotationEvent, Step};
use crate::versions::Known;

/// A login begun before the protocol check, with the AWSCURRENT version whose value it
/// used (setSecret), and the pending password's verifier (setSecret).
pub(super) struct EarlyLogin {
    current_version: Option<String>,
    result: Result<Client, PgError>,
    verifier: Option<VerifierTask>,
}

/// What the step finds begun: nothing on a cold instance.
#[derive(Default)]
pub(super) struct Begun {
    /// The step's first login, when it logged in with what the step logs in with now.
    pub login: Option<Result<Client, PgError>>,
    pub verifier: Option<VerifierTask>,
}

impl Begun {
    /// What of `early` the step may use, now that DescribeSecret showed AWSCURRENT on
    /// `current_version` (setSecret; `None` for testSecret, which logs in with the pending
    /// value, which cannot change). A session from another AWSCURRENT value is closed.
    /// `kept`: the verifier createSecret computed on this instance, if any.
    pub fn of(
        early: Option<EarlyLogin>,
        current_version: Option<&str>,
        kept: Option<Verifier>,
    ) -> Self {
        let (login, verifier) = match early {
            None => (None, None),
            Some(early) => {
                let same = early.current_version.as_deref() == current_version;
                if !same {
                    tracing::debug!(
                        "AWSCURRENT moved since it was kept; the early login is not used"
                    );
                }
                (same.then_some(early.result), early.verifier)
            }
        };
        Begun {
            login,
            verifier: verifier.or(kept.map(VerifierTask::Ready)),
        }
    }
}

/// Begins the step's first login from the kept values, when there are enough of them and
/// they pass the step's own checks; `None` otherwise (the step then logs in after its
/// checks, as on a cold instance).
pub(super) async fn login(
    ctx: &Context,
    event: &RotationEvent,
    known: &Known,
    deadline: &Deadline,
) -> Option<EarlyLogin> {
    let id = event.secret_id.as_str();
    let pending = pending_db(id, Some(known.pending.as_ref()?)).ok()?;
    // Only what is certainly a database secret: one that names its engine (an app secret
    // never does; the app-secret strategy refuses one that does).
    pending.engine()?;
    let (creds, credential, current_version, verifier) = match event.step {
        Step::TestSecret => (pending, Credential::Pending, None, None),
        Step::SetSecret => {
            let kept = known.current.as_ref()?;
            let map = json_object(id, "AWSCURRENT", &kept.text).ok()?;
            let current = db_credentials(id, "AWSCURRENT", map).ok()?;
            check_engine(id, &current).ok()?;
            // Single user only: the same user, host and port (alternating users logs in
            // after the master checks).
            let single_user = current.masterarn().is_none()
                && pending.masterarn().is_none()
                && current.username() == pending.username()
                && super::set::check_same_host(id, &current, &pending).is_ok();
            if !single_user {
                return None;
            }
            // The verifier is pure computation on a value this instance stored: unless
            // createSecret computed it, started now, it is ready when the step needs it.
            let verifier = known
                .verifier
                .is_none()
                .then(|| VerifierTask::start(pending.password()));
            (
                current,
                Credential::Current,
                Some(kept.version.clone()),
                verifier,
            )
        }
        Step::CreateSecret | Step::FinishSecret => return None,
    };
    let login = Login::new(&ctx.config, &creds, credential, id).ok()?;
    tracing::debug!(
        credential = credential.as_str(),
        "login begun beside DescribeSecret, with values kept from an earlier step"
    );
    let result = try_login(ctx, deadline, id, &login).await.ok()?;
    Some(EarlyLogin {
        current_version,
        result,
        verifier,
    })
}
