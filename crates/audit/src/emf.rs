//! The run's CloudWatch metrics, as one Embedded Metric Format line: secrets and
//! parameters audited, one count per finding code, with `Stack` (when deployed) and
//! `Environment` dimensions.

use std::io::Write;
use std::sync::{Arc, Mutex};

use rotor_core::metrics::{Emf, MetricsConfig, Unit};

use crate::run_outcome::{Outcome, RotationOutcome};

/// Where the EMF line goes when not through the log (tests read it back from a buffer).
pub type MetricsOut = Arc<Mutex<dyn Write + Send>>;

/// The record for a run. Every code is present, zero included, so alarms on a code see
/// data points on clean days too.
pub fn record(metrics: &MetricsConfig, o: &Outcome) -> Emf {
    let mut emf = metrics
        .record()
        .dimension("Environment", o.environment.clone())
        .metric("SecretsAudited", o.secrets_audited as f64, Unit::Count)
        .metric(
            "ParametersAudited",
            o.parameters_audited as f64,
            Unit::Count,
        )
        .metric("Findings", o.findings.len() as f64, Unit::Count);
    for (code, n) in &o.counts {
        emf = emf.metric(*code, *n as f64, Unit::Count);
    }
    emf.metric("ManagedByService", o.managed.len() as f64, Unit::Count)
        .metric(
            "RotationsStarted",
            o.rotations_with(RotationOutcome::Started) as f64,
            Unit::Count,
        )
        .metric(
            "RotationStartFailures",
            o.rotations_with(RotationOutcome::Failed) as f64,
            Unit::Count,
        )
}

/// Writes the record as one line: through the log (`Emf::emit`, which Lambda's log-level
/// filtering keeps whatever the level) unless `out` sends it elsewhere. The timestamp is
/// the clock, not the audit's "as of": CloudWatch rejects EMF timestamps more than two
/// weeks old or two hours ahead, and a replayed event may be either.
pub fn write(out: Option<&MetricsOut>, emf: &Emf) -> std::io::Result<()> {
    let Some(out) = out else {
        emf.emit();
        return Ok(());
    };
    let mut line = emf.to_line(chrono::Utc::now().timestamp_millis());
    line.push('\n');
    let mut w = out
        .lock()
        .map_err(|_| std::io::Error::other("metrics writer lock poisoned"))?;
    w.write_all(line.as_bytes())?;
    w.flush()
}
