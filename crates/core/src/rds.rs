//! What the RDS API says about a database: the endpoint (host and port) of an instance or
//! of a cluster's writer, and every endpoint of one database, so that a host can be checked
//! against it. Lookups page through the SDK's paginators.

use std::fmt;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};

use crate::error::{AwsError, AwsResultExt};

/// The tag RDS puts on the master secret it manages for an instance.
pub const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";
/// The tag RDS puts on the master secret it manages for a cluster.
pub const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";

/// An RDS instance or cluster, by identifier, in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdsDatabase {
    Instance { region: String, id: String },
    Cluster { region: String, id: String },
}

impl RdsDatabase {
    pub fn region(&self) -> &str {
        match self {
            Self::Instance { region, .. } | Self::Cluster { region, .. } => region,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Instance { id, .. } | Self::Cluster { id, .. } => id,
        }
    }

    /// `DB instance` or `DB cluster`, as the RDS console says.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Instance { .. } => "DB instance",
            Self::Cluster { .. } => "DB cluster",
        }
    }

    /// `arn:aws:rds:<region>:<account>:db:<id>` or `…:cluster:<id>`.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        let ["arn", _, "rds", region, _, kind, id] = parts.as_slice() else {
            return None;
        };
        if id.is_empty() || region.is_empty() {
            return None;
        }
        let (region, id) = (region.to_string(), id.to_string());
        match *kind {
            "db" => Some(Self::Instance { region, id }),
            "cluster" => Some(Self::Cluster { region, id }),
            _ => None,
        }
    }

    /// `<id>.<hash>.<region>.rds.amazonaws.com` is instance `<id>`; `<id>.cluster-<hash>…`
    /// and `<id>.cluster-ro-<hash>…` are cluster `<id>`. A guess from a name, to be
    /// confirmed against the endpoints RDS reports; a custom endpoint names itself, not its
    /// cluster, so it gives nothing.
    pub fn named_by_host(host: &str) -> Option<Self> {
        let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
        let [id, kind, region, "rds", "amazonaws", ..] = labels.as_slice() else {
            return None;
        };
        if id.is_empty() || kind.starts_with("cluster-custom-") {
            return None;
        }
        let (region, id) = (region.to_string(), id.to_string());
        Some(if kind.starts_with("cluster-") {
            Self::Cluster { region, id }
        } else {
            Self::Instance { region, id }
        })
    }
}

impl fmt::Display for RdsDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind(), self.id(), self.region())
    }
}

/// A host and port, compared as DNS names are: case-insensitively, a final dot ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn new(host: &str, port: u16) -> Self {
        Self {
            host: host.trim_end_matches('.').to_ascii_lowercase(),
            port,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Why RDS gave no endpoint.
#[derive(Debug, thiserror::Error)]
pub enum RdsError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{0} was not found")]
    NotFound(RdsDatabase),
    #[error("{database} has no endpoint yet (status {status})")]
    NoEndpoint {
        database: RdsDatabase,
        status: String,
    },
}

impl RdsError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// The endpoint applications connect to: an instance's own, or a cluster's writer.
/// `client` must be in the database's region.
pub async fn endpoint(client: &Client, database: &RdsDatabase) -> Result<Endpoint, RdsError> {
    let not_found = || RdsError::NotFound(database.clone());
    let (found, status) = match database {
        RdsDatabase::Instance { id, .. } => {
            let db = describe_instance(client, id).await?.ok_or_else(not_found)?;
            (instance_endpoint_of(&db), db.db_instance_status)
        }
        RdsDatabase::Cluster { id, .. } => {
            let db = describe_cluster(client, id).await?.ok_or_else(not_found)?;
            (writer_endpoint_of(&db), db.status)
        }
    };
    found.ok_or_else(|| RdsError::NoEndpoint {
        database: database.clone(),
        status: status.unwrap_or_else(|| "unknown".to_owned()),
    })
}

async fn describe_instance(client: &Client, id: &str) -> Result<Option<DbInstance>, AwsError> {
    let out = client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .aws("DescribeDBInstances")?;
    Ok(out.db_instances.and_then(|all| all.into_iter().next()))
}

async fn describe_cluster(client: &Client, id: &str) -> Result<Option<DbCluster>, AwsError> {
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .aws("DescribeDBClusters")?;
    Ok(out.db_clusters.and_then(|all| all.into_iter().next()))
}

/// Every endpoint RDS reports for the database: an instance's own and its read replicas',
/// or, when it belongs to a cluster, the cluster's; a cluster's writer, reader and custom
/// endpoints and its members' instance endpoints. Empty when RDS does not know it.
pub async fn all_endpoints(
    client: &Client,
    database: &RdsDatabase,
) -> Result<Vec<Endpoint>, AwsError> {
    let cluster_id = match database {
        RdsDatabase::Cluster { id, .. } => id.clone(),
        RdsDatabase::Instance { id, .. } => {
            let Some(instance) = describe_instance(client, id).await? else {
                return Ok(Vec::new());
            };
            match instance.db_cluster_identifier() {
                Some(cluster) => cluster.to_owned(),
                None => {
                    let mut endpoints: Vec<Endpoint> =
                        instance_endpoint_of(&instance).into_iter().collect();
                    let replicas = instance.read_replica_db_instance_identifiers();
                    if !replicas.is_empty() {
                        endpoints.extend(
                            instances_where(client, "db-instance-id", replicas.to_vec()).await?,
                        );
                    }
                    return Ok(endpoints);
                }
            }
        }
    };
    let Some(cluster) = describe_cluster(client, &cluster_id).await? else {
        return Ok(Vec::new());
    };
    let mut endpoints = cluster_endpoints_of(&cluster);
    endpoints.extend(instances_where(client, "db-cluster-id", vec![cluster_id]).await?);
    Ok(endpoints)
}

