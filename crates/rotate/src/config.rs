//! The function's settings, validated once at start. Password settings keep the names and
//! defaults of AWS's Python rotation samples so existing deployments can switch unchanged.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rotor_core::config::{ConfigError, Settings};
use rotor_core::pg::SslMode;

/// How GetRandomPassword builds new passwords (the samples' settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub length: i64,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub require_each_included_type: bool,
}

/// The samples' default: characters that break connection strings and shell quoting.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = ":/@\"'\\";

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: 32,
            exclude_characters: DEFAULT_EXCLUDE_CHARACTERS.to_owned(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            require_each_included_type: true,
        }
    }
}

/// Which kind of rotation a secret gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Alternating users when the secret has `masterarn`, otherwise single user; app-secret
    /// rotation only when the secret's `rotor:app-secret-keys` tag names keys.
    #[default]
    Auto,
    SingleUser,
    AlternatingUsers,
    AppSecret,
}

impl Strategy {
    pub const ALLOWED: &'static str = "auto, single-user, alternating-users or app-secret";

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::SingleUser => "single-user",
            Strategy::AlternatingUsers => "alternating-users",
            Strategy::AppSecret => "app-secret",
        }
    }
}

impl FromStr for Strategy {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Strategy::Auto),
            "single-user" | "single" => Ok(Strategy::SingleUser),
            "alternating-users" | "alternating" | "multi-user" => Ok(Strategy::AlternatingUsers),
            "app-secret" | "app" => Ok(Strategy::AppSecret),
            _ => Err(()),
        }
    }
}

/// Validated settings of `rotor-rotate`.
#[derive(Debug, Clone)]
pub struct Config {
    pub password: PasswordPolicy,
    /// TLS mode for secrets without an `ssl` key (and the verifying mode for `ssl: true`).
    pub ssl_mode: SslMode,
    /// Extra CA bundle (PEM) to trust, e.g. the RDS global bundle.
    pub ssl_root_cert: Option<PathBuf>,
    /// Whether a secret's `"ssl": false` may turn TLS off. Without it such a secret fails.
    pub allow_plaintext: bool,
    /// Limit of one connection attempt (TCP, TLS and login).
    pub connect_timeout: Duration,
    /// How long testSecret keeps retrying the new credentials.
    pub test_retry: Duration,
    /// Time kept in reserve before the Lambda deadline to report a clear error.
    pub deadline_margin: Duration,
    pub strategy: Strategy,
    /// Keys to regenerate in app secrets (overridden per secret by a tag).
    pub app_secret_keys: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            password: PasswordPolicy::default(),
            ssl_mode: SslMode::VerifyFull,
            ssl_root_cert: None,
            allow_plaintext: false,
            connect_timeout: Duration::from_secs(5),
            test_retry: Duration::from_secs(5),
            deadline_margin: Duration::from_millis(1500),
            strategy: Strategy::Auto,
            app_secret_keys: Vec::new(),
        }
    }
}

impl Config {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigError> {
        let d = Config::default();
        let length = s.parse::<i64>("PASSWORD_LENGTH", d.password.length, "a whole number")?;
        if !(1..=4096).contains(&length) {
            return Err(ConfigError::new(
                "PASSWORD_LENGTH",
                "expected a whole number from 1 to 4096",
            ));
        }
        let password = PasswordPolicy {
            length,
            exclude_characters: s
                .string("EXCLUDE_CHARACTERS")
                .unwrap_or(d.password.exclude_characters),
            exclude_numbers: s.bool("EXCLUDE_NUMBERS", false)?,
            exclude_punctuation: s.bool("EXCLUDE_PUNCTUATION", false)?,
            exclude_uppercase: s.bool("EXCLUDE_UPPERCASE", false)?,
            exclude_lowercase: s.bool("EXCLUDE_LOWERCASE", false)?,
            require_each_included_type: s.bool("REQUIRE_EACH_INCLUDED_TYPE", true)?,
        };
        if password.exclude_numbers
            && password.exclude_punctuation
            && password.exclude_uppercase
            && password.exclude_lowercase
        {
            return Err(ConfigError::new(
                "EXCLUDE_LOWERCASE",
                "every character type is excluded (EXCLUDE_NUMBERS, EXCLUDE_PUNCTUATION, \
                 EXCLUDE_UPPERCASE and EXCLUDE_LOWERCASE are all true)",
            ));
        }
        let ssl_mode = match s.string("PG_SSLMODE") {
            None => d.ssl_mode,
            Some(v) => v.parse::<SslMode>().map_err(|_| {
                ConfigError::new("PG_SSLMODE", format!("expected {}", SslMode::ALLOWED))
            })?,
        };
        let ssl_root_cert = match s.string("PG_SSLROOTCERT") {
            None => None,
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(ConfigError::new(
                        "PG_SSLROOTCERT",
                        format!("{} is not a readable file", path.display()),
                    ));
                }
                Some(path)
            }
        };
        let strategy = match s.string("ROTATION_STRATEGY") {
            None => d.strategy,
            Some(v) => v.parse().map_err(|_| {
                ConfigError::new(
                    "ROTATION_STRATEGY",
                    format!("expected {}", Strategy::ALLOWED),
                )
            })?,
        };
        let app_secret_keys = s.list("APP_SECRET_KEYS");
        if strategy == Strategy::AppSecret && app_secret_keys.is_empty() {
            return Err(ConfigError::new(
                "APP_SECRET_KEYS",
                "is required when ROTATION_STRATEGY is app-secret (comma-separated JSON keys)",
            ));
        }
        Ok(Self {
            password,
            ssl_mode,
            ssl_root_cert,
            allow_plaintext: s.bool("PG_ALLOW_PLAINTEXT", false)?,
            connect_timeout: seconds(s, "PG_CONNECT_TIMEOUT", d.connect_timeout, 0.1, 300.0)?,
            test_retry: seconds(s, "TEST_RETRY_SECONDS", d.test_retry, 0.0, 300.0)?,
            deadline_margin: seconds(s, "DEADLINE_MARGIN_SECONDS", d.deadline_margin, 0.0, 60.0)?,
            strategy,
            app_secret_keys,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::env())
    }
}

