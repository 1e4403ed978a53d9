//! The master credentials of alternating-users rotation: the secret named by `masterarn`.
//! An RDS-managed master secret holds only `username` and `password`; its database is
//! found through the `aws:rds:primaryDBInstanceArn` / `aws:rds:primaryDBClusterArn` tag
//! RDS puts on it, and the RDS API gives the endpoint.
//!
//! The master changes passwords only on its own database: a secret whose host is another
//! server is refused before any login ([`check_same_database`]), as AWS's multi-user
//! sample refuses it "to protect against a confused deputy attack".

use rotor_core::DbCredentials;
use rotor_core::rds::{self, Endpoint, RdsDatabase, RdsError};
pub use rotor_core::rds::{CLUSTER_TAG, INSTANCE_TAG};
use secrecy::ExposeSecret;

use crate::Context;
use crate::error::RotateError;
use crate::secret::{self, CURRENT, SecretInfo};

/// The master secret's credentials, with host and port filled in from RDS when the
/// secret has none.
pub async fn resolve(ctx: &Context, master_arn: &str) -> Result<DbCredentials, RotateError> {
    let text = secret::required_value(&ctx.secrets, master_arn, CURRENT, None).await?;
    let creds =
        DbCredentials::parse(text.expose_secret()).map_err(|source| RotateError::Format {
            secret: master_arn.to_owned(),
            stage: "AWSCURRENT",
            source,
        })?;
    if creds.host_opt().is_some() {
        return Ok(creds);
    }
    let info = secret::describe(&ctx.secrets, master_arn).await?;
    let database = match tagged(&info, INSTANCE_TAG).or_else(|| tagged(&info, CLUSTER_TAG)) {
        Some((_, Some(database))) => database,
        Some((tag, None)) => {
            return Err(RotateError::invalid(
                master_arn,
                format!("tag {tag} is not the ARN of an RDS database of that kind"),
            ));
        }
        None => {
            return Err(RotateError::invalid(
                master_arn,
                format!(
                    "the master secret has no `host` and no {INSTANCE_TAG} or {CLUSTER_TAG} \
                     tag to find its database by"
                ),
            ));
        }
    };
    let at = rds::endpoint(&ctx.rds_in(database.region()), &database)
        .await
        .map_err(|e| match e {
            RdsError::Aws(e) => RotateError::aws(master_arn)(e),
            other => RotateError::invalid(master_arn, other.to_string()),
        })?;
    tracing::info!(master = %master_arn, host = %at.host, port = at.port, "master database resolved through RDS");
    Ok(creds.with_endpoint(&at.host, at.port))
}

/// The database an RDS tag on the master secret names: `None` without the tag, the tag
/// with `None` when its value is not the ARN of the kind of database the tag is for.
fn tagged(info: &SecretInfo, tag: &'static str) -> Option<(&'static str, Option<RdsDatabase>)> {
    let arn = info.tag(tag)?;
    let database = RdsDatabase::from_arn(arn)
        .filter(|d| matches!(d, RdsDatabase::Instance { .. }) == (tag == INSTANCE_TAG));
    Some((tag, database))
}

/// Refuses, before any login, a secret whose database is not the master's.
///
/// Whoever can write the rotated secret chooses its `host` and `username`. Were the master
/// to act on another server's word, a secret pointing at a server its writer runs would
/// receive the current and new passwords while the master, on the real server, changed
/// whatever role the secret names. So the user's host and port must be the master's, or
/// both must be endpoints that RDS reports for one instance or cluster: the cluster's
/// writer, reader and custom endpoints, its members' instance endpoints, or a read replica
/// of the master's instance.
pub async fn check_same_database(
    ctx: &Context,
    secret: &str,
    master_arn: &str,
    master: &DbCredentials,
    user: &DbCredentials,
) -> Result<(), RotateError> {
    let master_at = Endpoint::new(
        master.host().map_err(|source| RotateError::Format {
            secret: master_arn.to_owned(),
            stage: "AWSCURRENT",
            source,
        })?,
        master.port(),
    );
    let user_at = Endpoint::new(
        user.host().map_err(|source| RotateError::Format {
            secret: secret.to_owned(),
            stage: "AWSCURRENT",
            source,
        })?,
        user.port(),
    );
    if master_at == user_at {
        return Ok(());
    }
    let not_proven = |why: String| RotateError::Refused {
        secret: secret.to_owned(),
        what: "Host",
        reason: format!(
            "the secret's database {user_at} is not the master's ({master_at}) and {why}; \
             the master changes passwords only on its own database"
        ),
    };
    let Some(resource) = master_resource(ctx, master_arn, master, &master_at).await? else {
        return Err(not_proven(
            "the master is not an RDS instance or cluster rotor can identify (no RDS tag \
             on the master secret, no dbInstanceIdentifier or dbClusterIdentifier key, and \
             its host is not an RDS endpoint)"
                .to_owned(),
        ));
    };
    let endpoints = rds::all_endpoints(&ctx.rds_in(resource.region()), &resource)
        .await
        .map_err(|e| {
            not_proven(format!(
                "RDS could not list the endpoints of {resource}: {e}"
            ))
        })?;
    if !endpoints.contains(&master_at) {
        return Err(not_proven(format!(
            "the master's own host is not an endpoint of {resource}"
        )));
    }
    if !endpoints.contains(&user_at) {
        return Err(not_proven(format!(
            "it is not an endpoint of the master's {resource}"
        )));
    }
    tracing::info!(
        host = %user_at,
        master_host = %master_at,
        rds = %resource,
        "the secret's host is an endpoint of the master's database"
    );
    Ok(())
}

/// The RDS instance or cluster the master belongs to: from the tag RDS puts on the secrets
/// it manages, else the samples' `dbClusterIdentifier` / `dbInstanceIdentifier` keys, else
/// the identifier an RDS endpoint name starts with (checked against RDS afterwards).
async fn master_resource(
    ctx: &Context,
    master_arn: &str,
    master: &DbCredentials,
    master_at: &Endpoint,
) -> Result<Option<RdsDatabase>, RotateError> {
    let info = secret::describe(&ctx.secrets, master_arn).await?;
    let database = |tag| tagged(&info, tag).and_then(|(_, database)| database);
    if let Some(database) = database(INSTANCE_TAG).or_else(|| database(CLUSTER_TAG)) {
        return Ok(Some(database));
    }
    let here = rotor_core::aws::region_of(&ctx.sdk).to_owned();
    if let Some(id) = master.db_cluster_identifier() {
        return Ok(Some(RdsDatabase::Cluster {
            region: here,
            id: id.to_owned(),
        }));
    }
    if let Some(id) = master.db_instance_identifier() {
        return Ok(Some(RdsDatabase::Instance {
            region: here,
            id: id.to_owned(),
        }));
    }
    Ok(RdsDatabase::named_by_host(&master_at.host))
}