/// The endpoints of the instances a DescribeDBInstances filter selects, every page.
async fn instances_where(
    client: &Client,
    filter: &str,
    values: Vec<String>,
) -> Result<Vec<Endpoint>, AwsError> {
    let filter = Filter::builder()
        .name(filter)
        .set_values(Some(values))
        .build();
    let pages: Vec<_> = client
        .describe_db_instances()
        .filters(filter)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("DescribeDBInstances")?;
    Ok(pages
        .iter()
        .flat_map(|p| p.db_instances())
        .filter_map(instance_endpoint_of)
        .collect())
}

fn instance_endpoint_of(instance: &DbInstance) -> Option<Endpoint> {
    let e = instance.endpoint()?;
    Some(Endpoint::new(e.address()?, port_of(e.port())?))
}

fn writer_endpoint_of(cluster: &DbCluster) -> Option<Endpoint> {
    Some(Endpoint::new(cluster.endpoint()?, port_of(cluster.port())?))
}

fn port_of(port: Option<i32>) -> Option<u16> {
    port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
}

/// A cluster's writer, reader and custom endpoints (all on the cluster's port).
pub fn cluster_endpoints_of(cluster: &DbCluster) -> Vec<Endpoint> {
    let Some(port) = port_of(cluster.port()) else {
        return Vec::new();
    };
    cluster
        .endpoint()
        .into_iter()
        .chain(cluster.reader_endpoint())
        .chain(cluster.custom_endpoints().iter().map(String::as_str))
        .filter(|host| !host.is_empty())
        .map(|host| Endpoint::new(host, port))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str) -> RdsDatabase {
        RdsDatabase::Instance {
            region: "eu-west-1".into(),
            id: id.into(),
        }
    }

    fn cluster(id: &str) -> RdsDatabase {
        RdsDatabase::Cluster {
            region: "eu-west-1".into(),
            id: id.into(),
        }
    }

    #[test]
    fn rds_arns_give_region_and_identifier() {
        assert_eq!(
            RdsDatabase::from_arn("arn:aws:rds:eu-west-1:123456789012:db:orders-1"),
            Some(instance("orders-1"))
        );
        assert_eq!(
            RdsDatabase::from_arn("arn:aws:rds:eu-west-1:123456789012:cluster:c"),
            Some(cluster("c"))
        );
        assert_eq!(
            RdsDatabase::from_arn("arn:aws:rds:eu-west-1:123456789012:snapshot:c"),
            None
        );
        assert_eq!(RdsDatabase::from_arn("arn:aws:rds:eu-west-1:1:db:"), None);
        assert_eq!(RdsDatabase::from_arn("orders-1"), None);
    }

    #[test]
    fn rds_endpoint_names_give_the_instance_or_cluster_they_name() {
        let named = RdsDatabase::named_by_host;
        assert_eq!(
            named("orders-1.abcdefgh.eu-west-1.rds.amazonaws.com"),
            Some(instance("orders-1"))
        );
        assert_eq!(
            named("orders.cluster-abcdefgh.eu-west-1.rds.amazonaws.com"),
            Some(cluster("orders"))
        );
        assert_eq!(
            named("orders.cluster-ro-abcdefgh.eu-west-1.rds.amazonaws.com."),
            Some(cluster("orders"))
        );
        assert_eq!(
            named("reports.cluster-custom-abcdefgh.eu-west-1.rds.amazonaws.com"),
            None
        );
        assert_eq!(named("db.example.com"), None);
        assert_eq!(named("10.0.0.5"), None);
        assert_eq!(named("x.rds.amazonaws.com"), None);
    }

    #[test]
    fn a_clusters_endpoints_are_its_writer_reader_and_custom_ones_on_its_port() {
        let c = DbCluster::builder()
            .endpoint("orders.cluster-abc.eu-west-1.rds.amazonaws.com")
            .reader_endpoint("orders.cluster-ro-abc.eu-west-1.rds.amazonaws.com")
            .custom_endpoints("Reports.cluster-custom-abc.eu-west-1.rds.amazonaws.com.")
            .port(5433)
            .build();
        let endpoints = cluster_endpoints_of(&c);
        assert_eq!(endpoints.len(), 3);
        assert!(endpoints.contains(&Endpoint::new(
            "reports.cluster-custom-abc.eu-west-1.rds.amazonaws.com",
            5433
        )));
        assert!(!endpoints.contains(&Endpoint::new(
            "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
            5432
        )));
        assert_eq!(
            writer_endpoint_of(&c),
            Some(Endpoint::new(
                "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
                5433
            ))
        );
    }

    #[test]
    fn a_port_rds_cannot_mean_gives_no_endpoint() {
        assert_eq!(port_of(Some(0)), None);
        assert_eq!(port_of(Some(70000)), None);
        assert_eq!(port_of(Some(-1)), None);
        assert_eq!(port_of(None), None);
        let c = DbCluster::builder().endpoint("h").port(0).build();
        assert!(cluster_endpoints_of(&c).is_empty());
        assert_eq!(writer_endpoint_of(&c), None);
    }

    #[test]
    fn databases_display_as_the_console_names_them() {
        assert_eq!(instance("a").to_string(), "DB instance a (eu-west-1)");
        assert_eq!(cluster("b").to_string(), "DB cluster b (eu-west-1)");
    }
}
