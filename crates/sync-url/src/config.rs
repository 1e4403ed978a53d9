//! Settings: one source/target pair from the original's variables, or several from the
//! `SYNC_PAIRS` JSON list, validated once at start.

use std::collections::HashSet;

use rotor_core::config::{ConfigError, Settings};
use rotor_core::metrics::MetricsConfig;
use serde_json::Value;

/// The variables that describe one pair, also the keys of each `SYNC_PAIRS` object.
pub const PAIR_KEYS: [&str; 13] = [
    "RDS_SECRET_ARN",
    "CUSTOM_SECRET_ARN",
    "DB_NAME",
    "DB_HOST",
    "DB_PORT",
    "DB_USERNAME",
    "PG_SSLMODE",
    "PG_SSLROOTCERT",
    ALLOW_HOST_FROM_TARGET,
    "DB_INSTANCE_IDENTIFIER",
    "DB_CLUSTER_IDENTIFIER",
    "TARGET_FORMAT",
    "TARGET_URL_KEY",
];

/// The setting that lets the host come from the target's own current URL.
pub const ALLOW_HOST_FROM_TARGET: &str = "ALLOW_HOST_FROM_TARGET";

/// The list setting for several pairs.
pub const PAIRS_VAR: &str = "SYNC_PAIRS";

/// libpq's `sslmode` values.
pub const SSLMODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

pub const DEFAULT_URL_KEY: &str = "DATABASE_URL";

/// How the target secret holds the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetFormat {
    /// The whole secret string is the URL.
    Url,
    /// A JSON object whose `key` holds the URL; every other key is kept as it is.
    Json { key: String },
}

impl TargetFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Json { .. } => "json",
        }
    }
}

/// Where host and port are looked up through the RDS API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdsLookup {
    Instance(String),
    Cluster(String),
}

impl RdsLookup {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Instance(_) => "DB instance",
            Self::Cluster(_) => "DB cluster",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Instance(id) | Self::Cluster(id) => id,
        }
    }

    /// The setting that named it, for messages.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Instance(_) => "DB_INSTANCE_IDENTIFIER",
            Self::Cluster(_) => "DB_CLUSTER_IDENTIFIER",
        }
    }
}

/// One source secret whose credentials are kept in one target secret's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The rotating credentials secret (`RDS_SECRET_ARN`).
    pub source: String,
    /// The secret holding the URL (`CUSTOM_SECRET_ARN`).
    pub target: String,
    pub db_name: Option<String>,
    pub db_host: Option<String>,
    pub db_port: Option<u16>,
    pub db_username: Option<String>,
    pub sslmode: String,
    /// The URL's `sslrootcert` (`PG_SSLROOTCERT`), a path on the application's side.
    pub sslrootcert: Option<String>,
    /// Whether the host (and then the port) may come from the target's current URL when
    /// no other place gives one. Off by default: whoever can write only the target could
    /// otherwise point the next URL, with the real password, at a server of their own.
    pub allow_host_from_target: bool,
    pub rds: Option<RdsLookup>,
    pub format: TargetFormat,
}

