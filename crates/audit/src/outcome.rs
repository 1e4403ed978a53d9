//! What one audit run returns (the handler's JSON output), and the counts derived from it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::findings::{Code, Finding};
use rotor_core::calls::Counts;

/// A secret whose rotation belongs to another service (`OwningService`, e.g. RDS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Managed {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub owning_service: String,
}

/// What AUTO_ROTATE did for one too-old secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationStart {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `started`, `would-start` (DRY_RUN) or `failed`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether the SNS report went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum ReportStatus {
    /// Published; the SNS message id.
    Sent { message_id: String },
    /// `REPORT=findings` and nothing to report.
    NotNeeded,
    /// No `SNS_TOPIC_ARN` configured.
    NoTopic,
}

/// The result of one audit.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The moment audited, RFC 3339.
    pub as_of: String,
    pub environment: String,
    pub dry_run: bool,
    pub secrets_audited: u64,
    pub parameters_audited: u64,
    /// Secrets left out by `rotor:audit=skip` or a `skip` prefix rule.
    pub skipped_by_policy: u64,
    /// Replicas whose primary is in another region (audited there).
    pub replicas_skipped: u64,
    /// Findings per code; every code is present, zero included.
    pub counts: BTreeMap<&'static str, u64>,
    pub findings: Vec<Finding>,
    pub managed: Vec<Managed>,
    pub rotations: Vec<RotationStart>,
    pub report: ReportStatus,
    /// AWS operations this run made, by name.
    pub calls: Counts,
}

/// Findings per code, every code present.
pub fn count_by_code(findings: &[Finding]) -> BTreeMap<&'static str, u64> {
    let mut counts: BTreeMap<&'static str, u64> =
        Code::ALL.iter().map(|c| (c.as_str(), 0)).collect();
    for f in findings {
        *counts.entry(f.code.as_str()).or_default() += 1;
    }
    counts
}

impl Outcome {
    pub fn rotations_with(&self, outcome: &str) -> u64 {
        self.rotations
            .iter()
            .filter(|r| r.outcome == outcome)
            .count() as u64
    }
}
