//! TLS for PostgreSQL logins as libpq means it: what `verify-ca` and `verify-full` trust
//! (libpq's `sslrootcert`), channel binding, and the TLS connectors, built once per mode
//! and shared by every login.
//!
//! Trust follows libpq (PostgreSQL 16+, "SSL Support" in its documentation): a root file
//! is the only trust; `system` is the system store only. Where libpq, given no root file,
//! has nothing to verify with, rotor trusts the system store plus the built-in Amazon RDS
//! roots ([`super::rds`]), so `verify-full` works against RDS out of the box.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use native_tls::{Certificate, TlsConnector};
use tokio_postgres::config::ChannelBinding as WireChannelBinding;

use super::{FailureKind, PgError, SslMode, rds};

/// Whether SCRAM authentication binds itself to the TLS channel (libpq's
/// `channel_binding`). With `Require`, a server that asks for a clear-text or MD5
/// password, or for SCRAM without channel binding, is refused before any password is sent
/// (tokio-postgres' `connect_raw`), so a server in the middle cannot learn or replay it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelBinding {
    Disable,
    /// Bind when the server offers SCRAM-SHA-256-PLUS, accept other methods otherwise.
    #[default]
    Prefer,
    Require,
}

impl ChannelBinding {
    pub const ALLOWED: &'static str = "disable, prefer or require";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
        }
    }

    pub(crate) fn wire(self) -> WireChannelBinding {
        match self {
            Self::Disable => WireChannelBinding::Disable,
            Self::Prefer => WireChannelBinding::Prefer,
            Self::Require => WireChannelBinding::Require,
        }
    }
}

impl fmt::Display for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelBinding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            _ => Err(format!("expected {}", Self::ALLOWED)),
        }
    }
}

/// What `verify-ca` and `verify-full` trust: libpq's `sslrootcert`.
#[derive(Clone, Default)]
pub enum Trust {
    /// No root file given: the system store plus the built-in Amazon RDS roots.
    #[default]
    Default,
    /// `sslrootcert=system`: the system store only (OpenSSL's default paths, or
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set).
    System,
    /// A root file: only the certificates it holds; the system store is not trusted.
    File {
        path: PathBuf,
        certs: Vec<Certificate>,
    },
}

/// Why a root file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate", path.display())]
    Empty { path: PathBuf },
    #[error("certificate {index} in {} is not valid: {source}", path.display())]
    Invalid {
        path: PathBuf,
        index: usize,
        source: native_tls::Error,
    },
}

impl Trust {
    /// The value of `sslrootcert` that means the system store.
    pub const SYSTEM: &'static str = "system";

    /// The trust a `sslrootcert`-style setting names: unset is [`Trust::Default`],
    /// `system` the system store, anything else a root file, read now.
    pub fn from_setting(value: Option<&str>) -> Result<Self, TrustError> {
        match value {
            None => Ok(Self::Default),
            // libpq treats the literal `system` this way even if a file of that name
            // exists; so does rotor.
            Some(Self::SYSTEM) => Ok(Self::System),
            Some(path) => Self::from_file(Path::new(path)),
        }
    }

