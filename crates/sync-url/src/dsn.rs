//! The `postgres://` URL: built with user, password and database name percent-encoded so
//! that libpq, Django's `dj-database-url` and the `url` crate all read back exactly the
//! original values; and parsed back from what the target holds now.

use std::fmt;
use std::net::Ipv6Addr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};

/// Everything but RFC 3986's unreserved characters is encoded: `@ : / ? # % +`, spaces,
/// quotes and every non-ASCII byte. Encoding more than strictly needed is always safe;
/// encoding less is how a password with `@` or `#` breaks a URL.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The only query parameters of the current URL that are carried over. Whoever can write
/// only the target must not steer the next URL, which carries the real password: libpq
/// lets `host`, `hostaddr`, `port`, `dbname`, `user` and `password` parameters win over the
/// URL's own parts; `options`, `service`, `passfile`, `target_session_attrs`,
/// `load_balance_hosts`, `require_auth`, `channel_binding`, `gssencmode`, `krbsrvname` and
/// the `ssl*` family change where or how it connects and what it trusts; other drivers read
/// their own (`ssl=false`). So this is a list of what is known to be harmless, not of what
/// is known to be harmful: timeouts, keepalives, the client encoding and the application
/// name (which only labels the session in `pg_stat_activity` and the server's log).
pub const CARRIED_PARAMETERS: [&str; 9] = [
    "application_name",
    "fallback_application_name",
    "connect_timeout",
    "client_encoding",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
];

/// Why a URL could not be built or read. Never holds the URL or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    /// `url`'s error kinds are fixed descriptions ("invalid port number"), never the input.
    #[error("is not a URL ({0})")]
    NotAUrl(url::ParseError),
    /// The scheme is not quoted: a value like `s3cr3t:xyz` parses with the secret's prefix
    /// as its scheme.
    #[error("has a scheme other than `postgres://` or `postgresql://`")]
    Scheme,
    #[error("has a percent-encoded {0} that is not UTF-8")]
    NotUtf8(&'static str),
    #[error("the {0} contains a NUL character, which PostgreSQL does not accept")]
    Nul(&'static str),
    #[error("the {0} is not a host name (letters, digits, `.`, `-`, `_`) or an IPv4/IPv6 address")]
    Host(&'static str),
    #[error("the built URL did not read back the same {0}")]
    RoundTrip(&'static str),
}

/// The parts of a URL to build.
#[derive(Clone)]
pub struct UrlParts {
    pub user: String,
    pub password: SecretString,
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub sslmode: String,
    /// Query parameters carried over from the current URL, raw (`key=value`), in order.
    pub extra_query: Vec<String>,
}

impl fmt::Debug for UrlParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlParts")
            .field("user", &self.user)
            .field("password", &"[REDACTED]")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("extra_query_keys", &query_keys(&self.extra_query))
            .finish()
    }
}

/// What a URL holds, decoded. A part the URL leaves out is `None`.
#[derive(Clone, Default)]
pub struct ParsedUrl {
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    pub sslmode: Option<String>,
    /// The query parameters that may be carried over ([`CARRIED_PARAMETERS`]), raw, in order.
    pub extra_query: Vec<String>,
}

impl fmt::Debug for ParsedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedUrl")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("extra_query_keys", &query_keys(&self.extra_query))
            .finish()
    }
}

fn query_keys(pieces: &[String]) -> Vec<String> {
    pieces
        .iter()
        .map(|p| p.split('=').next().unwrap_or_default().to_owned())
        .collect()
}

/// A URL component (user, password, database name) percent-encoded as this function does.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

fn decode(text: &str, what: &'static str) -> Result<String, DsnError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| DsnError::NotUtf8(what))
}

fn check_no_nul(text: &str, what: &'static str) -> Result<(), DsnError> {
    if text.contains('\0') {
        Err(DsnError::Nul(what))
    } else {
        Ok(())
    }
}

/// The host as it goes into a URL: a name or IPv4 address as is, IPv6 in brackets.
fn url_host(host: &str) -> Result<String, DsnError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<Ipv6Addr>().is_ok() {
        return Ok(format!("[{bare}]"));
    }
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(host.to_owned())
    } else {
        Err(DsnError::Host("host"))
    }
}

