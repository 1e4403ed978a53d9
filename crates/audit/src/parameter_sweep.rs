//! The sweep over SecureString parameters (AUDIT_PARAMETERS): one DescribeParameters
//! listing, each parameter held to its prefix policy by its last modified date.

use aws_sdk_ssm::types::ParameterStringFilter;
use chrono::{DateTime, Utc};
use rotor_core::error::AwsResultExt;

use crate::listing::ParameterRecord;
use crate::run::Tally;
use crate::{Context, Error, checks};

/// DescribeParameters returns at most 50 per page.
const PAGE: i32 = 50;

pub(crate) async fn sweep(
    ctx: &Context,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let cfg = &ctx.config;
    let filter = ParameterStringFilter::builder()
        .key("Type")
        .option("Equals")
        .values("SecureString")
        .build()
        .map_err(|source| Error::RequestBuild {
            what: "DescribeParameters type filter",
            source,
        })?;
    // DescribeParameters may return an empty page with a NextToken; the paginator
    // follows it to the end.
    let mut pages = ctx
        .ssm
        .describe_parameters()
        .parameter_filters(filter)
        .max_results(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.aws("DescribeParameters")?;
        for meta in page.parameters() {
            let p = ParameterRecord::from_metadata(meta);
            if !cfg.in_scope(&p.name) {
                continue;
            }
            let policy = cfg.policy_for(&p.name);
            if policy.skip {
                tally.skipped_by_policy += 1;
                continue;
            }
            tally.parameters_audited += 1;
            for f in checks::evaluate_parameter(&p, &policy, now) {
                tally.add_finding(f);
            }
        }
    }
    Ok(())
}
