//! Host and port from the RDS API, so that an endpoint change reaches the URL too.

use aws_sdk_rds::Client;
use rotor_core::rds::{self, RdsDatabase};

use crate::config::RdsLookup;
use crate::error::SyncError;

/// The endpoint (writer endpoint for a cluster) of the configured instance or cluster, in
/// the client's region.
pub async fn endpoint(client: &Client, lookup: &RdsLookup) -> Result<(String, u16), SyncError> {
    let region = client
        .config()
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_default();
    let id = lookup.id().to_owned();
    let database = match lookup {
        RdsLookup::Instance(_) => RdsDatabase::Instance { region, id },
        RdsLookup::Cluster(_) => RdsDatabase::Cluster { region, id },
    };
    let at = rds::endpoint(client, &database)
        .await
        .map_err(|source| SyncError::Rds {
            kind: database.kind(),
            id: database.id().to_owned(),
            var: lookup.var(),
            source: Box::new(source),
        })?;
    Ok((at.host, at.port))
}
