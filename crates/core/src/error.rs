//! Errors shared by every function: AWS call failures classified once, and the mapping
//! of errors to the Lambda runtime's `Diagnostic` with a stable `error_type`.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How an AWS call failed, decided once from the error code and the transport error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// Rate limits (`ThrottlingException`, `TooManyUpdates`, ...): try again later.
    Throttled,
    /// Timeouts, connection failures and 5xx: try again.
    Transient,
    /// The resource does not exist.
    NotFound,
    /// The caller lacks a permission or a KMS key is unusable.
    AccessDenied,
    /// Anything else: a bad request that will fail again.
    Other,
}

impl AwsErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Transient => "transient",
            Self::NotFound => "not-found",
            Self::AccessDenied => "access-denied",
            Self::Other => "other",
        }
    }
}

/// A failed AWS call: the operation, the service's error code and message. AWS error
/// messages name resources, never secret values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed ({code}): {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub kind: AwsErrorKind,
}

impl AwsError {
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug,
    {
        let (code, message, kind) = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("Unknown").to_owned();
                let message = e.message().unwrap_or("").to_owned();
                let kind = kind_of_code(&code);
                (code, message, kind)
            }
            SdkError::TimeoutError(_) => (
                "Timeout".to_owned(),
                "the request timed out".to_owned(),
                AwsErrorKind::Transient,
            ),
            SdkError::DispatchFailure(d) => (
                "DispatchFailure".to_owned(),
                dispatch_message(d),
                AwsErrorKind::Transient,
            ),
            SdkError::ResponseError(_) => (
                "ResponseError".to_owned(),
                "the response could not be read".to_owned(),
                AwsErrorKind::Transient,
            ),
            _ => (
                "ConstructionFailure".to_owned(),
                aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
                AwsErrorKind::Other,
            ),
        };
        Self {
            operation,
            code,
            message,
            kind,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == AwsErrorKind::NotFound
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, AwsErrorKind::Throttled | AwsErrorKind::Transient)
    }
}

/// What went wrong before a request reached the service, with the transport's root cause
/// (DNS, TCP or TLS: "Connection refused", "invalid peer certificate: UnknownIssuer"). A
/// dispatch failure happens while connecting, so its causes never hold request content.
fn dispatch_message(d: &aws_smithy_runtime_api::client::result::DispatchFailure) -> String {
    let what = if d.is_timeout() {
        "timed out connecting to the endpoint"
    } else if d.is_io() {
        "could not reach the endpoint"
    } else {
        "could not send the request"
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = d
        .as_connector_error()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(next) = cause.and_then(|e| e.source()) {
        cause = Some(next);
    }
    match cause {
        Some(root) => format!("{what}: {root}"),
        None => what.to_owned(),
    }
}

fn kind_of_code(code: &str) -> AwsErrorKind {
    match code {
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "TooManyUpdates"
        | "RequestLimitExceeded"
        | "ThrottledException"
        | "RequestThrottled"
        | "ProvisionedThroughputExceededException"
        | "SlowDown" => AwsErrorKind::Throttled,
        "ResourceNotFoundException"
        | "ParameterNotFound"
        | "ParameterVersionNotFound"
        | "DBInstanceNotFound"
        | "DBInstanceNotFoundFault"
        | "DBClusterNotFoundFault"
        | "NotFound"
        | "NotFoundException" => AwsErrorKind::NotFound,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnauthorizedOperation"
        | "AuthorizationError"
        | "KMSAccessDeniedException"
        | "KMSInvalidStateException"
        | "KMSDisabledException"
        | "KMSNotFoundException"
        | "InvalidKeyId" => AwsErrorKind::AccessDenied,
        "InternalServiceError"
        | "InternalFailure"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "InternalError" => AwsErrorKind::Transient,
        _ => AwsErrorKind::Other,
    }
}

/// `.aws("Operation")` turns an SDK result into one with a classified [`AwsError`].
pub trait AwsResultExt<T> {
    fn aws(self, operation: &'static str) -> Result<T, AwsError>;
}

impl<T, E, R> AwsResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    fn aws(self, operation: &'static str) -> Result<T, AwsError> {
        self.map_err(|e| AwsError::from_sdk(operation, e))
    }
}

/// A stable, machine-matchable name for an error, used as the Lambda `errorType`.
pub trait ErrorType {
    fn error_type(&self) -> String;
}

/// Logs an event a function cannot use, the same way in every function: at ERROR, with
/// the error and its stable type. Call it inside the invocation's span.
pub fn log_invalid_event<E: ErrorType + fmt::Display>(err: &E) {
    tracing::error!(error = %err, error_type = %err.error_type(), "invalid event");
}

/// The runtime's error report for an error: its stable type and its (secret-free) text.
pub fn diagnostic<E: ErrorType + fmt::Display>(err: &E) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: err.error_type(),
        error_message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_are_retryable_and_not_found_is_recognised() {
        assert_eq!(kind_of_code("TooManyUpdates"), AwsErrorKind::Throttled);
        assert_eq!(kind_of_code("ThrottlingException"), AwsErrorKind::Throttled);
        assert_eq!(kind_of_code("ParameterNotFound"), AwsErrorKind::NotFound);
        assert_eq!(kind_of_code("ValidationException"), AwsErrorKind::Other);
    }

    #[test]
    fn diagnostics_carry_the_stable_type_and_the_message() {
        #[derive(Debug, thiserror::Error)]
        #[error("invalid setting PG_SSLMODE")]
        struct Bad;
        impl ErrorType for Bad {
            fn error_type(&self) -> String {
                "Rotor.Config".into()
            }
        }
        let d = diagnostic(&Bad);
        assert_eq!(d.error_type, "Rotor.Config");
        assert_eq!(d.error_message, "invalid setting PG_SSLMODE");
    }
}
