//! The audit's validated settings, read once at start.

use rotor_core::config::{ConfigError, Settings};
use rotor_core::metrics::MetricsConfig;
use serde::Deserialize;

use crate::policy::{Policy, PolicyPatch};

/// When the SNS report is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMode {
    /// After every run, clean or not.
    Always,
    /// Only when there is at least one finding.
    Findings,
}

/// One entry of `POLICY_RULES`: defaults for names starting with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixRule {
    pub prefix: String,
    #[serde(flatten)]
    pub patch: PolicyPatch,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Name prefixes in scope; empty means every secret.
    pub prefixes: Vec<String>,
    /// The value of the metrics' `Environment` dimension and the report's title.
    pub environment: String,
    /// Defaults before prefix rules and tags.
    pub defaults: Policy,
    /// Prefix rules, longest prefix first.
    pub rules: Vec<PrefixRule>,
    pub sns_topic_arn: Option<String>,
    pub report: ReportMode,
    pub auto_rotate: bool,
    pub dry_run: bool,
    pub audit_parameters: bool,
    /// `METRICS_NAMESPACE` and the `Stack` dimension (`STACK_NAME`).
    pub metrics: MetricsConfig,
}

impl Config {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigError> {
        rotor_core::config::check_secrets_manager_endpoint(s)?;
        let prefixes = s.list("PREFIXES");
        if let Some(p) = prefixes.iter().find(|p| p.starts_with('!')) {
            return Err(ConfigError::new(
                "PREFIXES",
                format!("prefix {p:?} starts with '!', which ListSecrets reads as a negation"),
            ));
        }
        let environment = s
            .string("ENVIRONMENT")
            .unwrap_or_else(|| match prefixes.as_slice() {
                [one] if !one.trim_matches('/').is_empty() => one.trim_matches('/').to_owned(),
                _ => "all".to_owned(),
            });
        let defaults = Policy {
            max_age_days: s.days("MAX_AGE_DAYS", 90)?,
            unused_days: s.days("UNUSED_DAYS", 90)?,
            max_rotation_interval_days: match s.string("MAX_ROTATION_INTERVAL_DAYS") {
                None => None,
                Some(_) => Some(s.days("MAX_ROTATION_INTERVAL_DAYS", 0)?),
            },
            // Off by default: on an account that has not moved to customer keys yet, the
            // first report would list every secret and hide what else needs attention.
            require_customer_key: s.bool("REQUIRE_CUSTOMER_KEY", false)?,
            skip: false,
        };
        let rules = match s.string("POLICY_RULES") {
            None => Vec::new(),
            Some(json) => parse_rules(&json)?,
        };
        let report = match s.string("REPORT").as_deref().map(str::to_ascii_lowercase) {
            None => ReportMode::Findings,
            Some(v) if v == "findings" => ReportMode::Findings,
            Some(v) if v == "always" => ReportMode::Always,
            Some(_) => return Err(ConfigError::new("REPORT", "expected always or findings")),
        };
        let sns_topic_arn = s.topic_arn("SNS_TOPIC_ARN")?;
        Ok(Self {
            prefixes,
            environment,
            defaults,
            rules,
            sns_topic_arn,
            report,
            auto_rotate: s.bool("AUTO_ROTATE", false)?,
            dry_run: s.bool("DRY_RUN", false)?,
            audit_parameters: s.bool("AUDIT_PARAMETERS", false)?,
            metrics: MetricsConfig::from_settings(s)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::env())
    }

    /// Whether a secret name is in scope. Parameter names match with or without their
    /// leading slash (`/prod/db` is in scope of `prod/`).
    pub fn in_scope(&self, name: &str) -> bool {
        self.prefixes.is_empty()
            || self.prefixes.iter().any(|p| {
                name.starts_with(p.as_str())
                    || name
                        .trim_start_matches('/')
                        .starts_with(p.trim_start_matches('/'))
            })
    }

