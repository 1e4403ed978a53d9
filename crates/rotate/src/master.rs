//! The master credentials of alternating-users rotation: the secret named by `masterarn`.
//! An RDS-managed master secret holds only `username` and `password`; its database is
//! found through the `aws:rds:primaryDBInstanceArn` / `aws:rds:primaryDBClusterArn` tag
//! RDS puts on it, and the RDS API gives the endpoint.
//!
//! The master changes passwords only on its own database: a secret whose host is another
//! server is refused before any login ([`check_same_database`]), as AWS's multi-user
//! sample refuses it "to protect against a confused deputy attack".

use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};
use rotor_core::DbCredentials;
use rotor_core::error::AwsResultExt;
use secrecy::ExposeSecret;

use crate::Context;
use crate::error::RotateError;
use crate::secret::{self, CURRENT};

pub const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";
pub const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";

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
    let (host, port) = if let Some(arn) = info.tag(INSTANCE_TAG) {
        instance_endpoint(ctx, master_arn, arn).await?
    } else if let Some(arn) = info.tag(CLUSTER_TAG) {
        cluster_endpoint(ctx, master_arn, arn).await?
    } else {
        return Err(RotateError::invalid(
            master_arn,
            format!(
                "the master secret has no `host` and no {INSTANCE_TAG} or {CLUSTER_TAG} tag \
                 to find its database by"
            ),
        ));
    };
    tracing::info!(master = %master_arn, host = %host, port, "master database resolved through RDS");
    Ok(creds.with_endpoint(&host, port))
}

/// `arn:aws:rds:<region>:<account>:<db|cluster>:<identifier>` → (region, identifier).
pub fn parse_rds_arn<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "rds", region, _, k, id] if *k == kind && !id.is_empty() => Some((region, id)),
        _ => None,
    }
}

async fn instance_endpoint(
    ctx: &Context,
    master_arn: &str,
    arn: &str,
) -> Result<(String, u16), RotateError> {
    let (region, id) = parse_rds_arn(arn, "db").ok_or_else(|| {
        RotateError::invalid(
            master_arn,
            format!("tag {INSTANCE_TAG} is not a DB instance ARN"),
        )
    })?;
    let out = ctx
        .rds_in(region)
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .aws("DescribeDBInstances")
        .map_err(RotateError::aws(master_arn))?;
    let endpoint = out
        .db_instances()
        .first()
        .and_then(|i| i.endpoint())
        .and_then(|e| Some((e.address()?.to_owned(), e.port()?)));
    match endpoint {
        Some((host, port)) => Ok((host, port_u16(master_arn, port)?)),
        None => Err(RotateError::invalid(
            master_arn,
            format!("DB instance {id} has no endpoint yet"),
        )),
    }
}

async fn cluster_endpoint(
    ctx: &Context,
    master_arn: &str,
    arn: &str,
) -> Result<(String, u16), RotateError> {
    let (region, id) = parse_rds_arn(arn, "cluster").ok_or_else(|| {
        RotateError::invalid(
            master_arn,
            format!("tag {CLUSTER_TAG} is not a DB cluster ARN"),
        )
    })?;
    let out = ctx
        .rds_in(region)
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .aws("DescribeDBClusters")
        .map_err(RotateError::aws(master_arn))?;
    let endpoint = out
        .db_clusters()
        .first()
        .and_then(|c| Some((c.endpoint()?.to_owned(), c.port()?)));
    match endpoint {
        Some((host, port)) => Ok((host, port_u16(master_arn, port)?)),
        None => Err(RotateError::invalid(
            master_arn,
            format!("DB cluster {id} has no endpoint yet"),
        )),
    }
}

fn port_u16(master_arn: &str, port: i32) -> Result<u16, RotateError> {
    u16::try_from(port)
        .map_err(|_| RotateError::invalid(master_arn, format!("RDS reports port {port}")))
}

/// An RDS instance or cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdsResource {
    Instance { region: String, id: String },
    Cluster { region: String, id: String },
}