    /// Only the certificates (PEM, one or more) of `path`.
    pub fn from_file(path: &Path) -> Result<Self, TrustError> {
        let pem = std::fs::read(path).map_err(|source| TrustError::Read {
            path: path.to_owned(),
            source,
        })?;
        let certs = pem_blocks(&pem)
            .iter()
            .enumerate()
            .map(|(i, block)| {
                Certificate::from_pem(block.as_bytes()).map_err(|source| TrustError::Invalid {
                    path: path.to_owned(),
                    index: i + 1,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(TrustError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self::File {
            path: path.to_owned(),
            certs,
        })
    }

    /// Whether the system store is trusted.
    pub fn uses_system_store(&self) -> bool {
        !matches!(self, Self::File { .. })
    }

    /// The certificates trusted besides the system store, or instead of it for a file.
    pub fn roots(&self) -> &[Certificate] {
        match self {
            Self::Default => rds::roots(),
            Self::System => &[],
            Self::File { certs, .. } => certs,
        }
    }

    /// Whether `mode` may be used with this trust. As libpq: with the system store alone,
    /// anything weaker than `verify-full` is refused, since any public CA's certificate
    /// for any host would pass.
    pub fn check_mode(&self, mode: SslMode) -> Result<(), WeakModeForSystemTrust> {
        match (self, mode) {
            (Self::System, SslMode::Require | SslMode::VerifyCa) => {
                Err(WeakModeForSystemTrust(mode))
            }
            _ => Ok(()),
        }
    }
}

/// An SSL mode weaker than `verify-full` asked for with the system trust store alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} may not be used with the system trust store alone (use verify-full)")]
pub struct WeakModeForSystemTrust(pub SslMode);

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => write!(
                f,
                "Default(system store + {} Amazon RDS roots)",
                rds::roots().len()
            ),
            Self::System => f.write_str("System"),
            Self::File { path, certs } => f
                .debug_struct("File")
                .field("path", path)
                .field("certs", &certs.len())
                .finish(),
        }
    }
}

/// What an operator reads in the log: `system store + 96 Amazon RDS roots`,
/// `system store`, `root file <path> (1 certificate)`.
impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => write!(f, "system store + {} Amazon RDS roots", rds::roots().len()),
            Self::System => f.write_str("system store"),
            Self::File { path, certs } => write!(
                f,
                "root file {} ({} certificate{})",
                path.display(),
                certs.len(),
                if certs.len() == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The TLS rules of a function (trust and channel binding) with the connectors they
/// give, built on first use, once per mode: building one reads the system store and
/// parses every root, work a login should not repeat. Shared by every login through an
/// `Arc`; a `native_tls::TlsConnector` is a reference-counted OpenSSL context, cheap to
/// clone into each connection.
pub struct TlsPolicy {
    /// A root file that could not be read is kept as its error, returned by every login
    /// (only [`Tls::new`] builds such a policy; settings fail at start instead).
    trust: Result<Trust, PgError>,
    channel_binding: ChannelBinding,
    /// For `require`, `verify-ca` and `verify-full`.
    connectors: [OnceLock<Result<TlsConnector, PgError>>; 3],
    built: AtomicUsize,
}

impl TlsPolicy {
    pub fn new(trust: Trust, channel_binding: ChannelBinding) -> Self {
        Self::with(Ok(trust), channel_binding)
    }

    fn with(trust: Result<Trust, PgError>, channel_binding: ChannelBinding) -> Self {
        Self {
            trust,
            channel_binding,
            connectors: Default::default(),
            built: AtomicUsize::new(0),
        }
    }

    /// The default policy (system store plus the RDS roots, channel binding preferred),
    /// one per process.
    pub fn shared_default() -> Arc<Self> {
        static DEFAULT: LazyLock<Arc<TlsPolicy>> = LazyLock::new(Default::default);
        DEFAULT.clone()
    }

    /// The trust, or why its root file could not be used.
    pub fn trust(&self) -> Result<&Trust, &PgError> {
        self.trust.as_ref()
    }

    pub fn channel_binding(&self) -> ChannelBinding {
        self.channel_binding
    }

    /// The settings for one login under `mode`, sharing this policy's connectors.
    pub fn tls(self: &Arc<Self>, mode: SslMode) -> Tls {
        Tls {
            mode,
            policy: Arc::clone(self),
        }
    }

    /// The connector for `mode` (`None` for `disable`), built on first use.
    pub fn connector(&self, mode: SslMode) -> Result<Option<TlsConnector>, PgError> {
        let slot = match mode {
            SslMode::Disable => return Ok(None),
            SslMode::Require => 0,
            SslMode::VerifyCa => 1,
            SslMode::VerifyFull => 2,
        };
        // A failed build is kept too: it fails the same way every time (a bad root file,
        // OpenSSL unable to set up a context).
        self.connectors[slot]
            .get_or_init(|| {
                self.built.fetch_add(1, Ordering::Relaxed);
                let built = build(self.trust.as_ref().map_err(Clone::clone)?, mode);
                tracing::debug!(
                    tls = mode.as_str(),
                    trust = %match &self.trust {
                        Ok(trust) => trust.to_string(),
                        Err(e) => format!("unusable: {e}"),
                    },
                    ok = built.is_ok(),
                    "TLS connector built"
                );
                built
            })
            .clone()
            .map(Some)
    }

    /// How many connectors this policy has built: at most one per TLS mode, however many
    /// logins used them.
    pub fn connectors_built(&self) -> usize {
        self.built.load(Ordering::Relaxed)
    }
}

impl Default for TlsPolicy {
    fn default() -> Self {
        Self::new(Trust::Default, ChannelBinding::default())
    }
}

impl fmt::Debug for TlsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPolicy")
            .field("trust", &self.trust)
            .field("channel_binding", &self.channel_binding)
            .field("connectors_built", &self.connectors_built())
            .finish()
    }
}

