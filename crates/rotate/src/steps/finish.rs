//! finishSecret: move AWSCURRENT to the new version; the old one becomes AWSPREVIOUS.

use super::Outcome;
use crate::Context;
use crate::error::RotateError;
use crate::secret::{self, CURRENT, SecretInfo};

pub(super) async fn run(
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
