//! setSecret for database secrets: make the database accept AWSPENDING's password. Single
//! user: the user changes its own password, logged in with AWSCURRENT's. Alternating users:
//! the master changes the other user's password, after the checks that keep it to its own
//! database and to roles no more powerful than the application's.

use rotor_core::DbCredentials;
use rotor_core::pg::{FailureKind, PgError};

use super::create::{CLONE_SUFFIX, alternate_username, base_username};
use super::early::Begun;
use super::{Outcome, format_error, read_db};
use crate::Context;
use crate::database::{
    self, Credential, Login, PasswordChange, Transaction, VerifierTask, login_error, try_login,
};
use crate::deadline::Deadline;
use crate::error::RotateError;
use crate::event::RotationEvent;
use crate::master;
use crate::secret::PREVIOUS;

/// Both setSecret flavours (and the login `early` begins for it): the pending version must
/// name the same host and port as the current one.
pub(super) fn check_same_host(
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

/// What setSecret works with, once the pending credentials are known to name the right
/// user on the same server.
#[derive(Clone, Copy)]
struct Change<'a> {
    ctx: &'a Context,
    id: &'a str,
    current: &'a DbCredentials,
    pending: &'a DbCredentials,
    deadline: &'a Deadline,
}

/// setSecret: the pending credentials must name the current user (single user) or its
/// alternate (alternating users) on the current host and port; then the password changes.
pub(super) async fn run(
    ctx: &Context,
    event: &RotationEvent,
    current: &DbCredentials,
    pending: &DbCredentials,
    deadline: &Deadline,
    alternating: bool,
    early: Begun,
) -> Result<Outcome, RotateError> {
    let id = event.secret_id.as_str();
    if alternating {
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
    } else if pending.username() != current.username() {
        return Err(RotateError::Mismatch {
            secret: id.to_owned(),
            what: "username",
        });
    }
    check_same_host(id, current, pending)?;
    let change = Change {
        ctx,
        id,
        current,
        pending,
        deadline,
    };
    if alternating {
        alternating_users(change, early).await
    } else {
        single_user(change, early).await
    }
}

