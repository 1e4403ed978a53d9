//! The master credentials of alternating-users rotation: the secret named by `masterarn`.
//! An RDS-managed master secret holds only `username` and `password`; its database is
//! found through the `aws:rds:primaryDBInstanceArn` / `aws:rds:primaryDBClusterArn` tag
//! RDS puts on it, and the RDS API gives the endpoint.

use aws_sdk_rds::Client as Rds;
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

fn rds_for(ctx: &Context, region: &str) -> Rds {
    if region.is_empty() || region == rotor_core::aws::region_of(&ctx.sdk) {
        ctx.rds.clone()
    } else {
        Rds::new(&rotor_core::aws::in_region(&ctx.sdk, region))
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
    let out = rds_for(ctx, region)
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
    let out = rds_for(ctx, region)
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
}
