//! The audit's own compact view of a listed secret or parameter: dates, rotation set-up,
//! key, owner, stages and `rotor:` tags. Never a value: the listing calls carry none.

use aws_sdk_secretsmanager::types::SecretListEntry;
use aws_sdk_ssm::types::ParameterMetadata;
use chrono::{DateTime, Utc};

/// The AWS-managed key of Secrets Manager, as it may appear in `KmsKeyId`.
const AWS_MANAGED_KEY: &str = "alias/aws/secretsmanager";

pub fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn date(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(to_chrono)
}

/// What a version's staging labels make it, for the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRole {
    /// Carries AWSCURRENT (whatever else it carries).
    Current,
    /// Carries AWSPENDING but not AWSCURRENT: a rotation under way or left behind.
    Pending,
    /// Neither, e.g. AWSPREVIOUS only.
    Other,
}

impl VersionRole {
    pub fn of(labels: &[String]) -> Self {
        if labels.iter().any(|l| l == "AWSCURRENT") {
            VersionRole::Current
        } else if labels.iter().any(|l| l == "AWSPENDING") {
            VersionRole::Pending
        } else {
            VersionRole::Other
        }
    }
}

/// One secret as ListSecrets (or DescribeSecret) shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRecord {
    pub name: String,
    pub arn: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// Moves on every value, stage, tag or description change.
    pub last_changed: Option<DateTime<Utc>>,
    /// Day resolution, this region only.
    pub last_accessed: Option<DateTime<Utc>>,
    pub next_rotation: Option<DateTime<Utc>>,
    pub deleted: Option<DateTime<Utc>>,
    pub rotation_enabled: bool,
    pub rotation_lambda_arn: Option<String>,
    /// The schedule as days between rotations, when the schedule says so.
    pub rotation_interval_days: Option<u32>,
    /// The schedule as written (`AutomaticallyAfterDays=N` or the expression).
    pub rotation_schedule: Option<String>,
    pub kms_key_id: Option<String>,
    pub owning_service: Option<String>,
    /// Set on replicas: the region of the primary secret.
    pub primary_region: Option<String>,
    /// Only the `rotor:` tags, the ones the audit reads.
    pub rotor_tags: Vec<(String, String)>,
    /// The version carrying AWSCURRENT.
    pub current_version: Option<String>,
    /// A version carrying AWSPENDING but not AWSCURRENT.
    pub pending_version: Option<String>,
}

impl SecretRecord {
    pub fn from_entry(e: &SecretListEntry) -> Self {
        let mut current_version = None;
        let mut pending_version = None;
        if let Some(stages) = e.secret_versions_to_stages() {
            for (version, labels) in stages {
                match VersionRole::of(labels) {
                    VersionRole::Current => current_version = Some(version.clone()),
                    VersionRole::Pending => pending_version = Some(version.clone()),
                    VersionRole::Other => {}
                }
            }
        }
        let (rotation_interval_days, rotation_schedule) = match e.rotation_rules() {
            Some(rules) => match (
                rules.schedule_expression(),
                rules.automatically_after_days(),
            ) {
                (Some(expr), _) => (interval_of_expression(expr), Some(expr.to_owned())),
                (None, Some(days)) => {
                    (u32::try_from(days).ok(), Some(format!("every {days} days")))
                }
                (None, None) => (None, None),
            },
            None => (None, None),
        };
        Self {
            name: e.name().unwrap_or_default().to_owned(),
            arn: e.arn().map(str::to_owned),
            created: date(e.created_date()),
            last_changed: date(e.last_changed_date()),
            last_accessed: date(e.last_accessed_date()),
            next_rotation: date(e.next_rotation_date()),
            deleted: date(e.deleted_date()),
            rotation_enabled: e.rotation_enabled().unwrap_or(false),
            rotation_lambda_arn: e
                .rotation_lambda_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
            rotation_interval_days,
            rotation_schedule,
            kms_key_id: e.kms_key_id().map(str::to_owned),
            owning_service: e.owning_service().map(str::to_owned),
            primary_region: e.primary_region().map(str::to_owned),
            rotor_tags: e
                .tags()
                .iter()
                .filter_map(|t| match (t.key(), t.value()) {
                    (Some(k), v) if k.starts_with("rotor:") => {
                        Some((k.to_owned(), v.unwrap_or_default().to_owned()))
                    }
                    _ => None,
                })
                .collect(),
            current_version,
            pending_version,
        }
    }

