//! One pair's sync: read the source, look up what is missing, rebuild the URL, and write
//! a new target version only when the URL differs, under a token derived from the
//! versions it was built from.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use uuid::Uuid;

use crate::config::{Pair, TargetFormat};
use crate::dsn::{self, ParsedUrl, UrlParts};
use crate::error::SyncError;
use crate::source::Source;
use crate::target::Target;
use crate::{Context, rds, source, target};

/// PostgreSQL's port, used when no source names another.
pub const DEFAULT_PORT: u16 = 5432;

/// Namespace of the version tokens (a fixed, random UUID: tokens are this function's own).
const TOKEN_NAMESPACE: Uuid = Uuid::from_u128(0x6f0e_2c4b_9a71_4d38_b5e2_7c1f_0a93_d846);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new target version was written.
    Updated,
    /// The target already held exactly this URL; nothing was written.
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// What a pair's sync did. Ids, versions and part names only; never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairOutcome {
    pub source_secret: String,
    pub target_secret: String,
    pub action: Action,
    pub source_version_id: String,
    /// The target's AWSCURRENT version after the sync.
    pub target_version_id: Option<String>,
    /// The version that was current before, when a new one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_target_version_id: Option<String>,
    /// Which parts of the URL differ from what the target held (`password`, `host`, ...).
    pub changed: Vec<&'static str>,
}

/// Where each part of the URL came from, for the log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origins {
    pub user: &'static str,
    pub host: &'static str,
    pub port: &'static str,
    pub dbname: &'static str,
}

/// Syncs one pair. On any error the target is left as it was.
pub async fn sync_pair(ctx: &Context, pair: &Pair) -> Result<(PairOutcome, Origins), SyncError> {
    let source = source::read(&ctx.secrets, &pair.source).await?;
    let endpoint = match &pair.rds {
        Some(lookup) if source.values.host.is_none() || source.values.port.is_none() => {
            Some(rds::endpoint(&ctx.rds, lookup).await?)
        }
        _ => None,
    };
    let target = target::read(&ctx.secrets, &pair.target, &pair.format).await?;
    let (parts, origins) = resolve(pair, &source, endpoint, &target.parsed)?;
    let url = dsn::build(&parts).map_err(|e| SyncError::Invalid {
        target: pair.target.clone(),
        problem: e.to_string(),
    })?;
    let changed = changed_parts(&parts, &target.parsed, target.url.as_ref(), &url);
    if changed.is_empty() {
        return Ok((
            PairOutcome {
                source_secret: pair.source.clone(),
                target_secret: pair.target.clone(),
                action: Action::Unchanged,
                source_version_id: source.version_id,
                target_version_id: target.version_id,
                previous_target_version_id: None,
                changed,
            },
            origins,
        ));
    }
    let token = token(pair, &source, &target, &parts);
    let text = target.render(&pair.format, &url);
    let mut written = target::write(&ctx.secrets, &pair.target, &text, &token).await?;
    if !written.current {
        // Secrets Manager ignores a write whose token names an existing version with the
        // same value, and leaves the stages where they are. Such a version that is not
        // AWSCURRENT means the target was moved back (for example to the version this
        // URL was first written over, so the same inputs gave the same token): the stale
        // value would stay while the run said `updated`. Write it again, fresh token.
        tracing::warn!(
            target_secret = %pair.target,
            ignored_version_id = %written.version_id,
            "the derived version exists but is not AWSCURRENT (the target was rolled back); \
             writing a new version"
        );
        // Unique to this attempt (the clock), so a second rollback cannot repeat it.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let fresh = Uuid::new_v5(
            &TOKEN_NAMESPACE,
            format!("{token}\nagain\n{nanos}").as_bytes(),
        );
        written = target::write(&ctx.secrets, &pair.target, &text, &fresh.to_string()).await?;
        if !written.current {
            return Err(SyncError::TargetNotCurrent {
                secret: pair.target.clone(),
                written: written.version_id,
            });
        }
    }
    let version = written.version_id;
    Ok((
        PairOutcome {
            source_secret: pair.source.clone(),
            target_secret: pair.target.clone(),
            action: Action::Updated,
            source_version_id: source.version_id,
            target_version_id: Some(version),
            previous_target_version_id: target.version_id,
            changed,
        },
        origins,
    ))
}

