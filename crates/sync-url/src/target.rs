//! The target: the secret applications read the URL from, as a plain URL string or as a
//! JSON object holding it under one key. Read strictly (a target that holds something
//! else is never overwritten), written with every other key left as it was.

use aws_sdk_secretsmanager::Client;
use rotor_core::error::AwsResultExt;
use rotor_core::secrets::{self, CURRENT};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::config::TargetFormat;
use crate::dsn::{self, ParsedUrl};
use crate::error::SyncError;

/// The target's current version, if it has one.
pub struct Target {
    pub arn: Option<String>,
    pub version_id: Option<String>,
    /// The URL it holds now (the whole string, or the JSON key's value).
    pub url: Option<SecretString>,
    /// The URL it holds now, read.
    pub parsed: ParsedUrl,
    /// For JSON targets, the object (every key, in order).
    object: Option<Map<String, Value>>,
}

/// Reads the target's AWSCURRENT version. A secret without a current value reads as
/// empty; a secret that does not exist is reported when the write is refused, so the
/// function needs no DescribeSecret permission.
pub async fn read(client: &Client, id: &str, format: &TargetFormat) -> Result<Target, SyncError> {
    let read = secrets::read_at(client, id, CURRENT, None)
        .await
        .map_err(|e| SyncError::TargetRead {
            secret: id.into(),
            source: Box::new(e),
        })?;
    let Some(stored) = read else {
        return Ok(Target {
            arn: None,
            version_id: None,
            url: None,
            parsed: ParsedUrl::default(),
            object: matches!(format, TargetFormat::Json { .. }).then(Map::new),
        });
    };
    let format_error = |problem: String| SyncError::TargetFormat {
        secret: id.into(),
        problem,
    };
    let Some(text) = &stored.text else {
        return Err(format_error("holds a binary value, not a URL".into()));
    };
    let text = text.expose_secret();
    let (url, parsed, object) = understand(text, format).map_err(format_error)?;
    Ok(Target {
        arn: stored.arn,
        version_id: stored.version_id,
        url,
        parsed,
        object,
    })
}

type Interpreted = (Option<SecretString>, Option<Map<String, Value>>);
type Understood = (Option<SecretString>, ParsedUrl, Option<Map<String, Value>>);

/// The URL in the secret string, read. A value that is not what it should be is entirely
/// secret (it may be a password pasted into the wrong secret): problems name the part and
/// what was expected, never a piece of the value.
fn understand(text: &str, format: &TargetFormat) -> Result<Understood, String> {
    let (url, object) = interpret(text, format)?;
    let parsed = match &url {
        Some(url) => dsn::parse(url.expose_secret())
            .map_err(|e| format!("does not hold a postgres:// URL (it {e})"))?,
        None => ParsedUrl::default(),
    };
    Ok((url, parsed, object))
}

/// Finds the URL in the secret string according to the configured form.
fn interpret(text: &str, format: &TargetFormat) -> Result<Interpreted, String> {
    let as_object = || match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    match format {
        TargetFormat::Url => {
            if text.trim().is_empty() {
                return Ok((None, None));
            }
            if as_object().is_some() {
                return Err(
                    "holds a JSON object, not a plain URL; set TARGET_FORMAT=json \
                            (and TARGET_URL_KEY if the key is not DATABASE_URL)"
                        .into(),
                );
            }
            Ok((Some(SecretString::from(text.to_owned())), None))
        }
        TargetFormat::Json { key } => {
            if text.trim().is_empty() {
                return Ok((None, Some(Map::new())));
            }
            let Some(map) = as_object() else {
                return Err("is not a JSON object (TARGET_FORMAT=json)".into());
            };
            let url = match map.get(key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(SecretString::from(s.clone())),
                Some(_) => return Err(format!("has a `{key}` key that is not a string")),
            };
            Ok((url, Some(map)))
        }
    }
}

impl Target {
    /// The secret string to store for `url`: the URL itself, or the object with only the
    /// URL key set.
    pub fn render(&self, format: &TargetFormat, url: &SecretString) -> SecretString {
        match (format, &self.object) {
            (TargetFormat::Json { key }, Some(object)) => {
                let mut object = object.clone();
                object.insert(key.clone(), Value::String(url.expose_secret().to_owned()));
                SecretString::from(Value::Object(object).to_string())
            }
            _ => url.clone(),
        }
    }
}