fn seconds(
    s: &Settings<'_>,
    var: &str,
    default: Duration,
    min: f64,
    max: f64,
) -> Result<Duration, ConfigError> {
    let expected = format!("a number of seconds from {min} to {max}");
    let value = s.parse::<f64>(var, default.as_secs_f64(), &expected)?;
    if !value.is_finite() || value < min || value > max {
        return Err(ConfigError::new(var, format!("expected {expected}")));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_aws_samples() {
        let c = Config::from_settings(&Settings::from_pairs(&[])).unwrap();
        assert_eq!(c.password, PasswordPolicy::default());
        assert_eq!(c.password.length, 32);
        assert_eq!(c.password.exclude_characters, ":/@\"'\\");
        assert!(c.password.require_each_included_type);
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert!(!c.allow_plaintext);
        assert_eq!(c.strategy, Strategy::Auto);
    }

    #[test]
    fn booleans_accept_the_samples_spellings() {
        let c = Config::from_settings(&Settings::from_pairs(&[
            ("EXCLUDE_NUMBERS", "Yes"),
            ("EXCLUDE_PUNCTUATION", "1"),
            ("EXCLUDE_UPPERCASE", "y"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "FALSE"),
        ]))
        .unwrap();
        assert!(c.password.exclude_numbers);
        assert!(c.password.exclude_punctuation);
        assert!(c.password.exclude_uppercase);
        assert!(!c.password.exclude_lowercase);
        assert!(!c.password.require_each_included_type);
    }

    #[test]
    fn each_invalid_value_fails_naming_its_variable() {
        for (var, value) in [
            ("PASSWORD_LENGTH", "long"),
            ("PASSWORD_LENGTH", "0"),
            ("PASSWORD_LENGTH", "5000"),
            ("EXCLUDE_NUMBERS", "perhaps"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "2"),
            ("PG_SSLMODE", "prefer"),
            ("PG_SSLROOTCERT", "/nonexistent/ca.pem"),
            ("PG_CONNECT_TIMEOUT", "-1"),
            ("PG_CONNECT_TIMEOUT", "soon"),
            ("PG_ALLOW_PLAINTEXT", "sure"),
            ("ROTATION_STRATEGY", "sometimes"),
            ("DEADLINE_MARGIN_SECONDS", "NaN"),
        ] {
            let pairs = [(var, value)];
            let err = Config::from_settings(&Settings::from_pairs(&pairs)).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}: {err}");
        }
    }

    #[test]
    fn app_secret_strategy_needs_keys_and_excluding_everything_is_refused() {
        let err = Config::from_settings(&Settings::from_pairs(&[(
            "ROTATION_STRATEGY",
            "app-secret",
        )]))
        .unwrap_err();
        assert_eq!(err.var, "APP_SECRET_KEYS");
        let c = Config::from_settings(&Settings::from_pairs(&[
            ("ROTATION_STRATEGY", "app-secret"),
            ("APP_SECRET_KEYS", "jwt_key, session_key"),
        ]))
        .unwrap();
        assert_eq!(c.app_secret_keys, ["jwt_key", "session_key"]);
        let all = [
            ("EXCLUDE_NUMBERS", "true"),
            ("EXCLUDE_PUNCTUATION", "true"),
            ("EXCLUDE_UPPERCASE", "true"),
            ("EXCLUDE_LOWERCASE", "true"),
        ];
        assert!(Config::from_settings(&Settings::from_pairs(&all)).is_err());
    }
}
