//! The limits a secret is held to: the settings' defaults, then the longest matching
//! prefix rule, then the secret's own `rotor:` tags.

use serde::Deserialize;

/// Tag keys read by the audit.
pub const TAG_AUDIT: &str = "rotor:audit";
pub const TAG_MAX_AGE: &str = "rotor:max-age-days";
pub const TAG_UNUSED: &str = "rotor:unused-days";
pub const TAG_MAX_INTERVAL: &str = "rotor:max-rotation-interval-days";
pub const TAG_CUSTOMER_KEY: &str = "rotor:require-customer-key";

/// The effective limits for one secret or parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The value may be at most this many days old.
    pub max_age_days: u32,
    /// The secret must have been read within this many days.
    pub unused_days: u32,
    /// When set, a rotation schedule longer than this counts as rotation disabled.
    pub max_rotation_interval_days: Option<u32>,
    /// Whether the AWS-managed key is a finding.
    pub require_customer_key: bool,
    /// Not audited at all.
    pub skip: bool,
}

/// Optional overrides, as written in a prefix rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    pub max_age_days: Option<u32>,
    pub unused_days: Option<u32>,
    pub max_rotation_interval_days: Option<u32>,
    pub require_customer_key: Option<bool>,
    pub skip: Option<bool>,
}

/// A `rotor:` tag whose value could not be used; the audit reports it and keeps the
/// default for that limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagProblem {
    pub key: String,
    pub value: String,
    pub expected: &'static str,
}

impl Policy {
    pub fn patched(&self, patch: &PolicyPatch) -> Policy {
        Policy {
            max_age_days: patch.max_age_days.unwrap_or(self.max_age_days),
            unused_days: patch.unused_days.unwrap_or(self.unused_days),
            max_rotation_interval_days: patch
                .max_rotation_interval_days
                .or(self.max_rotation_interval_days),
            require_customer_key: patch
                .require_customer_key
                .unwrap_or(self.require_customer_key),
            skip: patch.skip.unwrap_or(self.skip),
        }
    }

    /// Applies the secret's `rotor:` tags. Unknown `rotor:` keys belong to other rotor
    /// functions and are ignored; a known key with an unusable value is reported.
    pub fn with_tags<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Policy, Vec<TagProblem>) {
        let mut patch = PolicyPatch::default();
        let mut problems = Vec::new();
        for (key, value) in tags {
            let v = value.trim();
            let mut bad = |expected| {
                problems.push(TagProblem {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    expected,
                })
            };
            match key {
                TAG_AUDIT => match v.to_ascii_lowercase().as_str() {
                    "skip" => patch.skip = Some(true),
                    "audit" | "" => patch.skip = Some(false),
                    _ => bad("skip or audit"),
                },
                TAG_MAX_AGE => match whole_days(v) {
                    Some(d) => patch.max_age_days = Some(d),
                    None => bad("a whole number of days, at least 1"),
                },
                TAG_UNUSED => match whole_days(v) {
                    Some(d) => patch.unused_days = Some(d),
                    None => bad("a whole number of days, at least 1"),
                },
                TAG_MAX_INTERVAL => match whole_days(v) {
                    Some(d) => patch.max_rotation_interval_days = Some(d),
                    None => bad("a whole number of days, at least 1"),
                },
                TAG_CUSTOMER_KEY => match rotor_core::config::parse_bool(v) {
                    Some(b) => patch.require_customer_key = Some(b),
                    None => bad("true or false"),
                },
                _ => {}
            }
        }
        (self.patched(&patch), problems)
    }
}

/// The limits the unit tests hold records to: 90 days for age and use, the customer key
/// required, any rotation schedule allowed.
#[cfg(test)]
impl Policy {
    pub(crate) fn for_tests() -> Policy {
        Policy {
            max_age_days: 90,
            unused_days: 90,
            max_rotation_interval_days: None,
            require_customer_key: true,
            skip: false,
        }
    }
}

fn whole_days(v: &str) -> Option<u32> {
    v.parse::<u32>().ok().filter(|d| *d > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Policy {
        Policy::for_tests()
    }

    #[test]
    fn tags_override_the_defaults() {
        let (p, problems) = base().with_tags([
            ("rotor:max-age-days", "30"),
            ("rotor:unused-days", " 7 "),
            ("rotor:max-rotation-interval-days", "45"),
            ("rotor:require-customer-key", "false"),
            ("team", "payments"),
            ("rotor:replica-of", "arn:aws:secretsmanager:..."),
        ]);
        assert!(problems.is_empty());
        assert_eq!(
            p,
            Policy {
                max_age_days: 30,
                unused_days: 7,
                max_rotation_interval_days: Some(45),
                require_customer_key: false,
                skip: false,
            }
        );
    }

    #[test]
    fn audit_skip_is_read_in_any_case() {
        assert!(base().with_tags([("rotor:audit", "SKIP")]).0.skip);
        assert!(!base().with_tags([("rotor:audit", "audit")]).0.skip);
    }

    #[test]
    fn an_unusable_tag_value_is_reported_and_the_default_kept() {
        let (p, problems) = base().with_tags([
            ("rotor:max-age-days", "soon"),
            ("rotor:unused-days", "0"),
            ("rotor:audit", "never"),
        ]);
        assert_eq!(p, base());
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["rotor:max-age-days", "rotor:unused-days", "rotor:audit"]
        );
    }
}
