//! The function's settings, validated once at start. Password settings keep the names and
//! defaults of AWS's Python rotation samples so existing deployments can switch unchanged.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rotor_core::config::{ConfigError, Settings};
use rotor_core::deadline::Margin;
use rotor_core::metrics::MetricsConfig;
use rotor_core::pg::{ChannelBinding, SslMode, TlsPolicy, Trust};

use crate::password::PasswordError;

pub use crate::password::{DEFAULT_EXCLUDE_CHARACTERS, PasswordPolicy};

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

/// A strategy name rotor does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {}", Strategy::ALLOWED)]
pub struct UnknownStrategy;

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, UnknownStrategy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Strategy::Auto),
            "single-user" | "single" => Ok(Strategy::SingleUser),
            "alternating-users" | "alternating" | "multi-user" => Ok(Strategy::AlternatingUsers),
            "app-secret" | "app" => Ok(Strategy::AppSecret),
            _ => Err(UnknownStrategy),
        }
    }
}

/// Validated settings of `rotor-rotate`.
#[derive(Debug, Clone)]
pub struct Config {
    pub password: PasswordPolicy,
    /// TLS mode for secrets without an `ssl` key (and the verifying mode for `ssl: true`).
    pub ssl_mode: SslMode,
    /// What `verify-ca` and `verify-full` trust (`PG_SSLROOTCERT`: unset for the system
    /// store plus the built-in RDS roots, `system`, or a PEM file as the only trust) and
    /// the channel binding (`PG_CHANNEL_BINDING`), with the TLS connectors built once and
    /// shared by every login.
    pub tls: Arc<TlsPolicy>,
    /// Whether a secret's `"ssl": false` may turn TLS off. Without it such a secret fails.
    pub allow_plaintext: bool,
    /// Limit of one connection attempt (TCP, TLS and login).
    pub connect_timeout: Duration,
    /// How long testSecret keeps retrying the new credentials.
    pub test_retry: Duration,
    /// Time kept in reserve before the Lambda deadline to report a clear error.
    pub deadline_margin: Margin,
    pub strategy: Strategy,
    /// Keys to regenerate in app secrets (overridden per secret by a tag).
    pub app_secret_keys: Vec<String>,
    /// Alternating users: the clone's sessions act as the base role (`ALTER ROLE <clone>
    /// SET role = <base>`), so what either user creates is owned by the base role.
    pub clone_set_role: bool,
    /// `METRICS_NAMESPACE` and the `Stack` dimension (`STACK_NAME`).
    pub metrics: MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            password: PasswordPolicy::default(),
            ssl_mode: SslMode::VerifyFull,
            tls: TlsPolicy::shared_default(),
            allow_plaintext: false,
            connect_timeout: Duration::from_secs(5),
            test_retry: Duration::from_secs(5),
            deadline_margin: Margin::Fixed(Duration::from_millis(1500)),
            strategy: Strategy::Auto,
            app_secret_keys: Vec::new(),
            clone_set_role: false,
            metrics: MetricsConfig::default(),
        }
    }
}

impl Config {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigError> {
        rotor_core::config::check_secrets_manager_endpoint(s)?;
        let d = Config::default();
        let length = s.whole_number("PASSWORD_LENGTH", d.password.length, 1..=4096)?;
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
        password.check().map_err(|e| {
            let variable = match e {
                PasswordError::TooShort { .. } => "PASSWORD_LENGTH",
                _ => "EXCLUDE_CHARACTERS",
            };
            ConfigError::new(variable, e.to_string())
        })?;
        let ssl_mode = match s.string("PG_SSLMODE") {
            None => d.ssl_mode,
            Some(v) => v.parse::<SslMode>().map_err(|_| {
                ConfigError::new("PG_SSLMODE", format!("expected {}", SslMode::ALLOWED))
            })?,
        };
        let tls = Arc::new(tls_policy(s, ssl_mode)?);
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
            tls,
            allow_plaintext: s.bool("PG_ALLOW_PLAINTEXT", false)?,
            connect_timeout: s.seconds("PG_CONNECT_TIMEOUT", d.connect_timeout, 0.1, 300.0)?,
            test_retry: s.seconds("TEST_RETRY_SECONDS", d.test_retry, 0.0, 300.0)?,
            deadline_margin: Margin::from_settings(s, d.deadline_margin)?,
            strategy,
            app_secret_keys,
            clone_set_role: s.bool("CLONE_SET_ROLE", false)?,
            metrics: MetricsConfig::from_settings(s)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::env())
    }
}