/// `postgres://user:password@host:port/dbname?sslmode=…[&carried-over parameters]`,
/// checked by reading it back before it is returned.
pub fn build(parts: &UrlParts) -> Result<SecretString, DsnError> {
    check_no_nul(&parts.user, "user name")?;
    check_no_nul(parts.password.expose_secret(), "password")?;
    check_no_nul(&parts.dbname, "database name")?;
    let host = url_host(&parts.host)?;
    let mut url = format!(
        "postgres://{}:{}@{}:{}/{}?sslmode={}",
        encode(&parts.user),
        encode(parts.password.expose_secret()),
        host,
        parts.port,
        encode(&parts.dbname),
        encode(&parts.sslmode),
    );
    for piece in &parts.extra_query {
        url.push('&');
        url.push_str(piece);
    }
    let url = SecretString::from(url);
    let back = parse(url.expose_secret())?;
    let same = |a: Option<&str>, b: &str| a == Some(b);
    let bare_host = parts.host.trim_start_matches('[').trim_end_matches(']');
    if !same(back.user.as_deref(), &parts.user) {
        return Err(DsnError::RoundTrip("user name"));
    }
    if !same(
        back.password.as_ref().map(|p| p.expose_secret()),
        parts.password.expose_secret(),
    ) {
        return Err(DsnError::RoundTrip("password"));
    }
    if !same(back.host.as_deref(), bare_host) {
        return Err(DsnError::RoundTrip("host"));
    }
    if back.port != Some(parts.port) {
        return Err(DsnError::RoundTrip("port"));
    }
    if !same(back.dbname.as_deref(), &parts.dbname) {
        return Err(DsnError::RoundTrip("database name"));
    }
    if !same(back.sslmode.as_deref(), &parts.sslmode) {
        return Err(DsnError::RoundTrip("sslmode"));
    }
    Ok(url)
}

