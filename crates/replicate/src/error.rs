//! Why one item (a parameter or a secret in one region), or the sync's own state, could
//! not be handled. AWS failures keep the service's code; local failures have their own
//! variants, so nothing is dressed up as an AWS error it never was.

use aws_smithy_types::error::operation::BuildError;
use rotor_core::error::{AwsError, ErrorType};

#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A request could not be built from what the service returned (an empty tag key,
    /// a filter without values). Names the part, never a value.
    #[error("could not build the {what} of a request")]
    InvalidRequest {
        what: &'static str,
        #[source]
        source: BuildError,
    },
    /// Secrets Manager accepted the replication request but reported the replica failed.
    #[error("Secrets Manager could not create the replica in {region}: {message}")]
    ReplicationFailed { region: String, message: String },
    /// The state table could not be read or written.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl ItemError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Aws(e) if e.is_not_found())
    }

    pub fn invalid(what: &'static str) -> impl FnOnce(BuildError) -> Self {
        move |source| Self::InvalidRequest { what, source }
    }
}

impl ErrorType for ItemError {
    fn error_type(&self) -> String {
        match self {
            Self::Aws(e) => format!("Rotor.Aws.{}", e.code),
            Self::InvalidRequest { .. } => "Rotor.Replicate.InvalidRequest".into(),
            Self::ReplicationFailed { .. } => "Rotor.Replicate.ReplicationFailed".into(),
            Self::State(e) => e.error_type(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_failures_have_their_own_stable_types() {
        let err = ItemError::ReplicationFailed {
            region: "us-west-2".into(),
            message: "key not found".into(),
        };
        assert_eq!(err.error_type(), "Rotor.Replicate.ReplicationFailed");
        let build = aws_sdk_ssm::types::Tag::builder().build().unwrap_err();
        let err = ItemError::invalid("tag")(build);
        assert_eq!(err.error_type(), "Rotor.Replicate.InvalidRequest");
        assert!(
            std::error::Error::source(&err).is_some(),
            "the cause is kept"
        );
        assert!(!err.is_not_found());
    }
}
