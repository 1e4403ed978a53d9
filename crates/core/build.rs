//! Turns the vendored Amazon RDS root CAs (`rds-ca/rds-root-cas.pem`) into DER for
//! `include_bytes!`: a third smaller than the PEM text in every binary (binary size is a
//! deployment budget here), with no base64 step at run time. The PEM stays the reviewed
//! source (it carries a name line per block and `SHA256SUMS` checks it); unit tests in
//! `pg::rds` check that each DER certificate is its PEM block decoded.

use std::path::{Path, PathBuf};

const PEM: &str = "rds-ca/rds-root-cas.pem";

fn main() {
    println!("cargo::rerun-if-changed={PEM}");
    // The roots are for PostgreSQL's TLS only.
    if std::env::var_os("CARGO_FEATURE_PG").is_none() {
        return;
    }
    let text = std::fs::read_to_string(PEM).unwrap_or_else(|e| panic!("read {PEM}: {e}"));
    let mut der = Vec::new();
    let mut body: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        match line.trim_end() {
            "-----BEGIN CERTIFICATE-----" => body = Some(String::new()),
            "-----END CERTIFICATE-----" => {
                let b64 = body
                    .take()
                    .unwrap_or_else(|| panic!("{PEM}:{}: END without BEGIN", n + 1));
                der.extend(decode(&b64).unwrap_or_else(|e| panic!("{PEM}:{}: {e}", n + 1)));
            }
            line => {
                if let Some(b64) = body.as_mut() {
                    b64.push_str(line);
                }
            }
        }
    }
    assert!(body.is_none(), "{PEM}: BEGIN without END");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    write(&out.join("rds-root-cas.der"), &der);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Standard base64 with padding (RFC 4648 section 4), as PEM uses.
fn decode(b64: &str) -> Result<Vec<u8>, String> {
    let value = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("not base64: {:?}", c as char)),
        } as u32)
    };
    let bytes = b64.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err("base64 length is not a multiple of 4".into());
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, quad) in bytes.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != bytes.len() / 4) {
            return Err("misplaced base64 padding".into());
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Ok(out)
}
