//! Test support: a local moto server and a real PostgreSQL (scram-sha-256 on every host
//! line, TLS with a CA generated at start, every statement logged), each started once
//! per test binary on a free loopback port and stopped when the binary exits.
//!
//! Tests ask for what they need (`moto()`, `postgres()`), create uniquely named
//! resources with [`unique`], and so run in parallel against the same servers.

pub mod django;
pub mod fault;
pub mod https;
pub mod lambda;
pub mod logs;
pub mod measure;
mod moto;
mod postgres;
mod process;
pub mod props;
pub mod rotation;

pub use moto::{Moto, moto};
pub use postgres::{CLEARTEXT_USER, Postgres, create_role_on, other_postgres, postgres};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The repository root (where `.venv` and `scripts/` live).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// A name no other test in this run uses: `<prefix>-<pid>-<n>-<random>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{}", std::process::id(), &random_hex(3))
}

/// `bytes` random bytes from the kernel, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