/// Picks every part in the documented order: the source secret, the RDS lookup (host and
/// port), the pair's settings, the target's current URL (whose missing port means 5432).
pub fn resolve(
    pair: &Pair,
    source: &Source,
    endpoint: Option<(String, u16)>,
    current: &ParsedUrl,
) -> Result<(UrlParts, Origins), SyncError> {
    let v = &source.values;
    let missing = |value: &'static str, tried: String| SyncError::Missing {
        value,
        target: pair.target.clone(),
        tried,
    };
    let (rds_host, rds_port) = match endpoint {
        Some((h, p)) => (Some(h), Some(p)),
        None => (None, None),
    };
    let rds_said = pair
        .rds
        .as_ref()
        .map(|l| format!("the RDS lookup ({}) gave none", l.var()))
        .unwrap_or_else(|| "no RDS lookup is configured".into());

    // User and database name: the source secret's key, else the setting, else the target.
    let [user, dbname] = [
        (
            "user name",
            "username",
            "DB_USERNAME",
            [&v.username, &pair.db_username, &current.user],
        ),
        (
            "database name",
            "dbname",
            "DB_NAME",
            [&v.dbname, &pair.db_name, &current.dbname],
        ),
    ]
    .map(|(value, key, var, [source, setting, target])| {
        first([
            (source.clone(), "source"),
            (setting.clone(), "setting"),
            (target.clone(), "target"),
        ])
        .ok_or_else(|| {
            missing(
                value,
                format!(
                    "the source secret has no `{key}`, {var} is not set, and the target's \
                         current URL has none"
                ),
            )
        })
    });
    let (user, user_from) = user?;
    let (host, host_from) = first([
        (v.host.clone(), "source"),
        (rds_host, "rds"),
        (pair.db_host.clone(), "setting"),
        (
            current.host.clone().filter(|_| pair.allow_host_from_target),
            "target",
        ),
    ])
    .ok_or_else(|| {
        if current.host.is_some() {
            SyncError::HostFromTarget {
                target: pair.target.clone(),
                tried: format!(
                    "the source secret has no `host`, {rds_said} and DB_HOST is not set"
                ),
            }
        } else {
            missing(
                "host",
                format!(
                    "the source secret has no `host`, {rds_said}, DB_HOST is not set, \
                     and the target's current URL has none"
                ),
            )
        }
    })?;
    // A target URL without a port means PostgreSQL's default port, as libpq reads it. Its
    // port is still used with a host from elsewhere: it cannot take the URL off that host.
    let target_port = current
        .port
        .or_else(|| current.host.as_ref().map(|_| DEFAULT_PORT));
    let (port, port_from) = first([
        (v.port, "source"),
        (rds_port, "rds"),
        (pair.db_port, "setting"),
        (target_port, "target"),
    ])
    .ok_or_else(|| {
        missing(
            "port",
            format!(
                "the source secret has no `port`, {rds_said}, DB_PORT is not set, \
                 and the target has no current URL"
            ),
        )
    })?;
    let (dbname, dbname_from) = dbname?;
    let password = v.password.clone().ok_or_else(|| SyncError::SourceFormat {
        secret: pair.source.clone(),
        problem: rotor_core::CredentialsError::Missing("password"),
    })?;
    Ok((
        UrlParts {
            user,
            password,
            host,
            port,
            dbname,
            sslmode: pair.sslmode.clone(),
            extra_query: pair
                .sslrootcert
                .iter()
                .map(|path| format!("sslrootcert={}", dsn::encode(path)))
                .chain(current.extra_query.iter().cloned())
                .collect(),
        },
        Origins {
            user: user_from,
            host: host_from,
            port: port_from,
            dbname: dbname_from,
        },
    ))
}

