//! How an audit run fails: one enum for the handler, one for a malformed event, each with
//! a stable `error_type` and its cause kept as the source.

use aws_smithy_types::error::operation::BuildError;
use rotor_core::error::{AwsError, ErrorType};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    #[error("could not write the metrics line: {0}")]
    Metrics(#[source] std::io::Error),
    /// A request the audit builds itself was refused by the SDK's builder before any call:
    /// a fault in the audit, not in AWS or the event.
    #[error("internal error: could not build the {what}: {source}")]
    RequestBuild {
        what: &'static str,
        #[source]
        source: BuildError,
    },
}

impl ErrorType for Error {
    fn error_type(&self) -> String {
        match self {
            Error::Aws(e) => format!("Rotor.Aws.{}", e.code),
            Error::Event(e) => e.error_type(),
            Error::Metrics(_) => "Rotor.Metrics".into(),
            Error::RequestBuild { .. } => "Rotor.Internal".into(),
        }
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(err: Error) -> Self {
        rotor_core::error::diagnostic(&err)
    }
}

/// An invoke event the audit cannot read. Names the field and the kind of value found;
/// the scheduled event carries no secret, and the time is quoted to show what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("field time {value:?} is not an RFC 3339 timestamp: {source}")]
    TimeNotRfc3339 {
        value: String,
        #[source]
        source: chrono::ParseError,
    },
    #[error("field time must be an RFC 3339 string, not {found}")]
    TimeNotString { found: &'static str },
}

impl ErrorType for EventError {
    fn error_type(&self) -> String {
        "Rotor.InvalidEvent".into()
    }
}
