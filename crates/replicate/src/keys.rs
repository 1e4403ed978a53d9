//! Which KMS key a replica gets in a target region. Never, silently, a weaker one: a source
//! on a customer managed key is protected by that key's policy, and a replica on the
//! target's AWS managed key would be readable by anyone with `ssm:GetParameter` or
//! `secretsmanager:GetSecretValue` there.

/// The key of a replica in one target region, or why there is none to use.
pub fn replica_key(
    source_key: Option<&str>,
    aws_managed_alias: &str,
    configured: Option<&str>,
    allow_aws_managed: bool,
    region: &str,
) -> Result<Option<String>, String> {
    if let Some(key) = configured {
        return Ok(Some(key.to_owned()));
    }
    let Some(source_key) = source_key.filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    if is_aws_managed(source_key, aws_managed_alias) {
        return Ok(None);
    }
    // An alias names a key per region: the same alias in the target is the key that team
    // made for it. If the target has no such alias, the write fails and says so.
    if let Some(alias) = alias_of(source_key) {
        return Ok(Some(alias.to_owned()));
    }
    if allow_aws_managed {
        return Ok(None);
    }
    Err(format!(
        "the source is encrypted with a customer managed KMS key and TARGET_KMS_KEYS names no \
         key for {region}; name one there, use an alias (the same alias is used in each \
         region), or set ALLOW_AWS_MANAGED_KEY=true to accept {aws_managed_alias} in {region}"
    ))
}

fn is_aws_managed(key: &str, aws_managed_alias: &str) -> bool {
    alias_of(key).is_some_and(|a| a == aws_managed_alias)
}

/// `alias/x` from `alias/x` or `arn:…:alias/x`.
fn alias_of(key: &str) -> Option<&str> {
    if key.starts_with("alias/") {
        return Some(key);
    }
    key.strip_prefix("arn:")
        .and_then(|rest| rest.find(":alias/").map(|i| &rest[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSM: &str = "alias/aws/ssm";

    #[test]
    fn a_configured_key_wins_and_the_aws_managed_key_stays_managed() {
        let cmk = "arn:aws:kms:us-east-1:1:key/k";
        assert_eq!(
            replica_key(Some(cmk), SSM, Some("alias/dr"), false, "us-west-2"),
            Ok(Some("alias/dr".into()))
        );
        assert_eq!(
            replica_key(Some(SSM), SSM, None, false, "us-west-2"),
            Ok(None)
        );
        assert_eq!(replica_key(None, SSM, None, false, "us-west-2"), Ok(None));
        assert_eq!(
            replica_key(
                Some("arn:aws:kms:us-east-1:1:alias/aws/ssm"),
                SSM,
                None,
                false,
                "r"
            ),
            Ok(None)
        );
    }

    #[test]
    fn an_alias_is_kept_and_a_bare_customer_key_is_refused_unless_allowed() {
        assert_eq!(
            replica_key(Some("alias/orders"), SSM, None, false, "us-west-2"),
            Ok(Some("alias/orders".into()))
        );
        assert_eq!(
            replica_key(
                Some("arn:aws:kms:us-east-1:1:alias/orders"),
                SSM,
                None,
                false,
                "us-west-2"
            ),
            Ok(Some("alias/orders".into()))
        );
        let cmk = "arn:aws:kms:us-east-1:1:key/1234abcd";
        let err = replica_key(Some(cmk), SSM, None, false, "us-west-2").unwrap_err();
        assert!(
            err.contains("TARGET_KMS_KEYS") && err.contains("us-west-2"),
            "{err}"
        );
        assert!(!err.contains("1234abcd"), "names no key: {err}");
        assert_eq!(
            replica_key(Some(cmk), SSM, None, true, "us-west-2"),
            Ok(None)
        );
    }
}