/// The TLS policy of `PG_SSLROOTCERT` and `PG_CHANNEL_BINDING`, checked against
/// `PG_SSLMODE` (a secret's `ssl` key cannot weaken a verifying mode below it).
fn tls_policy(s: &Settings<'_>, ssl_mode: SslMode) -> Result<TlsPolicy, ConfigError> {
    let root_cert = s.string("PG_SSLROOTCERT");
    let trust = Trust::from_setting(root_cert.as_deref()).map_err(|e| {
        ConfigError::new(
            "PG_SSLROOTCERT",
            format!("{e} (expected a PEM file of CA certificates, or `system`)"),
        )
    })?;
    trust.check_mode(ssl_mode).map_err(|e| {
        ConfigError::new(
            "PG_SSLMODE",
            format!("{e}: PG_SSLROOTCERT=system trusts every public CA"),
        )
    })?;
    let channel_binding = match s.string("PG_CHANNEL_BINDING") {
        None => ChannelBinding::default(),
        Some(v) => v
            .parse::<ChannelBinding>()
            .map_err(|e| ConfigError::new("PG_CHANNEL_BINDING", e))?,
    };
    if channel_binding == ChannelBinding::Require && ssl_mode == SslMode::Disable {
        return Err(ConfigError::new(
            "PG_CHANNEL_BINDING",
            "require needs TLS, but PG_SSLMODE is disable (channel binding binds the login \
             to the TLS channel)",
        ));
    }
    Ok(TlsPolicy::new(trust, channel_binding))
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
        assert_eq!(c.tls.channel_binding(), ChannelBinding::Prefer);
        let trust = c.tls.trust().unwrap();
        assert!(trust.uses_system_store() && !trust.roots().is_empty());
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
            ("PG_CHANNEL_BINDING", "always"),
            ("PG_CONNECT_TIMEOUT", "-1"),
            ("PG_CONNECT_TIMEOUT", "soon"),
            ("PG_ALLOW_PLAINTEXT", "sure"),
            ("CLONE_SET_ROLE", "maybe"),
            ("SECRETS_MANAGER_ENDPOINT", "https://vpce.example"),
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

    #[test]
    fn tls_settings_build_one_policy_as_libpq_reads_them() {
        let c = Config::from_settings(&Settings::from_pairs(&[
            ("PG_SSLROOTCERT", "system"),
            ("PG_CHANNEL_BINDING", "Require"),
        ]))
        .unwrap();
        assert_eq!(c.tls.channel_binding(), ChannelBinding::Require);
        let trust = c.tls.trust().unwrap();
        assert!(trust.uses_system_store() && trust.roots().is_empty());
        // Every login of the function shares the policy (and so its connectors).
        let copy = c.clone();
        assert!(Arc::ptr_eq(&c.tls, &copy.tls));
    }

    #[test]
    fn tls_settings_that_cannot_work_together_fail_at_start() {
        for (pairs, var) in [
            (
                &[("PG_CHANNEL_BINDING", "require"), ("PG_SSLMODE", "disable")][..],
                "PG_CHANNEL_BINDING",
            ),
            (
                &[("PG_SSLROOTCERT", "system"), ("PG_SSLMODE", "verify-ca")][..],
                "PG_SSLMODE",
            ),
            (
                &[("PG_SSLROOTCERT", "system"), ("PG_SSLMODE", "require")][..],
                "PG_SSLMODE",
            ),
        ] {
            let err = Config::from_settings(&Settings::from_pairs(pairs)).unwrap_err();
            assert_eq!(err.var, var, "{pairs:?}: {err}");
        }
        let err = Config::from_settings(&Settings::from_pairs(&[
            ("PG_CHANNEL_BINDING", "require"),
            ("PG_SSLMODE", "disable"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("PG_SSLMODE"), "{err}");
        // Channel binding can be turned off with plain text, and `system` allows disable.
        for pairs in [
            &[("PG_CHANNEL_BINDING", "disable"), ("PG_SSLMODE", "disable")][..],
            &[("PG_SSLROOTCERT", "system"), ("PG_SSLMODE", "disable")][..],
        ] {
            Config::from_settings(&Settings::from_pairs(pairs)).unwrap();
        }
    }

    #[test]
    fn a_root_file_without_a_valid_certificate_fails_at_start() {
        let dir = std::env::temp_dir().join(format!("rotor-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for path in [&empty, &dir, &broken] {
            let path = path.to_str().unwrap();
            let pairs = [("PG_SSLROOTCERT", path)];
            let err = Config::from_settings(&Settings::from_pairs(&pairs)).unwrap_err();
            assert_eq!(err.var, "PG_SSLROOTCERT", "{err}");
            assert!(err.problem.contains(path), "names the file: {err}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