fn build(trust: &Trust, mode: SslMode) -> Result<TlsConnector, PgError> {
    trust
        .check_mode(mode)
        .map_err(|e| PgError::new(FailureKind::Tls, e.to_string()))?;
    let mut builder = TlsConnector::builder();
    match mode {
        // Encrypted, nothing verified: no trust is consulted. (libpq, for compatibility,
        // verifies the chain under `require` when a root file exists; rotor keeps the
        // documented meaning, and `verify-ca` is the mode that checks the chain.)
        SslMode::Require => {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            // native-tls adds `add_root_certificate` roots to the system store;
            // `disable_built_in_roots(true)` starts from an empty store instead (its
            // TlsConnectorBuilder documentation), which is what a root file means.
            builder.disable_built_in_roots(!trust.uses_system_store());
            for cert in trust.roots() {
                builder.add_root_certificate(cert.clone());
            }
            if mode == SslMode::VerifyCa {
                builder.danger_accept_invalid_hostnames(true);
            }
        }
        // Never asked for (a plain connection needs no connector); an error, not a panic.
        SslMode::Disable => {
            return Err(PgError::new(
                FailureKind::Tls,
                "sslmode disable has no TLS connector".to_owned(),
            ));
        }
    }
    builder
        .build()
        .map_err(|e| PgError::new(FailureKind::Tls, format!("cannot set up TLS: {e}")))
}

/// TLS settings for one login: the mode, and the shared policy that gives its connector
/// and channel binding.
#[derive(Debug, Clone)]
pub struct Tls {
    pub mode: SslMode,
    policy: Arc<TlsPolicy>,
}

impl Tls {
    /// `mode` with a root file as the only trust, or, with `None`, the process's shared
    /// default policy (system store plus RDS roots). A root file that cannot be used fails
    /// the login that uses it. Long-lived callers build one [`TlsPolicy`] instead.
    pub fn new(mode: SslMode, ca_file: Option<PathBuf>) -> Self {
        let policy = match ca_file {
            None => TlsPolicy::shared_default(),
            Some(path) => Arc::new(TlsPolicy::with(
                Trust::from_file(&path)
                    .map_err(|e| PgError::new(FailureKind::Certificate, e.to_string())),
                ChannelBinding::default(),
            )),
        };
        policy.tls(mode)
    }

    pub fn policy(&self) -> &Arc<TlsPolicy> {
        &self.policy
    }
}

impl Default for Tls {
    fn default() -> Self {
        Self::new(SslMode::default(), None)
    }
}