/// `early`: what was begun beside DescribeSecret (see `early`).
async fn single_user(c: Change<'_>, early: Begun) -> Result<Outcome, RotateError> {
    let config = &c.ctx.config;

    // One login on the common path: AWSCURRENT logs in until the password changes. When it
    // does not, an earlier attempt may have set the password already (the pending
    // credentials log in), or the database may still hold the older password because
    // AWSCURRENT changed without it (a manual PutSecretValue, a restored database).
    let as_current = Login::new(config, c.current, Credential::Current, c.id)?;
    let verifier = early
        .verifier
        .unwrap_or_else(|| VerifierTask::start(c.pending.password()));
    let mut attempts = Vec::new();
    let first = match early.login {
        Some(begun) => begun,
        None => try_login(c.ctx, c.deadline, c.id, &as_current).await?,
    };
    let mut client = match first {
        Ok(client) => Some(client),
        // Only a refused password is worth another credential: a server that cannot be
        // reached or trusted will not be reached or trusted with other credentials.
        Err(e) if e.kind != FailureKind::Authentication => {
            return Err(login_error(
                c.id,
                &as_current,
                vec![(Credential::Current, e)],
            ));
        }
        Err(e) => {
            attempts.push((Credential::Current, e));
            None
        }
    };
    if client.is_none() {
        let as_pending = Login::new(config, c.pending, Credential::Pending, c.id)?;
        match try_login(c.ctx, c.deadline, c.id, &as_pending).await? {
            Ok(_) => return Ok(already_set()),
            Err(e) => attempts.push((Credential::Pending, e)),
        }
        match read_db(c.ctx, c.id, PREVIOUS, None).await? {
            Some(previous)
                if previous.username() == c.pending.username()
                    && previous.host_opt() == c.pending.host_opt()
                    && previous.port() == c.pending.port() =>
            {
                let as_previous = Login::new(config, &previous, Credential::Previous, c.id)?;
                match try_login(c.ctx, c.deadline, c.id, &as_previous).await? {
                    Ok(c) => client = Some(c),
                    Err(e) => attempts.push((Credential::Previous, e)),
                }
            }
            Some(_) => tracing::info!("AWSPREVIOUS is for another user or host; not tried"),
            None => {}
        }
    }
    let Some(client) = client else {
        return Err(login_error(c.id, &as_current, attempts));
    };
    let user = c.pending.username();
    let change = PasswordChange {
        role: user,
        verifier: &verifier.ready().await,
        create: false,
        then: Vec::new(),
    };
    database::set_password(&client, change, Transaction::Begin(c.deadline))
        .await
        .map_err(|source| {
            db_error(
                c.id,
                c.pending,
                format!("changing the password of role {user}"),
                source,
            )
        })?;
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

/// `early`: the verifier createSecret computed on this instance, if any (alternating users
/// logs in only after its checks).
async fn alternating_users(c: Change<'_>, early: Begun) -> Result<Outcome, RotateError> {
    let config = &c.ctx.config;
    let master_arn = c
        .current
        .masterarn()
        .or(c.pending.masterarn())
        .ok_or_else(|| RotateError::MissingMasterArn {
            secret: c.id.to_owned(),
        })?
        .to_owned();

    // What the secret's writer could turn the master against is settled before any login:
    // the master's own role, and a database other than the master's.
    let master = master::resolve(c.ctx, &master_arn).await?;
    let user = c.pending.username();
    let base = base_username(user);
    if let Some(role) = [user, base].into_iter().find(|r| *r == master.username()) {
        return Err(refused_role(
            c.id,
            format!("the secret names role {role}, which is the master user itself"),
        ));
    }
    master::check_same_database(c.ctx, c.id, &master_arn, &master, c.current).await?;

    // An earlier attempt may have set the password already. And the current user must
    // still work: rotating its twin while it is broken would leave the application with
    // no working credentials at all. Both logins at once: neither depends on the other.
    let as_pending = Login::new(config, c.pending, Credential::Pending, c.id)?;
    let as_current = Login::new(config, c.current, Credential::Current, c.id)?;
    let verifier = early
        .verifier
        .unwrap_or_else(|| VerifierTask::start(c.pending.password()));
    let (pending_login, current_login) = tokio::join!(
        try_login(c.ctx, c.deadline, c.id, &as_pending),
        try_login(c.ctx, c.deadline, c.id, &as_current)
    );
    if pending_login?.is_ok() {
        return Ok(already_set());
    }
    if let Err(e) = current_login? {
        return Err(login_error(
            c.id,
            &as_current,
            vec![(Credential::Current, e)],
        ));
    }

    // The master works in its own database: CREATE ROLE, ALTER ROLE and GRANT are
    // cluster-wide, and a database an application team owns may hold settings and objects
    // planted for whoever logs in next.
    let as_master = Login::new(config, &master, Credential::Master, &master_arn)?;
    let client = match try_login(c.ctx, c.deadline, c.id, &as_master).await? {
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
    let failed = |action: String| move |source| db_error(c.id, on_master, action, source);
    database::begin_guarded(&client, c.deadline)
        .await
        .map_err(failed(format!("starting the change of role {user}")))?;
    let target = database::role_info(&client, user)
        .await
        .map_err(failed(format!("looking up role {user}")))?;
    let base_role = if base == user {
        target.clone()
    } else {
        database::role_info(&client, base)
            .await
            .map_err(failed(format!("looking up role {base}")))?
    };
    for info in [&target, &base_role].into_iter().flatten() {
        if let Some(why) = info.too_powerful() {
            return Err(refused_role(
                c.id,
                format!(
                    "rotor does not set the password of role {} or grant it to another: {why}",
                    info.name
                ),
            ));
        }
    }
    let exists = target.is_some();
    let clone = format!("{base}{CLONE_SUFFIX}");
    let mut then = vec![database::grant_membership(base, &clone)];
    // Objects the clone creates would otherwise be its own, and the base user could not
    // alter or drop them after the next rotation. Re-asserted each rotation.
    if config.clone_set_role {
        then.push(database::set_session_role(&clone, base));
    }
    let action = format!(
        "{} {user} and granting {base} to {clone}{}",
        if exists {
            "changing the password of role"
        } else {
            "creating role"
        },
        if config.clone_set_role {
            format!(", whose sessions act as {base}")
        } else {
            String::new()
        }
    );
    let change = PasswordChange {
        role: user,
        verifier: &verifier.ready().await,
        create: !exists,
        then,
    };
    database::set_password(&client, change, Transaction::AlreadyBegun)
        .await
        .map_err(failed(action))?;
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
