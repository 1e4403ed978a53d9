//! Settings of rotor-replicate, validated once at start.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_smithy_types::retry::{RetryConfig, RetryMode};

use rotor_core::config::{ConfigError, Settings};
use rotor_core::deadline::Margin;
use rotor_core::metrics::MetricsConfig;

use crate::scope::Scope;

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The region replicated from: `SOURCE_REGION`, else the function's own `AWS_REGION`.
    pub source_region: String,
    /// Failover regions, in the order given, without duplicates.
    pub target_regions: Vec<String>,
    pub parameters: Scope,
    pub secrets: Scope,
    /// KMS key (id, ARN or alias) per target region for SecureString replicas and secret
    /// replicas. A region without one: see [`crate::keys::replica_key`].
    pub kms_keys: BTreeMap<String, String>,
    /// Whether a source on a customer managed key (not an alias) may be replicated under the
    /// AWS managed key of a region `kms_keys` names no key for. Off: such an item fails.
    pub allow_aws_managed_key: bool,
    /// Remove the target-region replicas of a secret tagged `rotor:replicate=false`
    /// (`REMOVE_OPTED_OUT_REPLICAS`); otherwise they are kept and reported.
    pub remove_opted_out_replicas: bool,
    pub sns_topic_arn: Option<String>,
    pub dry_run: bool,
    /// Items worked on at the same time.
    pub concurrency: usize,
    /// Retry of every AWS call: `AWS_RETRY_MODE` (default adaptive) and `AWS_MAX_ATTEMPTS`
    /// (default 10).
    pub retry: RetryConfig,
    /// Time kept in reserve before the invocation's deadline (`DEADLINE_MARGIN_SECONDS`;
    /// unset: a tenth of the invocation's time, from 1 to 60 seconds).
    pub margin: Margin,
    /// The DynamoDB table of the full sync's state (`STATE_TABLE`). Without it a full sync
    /// reads everything every time and cannot be handed on.
    pub state_table: Option<String>,
    /// The SQS queue a full sync near its deadline hands the rest on through
    /// (`HANDOVER_QUEUE_URL`; needs `STATE_TABLE`). Without it the next scheduled sync
    /// resumes where the last one stopped.
    pub handover_queue_url: Option<String>,
    /// A no-change parameter is compared in full (tags included) once in this many days
    /// (`TAG_CHECK_DAYS`), a different slice of the parameters each day.
    pub tag_check_days: u32,
    /// The function's own IAM role: CloudTrail events it caused are ignored.
    pub own_role_arn: Option<String>,
    /// `METRICS_NAMESPACE` and the `Stack` dimension (`STACK_NAME`).
    pub metrics: MetricsConfig,
}

impl Config {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigError> {
        rotor_core::config::check_secrets_manager_endpoint(s)?;
        let source_region = match s.string("SOURCE_REGION") {
            Some(r) => r,
            None => s.required("AWS_REGION").map_err(|_| {
                ConfigError::new(
                    "SOURCE_REGION",
                    "is required when AWS_REGION is not set (the region to replicate from)",
                )
            })?,
        };
        check_region("SOURCE_REGION", &source_region)?;
        let mut target_regions: Vec<String> = Vec::new();
        for region in s.list("TARGET_REGIONS") {
            check_region("TARGET_REGIONS", &region)?;
            if region == source_region {
                return Err(ConfigError::new(
                    "TARGET_REGIONS",
                    format!("must not include the source region {source_region}"),
                ));
            }
            if !target_regions.contains(&region) {
                target_regions.push(region);
            }
        }
        if target_regions.is_empty() {
            return Err(ConfigError::new(
                "TARGET_REGIONS",
                "is required: one or more comma-separated region names, e.g. us-west-2,eu-west-1",
            ));
        }
        let mut kms_keys = BTreeMap::new();
        for entry in s.list("TARGET_KMS_KEYS") {
            let Some((region, key)) = entry.split_once('=') else {
                return Err(ConfigError::new(
                    "TARGET_KMS_KEYS",
                    "expected region=key pairs, e.g. us-west-2=alias/dr,eu-west-1=arn:aws:kms:...",
                ));
            };
            let (region, key) = (region.trim(), key.trim());
            if !target_regions.iter().any(|r| r == region) {
                return Err(ConfigError::new(
                    "TARGET_KMS_KEYS",
                    format!("names {region}, which is not in TARGET_REGIONS"),
                ));
            }
            if key.is_empty() {
                return Err(ConfigError::new(
                    "TARGET_KMS_KEYS",
                    format!("has an empty key for {region}"),
                ));
            }
            kms_keys.insert(region.to_owned(), key.to_owned());
        }
        let concurrency = s.whole_number("MAX_CONCURRENCY", 8usize, 1..=64)?;
        // Adaptive retry (client-side rate limiting once throttled) with 10 attempts unless
        // the standard AWS_RETRY_MODE / AWS_MAX_ATTEMPTS say otherwise: a full sync makes
        // thousands of calls at SSM's rate limits.
        let retry = rotor_core::aws::retry_config(s, RetryMode::Adaptive, 10)?
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(20));
        let sns_topic_arn = s.topic_arn("SNS_TOPIC_ARN")?;
        let state_table = s.string("STATE_TABLE");
        let handover_queue_url = s.string("HANDOVER_QUEUE_URL");
        if handover_queue_url.is_some() && state_table.is_none() {
            return Err(ConfigError::new(
                "HANDOVER_QUEUE_URL",
                "needs STATE_TABLE: a hand-over resumes from the state the table keeps",
            ));
        }
        if let Some(url) = &handover_queue_url
            && !url.starts_with("https://")
            && !url.starts_with("http://")
        {
            return Err(ConfigError::new(
                "HANDOVER_QUEUE_URL",
                "expected a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
            ));
        }
        let tag_check_days = s.whole_number("TAG_CHECK_DAYS", 40u32, 1..=365)?;
        Ok(Self {
            parameters: Scope::new(
                s.list("PARAMETER_INCLUDE_PREFIXES"),
                s.list("PARAMETER_EXCLUDE_PREFIXES"),
            ),
            secrets: Scope::new(
                s.list("SECRET_INCLUDE_PREFIXES"),
                s.list("SECRET_EXCLUDE_PREFIXES"),
            ),
            source_region,
            target_regions,
            kms_keys,
            allow_aws_managed_key: s.bool("ALLOW_AWS_MANAGED_KEY", false)?,
            remove_opted_out_replicas: s.bool("REMOVE_OPTED_OUT_REPLICAS", false)?,
            sns_topic_arn,
            dry_run: s.bool("DRY_RUN", false)?,
            concurrency,
            retry,
            margin: Margin::from_settings(s, Margin::Scaled)?,
            state_table,
            handover_queue_url,
            tag_check_days,
            own_role_arn: s.string("OWN_ROLE_ARN"),
            metrics: MetricsConfig::from_settings(s)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::env())
    }

