//! The Amazon RDS root CAs built into rotor (`rds-ca/`, refreshed by
//! `scripts/refresh-rds-ca.sh`), parsed once, on first use. Lambda's base images do not
//! trust them, so without them `verify-full` against RDS would need a bundle shipped
//! beside the function.

use std::sync::LazyLock;

use native_tls::Certificate;

/// The roots as concatenated DER certificates, decoded from the vendored PEM by the build
/// script.
static DER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rds-root-cas.der"));

/// The built-in Amazon RDS root CAs.
pub fn roots() -> &'static [Certificate] {
    static ROOTS: LazyLock<Vec<Certificate>> = LazyLock::new(|| {
        der_certificates(DER)
            .map(|der| {
                // Fixed at build time and parsed by the unit tests below: a failure here
                // is a broken build, not a condition to handle at run time.
                Certificate::from_der(der).expect("a built-in RDS root parses")
            })
            .collect()
    });
    &ROOTS
}

/// Splits concatenated DER certificates at their outer `SEQUENCE` lengths.
fn der_certificates(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let (header, len) = der_header(bytes).expect("built-in RDS roots are DER");
        let (cert, rest) = bytes.split_at(header + len);
        bytes = rest;
        Some(cert)
    })
}

/// The header length and content length of the DER element at the start of `bytes`.
fn der_header(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (2 + n, len)
    };
    (bytes.len() >= header + len).then_some((header, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const PEM: &str = include_str!("../../rds-ca/rds-root-cas.pem");
    const SUMS: &str = include_str!("../../rds-ca/SHA256SUMS");

    /// `(sha256, common name)` per line of SHA256SUMS.
    fn sums() -> Vec<(&'static str, &'static str)> {
        SUMS.lines()
            .map(|l| l.split_once("  ").expect("<sha256>  <name>"))
            .collect()
    }

    /// Each PEM block with the `# <name>` line before it.
    fn pem_blocks() -> Vec<(&'static str, String)> {
        let mut blocks = Vec::new();
        let mut name = None;
        let mut current: Option<String> = None;
        for line in PEM.lines() {
            if let Some(n) = line.strip_prefix("# ") {
                name = Some(n);
            } else if line == "-----BEGIN CERTIFICATE-----" {
                current = Some(String::new());
            }
            if let Some(block) = current.as_mut() {
                block.push_str(line);
                block.push('\n');
            }
            if line == "-----END CERTIFICATE-----" {
                let block = current.take().expect("BEGIN before END");
                blocks.push((name.take().expect("a name line before each block"), block));
            }
        }
        blocks
    }

    /// The DER elements inside a constructed element.
    fn children(element: &[u8]) -> Vec<&[u8]> {
        let (header, len) = der_header(element).unwrap();
        let mut content = &element[header..header + len];
        let mut out = Vec::new();
        while !content.is_empty() {
            let (h, l) = der_header(content).unwrap();
            out.push(&content[..h + l]);
            content = &content[h + l..];
        }
        out
    }

    #[test]
    fn the_built_in_rds_roots_are_exactly_those_sha256sums_lists() {
        let sums = sums();
        assert_eq!(sums.len(), 96, "the vendored set holds 96 roots");
        assert_eq!(roots().len(), sums.len());
        let blocks = pem_blocks();
        assert_eq!(blocks.len(), sums.len());
        for ((name, block), (sum, listed)) in blocks.iter().zip(&sums) {
            assert_eq!(name, listed, "the name line matches SHA256SUMS");
            let digest: String = Sha256::digest(block.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(
                &digest, sum,
                "{name}: the PEM block is the one SHA256SUMS lists"
            );
        }
    }

    #[test]
    fn each_embedded_root_is_its_pem_block_decoded_and_self_signed_by_amazon_rds() {
        let ders: Vec<&[u8]> = der_certificates(DER).collect();
        for ((name, block), der) in pem_blocks().iter().zip(&ders) {
            let from_pem = Certificate::from_pem(block.as_bytes()).unwrap();
            assert_eq!(&from_pem.to_der().unwrap(), der, "{name}");
            // Certificate ::= SEQUENCE { tbsCertificate, ... }; TBSCertificate ::= SEQUENCE
            // { [0] version, serialNumber, signature, issuer, validity, subject, ... }.
            let tbs = children(der)[0];
            let fields = children(tbs);
            let (issuer, subject) = (fields[3], fields[5]);
            assert_eq!(issuer, subject, "{name} is self-signed (subject == issuer)");
            let contains = |needle: &str| {
                subject
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            };
            assert!(contains(name), "{name}: the subject holds the listed name");
            assert!(contains("Amazon RDS") && contains("Amazon Web Services, Inc."));
        }
        assert_eq!(ders.len(), pem_blocks().len());
    }

    #[test]
    fn der_lengths_in_short_and_long_form_are_read() {
        assert_eq!(der_header(&[0x30, 0x03, 1, 2, 3]), Some((2, 3)));
        assert_eq!(der_header(&[0x30, 0x81, 0x01, 9]), Some((3, 1)));
        assert_eq!(der_header(&[0x30, 0x82, 0x01, 0x00]), None, "truncated");
        assert_eq!(der_header(&[0x30]), None);
    }
}
