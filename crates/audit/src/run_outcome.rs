//! What one audit run returns (the handler's JSON output): findings, counts, rotations
//! started and whether the SNS report went out. The report's text is `sns_report`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::findings::{Code, Finding};
use rotor_core::aws_calls::Counts;

/// A secret whose rotation belongs to another service (`OwningService`, e.g. RDS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Managed {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub owning_service: String,
}

/// What AUTO_ROTATE did for one secret; serialized as `started`, `would-start`, `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationOutcome {
    /// RotateSecret accepted the request.
    Started,
    /// DRY_RUN: it would have been started.
    WouldStart,
    /// RotateSecret refused; the entry's `error` says why.
    Failed,
}

impl RotationOutcome {
    /// The stable name used in the output, the log and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationOutcome::Started => "started",
            RotationOutcome::WouldStart => "would-start",
            RotationOutcome::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RotationOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What AUTO_ROTATE did for one too-old secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationStart {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub outcome: RotationOutcome,
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
    /// How many rotations ended in `outcome`.
    pub fn rotations_with(&self, outcome: RotationOutcome) -> u64 {
        self.rotations
            .iter()
            .filter(|r| r.outcome == outcome)
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_outcomes_serialize_as_their_stable_names() {
        for outcome in [
            RotationOutcome::Started,
            RotationOutcome::WouldStart,
            RotationOutcome::Failed,
        ] {
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::Value::String(outcome.as_str().to_owned())
            );
        }
        assert_eq!(RotationOutcome::WouldStart.to_string(), "would-start");
    }
}