    /// The defaults with the longest matching prefix rule applied.
    pub fn policy_for(&self, name: &str) -> Policy {
        let bare = name.trim_start_matches('/');
        let rule = self.rules.iter().find(|r| {
            name.starts_with(r.prefix.as_str())
                || bare.starts_with(r.prefix.trim_start_matches('/'))
        });
        match rule {
            Some(r) => self.defaults.patched(&r.patch),
            None => self.defaults.clone(),
        }
    }
}

const RULES_SHAPE: &str = r#"a JSON list like [{"prefix":"prod/db/","max_age_days":30}] (fields: prefix, max_age_days, unused_days, max_rotation_interval_days, require_customer_key, skip)"#;

fn parse_rules(json: &str) -> Result<Vec<PrefixRule>, ConfigError> {
    let mut rules: Vec<PrefixRule> = serde_json::from_str(json)
        .map_err(|e| ConfigError::new("POLICY_RULES", format!("{e}; expected {RULES_SHAPE}")))?;
    for rule in &rules {
        for (field, value) in [
            ("max_age_days", rule.patch.max_age_days),
            ("unused_days", rule.patch.unused_days),
            (
                "max_rotation_interval_days",
                rule.patch.max_rotation_interval_days,
            ),
        ] {
            if value == Some(0) {
                return Err(ConfigError::new(
                    "POLICY_RULES",
                    format!(
                        "rule for prefix {:?}: {field} must be at least 1",
                        rule.prefix
                    ),
                ));
            }
        }
    }
    // Longest prefix first, so the most specific rule wins.
    rules.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_table() {
        let c = Config::from_settings(&Settings::from_pairs(&[])).unwrap();
        assert_eq!(c.defaults.max_age_days, 90);
        assert_eq!(c.defaults.unused_days, 90);
        assert_eq!(c.defaults.max_rotation_interval_days, None);
        assert!(
            !c.defaults.require_customer_key,
            "a new stack's first report is not every secret on the default key"
        );
        assert_eq!(c.report, ReportMode::Findings);
        assert!(!c.auto_rotate && !c.dry_run && !c.audit_parameters);
        assert_eq!(c.environment, "all");
        assert_eq!(c.metrics.namespace, "rotor");
        assert!(c.in_scope("anything"));
    }

    #[test]
    fn a_single_prefix_names_the_environment() {
        let c = Config::from_settings(&Settings::from_pairs(&[("PREFIXES", "prod/")])).unwrap();
        assert_eq!(c.environment, "prod");
        assert!(c.in_scope("prod/db"));
        assert!(c.in_scope("/prod/db"), "parameters carry a leading slash");
        assert!(!c.in_scope("staging/db"));
        assert!(!c.in_scope("Prod/db"), "scope is case-sensitive");
    }

    #[test]
    fn the_most_specific_prefix_rule_wins() {
        let c = Config::from_settings(&Settings::from_pairs(&[(
            "POLICY_RULES",
            r#"[{"prefix":"prod/","max_age_days":60},{"prefix":"prod/db/","max_age_days":30,"unused_days":10}]"#,
        )]))
        .unwrap();
        assert_eq!(c.policy_for("prod/db/main").max_age_days, 30);
        assert_eq!(c.policy_for("prod/db/main").unused_days, 10);
        assert_eq!(c.policy_for("/prod/db/param").max_age_days, 30);
        assert_eq!(c.policy_for("prod/app").max_age_days, 60);
        assert_eq!(c.policy_for("prod/app").unused_days, 90);
        assert_eq!(c.policy_for("dev/app").max_age_days, 90);
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_allowed() {
        for (var, value, expect) in [
            ("MAX_AGE_DAYS", "0", "at least 1"),
            ("UNUSED_DAYS", "ninety", "whole number of days"),
            ("REPORT", "sometimes", "always or findings"),
            ("AUTO_ROTATE", "perhaps", "true/false"),
            ("POLICY_RULES", "{", "JSON list"),
            (
                "POLICY_RULES",
                r#"[{"prefix":"a","max_age":3}]"#,
                "unknown field",
            ),
            (
                "POLICY_RULES",
                r#"[{"prefix":"a","unused_days":0}]"#,
                "at least 1",
            ),
            ("PREFIXES", "!prod/", "negation"),
            ("SNS_TOPIC_ARN", "my-topic", "topic ARN"),
        ] {
            let pairs = [(var, value)];
            let err = Config::from_settings(&Settings::from_pairs(&pairs)).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().contains(expect), "{var}={value}: {err}");
        }
    }

    #[test]
    fn the_samples_endpoint_setting_stops_the_function_at_start() {
        let err = Config::from_settings(&Settings::from_pairs(&[(
            "SECRETS_MANAGER_ENDPOINT",
            "https://vpce.example",
        )]))
        .unwrap_err();
        assert_eq!(err.var, "SECRETS_MANAGER_ENDPOINT");
        assert!(err.problem.contains("AWS_ENDPOINT_URL_SECRETS_MANAGER"));
    }
}