/// Reads a `postgres://` or `postgresql://` URL.
pub fn parse(text: &str) -> Result<ParsedUrl, DsnError> {
    let url = url::Url::parse(text.trim()).map_err(DsnError::NotAUrl)?;
    match url.scheme() {
        "postgres" | "postgresql" => {}
        _ => return Err(DsnError::Scheme),
    }
    let non_empty = |s: String| Some(s).filter(|s| !s.is_empty());
    let user = non_empty(decode(url.username(), "user name")?);
    let password = match url.password() {
        Some(p) => non_empty(decode(p, "password")?).map(SecretString::from),
        None => None,
    };
    let host = match url.host_str() {
        Some(h) => non_empty(decode(
            h.trim_start_matches('[').trim_end_matches(']'),
            "host",
        )?),
        None => None,
    };
    let dbname = non_empty(decode(url.path().trim_start_matches('/'), "database name")?);
    let mut sslmode = None;
    let mut extra_query = Vec::new();
    if let Some(query) = url.query() {
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = decode(key, "query parameter")?;
            if key == "sslmode" {
                sslmode = Some(decode(value, "query parameter")?);
            } else if CARRIED_PARAMETERS.contains(&key.as_str()) {
                extra_query.push(piece.to_owned());
            }
        }
    }
    Ok(ParsedUrl {
        user,
        password,
        host,
        port: url.port(),
        dbname,
        sslmode,
        extra_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passwords that break naive URL building, one per troublesome character class.
    const HARD_PASSWORDS: [&str; 8] = [
        "p@ss:w/rd?x#y%z+1 2'3\"4",
        "%41%",
        "a+b c",
        "trailing space ",
        "ünïcødé-密码-🔑",
        "://@@//??##",
        "semi;colon&amp=eq\\back`tick",
        "%",
    ];

    fn parts(user: &str, password: &str, dbname: &str) -> UrlParts {
        UrlParts {
            user: user.into(),
            password: SecretString::from(password),
            host: "db.example.internal".into(),
            port: 5432,
            dbname: dbname.into(),
            sslmode: "require".into(),
            extra_query: vec![],
        }
    }

    #[test]
    fn a_plain_url_looks_like_the_one_django_expects() {
        let url = build(&parts("app", "secret", "orders")).unwrap();
        assert_eq!(
            url.expose_secret(),
            "postgres://app:secret@db.example.internal:5432/orders?sslmode=require"
        );
    }

    /// Builds the URL of every hard password with `user` and `dbname` and hands it to
    /// `check` with the password and its index (never printed: messages use the index).
    fn each_hard_password(user: &str, dbname: &str, check: impl Fn(usize, &str, &str)) {
        for (i, pw) in HARD_PASSWORDS.iter().enumerate() {
            let built = build(&parts(user, pw, dbname)).unwrap();
            check(i, pw, built.expose_secret());
        }
    }

    #[test]
    fn hard_passwords_user_names_and_database_names_read_back_exactly_through_the_url_crate() {
        each_hard_password("us@er:ñ", "db/ñame?#", |i, pw, built| {
            let url = url::Url::parse(built).unwrap();
            let dec = |s: &str| percent_decode_str(s).decode_utf8().unwrap().into_owned();
            assert!(
                dec(url.password().unwrap()) == *pw,
                "password #{i} did not round-trip"
            );
            assert_eq!(dec(url.username()), "us@er:ñ");
            assert_eq!(dec(url.path().trim_start_matches('/')), "db/ñame?#");
            assert_eq!(url.host_str(), Some("db.example.internal"));
            assert_eq!(url.port(), Some(5432));
            assert_eq!(url.as_str(), built, "the url crate keeps it as is");
        });
    }

    #[test]
    fn hard_passwords_read_back_exactly_through_tokio_postgres() {
        each_hard_password("app", "orders", |i, pw, built| {
            let config: tokio_postgres::Config = built.parse().unwrap();
            assert!(
                config.get_password() == Some(pw.as_bytes()),
                "password #{i} did not round-trip"
            );
            assert_eq!(config.get_user(), Some("app"));
            assert_eq!(config.get_dbname(), Some("orders"));
        });
    }

    #[test]
    fn ipv6_hosts_are_bracketed_and_bad_hosts_are_refused_without_echo() {
        let mut p = parts("app", "pw", "db");
        p.host = "::1".into();
        let url = build(&p).unwrap();
        assert!(url.expose_secret().contains("@[::1]:5432/"));
        assert_eq!(
            parse(url.expose_secret()).unwrap().host.as_deref(),
            Some("::1")
        );
        for bad in ["", "db host", "a@b", "h/x", "h?x", "h#x"] {
            p.host = bad.into();
            let err = build(&p).unwrap_err();
            assert_eq!(err, DsnError::Host("host"));
        }
    }

    #[test]
    fn nul_characters_are_refused_by_name() {
        let err = build(&parts("app", "a\0b", "db")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the password contains a NUL character, which PostgreSQL does not accept"
        );
    }

    #[test]
    fn a_current_url_is_read_with_harmless_parameters_kept_and_steering_ones_dropped() {
        let parsed = parse(
            "postgresql://ap%40p:o%2Fld@db.internal:6432/or%20ders?sslmode=verify-full&\
             sslrootcert=%2Fopt%2Frds.pem&password=stale&connect_timeout=10&host=evil&\
             hostaddr=203.0.113.9&options=-c%20x%3Dy&ssl=false&service=s&ho%73t=evil&\
             application_name=web",
        )
        .unwrap();
        assert_eq!(parsed.user.as_deref(), Some("ap@p"));
        assert_eq!(parsed.password.as_ref().unwrap().expose_secret(), "o/ld");
        assert_eq!(parsed.host.as_deref(), Some("db.internal"));
        assert_eq!(parsed.port, Some(6432));
        assert_eq!(parsed.dbname.as_deref(), Some("or ders"));
        assert_eq!(parsed.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(
            parsed.extra_query,
            vec!["connect_timeout=10", "application_name=web"]
        );
        let shown = format!("{parsed:?}");
        assert!(
            !shown.contains("o/ld") && !shown.contains("rds.pem"),
            "{shown}"
        );
    }

    #[test]
    fn carried_over_parameters_follow_sslmode() {
        let mut p = parts("app", "pw", "db");
        p.extra_query = vec!["sslrootcert=%2Fopt%2Frds.pem".into()];
        let url = build(&p).unwrap();
        assert!(
            url.expose_secret()
                .ends_with("/db?sslmode=require&sslrootcert=%2Fopt%2Frds.pem")
        );
    }

    #[test]
    fn things_that_are_not_postgres_urls_are_refused_without_quoting_them() {
        for (text, want) in [
            ("hunter2-not-a-url", "is not a URL"),
            ("mysql://u:hunter2@h/db", "scheme other than"),
            ("postgres://u:hunter2@h:99999/db", "is not a URL"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    /// Values that fail to parse, each holding the canary where a naive error would quote
    /// it: as the scheme, user, password, host, port, path, query or a bad escape.
    const CANARY: &str = "c4nary7";
    const MALFORMED: [&str; 12] = [
        "c4nary7:xyz",
        "s3cr3t-c4nary7",
        "c4nary7://u:p@h/d",
        "mysql://c4nary7:pw@h/d",
        "postgres://u:c4nary7@h:99999/d",
        "postgres://u:c4nary7@h:c4nary7/d",
        "postgres://u:pw@c4nary7 host/d",
        "postgres://u:pw@[c4nary7]/d",
        "postgres://u:%ff%c4nary7@h/d",
        "postgres://%ffc4nary7:pw@h/d",
        "postgres://u:pw@h/%ffc4nary7",
        "postgres://u:pw@h/d?%ffc4nary7=1",
    ];

    #[test]
    fn malformed_values_never_reach_the_errors_display_or_debug() {
        for text in MALFORMED {
            let err = parse(text).expect_err(text);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(CANARY), "{shown}");
        }
        let mut p = parts("c4nary7", "c4nary7\0", "c4nary7");
        p.host = "c4nary7 host".into();
        let err = build(&p).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(CANARY), "{shown}");
    }
}