fn first<T, const N: usize>(
    candidates: [(Option<T>, &'static str); N],
) -> Option<(T, &'static str)> {
    candidates
        .into_iter()
        .find_map(|(value, from)| value.map(|v| (v, from)))
}

/// The names of the parts that differ; empty when the URL is exactly what the target holds.
fn changed_parts(
    parts: &UrlParts,
    current: &ParsedUrl,
    current_url: Option<&SecretString>,
    url: &SecretString,
) -> Vec<&'static str> {
    let Some(current_url) = current_url else {
        return vec!["url"];
    };
    if current_url.expose_secret() == url.expose_secret() {
        return Vec::new();
    }
    let mut changed = Vec::new();
    if current.user.as_deref() != Some(parts.user.as_str()) {
        changed.push("user");
    }
    if current.password.as_ref().map(|p| p.expose_secret()) != Some(parts.password.expose_secret())
    {
        changed.push("password");
    }
    if current.host.as_deref() != Some(parts.host.as_str()) {
        changed.push("host");
    }
    if current.port != Some(parts.port) {
        changed.push("port");
    }
    if current.dbname.as_deref() != Some(parts.dbname.as_str()) {
        changed.push("dbname");
    }
    if current.sslmode.as_deref() != Some(parts.sslmode.as_str()) {
        changed.push("sslmode");
    }
    if changed.is_empty() {
        // Same values, different spelling (scheme, encoding, order of parameters).
        changed.push("format");
    }
    changed
}

/// The ClientRequestToken of the write: a UUID v5 of everything the new value is built
/// from, as ids and versions. The source version stands for the password and the target
/// version for every other key of a JSON target, so neither goes into the hash, and two
/// runs that read the same versions write one version, not two. (A digest of the value
/// would not help against a rollback, which brings back the same inputs and so the same
/// value, and would put a fast hash of the password into a version id anyone with
/// `ListSecretVersionIds` can read; the write is checked afterwards instead.)
fn token(pair: &Pair, source: &Source, target: &Target, parts: &UrlParts) -> String {
    let format = match &pair.format {
        TargetFormat::Url => "url".to_owned(),
        TargetFormat::Json { key } => format!("json:{key}"),
    };
    let port = parts.port.to_string();
    let extra = parts.extra_query.join("&");
    let name = [
        "rotor-sync-url/1",
        source.arn.as_str(),
        source.version_id.as_str(),
        pair.target.as_str(),
        target.version_id.as_deref().unwrap_or("-"),
        format.as_str(),
        parts.user.as_str(),
        parts.host.as_str(),
        port.as_str(),
        parts.dbname.as_str(),
        parts.sslmode.as_str(),
        extra.as_str(),
    ]
    .join("\n");
    Uuid::new_v5(&TOKEN_NAMESPACE, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RdsLookup;
    use crate::source::SourceValues;
    use rotor_core::error::ErrorType;

    fn pair() -> Pair {
        Pair {
            source: "src".into(),
            target: "dst".into(),
            db_name: Some("setting-db".into()),
            db_host: Some("setting-host".into()),
            db_port: Some(6000),
            db_username: Some("setting-user".into()),
            sslmode: "require".into(),
            sslrootcert: None,
            allow_host_from_target: false,
            rds: Some(RdsLookup::Instance("orders-1".into())),
            format: TargetFormat::Url,
        }
    }

    fn source(values: SourceValues) -> Source {
        Source {
            arn: "src-arn".into(),
            version_id: "v1".into(),
            values,
        }
    }

    fn current() -> ParsedUrl {
        dsn::parse("postgres://target-user:old@target-host:7000/target-db?connect_timeout=1")
            .unwrap()
    }

    /// User, host, port and database name of the URL parts.
    fn chosen(parts: &UrlParts) -> (&str, &str, u16, &str) {
        (&parts.user, &parts.host, parts.port, &parts.dbname)
    }

    fn only_password() -> SourceValues {
        SourceValues {
            password: Some(SecretString::from("pw")),
            ..Default::default()
        }
    }

    #[test]
    fn the_source_wins_over_everything() {
        let values = SourceValues {
            username: Some("u".into()),
            password: Some(SecretString::from("pw")),
            host: Some("source-host".into()),
            port: Some(5000),
            dbname: Some("source-db".into()),
        };
        let endpoint = Some(("rds-host".to_owned(), 5439));
        let (parts, from) = resolve(&pair(), &source(values), endpoint, &current()).unwrap();
        assert_eq!(chosen(&parts), ("u", "source-host", 5000, "source-db"));
        assert_eq!(
            (from.user, from.host, from.port, from.dbname),
            ("source", "source", "source", "source")
        );
    }

    #[test]
    fn the_rds_endpoint_wins_over_the_settings_and_the_settings_over_the_target() {
        let endpoint = Some(("rds-host".to_owned(), 5439));
        let (parts, from) =
            resolve(&pair(), &source(only_password()), endpoint, &current()).unwrap();
        assert_eq!((parts.host.as_str(), parts.port), ("rds-host", 5439));
        assert_eq!((from.host, from.port), ("rds", "rds"));
        assert_eq!(
            (parts.user.as_str(), parts.dbname.as_str()),
            ("setting-user", "setting-db")
        );
        assert_eq!(
            parts.extra_query,
            vec!["connect_timeout=1"],
            "the target's other parameters are kept"
        );
    }

    #[test]
    fn the_targets_url_is_the_last_resort_and_a_port_less_url_means_5432() {
        let mut bare = pair();
        bare.db_name = None;
        bare.db_host = None;
        bare.db_port = None;
        bare.db_username = None;
        bare.rds = None;
        let err = resolve(&bare, &source(only_password()), None, &current()).unwrap_err();
        assert_eq!(err.error_type(), "Rotor.SyncUrl.HostFromTargetRefused");
        let text = err.to_string();
        for named in [
            "ALLOW_HOST_FROM_TARGET",
            "DB_HOST",
            "`host`",
            "DB_INSTANCE_IDENTIFIER",
        ] {
            assert!(text.contains(named), "{named}: {text}");
        }
        bare.allow_host_from_target = true;
        let (parts, from) = resolve(&bare, &source(only_password()), None, &current()).unwrap();
        assert_eq!(
            chosen(&parts),
            ("target-user", "target-host", 7000, "target-db")
        );
        assert_eq!(from.host, "target");
        let (parts, from) = resolve(
            &bare,
            &source(only_password()),
            None,
            &dsn::parse("postgres://u@h/d").unwrap(),
        )
        .unwrap();
        assert_eq!((parts.port, from.port), (DEFAULT_PORT, "target"));
        let err =
            resolve(&bare, &source(only_password()), None, &ParsedUrl::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("no user name for the URL in dst"),
            "{text}"
        );
        assert!(text.contains("DB_USERNAME"), "{text}");
    }

    #[test]
    fn a_pinned_root_certificate_comes_first_and_the_targets_steering_parameters_never_come() {
        let mut p = pair();
        p.sslrootcert = Some("/opt/rds ca.pem".into());
        let current = dsn::parse(
            "postgres://u:old@h:5432/d?host=evil&sslmode=disable&options=-c%20x%3Dy&\
             sslrootcert=%2Ftmp%2Fevil.pem&connect_timeout=5",
        )
        .unwrap();
        let (parts, _) = resolve(&p, &source(only_password()), None, &current).unwrap();
        assert_eq!(
            parts.extra_query,
            vec!["sslrootcert=%2Fopt%2Frds%20ca.pem", "connect_timeout=5"]
        );
        assert_eq!(
            (parts.host.as_str(), parts.sslmode.as_str()),
            ("setting-host", "require")
        );
    }

    #[test]
    fn a_port_found_nowhere_is_an_error_naming_it() {
        let mut bare = pair();
        bare.db_port = None;
        bare.rds = None;
        let err =
            resolve(&bare, &source(only_password()), None, &ParsedUrl::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("port"), "{text}");
        assert!(text.contains("DB_PORT"), "{text}");
    }
}