/// The `CERTIFICATE` PEM blocks of a file, in order.
fn pem_blocks(pem: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(pem);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE-----") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END CERTIFICATE-----") {
            blocks.extend(current.take());
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_reads_as_what_it_trusts() {
        assert_eq!(Trust::System.to_string(), "system store");
        let default = Trust::Default.to_string();
        assert!(default.starts_with("system store + "), "{default}");
        assert!(default.ends_with(" Amazon RDS roots"), "{default}");
        let file = Trust::File {
            path: PathBuf::from("ca.pem"),
            certs: Vec::new(),
        };
        assert_eq!(file.to_string(), "root file ca.pem (0 certificates)");
    }

    #[test]
    fn channel_binding_parses_and_defaults_to_prefer() {
        assert_eq!("REQUIRE".parse(), Ok(ChannelBinding::Require));
        assert_eq!(" disable ".parse(), Ok(ChannelBinding::Disable));
        assert!(
            "always"
                .parse::<ChannelBinding>()
                .unwrap_err()
                .contains("prefer")
        );
        assert_eq!(ChannelBinding::default(), ChannelBinding::Prefer);
        assert!(matches!(
            ChannelBinding::Require.wire(),
            WireChannelBinding::Require
        ));
    }

    #[test]
    fn the_default_trust_adds_every_built_in_rds_root_to_the_system_store() {
        let trust = Trust::from_setting(None).unwrap();
        assert!(trust.uses_system_store());
        let ders: Vec<Vec<u8>> = trust.roots().iter().map(|c| c.to_der().unwrap()).collect();
        let rds: Vec<Vec<u8>> = rds::roots().iter().map(|c| c.to_der().unwrap()).collect();
        assert_eq!(ders.len(), 96);
        assert_eq!(ders, rds);
        assert!(format!("{trust:?}").contains("96 Amazon RDS roots"));
        // Building the verifying connectors with them succeeds.
        let policy = TlsPolicy::new(trust, ChannelBinding::Prefer);
        assert!(policy.connector(SslMode::VerifyFull).unwrap().is_some());
        assert!(policy.connector(SslMode::VerifyCa).unwrap().is_some());
    }

    #[test]
    fn system_means_the_system_store_alone_and_only_with_verify_full() {
        let trust = Trust::from_setting(Some("system")).unwrap();
        assert!(trust.uses_system_store());
        assert!(trust.roots().is_empty());
        assert!(trust.check_mode(SslMode::VerifyFull).is_ok());
        assert!(trust.check_mode(SslMode::Disable).is_ok());
        let policy = Arc::new(TlsPolicy::new(trust, ChannelBinding::Prefer));
        for mode in [SslMode::VerifyCa, SslMode::Require] {
            let err = policy.connector(mode).unwrap_err();
            assert!(err.detail.contains("verify-full"), "{err}");
        }
    }

    #[test]
    fn a_root_file_must_hold_a_valid_certificate() {
        let dir = std::env::temp_dir().join(format!("rotor-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let bad = dir.join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.join("missing.pem");
        assert!(matches!(
            Trust::from_file(&empty),
            Err(TrustError::Empty { .. })
        ));
        assert!(matches!(
            Trust::from_file(&bad),
            Err(TrustError::Invalid { index: 1, .. })
        ));
        let err = Trust::from_file(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        // Through the convenience constructor the problem surfaces at login.
        let tls = Tls::new(SslMode::VerifyFull, Some(missing));
        let err = tls.policy().connector(SslMode::VerifyFull).unwrap_err();
        assert_eq!(err.kind, FailureKind::Certificate);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_policy_builds_each_connector_once() {
        let policy = Arc::new(TlsPolicy::default());
        for _ in 0..3 {
            policy.connector(SslMode::VerifyFull).unwrap();
        }
        assert_eq!(policy.connectors_built(), 1);
        policy.connector(SslMode::Require).unwrap();
        policy.connector(SslMode::Disable).unwrap();
        assert_eq!(policy.connectors_built(), 2);
        let (a, b) = (
            policy.tls(SslMode::VerifyCa),
            policy.tls(SslMode::VerifyFull),
        );
        assert!(Arc::ptr_eq(a.policy(), b.policy()));
        assert!(Arc::ptr_eq(
            Tls::new(SslMode::Require, None).policy(),
            &TlsPolicy::shared_default()
        ));
    }
}