impl Pair {
    /// Reads one pair; errors name the variable as `settings` knows it.
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigError> {
        let source = s.required("RDS_SECRET_ARN")?;
        let target = s.required("CUSTOM_SECRET_ARN")?;
        if source == target {
            return Err(ConfigError::new(
                "CUSTOM_SECRET_ARN",
                "names the same secret as RDS_SECRET_ARN; the URL must go to another secret",
            ));
        }
        let db_port = match s.string("DB_PORT") {
            None => None,
            Some(v) => match v.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    return Err(ConfigError::new(
                        "DB_PORT",
                        "expected a port number 1-65535",
                    ));
                }
            },
        };
        let sslmode = match s.string("PG_SSLMODE") {
            None => "require".to_owned(),
            Some(v) => {
                let v = v.to_ascii_lowercase();
                if !SSLMODES.contains(&v.as_str()) {
                    return Err(ConfigError::new(
                        "PG_SSLMODE",
                        format!("expected one of {}", SSLMODES.join(", ")),
                    ));
                }
                v
            }
        };
        let rds = match (
            s.string("DB_INSTANCE_IDENTIFIER"),
            s.string("DB_CLUSTER_IDENTIFIER"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "DB_CLUSTER_IDENTIFIER",
                    "set either DB_INSTANCE_IDENTIFIER or DB_CLUSTER_IDENTIFIER, not both",
                ));
            }
            (Some(id), None) => Some(RdsLookup::Instance(id)),
            (None, Some(id)) => Some(RdsLookup::Cluster(id)),
            (None, None) => None,
        };
        let key = s.string("TARGET_URL_KEY");
        let format = match s.string("TARGET_FORMAT").map(|v| v.to_ascii_lowercase()) {
            None => match key {
                None => TargetFormat::Url,
                Some(_) => {
                    return Err(ConfigError::new(
                        "TARGET_URL_KEY",
                        "is only used with TARGET_FORMAT=json",
                    ));
                }
            },
            Some(v) if v == "url" => {
                if key.is_some() {
                    return Err(ConfigError::new(
                        "TARGET_URL_KEY",
                        "is only used with TARGET_FORMAT=json",
                    ));
                }
                TargetFormat::Url
            }
            Some(v) if v == "json" => TargetFormat::Json {
                key: key.unwrap_or_else(|| DEFAULT_URL_KEY.to_owned()),
            },
            Some(_) => {
                return Err(ConfigError::new(
                    "TARGET_FORMAT",
                    "expected url (the secret is the URL) or json (a JSON object holding it)",
                ));
            }
        };
        Ok(Self {
            source,
            target,
            db_name: s.string("DB_NAME"),
            db_host: s.string("DB_HOST"),
            db_port,
            db_username: s.string("DB_USERNAME"),
            sslmode,
            sslrootcert: s.string("PG_SSLROOTCERT"),
            allow_host_from_target: s.bool(ALLOW_HOST_FROM_TARGET, false)?,
            rds,
            format,
        })
    }
}

/// Validated settings: the pairs to keep in step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub pairs: Vec<Pair>,
    /// `METRICS_NAMESPACE` and the `Stack` dimension (`STACK_NAME`).
    pub metrics: MetricsConfig,
}