    pub fn kms_key(&self, region: &str) -> Option<&str> {
        self.kms_keys.get(region).map(String::as_str)
    }
}

/// Region names as AWS spells them (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
fn check_region(var: &str, region: &str) -> Result<(), ConfigError> {
    let ok = region.len() <= 32
        && region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.ends_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            var,
            format!("`{region}` is not a region name (expected e.g. us-west-2)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_settings(&Settings::from_pairs(pairs))
    }

    #[test]
    fn the_source_defaults_to_the_functions_own_region() {
        let c = config(&[
            ("AWS_REGION", "us-east-1"),
            ("TARGET_REGIONS", "us-west-2, eu-west-1, us-west-2"),
        ])
        .unwrap();
        assert_eq!(c.source_region, "us-east-1");
        assert_eq!(c.target_regions, ["us-west-2", "eu-west-1"]);
        assert!(!c.dry_run);
        assert_eq!(c.concurrency, 8);
        assert_eq!(
            c.margin,
            Margin::Scaled,
            "the margin scales with the invocation"
        );
        assert_eq!(c.tag_check_days, 40);
    }

    #[test]
    fn targets_are_required_and_may_not_include_the_source() {
        let err = config(&[("AWS_REGION", "us-east-1")]).unwrap_err();
        assert_eq!(err.var, "TARGET_REGIONS");
        let err = config(&[
            ("AWS_REGION", "us-east-1"),
            ("TARGET_REGIONS", "us-west-2,us-east-1"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("source region"), "{err}");
        let err = config(&[("AWS_REGION", "us-east-1"), ("TARGET_REGIONS", "Oregon")]).unwrap_err();
        assert!(err.to_string().contains("not a region name"), "{err}");
    }

    #[test]
    fn kms_keys_are_region_key_pairs_for_target_regions() {
        let c = config(&[
            ("SOURCE_REGION", "us-east-1"),
            ("TARGET_REGIONS", "us-west-2,eu-west-1"),
            (
                "TARGET_KMS_KEYS",
                "us-west-2=alias/dr, eu-west-1=arn:aws:kms:eu-west-1:1:key/k",
            ),
        ])
        .unwrap();
        assert_eq!(c.kms_key("us-west-2"), Some("alias/dr"));
        assert_eq!(
            c.kms_key("eu-west-1"),
            Some("arn:aws:kms:eu-west-1:1:key/k")
        );
        let err = config(&[
            ("SOURCE_REGION", "us-east-1"),
            ("TARGET_REGIONS", "us-west-2"),
            ("TARGET_KMS_KEYS", "ap-south-1=alias/dr"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "TARGET_KMS_KEYS");
        let err = config(&[
            ("SOURCE_REGION", "us-east-1"),
            ("TARGET_REGIONS", "us-west-2"),
            ("TARGET_KMS_KEYS", "alias/dr"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("region=key"), "{err}");
    }

    #[test]
    fn bad_numbers_and_flags_name_their_variable() {
        let base = [
            ("SOURCE_REGION", "us-east-1"),
            ("TARGET_REGIONS", "us-west-2"),
        ];
        for (var, value) in [
            ("DRY_RUN", "perhaps"),
            ("MAX_CONCURRENCY", "0"),
            ("AWS_MAX_ATTEMPTS", "many"),
            ("SNS_TOPIC_ARN", "my-topic"),
            ("DEADLINE_MARGIN_SECONDS", "90"),
            ("TAG_CHECK_DAYS", "0"),
            (
                "HANDOVER_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/q",
            ),
        ] {
            let mut pairs = base.to_vec();
            pairs.push((var, value));
            assert_eq!(config(&pairs).unwrap_err().var, var);
        }
    }

    #[test]
    fn the_samples_endpoint_setting_stops_the_function_at_start() {
        let err = config(&[
            ("AWS_REGION", "us-east-1"),
            ("SECRETS_MANAGER_ENDPOINT", "https://vpce.example"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "SECRETS_MANAGER_ENDPOINT");
        assert!(err.problem.contains("AWS_ENDPOINT_URL_SECRETS_MANAGER"));
    }
}
