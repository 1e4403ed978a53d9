//! AUTO_ROTATE: which too-old secrets may have a rotation started, and starting them
//! (or, with DRY_RUN, saying which would start).

use rotor_core::error::AwsResultExt;
use tracing::{info, warn};

use crate::Context;
use crate::listing::SecretRecord;
use crate::run_outcome::{RotationOutcome, RotationStart};

/// A too-old secret eligible for AUTO_ROTATE.
pub(crate) struct Rotatable {
    pub name: String,
    pub arn: Option<String>,
}

impl Rotatable {
    /// Only a rotation Secrets Manager can run by itself (rotation on, a function set),
    /// none already under way, and none that belongs to another service.
    pub fn of(record: &SecretRecord) -> Option<Self> {
        let eligible = record.rotation_enabled
            && record.rotation_lambda_arn.is_some()
            && record.pending_version.is_none()
            && record.owning_service.is_none();
        eligible.then(|| Rotatable {
            name: record.name.clone(),
            arn: record.arn.clone(),
        })
    }
}

/// RotateSecret for each too-old secret that has rotation configured. Without a Lambda
/// ARN or rules the call runs the secret's own rotation immediately. A failure is
/// reported, not fatal: the audit's findings still go out.
pub(crate) async fn start_rotations(ctx: &Context, rotatable: &[Rotatable]) -> Vec<RotationStart> {
    let mut started = Vec::with_capacity(rotatable.len());
    for r in rotatable {
        let id = r.arn.as_deref().unwrap_or(&r.name);
        let (outcome, error) = if ctx.config.dry_run {
            info!(secret = %r.name, outcome = %RotationOutcome::WouldStart, "dry run: rotation not started");
            (RotationOutcome::WouldStart, None)
        } else {
            match ctx
                .secrets
                .rotate_secret()
                .secret_id(id)
                .send()
                .await
                .aws("RotateSecret")
            {
                Ok(out) => {
                    info!(secret = %r.name, version_id = out.version_id().unwrap_or(""), outcome = %RotationOutcome::Started, "rotation started");
                    (RotationOutcome::Started, None)
                }
                Err(e) => {
                    warn!(secret = %r.name, outcome = %RotationOutcome::Failed, error = %e, "could not start rotation");
                    (RotationOutcome::Failed, Some(e.to_string()))
                }
            }
        };
        started.push(RotationStart {
            name: r.name.clone(),
            arn: r.arn.clone(),
            outcome,
            error,
        });
    }
    started
}