impl std::fmt::Display for RdsResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RdsResource::Instance { region, id } => write!(f, "DB instance {id} ({region})"),
            RdsResource::Cluster { region, id } => write!(f, "DB cluster {id} ({region})"),
        }
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

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
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
    let endpoints = rds_endpoints(ctx, &resource).await.map_err(|e| {
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
) -> Result<Option<RdsResource>, RotateError> {
    let info = secret::describe(&ctx.secrets, master_arn).await?;
    if let Some((region, id)) = info.tag(INSTANCE_TAG).and_then(|a| parse_rds_arn(a, "db")) {
        return Ok(Some(RdsResource::Instance {
            region: region.to_owned(),
            id: id.to_owned(),
        }));
    }
    if let Some((region, id)) = info
        .tag(CLUSTER_TAG)
        .and_then(|a| parse_rds_arn(a, "cluster"))
    {
        return Ok(Some(RdsResource::Cluster {
            region: region.to_owned(),
            id: id.to_owned(),
        }));
    }
    let here = rotor_core::aws::region_of(&ctx.sdk).to_owned();
    if let Some(id) = master.db_cluster_identifier() {
        return Ok(Some(RdsResource::Cluster {
            region: here,
            id: id.to_owned(),
        }));
    }
    if let Some(id) = master.db_instance_identifier() {
        return Ok(Some(RdsResource::Instance {
            region: here,
            id: id.to_owned(),
        }));
    }
    Ok(resource_named_by_host(&master_at.host))
}

/// `<id>.<hash>.<region>.rds.amazonaws.com` is instance `<id>`; `<id>.cluster-<hash>…` and
/// `<id>.cluster-ro-<hash>…` are cluster `<id>`. A guess from a name, which
/// [`check_same_database`] then confirms against the endpoints RDS reports.
pub fn resource_named_by_host(host: &str) -> Option<RdsResource> {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let [id, kind, region, "rds", "amazonaws", ..] = labels.as_slice() else {
        return None;
    };
    if id.is_empty() || kind.starts_with("cluster-custom-") {
        return None;
    }
    let (region, id) = (region.to_string(), id.to_string());
    Some(if kind.starts_with("cluster-") {
        RdsResource::Cluster { region, id }
    } else {
        RdsResource::Instance { region, id }
    })
}

/// Every endpoint RDS reports for the resource: an instance's own, its read replicas', and,
/// when it belongs to a cluster, the cluster's; a cluster's writer, reader and custom
/// endpoints and its members' instance endpoints.
async fn rds_endpoints(
    ctx: &Context,
    resource: &RdsResource,
) -> Result<Vec<Endpoint>, rotor_core::AwsError> {
    let (region, cluster_id) = match resource {
        RdsResource::Cluster { region, id } => (region, id.clone()),
        RdsResource::Instance { region, id } => {
            let rds = ctx.rds_in(region);
            let out = rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
                .aws("DescribeDBInstances")?;
            let Some(instance) = out.db_instances().first() else {
                return Ok(Vec::new());
            };
            match instance.db_cluster_identifier() {
                Some(cluster) => (region, cluster.to_owned()),
                None => {
                    let mut endpoints = instance_endpoint_of(instance)
                        .into_iter()
                        .collect::<Vec<_>>();
                    let replicas = instance.read_replica_db_instance_identifiers();
                    if !replicas.is_empty() {
                        let filter = Filter::builder()
                            .name("db-instance-id")
                            .set_values(Some(replicas.to_vec()))
                            .build();
                        let out = rds
                            .describe_db_instances()
                            .filters(filter)
                            .send()
                            .await
                            .aws("DescribeDBInstances")?;
                        endpoints
                            .extend(out.db_instances().iter().filter_map(instance_endpoint_of));
                    }
                    return Ok(endpoints);
                }
            }
        }
    };
    let rds = ctx.rds_in(region);
    let out = rds
        .describe_db_clusters()
        .db_cluster_identifier(&cluster_id)
        .send()
        .await
        .aws("DescribeDBClusters")?;
    let Some(cluster) = out.db_clusters().first() else {
        return Ok(Vec::new());
    };
    let mut endpoints = cluster_endpoints_of(cluster);
    let members = rds
        .describe_db_instances()
        .filters(
            Filter::builder()
                .name("db-cluster-id")
                .values(&cluster_id)
                .build(),
        )
        .send()
        .await
        .aws("DescribeDBInstances")?;
    endpoints.extend(
        members
            .db_instances()
            .iter()
            .filter_map(instance_endpoint_of),
    );
    Ok(endpoints)
}

fn instance_endpoint_of(instance: &DbInstance) -> Option<Endpoint> {
    let e = instance.endpoint()?;
    Some(Endpoint::new(e.address()?, u16::try_from(e.port()?).ok()?))
}

/// A cluster's writer, reader and custom endpoints (all on the cluster's port).
pub fn cluster_endpoints_of(cluster: &DbCluster) -> Vec<Endpoint> {
    let Some(port) = cluster.port().and_then(|p| u16::try_from(p).ok()) else {
        return Vec::new();
    };
    cluster
        .endpoint()
        .into_iter()
        .chain(cluster.reader_endpoint())
        .chain(cluster.custom_endpoints().iter().map(String::as_str))
        .map(|host| Endpoint::new(host, port))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_arns_give_region_and_identifier() {
        assert_eq!(
            parse_rds_arn("arn:aws:rds:eu-west-1:123456789012:db:orders-1", "db"),
            Some(("eu-west-1", "orders-1"))
        );
        assert_eq!(
            parse_rds_arn("arn:aws:rds:us-east-1:123456789012:cluster:c", "cluster"),
            Some(("us-east-1", "c"))
        );
        assert_eq!(
            parse_rds_arn("arn:aws:rds:us-east-1:123456789012:cluster:c", "db"),
            None
        );
        assert_eq!(parse_rds_arn("orders-1", "db"), None);
    }

    #[test]
    fn rds_endpoint_names_give_the_instance_or_cluster_they_name() {
        let instance = |id: &str| RdsResource::Instance {
            region: "eu-west-1".into(),
            id: id.into(),
        };
        let cluster = |id: &str| RdsResource::Cluster {
            region: "eu-west-1".into(),
            id: id.into(),
        };
        assert_eq!(
            resource_named_by_host("orders-1.abcdefgh.eu-west-1.rds.amazonaws.com"),
            Some(instance("orders-1"))
        );
        assert_eq!(
            resource_named_by_host("orders.cluster-abcdefgh.eu-west-1.rds.amazonaws.com"),
            Some(cluster("orders"))
        );
        assert_eq!(
            resource_named_by_host("orders.cluster-ro-abcdefgh.eu-west-1.rds.amazonaws.com"),
            Some(cluster("orders"))
        );
        // A custom endpoint names itself, not its cluster.
        assert_eq!(
            resource_named_by_host("reports.cluster-custom-abcdefgh.eu-west-1.rds.amazonaws.com"),
            None
        );
        assert_eq!(resource_named_by_host("db.example.com"), None);
        assert_eq!(resource_named_by_host("10.0.0.5"), None);
        assert_eq!(resource_named_by_host("x.rds.amazonaws.com"), None);
    }

    #[test]
    fn a_clusters_endpoints_are_its_writer_reader_and_custom_ones_on_its_port() {
        let cluster = DbCluster::builder()
            .endpoint("orders.cluster-abc.eu-west-1.rds.amazonaws.com")
            .reader_endpoint("orders.cluster-ro-abc.eu-west-1.rds.amazonaws.com")
            .custom_endpoints("Reports.cluster-custom-abc.eu-west-1.rds.amazonaws.com.")
            .port(5433)
            .build();
        let endpoints = cluster_endpoints_of(&cluster);
        assert_eq!(endpoints.len(), 3);
        assert!(endpoints.contains(&Endpoint::new(
            "reports.cluster-custom-abc.eu-west-1.rds.amazonaws.com",
            5433
        )));
        assert!(!endpoints.contains(&Endpoint::new(
            "orders.cluster-abc.eu-west-1.rds.amazonaws.com",
            5432
        )));
    }
}
