//! The decisions, as pure functions of a listed record, its policy and "now". A check the
//! listing cannot decide asks for one follow-up call instead of guessing; the caller
//! fetches it and evaluates again.

use chrono::{DateTime, Duration, Utc};

use crate::findings::{Code, Finding, Resource};
use crate::listing::{ParameterRecord, SecretRecord};
use crate::policy::{Policy, TagProblem};

/// Rotation windows last up to a day; a next-rotation date less than this far in the past
/// may still be inside its window.
pub const OVERDUE_GRACE: Duration = Duration::days(1);
/// A rotation in progress carries AWSPENDING for minutes; older than this it is left over.
pub const PENDING_GRACE: Duration = Duration::hours(1);

/// What the follow-up calls found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// From ListSecretVersionIds.
    pub versions: Option<VersionDates>,
    /// From DescribeSecret in the primary and each replica region: last access per region.
    pub regions: Option<Vec<RegionAccess>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionDates {
    pub current_created: Option<DateTime<Utc>>,
    pub pending_created: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionAccess {
    pub region: String,
    pub last_accessed: Option<DateTime<Utc>>,
}

/// The follow-up calls a secret still needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    pub versions: bool,
    pub regions: bool,
}

impl Wants {
    pub fn any(self) -> bool {
        self.versions || self.regions
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub wants: Wants,
}

/// Whole days from `t` to `now` (negative when `t` is later).
pub fn days_since(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - t).num_days()
}

/// Calendar days from `t` to `now`, for dates AWS keeps at day resolution.
pub fn calendar_days_since(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now.date_naive() - t.date_naive()).num_days()
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Findings for one secret (in this region, with its primary here). `problems` are the
/// unusable `rotor:` tags found while building `policy`.
pub fn evaluate_secret(
    r: &SecretRecord,
    policy: &Policy,
    problems: &[TagProblem],
    now: DateTime<Utc>,
    extra: &Extra,
) -> Evaluation {
    let mut ev = Evaluation::default();
    let secret = |code, detail: String| {
        Finding::new(code, Resource::Secret, &r.name, detail).arn(r.arn.as_deref())
    };
    for p in problems {
        ev.findings.push(secret(
            Code::InvalidPolicy,
            format!(
                "tag {} = {:?} is not {}; the default applies",
                p.key, p.value, p.expected
            ),
        ));
    }
    if let Some(deleted) = r.deleted {
        // Nothing else matters for a secret on its way out.
        ev.findings.push(secret(
            Code::ScheduledForDeletion,
            format!("marked for deletion ({})", day(deleted)),
        ));
        return ev;
    }
    let owned = r.owning_service.is_some();
    if !owned {
        rotation_checks(r, policy, now, extra, &mut ev);
        value_age(r, policy, now, extra, &mut ev);
    }
    unused(r, policy, now, extra, &mut ev);
    if policy.require_customer_key && r.uses_aws_managed_key() {
        ev.findings.push(secret(
            Code::NoCustomerKey,
            "encrypted with aws/secretsmanager".to_owned(),
        ));
    }
    ev
}

fn rotation_checks(
    r: &SecretRecord,
    policy: &Policy,
    now: DateTime<Utc>,
    extra: &Extra,
    ev: &mut Evaluation,
) {
    let secret = |code, detail: String| {
        Finding::new(code, Resource::Secret, &r.name, detail).arn(r.arn.as_deref())
    };
    if !r.rotation_enabled {
        ev.findings.push(secret(
            Code::RotationDisabled,
            "automatic rotation is off".to_owned(),
        ));
    } else if let (Some(max), Some(interval)) =
        (policy.max_rotation_interval_days, r.rotation_interval_days)
        && interval > max
    {
        ev.findings.push(
            secret(
                Code::RotationDisabled,
                format!(
                    "rotates {} ({interval} days); at most {max} days allowed",
                    r.rotation_schedule.as_deref().unwrap_or("on a schedule")
                ),
            )
            .age(i64::from(interval), max),
        );
    }
    if r.rotation_enabled
        && let Some(next) = r.next_rotation
        && next + OVERDUE_GRACE < now
    {
        let late = days_since(next, now);
        ev.findings.push(
            secret(
                Code::RotationOverdue,
                format!("next rotation was due {} ({late} days ago)", day(next)),
            )
            .age(late, 0),
        );
    }
    if let Some(pending) = &r.pending_version {
        match &extra.versions {
            None => ev.wants.versions = true,
            Some(v) => {
                // A version created less than the grace ago is a rotation in progress;
                // one that vanished since the listing has finished.
                if let Some(created) = v.pending_created
                    && created + PENDING_GRACE < now
                {
                    ev.findings.push(
                        secret(
                            Code::RotationFailing,
                            format!(
                                "AWSPENDING left on version {pending} since {}",
                                day(created)
                            ),
                        )
                        .age(days_since(created, now), 0),
                    );
                }
            }
        }
    }
}