impl Config {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigError> {
        rotor_core::config::check_secrets_manager_endpoint(s)?;
        let pairs = match s.string(PAIRS_VAR) {
            None => vec![Pair::from_settings(s)?],
            Some(list) => {
                if let Some(var) = PAIR_KEYS.iter().find(|k| s.string(k).is_some()) {
                    return Err(ConfigError::new(
                        var,
                        format!(
                            "is set together with {PAIRS_VAR}; put it into each pair of \
                             {PAIRS_VAR} instead (or use the single-pair variables alone)"
                        ),
                    ));
                }
                parse_pairs(&list)?
            }
        };
        let mut targets = HashSet::new();
        for pair in &pairs {
            if !targets.insert(pair.target.as_str()) {
                return Err(ConfigError::new(
                    PAIRS_VAR,
                    format!(
                        "two pairs write the same target {}; each target needs one source",
                        pair.target
                    ),
                ));
            }
        }
        Ok(Self {
            pairs,
            metrics: MetricsConfig::from_settings(s)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::env())
    }
}

/// `[{"RDS_SECRET_ARN": "...", "CUSTOM_SECRET_ARN": "...", ...}, ...]`: each object takes
/// the single-pair variables as keys; unknown keys are refused (a typo would otherwise
/// silently drop a fallback).
fn parse_pairs(text: &str) -> Result<Vec<Pair>, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ConfigError::new(
            PAIRS_VAR,
            format!(
                "is not valid JSON (line {} column {}); expected a list of objects",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Array(items) = value else {
        return Err(ConfigError::new(
            PAIRS_VAR,
            "expected a JSON list of objects, one per source/target pair",
        ));
    };
    if items.is_empty() {
        return Err(ConfigError::new(PAIRS_VAR, "is an empty list"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let var = |key: &str| format!("{PAIRS_VAR}[{i}].{key}");
            let Value::Object(map) = item else {
                return Err(ConfigError::new(
                    &format!("{PAIRS_VAR}[{i}]"),
                    "is not an object",
                ));
            };
            for (key, value) in map {
                if !PAIR_KEYS.contains(&key.as_str()) {
                    return Err(ConfigError::new(
                        &var(key),
                        format!("is not a known key; allowed: {}", allowed_keys()),
                    ));
                }
                if !matches!(
                    value,
                    Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
                ) {
                    return Err(ConfigError::new(&var(key), "expected a string"));
                }
            }
            let settings = Settings::new(|k| match map.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                _ => None,
            });
            Pair::from_settings(&settings).map_err(|e| ConfigError::new(&var(&e.var), e.problem))
        })
        .collect()
}

fn allowed_keys() -> String {
    PAIR_KEYS.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf";
    const DST: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/url-GhIjKl";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_settings(&Settings::from_pairs(pairs))
    }

    #[test]
    fn the_originals_variables_make_one_pair_with_require_as_the_default_sslmode() {
        let c = config(&[
            ("RDS_SECRET_ARN", SRC),
            ("CUSTOM_SECRET_ARN", DST),
            ("DB_NAME", "app"),
            ("DB_HOST", "db.internal"),
            ("DB_PORT", "6432"),
            ("DB_USERNAME", "app_user"),
        ])
        .unwrap();
        assert_eq!(c.pairs.len(), 1);
        let p = &c.pairs[0];
        assert_eq!((p.source.as_str(), p.target.as_str()), (SRC, DST));
        assert_eq!(p.db_name.as_deref(), Some("app"));
        assert_eq!(p.db_host.as_deref(), Some("db.internal"));
        assert_eq!(p.db_port, Some(6432));
        assert_eq!(p.db_username.as_deref(), Some("app_user"));
        assert_eq!(p.sslmode, "require");
        assert_eq!(p.format, TargetFormat::Url);
        assert_eq!(p.rds, None);
    }

    #[test]
    fn missing_source_or_target_is_named() {
        let err = config(&[("CUSTOM_SECRET_ARN", DST)]).unwrap_err();
        assert_eq!(err.var, "RDS_SECRET_ARN");
        let err = config(&[("RDS_SECRET_ARN", SRC)]).unwrap_err();
        assert_eq!(err.var, "CUSTOM_SECRET_ARN");
        let err = config(&[("RDS_SECRET_ARN", SRC), ("CUSTOM_SECRET_ARN", SRC)]).unwrap_err();
        assert!(err.problem.contains("same secret"), "{err}");
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_allowed() {
        let base = [("RDS_SECRET_ARN", SRC), ("CUSTOM_SECRET_ARN", DST)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            config(&all).unwrap_err()
        };
        let e = with(&[("PG_SSLMODE", "sometimes")]);
        assert_eq!(e.var, "PG_SSLMODE");
        assert!(e.problem.contains("verify-full"), "{e}");
        let e = with(&[("DB_PORT", "0")]);
        assert_eq!(e.var, "DB_PORT");
        let e = with(&[("DB_PORT", "postgres")]);
        assert_eq!(e.var, "DB_PORT");
        let e = with(&[("TARGET_FORMAT", "yaml")]);
        assert_eq!(e.var, "TARGET_FORMAT");
        let e = with(&[("TARGET_URL_KEY", "URL")]);
        assert_eq!(e.var, "TARGET_URL_KEY");
        let e = with(&[
            ("DB_INSTANCE_IDENTIFIER", "a"),
            ("DB_CLUSTER_IDENTIFIER", "b"),
        ]);
        assert!(e.problem.contains("not both"), "{e}");
    }

    #[test]
    fn a_json_target_uses_database_url_unless_another_key_is_named() {
        let c = config(&[
            ("RDS_SECRET_ARN", SRC),
            ("CUSTOM_SECRET_ARN", DST),
            ("TARGET_FORMAT", "JSON"),
            ("PG_SSLMODE", "Verify-Full"),
            ("DB_CLUSTER_IDENTIFIER", "orders"),
        ])
        .unwrap();
        let p = &c.pairs[0];
        assert_eq!(
            p.format,
            TargetFormat::Json {
                key: "DATABASE_URL".into()
            }
        );
        assert_eq!(p.sslmode, "verify-full");
        assert_eq!(p.rds, Some(RdsLookup::Cluster("orders".into())));
        let c = config(&[
            ("RDS_SECRET_ARN", SRC),
            ("CUSTOM_SECRET_ARN", DST),
            ("TARGET_FORMAT", "json"),
            ("TARGET_URL_KEY", "PRIMARY_URL"),
        ])
        .unwrap();
        assert_eq!(
            c.pairs[0].format,
            TargetFormat::Json {
                key: "PRIMARY_URL".into()
            }
        );
    }

    #[test]
    fn several_pairs_come_from_a_json_list_with_the_same_keys() {
        let list = format!(
            r#"[{{"RDS_SECRET_ARN":"{SRC}","CUSTOM_SECRET_ARN":"{DST}","DB_PORT":5433}},
                {{"RDS_SECRET_ARN":"other-src","CUSTOM_SECRET_ARN":"other-dst",
                  "TARGET_FORMAT":"json","DB_INSTANCE_IDENTIFIER":"orders-1"}}]"#
        );
        let c = config(&[("SYNC_PAIRS", &list)]).unwrap();
        assert_eq!(c.pairs.len(), 2);
        assert_eq!(c.pairs[0].db_port, Some(5433));
        assert_eq!(c.pairs[1].source, "other-src");
        assert_eq!(c.pairs[1].rds, Some(RdsLookup::Instance("orders-1".into())));
    }

    #[test]
    fn pair_list_errors_point_at_the_pair_and_key() {
        let e = config(&[(
            "SYNC_PAIRS",
            r#"[{"RDS_SECRET_ARN":"a","CUSTOM_SECRET_ARN":"b","DB_HOTS":"x"}]"#,
        )])
        .unwrap_err();
        assert_eq!(e.var, "SYNC_PAIRS[0].DB_HOTS");
        assert!(e.problem.contains("DB_HOST"), "lists the allowed keys: {e}");
        let e = config(&[(
            "SYNC_PAIRS",
            r#"[{"RDS_SECRET_ARN":"a","CUSTOM_SECRET_ARN":"b"},{"RDS_SECRET_ARN":"c"}]"#,
        )])
        .unwrap_err();
        assert_eq!(e.var, "SYNC_PAIRS[1].CUSTOM_SECRET_ARN");
        let e = config(&[(
            "SYNC_PAIRS",
            r#"[{"RDS_SECRET_ARN":"a","CUSTOM_SECRET_ARN":"t"},{"RDS_SECRET_ARN":"c","CUSTOM_SECRET_ARN":"t"}]"#,
        )])
        .unwrap_err();
        assert!(e.problem.contains("same target"), "{e}");
        for bad in ["{}", "[]", "[1]", "not json"] {
            let e = config(&[("SYNC_PAIRS", bad)]).unwrap_err();
            assert!(e.var.starts_with("SYNC_PAIRS"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_list_and_the_single_pair_variables_are_not_mixed() {
        let e = config(&[
            (
                "SYNC_PAIRS",
                r#"[{"RDS_SECRET_ARN":"a","CUSTOM_SECRET_ARN":"b"}]"#,
            ),
            ("DB_HOST", "h"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "DB_HOST");
        assert!(e.problem.contains("SYNC_PAIRS"), "{e}");
    }

    #[test]
    fn the_samples_endpoint_setting_stops_the_function_at_start() {
        let err = config(&[
            ("RDS_SECRET_ARN", SRC),
            ("CUSTOM_SECRET_ARN", DST),
            ("SECRETS_MANAGER_ENDPOINT", "https://vpce.example"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "SECRETS_MANAGER_ENDPOINT");
        assert!(err.problem.contains("AWS_ENDPOINT_URL_SECRETS_MANAGER"));
    }

    #[test]
    fn the_host_comes_from_the_target_only_when_a_pair_says_so() {
        let c = config(&[("RDS_SECRET_ARN", SRC), ("CUSTOM_SECRET_ARN", DST)]).unwrap();
        assert!(!c.pairs[0].allow_host_from_target, "off by default");
        let c = config(&[
            ("RDS_SECRET_ARN", SRC),
            ("CUSTOM_SECRET_ARN", DST),
            ("ALLOW_HOST_FROM_TARGET", "true"),
            ("PG_SSLROOTCERT", "/opt/rds.pem"),
        ])
        .unwrap();
        assert!(c.pairs[0].allow_host_from_target);
        assert_eq!(c.pairs[0].sslrootcert.as_deref(), Some("/opt/rds.pem"));
        let e = config(&[
            ("RDS_SECRET_ARN", SRC),
            ("CUSTOM_SECRET_ARN", DST),
            ("ALLOW_HOST_FROM_TARGET", "sometimes"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "ALLOW_HOST_FROM_TARGET");
        let list = format!(
            r#"[{{"RDS_SECRET_ARN":"{SRC}","CUSTOM_SECRET_ARN":"{DST}","ALLOW_HOST_FROM_TARGET":true}}]"#
        );
        assert!(
            config(&[("SYNC_PAIRS", &list)]).unwrap().pairs[0].allow_host_from_target,
            "a JSON boolean works in SYNC_PAIRS"
        );
    }
}
