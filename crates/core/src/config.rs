//! Settings read through a lookup function, so tests never touch the process environment,
//! and a bad value fails at start with the variable's name and what is allowed.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {var}: {problem}")]
pub struct ConfigError {
    pub var: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &str, problem: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            problem: problem.into(),
        }
    }
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads settings by name. `Settings::env()` reads the process environment; tests pass a map.
pub struct Settings<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Settings<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    pub fn env() -> Settings<'static> {
        Settings::new(|k| std::env::var(k).ok())
    }

    /// Settings from `(name, value)` pairs; handy in tests.
    pub fn from_pairs(pairs: &'a [(&'a str, &'a str)]) -> Self {
        Self::new(move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// The trimmed value, or `None` when unset or blank.
    pub fn string(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, var: &str) -> Result<String, ConfigError> {
        self.string(var)
            .ok_or_else(|| ConfigError::new(var, "is required but not set"))
    }

    /// A boolean: true/1/y/yes or false/0/n/no, in any case.
    pub fn bool(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.string(var) {
            None => Ok(default),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                ConfigError::new(var, "expected true/false (also 1/0, yes/no, y/n)")
            }),
        }
    }

    /// A value parsed with `FromStr`; `expected` says what is allowed.
    pub fn parse<T: FromStr>(
        &self,
        var: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.string(var) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError::new(var, format!("expected {expected}"))),
        }
    }

    /// A whole number within `range`; the message says the range.
    pub fn whole_number<T>(
        &self,
        var: &str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display,
    {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let value = self.parse(var, default, &expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(var, format!("expected {expected}")))
        }
    }

    /// A whole number of days, at least 1.
    pub fn days(&self, var: &str, default: u32) -> Result<u32, ConfigError> {
        const EXPECTED: &str = "a whole number of days, at least 1";
        match self.parse::<u32>(var, default, EXPECTED)? {
            0 => Err(ConfigError::new(var, format!("expected {EXPECTED}"))),
            days => Ok(days),
        }
    }

    /// A number of seconds, fractions allowed, from `min` to `max`.
    pub fn seconds(
        &self,
        var: &str,
        default: Duration,
        min: f64,
        max: f64,
    ) -> Result<Duration, ConfigError> {
        let expected = format!("a number of seconds from {min} to {max}");
        let value = self.parse::<f64>(var, default.as_secs_f64(), &expected)?;
        if !value.is_finite() || value < min || value > max {
            return Err(ConfigError::new(var, format!("expected {expected}")));
        }
        Ok(Duration::from_secs_f64(value))
    }

    /// An SNS topic's ARN, when set. The topic may be in another region: its client is
    /// built for the ARN's region ([`crate::notify::topic_sdk`]).
    pub fn topic_arn(&self, var: &str) -> Result<Option<String>, ConfigError> {
        match self.string(var) {
            Some(arn) if !arn.starts_with("arn:") || arn.split(':').count() != 6 => {
                Err(ConfigError::new(
                    var,
                    "expected a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                ))
            }
            other => Ok(other),
        }
    }

    /// A comma-separated list, blanks dropped.
    pub fn list(&self, var: &str) -> Vec<String> {
        self.string(var)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The setting AWS's Python rotation samples read for a Secrets Manager endpoint (a VPC
/// endpoint without private DNS).
pub const SAMPLES_ENDPOINT_VAR: &str = "SECRETS_MANAGER_ENDPOINT";

/// The AWS SDKs' service-specific endpoint variable for Secrets Manager, which rotor's SDK
/// clients read (aws-config resolves `AWS_ENDPOINT_URL_<SERVICE ID>`, the service id
/// "Secrets Manager" upper-cased with `_` for spaces; AWS SDKs and Tools Reference Guide,
/// "Service-specific endpoints").
pub const SDK_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";

/// Refuses `SECRETS_MANAGER_ENDPOINT`, which rotor does not read, unless
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` says the same: a sample user who carries it over must
/// not find every call going to the public endpoint instead of the VPC endpoint they meant.
/// A trailing `/` is ignored when comparing. Values stay out of the message.
pub fn check_secrets_manager_endpoint(s: &Settings<'_>) -> Result<(), ConfigError> {
    let Some(sample) = s.string(SAMPLES_ENDPOINT_VAR) else {
        return Ok(());
    };
    match s.string(SDK_ENDPOINT_VAR) {
        Some(sdk) if sdk.trim_end_matches('/') == sample.trim_end_matches('/') => Ok(()),
        Some(_) => Err(ConfigError::new(
            SAMPLES_ENDPOINT_VAR,
            format!(
                "differs from {SDK_ENDPOINT_VAR}, the endpoint rotor uses; remove \
                 {SAMPLES_ENDPOINT_VAR} or give both the same value"
            ),
        )),
        None => Err(ConfigError::new(
            SAMPLES_ENDPOINT_VAR,
            format!(
                "is not read by rotor; set {SDK_ENDPOINT_VAR} (the AWS SDKs' endpoint \
                 setting for Secrets Manager) to this URL instead"
            ),
        )),
    }
}

pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "y" | "yes" => Some(true),
        "false" | "0" | "n" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_samples_spellings_in_any_case() {
        for v in ["true", "TRUE", "1", "y", "Yes"] {
            assert_eq!(parse_bool(v), Some(true), "{v}");
        }
        for v in ["false", "0", "N", "no"] {
            assert_eq!(parse_bool(v), Some(false), "{v}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_is_allowed() {
        let s = Settings::from_pairs(&[("DRY_RUN", "perhaps"), ("N", "x")]);
        let err = s.bool("DRY_RUN", false).unwrap_err();
        assert_eq!(err.var, "DRY_RUN");
        assert!(err.to_string().contains("true/false"));
        let err = s.parse::<u32>("N", 1, "a whole number").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting N: expected a whole number"
        );
    }

    #[test]
    fn the_samples_endpoint_setting_alone_is_refused_naming_its_replacement() {
        let s = Settings::from_pairs(&[(
            "SECRETS_MANAGER_ENDPOINT",
            "https://vpce-0abc-1234.secretsmanager.eu-west-1.vpce.amazonaws.com",
        )]);
        let err = check_secrets_manager_endpoint(&s).unwrap_err();
        assert_eq!(err.var, "SECRETS_MANAGER_ENDPOINT");
        assert!(
            err.to_string()
                .contains("set AWS_ENDPOINT_URL_SECRETS_MANAGER"),
            "{err}"
        );
        assert!(!err.to_string().contains("vpce-0abc"), "{err}");
    }

    #[test]
    fn the_samples_endpoint_setting_is_accepted_when_the_sdk_setting_says_the_same() {
        let url = "https://vpce-0abc-1234.secretsmanager.eu-west-1.vpce.amazonaws.com";
        let with_slash = format!("{url}/");
        let pairs = [
            ("SECRETS_MANAGER_ENDPOINT", with_slash.as_str()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", url),
        ];
        assert_eq!(
            check_secrets_manager_endpoint(&Settings::from_pairs(&pairs)),
            Ok(())
        );
    }

    #[test]
    fn the_samples_endpoint_setting_is_refused_when_it_differs_from_the_sdk_setting() {
        let s = Settings::from_pairs(&[
            ("SECRETS_MANAGER_ENDPOINT", "https://vpce-one.example"),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                "https://vpce-two.example",
            ),
        ]);
        let err = check_secrets_manager_endpoint(&s).unwrap_err();
        assert_eq!(err.var, "SECRETS_MANAGER_ENDPOINT");
        assert!(
            err.to_string()
                .contains("differs from AWS_ENDPOINT_URL_SECRETS_MANAGER"),
            "{err}"
        );
    }

    #[test]
    fn without_the_samples_endpoint_setting_any_sdk_endpoint_is_fine() {
        for pairs in [
            &[][..],
            &[("SECRETS_MANAGER_ENDPOINT", "  ")][..],
            &[("AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://vpce.example")][..],
        ] {
            assert_eq!(
                check_secrets_manager_endpoint(&Settings::from_pairs(pairs)),
                Ok(())
            );
        }
    }

    #[test]
    fn blank_values_count_as_unset_and_lists_split_on_commas() {
        let s = Settings::from_pairs(&[("A", "  "), ("L", "us-west-2, eu-west-1,,")]);
        assert_eq!(s.string("A"), None);
        assert_eq!(s.list("L"), vec!["us-west-2", "eu-west-1"]);
        assert!(s.required("A").is_err());
    }

    #[test]
    fn numbers_seconds_and_topics_are_checked_against_what_is_allowed() {
        let s = Settings::from_pairs(&[
            ("N", "12"),
            ("BIG", "70"),
            ("NEG", "-1"),
            ("S", "0.5"),
            ("NAN", "NaN"),
            ("T", "arn:aws:sns:eu-west-1:123456789012:alerts"),
            ("BAD_T", "alerts"),
        ]);
        assert_eq!(s.whole_number("N", 1u32, 1..=64), Ok(12));
        assert_eq!(s.days("N", 90), Ok(12));
        assert_eq!(s.days("UNSET", 90), Ok(90));
        assert!(s.days("NEG", 90).is_err());
        assert_eq!(s.whole_number("UNSET", 8u32, 1..=64), Ok(8));
        let err = s.whole_number("BIG", 1u32, 1..=64).unwrap_err();
        assert_eq!(err.problem, "expected a whole number from 1 to 64");
        assert!(s.whole_number("NEG", 1u32, 1..=64).is_err());
        assert_eq!(
            s.seconds("S", Duration::ZERO, 0.1, 5.0),
            Ok(Duration::from_millis(500))
        );
        assert!(s.seconds("NAN", Duration::ZERO, 0.0, 5.0).is_err());
        assert!(s.seconds("S", Duration::ZERO, 1.0, 5.0).is_err());
        assert_eq!(
            s.topic_arn("T").unwrap().as_deref(),
            Some("arn:aws:sns:eu-west-1:123456789012:alerts")
        );
        assert_eq!(s.topic_arn("UNSET"), Ok(None));
        assert_eq!(s.topic_arn("BAD_T").unwrap_err().var, "BAD_T");
    }
}