/// What a write left: the version the token names, and whether it is AWSCURRENT.
pub struct Written {
    pub version_id: String,
    pub current: bool,
}

/// Stores a new AWSCURRENT version. The token makes a repeated write of the same value a
/// no-op on the service side: it then answers with the existing version and the stages it
/// has now, which is how a version that is no longer current shows.
pub async fn write(
    client: &Client,
    id: &str,
    text: &SecretString,
    token: &str,
) -> Result<Written, SyncError> {
    let out = client
        .put_secret_value()
        .secret_id(id)
        .secret_string(text.expose_secret())
        .client_request_token(token)
        .send()
        .await
        .aws("PutSecretValue")
        .map_err(|e| SyncError::TargetWrite {
            secret: id.into(),
            source: Box::new(e),
        })?;
    Ok(Written {
        version_id: out.version_id().unwrap_or(token).to_owned(),
        current: out.version_stages().iter().any(|s| s == "AWSCURRENT"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json() -> TargetFormat {
        TargetFormat::Json {
            key: "DATABASE_URL".into(),
        }
    }

    #[test]
    fn a_plain_target_is_the_url_and_an_empty_one_has_none() {
        let (url, object) = interpret("postgres://u:p@h/d", &TargetFormat::Url).unwrap();
        assert_eq!(url.unwrap().expose_secret(), "postgres://u:p@h/d");
        assert!(object.is_none());
        assert!(interpret("  ", &TargetFormat::Url).unwrap().0.is_none());
    }

    #[test]
    fn a_json_object_is_never_taken_for_a_plain_url() {
        let err = interpret(
            r#"{"DATABASE_URL":"postgres://u:hunter2@h/d"}"#,
            &TargetFormat::Url,
        )
        .unwrap_err();
        assert!(err.contains("TARGET_FORMAT=json"), "{err}");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn a_json_target_finds_its_key_and_keeps_the_rest_in_order() {
        let text = r#"{"z_first":"1","DATABASE_URL":"postgres://u:p@h/d","nested":{"a":[1,2]}}"#;
        let (url, object) = interpret(text, &json()).unwrap();
        assert_eq!(url.unwrap().expose_secret(), "postgres://u:p@h/d");
        let target = Target {
            arn: None,
            version_id: None,
            url: None,
            parsed: ParsedUrl::default(),
            object,
        };
        let written = target.render(&json(), &SecretString::from("postgres://new"));
        assert_eq!(
            written.expose_secret(),
            r#"{"z_first":"1","DATABASE_URL":"postgres://new","nested":{"a":[1,2]}}"#
        );
    }

    #[test]
    fn a_json_target_without_the_key_gets_it_and_bad_shapes_are_refused() {
        let (url, object) = interpret(r#"{"OTHER":"x"}"#, &json()).unwrap();
        assert!(url.is_none());
        assert_eq!(object.unwrap().len(), 1);
        assert!(
            interpret("postgres://u:p@h/d", &json())
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            interpret(r#"{"DATABASE_URL":5}"#, &json())
                .unwrap_err()
                .contains("`DATABASE_URL`")
        );
    }

    #[test]
    fn malformed_targets_are_described_without_any_part_of_their_value() {
        let canary = "c4nary7";
        for (text, format) in [
            ("c4nary7:xyz", TargetFormat::Url),
            ("s3cr3t-c4nary7", TargetFormat::Url),
            ("mysql://app:c4nary7@h/d", TargetFormat::Url),
            ("postgres://app:c4nary7@h:99999/d", TargetFormat::Url),
            ("postgres://app:%ffc4nary7@h/d", TargetFormat::Url),
            (r#"{"DATABASE_URL":"c4nary7"}"#, TargetFormat::Url),
            ("c4nary7", json()),
            (r#"{"DATABASE_URL":"c4nary7:xyz"}"#, json()),
            (r#"{"DATABASE_URL":["c4nary7"]}"#, json()),
            (r#"{"DATABASE_URL":"postgres://u:pw@c4nary7 h/d"}"#, json()),
        ] {
            let problem = understand(text, &format).expect_err(text);
            let err = SyncError::TargetFormat {
                secret: "app/url".into(),
                problem,
            };
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(canary), "{shown}");
            assert!(shown.contains("app/url"), "names the secret: {shown}");
        }
    }
}