    /// Encrypted with Secrets Manager's AWS-managed key: ListSecrets omits `KmsKeyId` then,
    /// and some tools spell the key out.
    pub fn uses_aws_managed_key(&self) -> bool {
        match self.kms_key_id.as_deref() {
            None | Some("") => true,
            Some(k) => k == AWS_MANAGED_KEY || k.ends_with(&format!(":{AWS_MANAGED_KEY}")),
        }
    }

    pub fn tags(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rotor_tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Days between rotations for `rate(N days)` / `rate(N hours)`; `None` for cron
/// expressions, whose interval varies.
pub fn interval_of_expression(expr: &str) -> Option<u32> {
    let inner = expr.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let n: u32 = parts.next()?.parse().ok()?;
    match parts.next()? {
        "day" | "days" => Some(n),
        "hour" | "hours" => Some(n.div_ceil(24)),
        _ => None,
    }
}

/// One SecureString parameter as DescribeParameters shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterRecord {
    pub name: String,
    pub last_modified: Option<DateTime<Utc>>,
}

impl ParameterRecord {
    pub fn from_metadata(p: &ParameterMetadata) -> Self {
        Self {
            name: p.name().unwrap_or_default().to_owned(),
            last_modified: date(p.last_modified_date()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::types::{RotationRulesType, Tag};

    #[test]
    fn rate_expressions_give_an_interval_and_cron_does_not() {
        assert_eq!(interval_of_expression("rate(10 days)"), Some(10));
        assert_eq!(interval_of_expression("rate(1 day)"), Some(1));
        assert_eq!(interval_of_expression("rate(36 hours)"), Some(2));
        assert_eq!(interval_of_expression("cron(0 16 1,15 * ? *)"), None);
    }

    #[test]
    fn a_listing_entry_keeps_stages_schedule_and_only_rotor_tags() {
        let e = SecretListEntry::builder()
            .name("prod/db")
            .arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf")
            .rotation_enabled(true)
            .rotation_rules(
                RotationRulesType::builder()
                    .schedule_expression("rate(30 days)")
                    .build(),
            )
            .secret_versions_to_stages("v1", vec!["AWSPREVIOUS".into()])
            .secret_versions_to_stages("v2", vec!["AWSCURRENT".into()])
            .secret_versions_to_stages("v3", vec!["AWSPENDING".into()])
            .tags(Tag::builder().key("team").value("x").build())
            .tags(Tag::builder().key("rotor:audit").value("skip").build())
            .created_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .build();
        let r = SecretRecord::from_entry(&e);
        assert_eq!(r.current_version.as_deref(), Some("v2"));
        assert_eq!(r.pending_version.as_deref(), Some("v3"));
        assert_eq!(r.rotation_interval_days, Some(30));
        assert_eq!(r.rotor_tags, [("rotor:audit".into(), "skip".into())]);
        assert_eq!(r.created.unwrap().timestamp(), 1_700_000_000);
        assert!(r.uses_aws_managed_key());
    }

    #[test]
    fn pending_on_the_current_version_is_not_a_left_over() {
        let e = SecretListEntry::builder()
            .name("n")
            .secret_versions_to_stages("v2", vec!["AWSCURRENT".into(), "AWSPENDING".into()])
            .build();
        assert_eq!(SecretRecord::from_entry(&e).pending_version, None);
    }

    #[test]
    fn only_a_customer_key_counts_as_one() {
        let mut r = SecretRecord::default();
        for (key, managed) in [
            (None, true),
            (Some("alias/aws/secretsmanager"), true),
            (
                Some("arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager"),
                true,
            ),
            (Some("arn:aws:kms:us-east-1:123456789012:key/1234"), false),
            (Some("alias/prod-secrets"), false),
        ] {
            r.kms_key_id = key.map(str::to_owned);
            assert_eq!(r.uses_aws_managed_key(), managed, "{key:?}");
        }
    }
}
