//! Generic app secrets (JWT signing keys, session secrets, API keys the team issues
//! itself): chosen keys get new random values, and each old value stays under
//! `<key>_previous` so consumers accept both during a grace period (dual-key).

use rotor_core::SecretString;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

pub const PREVIOUS_SUFFIX: &str = "_previous";

/// The keys to rotate, from a comma-separated list (tag or setting).
pub fn parse_keys(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What is wrong with an app secret or the keys chosen for it. Names keys, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppSecretError {
    #[error(
        "no keys to rotate are configured (tag rotor:app-secret-keys or setting APP_SECRET_KEYS)"
    )]
    NoKeys,
    #[error("key `{0}` ends in `{PREVIOUS_SUFFIX}`, which holds old values; name the key itself")]
    PreviousKey(String),
    #[error("key `{0}` is not a string")]
    NotString(String),
    #[error("AWSPENDING has no value for key `{0}`")]
    NoPendingValue(String),
    #[error("AWSPENDING does not keep the current value of `{0}` as `{0}{PREVIOUS_SUFFIX}`")]
    PreviousNotKept(String),
}

/// Checks the chosen keys against the current value before anything is generated.
pub fn check_keys(current: &Map<String, Value>, keys: &[String]) -> Result<(), AppSecretError> {
    if keys.is_empty() {
        return Err(AppSecretError::NoKeys);
    }
    for key in keys {
        if key.ends_with(PREVIOUS_SUFFIX) {
            return Err(AppSecretError::PreviousKey(key.clone()));
        }
        match current.get(key) {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(AppSecretError::NotString(key.clone())),
        }
    }
    Ok(())
}

/// The next value: each key set to its fresh value, the old one kept under
/// `<key>_previous`; every other key unchanged, in its order.
pub fn next_value(
    current: &Map<String, Value>,
    fresh: &[(String, SecretString)],
) -> Map<String, Value> {
    let mut next = current.clone();
    for (key, value) in fresh {
        if let Some(Value::String(old)) = current.get(key) {
            next.insert(
                format!("{key}{PREVIOUS_SUFFIX}"),
                Value::String(old.clone()),
            );
        }
        next.insert(key.clone(), Value::String(value.expose_secret().to_owned()));
    }
    next
}

/// What setSecret and testSecret check: every key has a new, non-empty value and the
/// current one is kept as `<key>_previous`. Messages name keys, never values.
pub fn validate(
    pending: &Map<String, Value>,
    current: &Map<String, Value>,
    keys: &[String],
) -> Result<(), AppSecretError> {
    for key in keys {
        let new = match pending.get(key) {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(AppSecretError::NoPendingValue(key.clone())),
        };
        let kept = pending.get(&format!("{key}{PREVIOUS_SUFFIX}"));
        match current.get(key) {
            // AWSCURRENT may already be this version when a retry arrives late.
            Some(Value::String(old)) if old == new => {}
            Some(old) if kept != Some(old) => {
                return Err(AppSecretError::PreviousNotKept(key.clone()));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn chosen_keys_change_and_keep_their_old_value_as_previous() {
        let current =
            map(json!({"jwt_key": "old-jwt", "api_url": "https://x", "session": "old-s"}));
        let next = next_value(
            &current,
            &[("jwt_key".into(), SecretString::from("new-jwt"))],
        );
        assert_eq!(next["jwt_key"], "new-jwt");
        assert_eq!(next["jwt_key_previous"], "old-jwt");
        assert_eq!(next["session"], "old-s", "keys not chosen are unchanged");
        assert_eq!(next["api_url"], "https://x");
        assert_eq!(
            next.keys().take(3).collect::<Vec<_>>(),
            ["jwt_key", "api_url", "session"]
        );
        validate(&next, &current, &["jwt_key".into()]).unwrap();
    }

    #[test]
    fn a_new_key_gets_a_value_and_no_previous() {
        let next = next_value(&Map::new(), &[("k".into(), SecretString::from("v"))]);
        assert_eq!(next["k"], "v");
        assert!(!next.contains_key("k_previous"));
    }

    #[test]
    fn bad_key_choices_are_refused_by_name() {
        let current = map(json!({"n": 5}));
        assert!(check_keys(&current, &[]).is_err());
        assert!(
            check_keys(&current, &["n".into()])
                .unwrap_err()
                .to_string()
                .contains("`n`")
        );
        assert!(check_keys(&current, &["a_previous".into()]).is_err());
        assert_eq!(parse_keys(" a, b ,,c"), ["a", "b", "c"]);
    }

    #[test]
    fn validation_catches_a_lost_previous_value_without_quoting_values() {
        let current = map(json!({"k": "old-secret"}));
        let pending = map(json!({"k": "new-secret"}));
        let err = validate(&pending, &current, &["k".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("k_previous"), "{err}");
        assert!(!err.contains("old-secret") && !err.contains("new-secret"));
        let missing = map(json!({"other": 1}));
        assert!(validate(&missing, &current, &["k".into()]).is_err());
    }
}
