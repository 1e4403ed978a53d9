//! Host and port from the RDS API, so that an endpoint change reaches the URL too.

use aws_sdk_rds::Client;
use rotor_core::error::AwsResultExt;

use crate::config::RdsLookup;
use crate::error::SyncError;

/// The endpoint (writer endpoint for a cluster) of the configured instance or cluster.
pub async fn endpoint(client: &Client, lookup: &RdsLookup) -> Result<(String, u16), SyncError> {
    let fail = |source| SyncError::Rds {
        kind: lookup.kind(),
        id: lookup.id().to_owned(),
        var: lookup.var(),
        source: Box::new(source),
    };
    let problem = |problem: String| SyncError::RdsEndpoint {
        kind: lookup.kind(),
        id: lookup.id().to_owned(),
        var: lookup.var(),
        problem,
    };
    let (address, port, status) = match lookup {
        RdsLookup::Instance(id) => {
            let out = client
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
                .aws("DescribeDBInstances")
                .map_err(fail)?;
            let Some(db) = out.db_instances().first() else {
                return Err(problem("was not found".into()));
            };
            let endpoint = db.endpoint();
            (
                endpoint.and_then(|e| e.address()).map(str::to_owned),
                endpoint.and_then(|e| e.port()),
                db.db_instance_status().unwrap_or("unknown").to_owned(),
            )
        }
        RdsLookup::Cluster(id) => {
            let out = client
                .describe_db_clusters()
                .db_cluster_identifier(id)
                .send()
                .await
                .aws("DescribeDBClusters")
                .map_err(fail)?;
            let Some(db) = out.db_clusters().first() else {
                return Err(problem("was not found".into()));
            };
            (
                db.endpoint().map(str::to_owned),
                db.port(),
                db.status().unwrap_or("unknown").to_owned(),
            )
        }
    };
    let Some(address) = address.filter(|a| !a.is_empty()) else {
        return Err(problem(format!("has no endpoint yet (status {status})")));
    };
    let port = port
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| problem(format!("has no valid port (status {status})")))?;
    Ok((address, port))
}
