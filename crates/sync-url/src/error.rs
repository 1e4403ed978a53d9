//! What can go wrong in a sync, each with a stable Lambda `errorType`. No variant ever
//! holds a secret value, the URL or a part of either.

use rotor_core::error::ErrorType;
use rotor_core::rds::RdsError;
use rotor_core::{AwsError, CredentialsError};

/// A sync that did not happen. Every pair-level error leaves the target unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("source secret {secret} was not found (RDS_SECRET_ARN)")]
    SourceNotFound { secret: String },
    #[error("cannot read the source secret {secret}: {source}")]
    SourceRead {
        secret: String,
        source: Box<AwsError>,
    },
    #[error("source secret {secret} cannot be used: {problem}")]
    SourceFormat {
        secret: String,
        #[source]
        problem: CredentialsError,
    },
    #[error("cannot read the target secret {secret}: {source}")]
    TargetRead {
        secret: String,
        source: Box<AwsError>,
    },
    #[error("target secret {secret} {problem}; it was left unchanged")]
    TargetFormat { secret: String, problem: String },
    #[error("cannot write the target secret {secret}: {source}; it was left unchanged")]
    TargetWrite {
        secret: String,
        source: Box<AwsError>,
    },
    #[error(
        "wrote version {written} of the target secret {secret}, but Secrets Manager did not \
         make it AWSCURRENT"
    )]
    TargetNotCurrent { secret: String, written: String },
    #[error("no {value} for the URL in {target}: {tried}")]
    Missing {
        value: &'static str,
        target: String,
        tried: String,
    },
    #[error(
        "no host for the URL in {target} but the one in its own current URL, which is not \
         used unless ALLOW_HOST_FROM_TARGET=true ({tried}): give the host in the source \
         secret's `host` key, through the RDS lookup (DB_INSTANCE_IDENTIFIER or \
         DB_CLUSTER_IDENTIFIER) or with DB_HOST; it was left unchanged"
    )]
    HostFromTarget { target: String, tried: String },
    #[error("cannot build the URL for {target}: {problem}")]
    Invalid { target: String, problem: String },
    #[error("RDS lookup of {kind} {id} ({var}) failed: {source}")]
    Rds {
        kind: &'static str,
        id: String,
        var: &'static str,
        #[source]
        source: Box<RdsError>,
    },
    #[error("invalid event: {0}")]
    Event(String),
    #[error("{} of {total} pairs failed: {}", failures.len(), summary(failures))]
    Several {
        total: usize,
        failures: Vec<(String, SyncError)>,
    },
}

fn summary(failures: &[(String, SyncError)]) -> String {
    failures
        .iter()
        .map(|(target, e)| format!("[{target}] {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl SyncError {
    /// Whether trying again later may succeed (throttling, timeouts, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::SourceRead { source, .. }
            | Self::TargetRead { source, .. }
            | Self::TargetWrite { source, .. } => source.is_retryable(),
            Self::Rds { source, .. } => source.is_retryable(),
            Self::Several { failures, .. } => failures.iter().all(|(_, e)| e.is_retryable()),
            _ => false,
        }
    }
}

impl ErrorType for SyncError {
    fn error_type(&self) -> String {
        match self {
            Self::SourceNotFound { .. } => "Rotor.SyncUrl.SourceNotFound".into(),
            Self::SourceRead { source, .. } | Self::TargetRead { source, .. } => {
                format!("Rotor.Aws.{}", source.code)
            }
            Self::SourceFormat { .. } => "Rotor.SyncUrl.SourceFormat".into(),
            Self::TargetFormat { .. } => "Rotor.SyncUrl.TargetFormat".into(),
            Self::TargetWrite { .. } => "Rotor.SyncUrl.TargetNotWritable".into(),
            Self::TargetNotCurrent { .. } => "Rotor.SyncUrl.TargetNotCurrent".into(),
            Self::Missing { .. } => "Rotor.SyncUrl.MissingValue".into(),
            Self::HostFromTarget { .. } => "Rotor.SyncUrl.HostFromTargetRefused".into(),
            Self::Invalid { .. } => "Rotor.SyncUrl.InvalidValue".into(),
            Self::Rds { .. } => "Rotor.SyncUrl.RdsLookup".into(),
            Self::Event(_) => "Rotor.InvalidEvent".into(),
            Self::Several { failures, .. } => match failures.as_slice() {
                [(_, only)] => only.error_type(),
                _ => "Rotor.SyncUrl.SeveralFailed".into(),
            },
        }
    }
}

impl From<SyncError> for lambda_runtime::Diagnostic {
    fn from(err: SyncError) -> Self {
        rotor_core::error::diagnostic(&err)
    }
}