/// The value's age is the CreatedDate of the AWSCURRENT version. The listing bounds it:
/// no older than the secret, no younger than `LastChangedDate` (which every new value
/// moves). Only in between does it take ListSecretVersionIds.
fn value_age(
    r: &SecretRecord,
    policy: &Policy,
    now: DateTime<Utc>,
    extra: &Extra,
    ev: &mut Evaluation,
) {
    if r.current_version.is_none() {
        return; // no value yet
    }
    let max = policy.max_age_days;
    let limit = i64::from(max);
    let finding = |age: i64, detail: String| {
        Finding::new(Code::TooOld, Resource::Secret, &r.name, detail)
            .arn(r.arn.as_deref())
            .age(age, max)
    };
    if let Some(created) = r.created
        && days_since(created, now) <= limit
    {
        return;
    }
    if let Some(changed) = r.last_changed
        && days_since(changed, now) > limit
    {
        let age = days_since(changed, now);
        ev.findings.push(finding(
            age,
            format!("value is at least {age} days old (limit {max})"),
        ));
        return;
    }
    match &extra.versions {
        None => ev.wants.versions = true,
        Some(v) => {
            if let Some(created) = v.current_created {
                let age = days_since(created, now);
                if age > limit {
                    ev.findings.push(finding(
                        age,
                        format!(
                            "value is {age} days old (created {}; limit {max})",
                            day(created)
                        ),
                    ));
                }
            }
        }
    }
}

/// Unused when no region read it within the limit. The listing shows this region's last
/// access; only when that alone says "unused" are the replicas asked.
fn unused(
    r: &SecretRecord,
    policy: &Policy,
    now: DateTime<Utc>,
    extra: &Extra,
    ev: &mut Evaluation,
) {
    let limit = i64::from(policy.unused_days);
    let last_here = r.last_accessed;
    let reference = last_here.or(r.created);
    let Some(reference) = reference else { return };
    if calendar_days_since(reference, now) <= limit {
        return;
    }
    let Some(regions) = &extra.regions else {
        ev.wants.regions = true;
        return;
    };
    let last_anywhere = regions
        .iter()
        .filter_map(|a| a.last_accessed)
        .chain(last_here)
        .max();
    let (since, detail) = match last_anywhere {
        Some(t) => {
            let d = calendar_days_since(t, now);
            (d, format!("last read {} ({d} days ago)", day(t)))
        }
        None => {
            let d = calendar_days_since(reference, now);
            (
                d,
                format!("never read; created {} ({d} days ago)", day(reference)),
            )
        }
    };
    if since <= limit {
        return;
    }
    let detail = if regions.is_empty() {
        detail
    } else {
        let names: Vec<&str> = regions.iter().map(|a| a.region.as_str()).collect();
        format!("{detail}, also in replica regions {}", names.join(", "))
    };
    ev.findings.push(
        Finding::new(Code::Unused, Resource::Secret, &r.name, detail)
            .arn(r.arn.as_deref())
            .age(since, policy.unused_days),
    );
}

