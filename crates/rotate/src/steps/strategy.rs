//! Which rotation a secret gets: its `rotor:strategy` tag, else the `ROTATION_STRATEGY`
//! setting; `auto` decides from the value (alternating users when it has `masterarn`,
//! app secret when it has no `engine` and its `rotor:app-secret-keys` tag names keys).

use serde_json::{Map, Value};

use super::Kind;
use crate::app_secret;
use crate::config::{Config, Strategy};
use crate::error::RotateError;
use crate::secret::SecretInfo;

/// Tag that chooses the strategy of one secret (same values as `ROTATION_STRATEGY`).
pub const STRATEGY_TAG: &str = "rotor:strategy";
/// Tag naming the keys of an app secret to regenerate (comma-separated).
pub const APP_KEYS_TAG: &str = "rotor:app-secret-keys";

/// The strategy from the secret's tag, else the setting; `auto` decides from the value.
pub fn choose_kind(
    config: &Config,
    info: &SecretInfo,
    secret: &str,
    current: &Map<String, Value>,
) -> Result<Kind, RotateError> {
    let strategy = match info.tag(STRATEGY_TAG) {
        Some(v) => v.parse::<Strategy>().map_err(|_| {
            RotateError::invalid(
                secret,
                format!(
                    "tag {STRATEGY_TAG} is `{}`; expected {}",
                    v.chars().take(40).collect::<String>(),
                    Strategy::ALLOWED
                ),
            )
        })?,
        None => config.strategy,
    };
    let tagged_keys = info.tag(APP_KEYS_TAG).map(app_secret::parse_keys);
    let has = |key: &str| current.get(key).is_some_and(|v| !v.is_null());
    let kind = match strategy {
        Strategy::AppSecret => {
            Kind::AppSecret(tagged_keys.unwrap_or_else(|| config.app_secret_keys.clone()))
        }
        Strategy::Auto if tagged_keys.is_some() && !has("engine") => {
            Kind::AppSecret(tagged_keys.unwrap_or_default())
        }
        Strategy::Auto if has("masterarn") => Kind::AlternatingUsers,
        Strategy::Auto | Strategy::SingleUser => Kind::SingleUser,
        Strategy::AlternatingUsers => Kind::AlternatingUsers,
    };
    if let Kind::AppSecret(keys) = &kind {
        if has("engine") {
            return Err(RotateError::invalid(
                secret,
                "app-secret rotation was chosen but the secret has a database `engine`; \
                 database credentials need a database rotation",
            ));
        }
        app_secret::check_keys(current, keys).map_err(RotateError::app_secret(secret))?;
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret_with(tags: &[(&str, &str)]) -> SecretInfo {
        SecretInfo {
            arn: "arn".into(),
            rotation_enabled: true,
            versions: Default::default(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn configured(strategy: Strategy, keys: &[&str]) -> Config {
        Config {
            strategy,
            app_secret_keys: keys.iter().map(|k| k.to_string()).collect(),
            ..Config::default()
        }
    }

    fn value(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn database() -> Map<String, Value> {
        value(json!({"engine": "postgres", "username": "app", "password": "p", "host": "h"}))
    }

    fn with_master() -> Map<String, Value> {
        let mut v = database();
        v.insert("masterarn".into(), json!("arn:master"));
        v
    }

    fn app() -> Map<String, Value> {
        value(json!({"api_key": "k", "other": "o"}))
    }

    #[test]
    fn auto_chooses_from_the_value() {
        let auto = configured(Strategy::Auto, &[]);
        let none = secret_with(&[]);
        assert_eq!(
            choose_kind(&auto, &none, "s", &database()).unwrap(),
            Kind::SingleUser
        );
        assert_eq!(
            choose_kind(&auto, &none, "s", &with_master()).unwrap(),
            Kind::AlternatingUsers
        );
        let keyed = secret_with(&[(APP_KEYS_TAG, "api_key")]);
        assert_eq!(
            choose_kind(&auto, &keyed, "s", &app()).unwrap(),
            Kind::AppSecret(vec!["api_key".into()])
        );
        // Keys named on a database secret do not make it an app secret.
        assert_eq!(
            choose_kind(&auto, &keyed, "s", &database()).unwrap(),
            Kind::SingleUser
        );
    }

    #[test]
    fn the_setting_decides_when_the_secret_has_no_tag() {
        let single = configured(Strategy::SingleUser, &[]);
        let none = secret_with(&[]);
        assert_eq!(
            choose_kind(&single, &none, "s", &with_master()).unwrap(),
            Kind::SingleUser
        );
        let alternating = configured(Strategy::AlternatingUsers, &[]);
        assert_eq!(
            choose_kind(&alternating, &none, "s", &database()).unwrap(),
            Kind::AlternatingUsers
        );
        let app_setting = configured(Strategy::AppSecret, &["other"]);
        assert_eq!(
            choose_kind(&app_setting, &none, "s", &app()).unwrap(),
            Kind::AppSecret(vec!["other".into()])
        );
    }

    #[test]
    fn the_tag_beats_the_setting_and_its_keys_beat_the_settings_keys() {
        let app_setting = configured(Strategy::AppSecret, &["other"]);
        let tagged = secret_with(&[(STRATEGY_TAG, "single-user")]);
        assert_eq!(
            choose_kind(&app_setting, &tagged, "s", &database()).unwrap(),
            Kind::SingleUser
        );
        let tagged = secret_with(&[(STRATEGY_TAG, "app-secret"), (APP_KEYS_TAG, "api_key")]);
        assert_eq!(
            choose_kind(&app_setting, &tagged, "s", &app()).unwrap(),
            Kind::AppSecret(vec!["api_key".into()])
        );
        let auto = configured(Strategy::Auto, &[]);
        let tagged = secret_with(&[(STRATEGY_TAG, "alternating-users")]);
        assert_eq!(
            choose_kind(&auto, &tagged, "s", &database()).unwrap(),
            Kind::AlternatingUsers
        );
    }

    #[test]
    fn impossible_choices_are_refused_with_the_reason() {
        let auto = configured(Strategy::Auto, &[]);
        let bad_tag = secret_with(&[(STRATEGY_TAG, "sometimes")]);
        let err = choose_kind(&auto, &bad_tag, "s", &database()).unwrap_err();
        assert!(err.to_string().contains("sometimes"), "{err}");
        let app_on_database = secret_with(&[(STRATEGY_TAG, "app-secret"), (APP_KEYS_TAG, "k")]);
        let err = choose_kind(&auto, &app_on_database, "s", &database()).unwrap_err();
        assert!(err.to_string().contains("engine"), "{err}");
        let no_keys = configured(Strategy::AppSecret, &[]);
        let err = choose_kind(&no_keys, &secret_with(&[]), "s", &app()).unwrap_err();
        assert!(err.to_string().contains("no keys"), "{err}");
    }
}