/// Findings for one SecureString parameter: its value's age is its LastModifiedDate.
pub fn evaluate_parameter(
    p: &ParameterRecord,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let Some(modified) = p.last_modified else {
        return Vec::new();
    };
    let age = days_since(modified, now);
    if age <= i64::from(policy.max_age_days) {
        return Vec::new();
    }
    vec![
        Finding::new(
            Code::TooOld,
            Resource::Parameter,
            &p.name,
            format!(
                "value is {age} days old (last modified {}; limit {})",
                day(modified),
                policy.max_age_days
            ),
        )
        .age(age, policy.max_age_days),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn policy() -> Policy {
        Policy::for_tests()
    }

    /// A healthy secret: rotating monthly, read yesterday, customer key.
    fn healthy(now: DateTime<Utc>) -> SecretRecord {
        SecretRecord {
            name: "prod/db".into(),
            arn: Some("arn:aws:secretsmanager:us-east-1:1:secret:prod/db-x".into()),
            created: Some(now - Duration::days(400)),
            last_changed: Some(now - Duration::days(10)),
            last_accessed: Some(now - Duration::days(1)),
            next_rotation: Some(now + Duration::days(20)),
            rotation_enabled: true,
            rotation_lambda_arn: Some("arn:aws:lambda:us-east-1:1:function:rotor-rotate".into()),
            rotation_interval_days: Some(30),
            rotation_schedule: Some("every 30 days".into()),
            kms_key_id: Some("arn:aws:kms:us-east-1:1:key/k".into()),
            current_version: Some("v2".into()),
            ..Default::default()
        }
    }

    fn codes(ev: &Evaluation) -> Vec<&'static str> {
        ev.findings.iter().map(|f| f.code.as_str()).collect()
    }

    fn with_versions(current_days_ago: i64, now: DateTime<Utc>) -> Extra {
        Extra {
            versions: Some(VersionDates {
                current_created: Some(now - Duration::days(current_days_ago)),
                pending_created: None,
            }),
            regions: None,
        }
    }

    #[test]
    fn a_recent_change_on_an_old_secret_needs_the_versions_to_decide_its_age() {
        let now = t("2027-01-01T06:00:00Z");
        let r = healthy(now);
        let ev = evaluate_secret(&r, &policy(), &[], now, &Extra::default());
        assert!(ev.findings.is_empty());
        assert_eq!(
            ev.wants,
            Wants {
                versions: true,
                regions: false
            }
        );

        // A tag edit moved LastChangedDate, but the value is 120 days old.
        let ev = evaluate_secret(&r, &policy(), &[], now, &with_versions(120, now));
        assert_eq!(codes(&ev), ["too-old"]);
        assert_eq!(ev.findings[0].age_days, Some(120));
        assert!(!ev.wants.any());

        let ev = evaluate_secret(&r, &policy(), &[], now, &with_versions(10, now));
        assert!(ev.findings.is_empty());
    }

    #[test]
    fn the_listing_alone_decides_young_secrets_and_long_unchanged_ones() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.created = Some(now - Duration::days(30));
        let ev = evaluate_secret(&r, &policy(), &[], now, &Extra::default());
        assert_eq!((codes(&ev).len(), ev.wants.any()), (0, false));

        r.created = Some(now - Duration::days(400));
        r.last_changed = Some(now - Duration::days(95));
        let ev = evaluate_secret(&r, &policy(), &[], now, &Extra::default());
        assert_eq!(codes(&ev), ["too-old"]);
        assert!(ev.findings[0].detail.contains("at least 95 days"));
        assert!(!ev.wants.any());
    }

    #[test]
    fn the_age_limit_is_whole_days_above_the_maximum() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.created = Some(now - Duration::days(90) - Duration::hours(23));
        r.last_changed = r.created;
        assert!(
            evaluate_secret(&r, &policy(), &[], now, &Extra::default())
                .findings
                .is_empty()
        );
        r.created = Some(now - Duration::days(91));
        r.last_changed = r.created;
        let ev = evaluate_secret(&r, &policy(), &[], now, &Extra::default());
        assert_eq!(codes(&ev), ["too-old"]);
    }

    #[test]
    fn last_access_is_compared_by_calendar_day() {
        let now = t("2027-01-01T00:30:00Z");
        let mut r = healthy(now);
        r.last_changed = Some(now - Duration::days(1));
        // AWS stores the access date at midnight: 2026-10-03 is 90 calendar days before.
        r.last_accessed = Some(t("2026-10-03T00:00:00Z"));
        let extra = with_versions(1, now);
        let ev = evaluate_secret(&r, &policy(), &[], now, &extra);
        assert_eq!((ev.findings.len(), ev.wants.any()), (0, false));
        r.last_accessed = Some(t("2026-10-02T00:00:00Z"));
        let ev = evaluate_secret(&r, &policy(), &[], now, &extra);
        assert!(ev.findings.is_empty());
        assert_eq!(
            ev.wants,
            Wants {
                versions: false,
                regions: true
            }
        );
    }

    #[test]
    fn a_read_in_any_replica_region_keeps_a_secret_in_use() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.last_changed = Some(now - Duration::days(1));
        r.last_accessed = Some(now - Duration::days(200));
        let regions = |eu: Option<i64>| Extra {
            versions: None,
            regions: Some(vec![RegionAccess {
                region: "eu-west-1".into(),
                last_accessed: eu.map(|d| now - Duration::days(d)),
            }]),
        };
        let ev = evaluate_secret(&r, &policy(), &[], now, &regions(Some(3)));
        assert!(ev.findings.is_empty());
        let ev = evaluate_secret(&r, &policy(), &[], now, &regions(None));
        assert_eq!(codes(&ev), ["unused"]);
        assert!(ev.findings[0].detail.contains("eu-west-1"));
        assert_eq!(ev.findings[0].control, Some("SecretsManager.3"));
    }

    #[test]
    fn a_never_read_secret_is_unused_once_older_than_the_limit() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.last_accessed = None;
        r.created = Some(now - Duration::days(91));
        r.last_changed = r.created;
        let done = Extra {
            versions: None,
            regions: Some(vec![]),
        };
        let ev = evaluate_secret(&r, &policy(), &[], now, &done);
        assert_eq!(codes(&ev), ["too-old", "unused"]);
        assert!(ev.findings[1].detail.starts_with("never read"));
    }

    #[test]
    fn a_next_rotation_date_in_the_past_is_overdue_after_a_day_of_grace() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.next_rotation = Some(now - Duration::hours(20));
        assert!(
            evaluate_secret(&r, &policy(), &[], now, &with_versions(5, now))
                .findings
                .is_empty()
        );
        r.next_rotation = Some(now - Duration::days(3));
        let ev = evaluate_secret(&r, &policy(), &[], now, &with_versions(5, now));
        assert_eq!(codes(&ev), ["rotation-overdue"]);
        assert_eq!(ev.findings[0].control, Some("SecretsManager.2"));
    }

    #[test]
    fn a_schedule_longer_than_allowed_counts_as_rotation_disabled() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.rotation_interval_days = Some(120);
        r.rotation_schedule = Some("rate(120 days)".into());
        let mut p = policy();
        let extra = with_versions(5, now);
        assert!(
            evaluate_secret(&r, &p, &[], now, &extra)
                .findings
                .is_empty()
        );
        p.max_rotation_interval_days = Some(90);
        let ev = evaluate_secret(&r, &p, &[], now, &extra);
        assert_eq!(codes(&ev), ["rotation-disabled"]);
        assert!(ev.findings[0].detail.contains("rate(120 days)"));
    }

    #[test]
    fn pending_left_behind_fails_but_a_rotation_in_progress_does_not() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.pending_version = Some("v3".into());
        let ev = evaluate_secret(&r, &policy(), &[], now, &Extra::default());
        assert!(ev.wants.versions);
        let pending = |ago: Duration| Extra {
            versions: Some(VersionDates {
                current_created: Some(now - Duration::days(5)),
                pending_created: Some(now - ago),
            }),
            regions: None,
        };
        let ev = evaluate_secret(&r, &policy(), &[], now, &pending(Duration::minutes(5)));
        assert!(ev.findings.is_empty());
        let ev = evaluate_secret(&r, &policy(), &[], now, &pending(Duration::days(2)));
        assert_eq!(codes(&ev), ["rotation-failing"]);
    }

    #[test]
    fn a_secret_owned_by_another_service_is_not_checked_for_rotation() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.owning_service = Some("rds".into());
        r.rotation_enabled = false;
        r.created = Some(now - Duration::days(500));
        r.last_changed = r.created;
        r.kms_key_id = None;
        let ev = evaluate_secret(&r, &policy(), &[], now, &Extra::default());
        assert_eq!(codes(&ev), ["no-customer-key"]);
    }

    #[test]
    fn a_secret_marked_for_deletion_reports_only_that() {
        let now = t("2027-01-01T06:00:00Z");
        let mut r = healthy(now);
        r.rotation_enabled = false;
        r.kms_key_id = None;
        r.deleted = Some(now - Duration::days(2));
        let ev = evaluate_secret(&r, &policy(), &[], now, &Extra::default());
        assert_eq!(codes(&ev), ["scheduled-for-deletion"]);
        assert!(!ev.wants.any());
    }

    #[test]
    fn parameters_are_too_old_by_last_modified_date() {
        let now = t("2027-01-01T06:00:00Z");
        let p = ParameterRecord {
            name: "/prod/db/password".into(),
            last_modified: Some(now - Duration::days(91)),
        };
        let f = evaluate_parameter(&p, &policy(), now);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].code, f[0].resource),
            (Code::TooOld, Resource::Parameter)
        );
        let fresh = ParameterRecord {
            last_modified: Some(now - Duration::days(3)),
            ..p
        };
        assert!(evaluate_parameter(&fresh, &policy(), now).is_empty());
    }
}
