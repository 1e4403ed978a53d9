//! Why a rotation step failed. Every message names the secret (and the version where it
//! matters) and never a secret value; every variant has a stable Lambda `errorType`.

use rotor_core::config::ConfigError;
use rotor_core::error::ErrorType;
use rotor_core::pg::PgError;
use rotor_core::{AwsError, CredentialsError};

use crate::app_secret::AppSecretError;
use crate::event::{EventError, Step};
use crate::password::PasswordError;

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("invalid rotation event: {0}")]
    Event(#[from] EventError),

    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("rotation is not enabled on secret {secret}")]
    RotationNotEnabled { secret: String },

    #[error(
        "version {version} is not a version of secret {secret}: the event's ClientRequestToken \
         does not belong to this secret"
    )]
    UnknownVersion { secret: String, version: String },

    #[error(
        "version {version} of secret {secret} is not staged AWSPENDING (its stages: {stages}); \
         refusing to rotate"
    )]
    NotPending {
        secret: String,
        version: String,
        stages: String,
    },

    #[error("secret {secret} has no {stage} value{hint}")]
    MissingValue {
        secret: String,
        stage: &'static str,
        hint: &'static str,
    },

    #[error("the {stage} value of secret {secret} cannot be used: {source}")]
    Format {
        secret: String,
        stage: &'static str,
        source: CredentialsError,
    },

    #[error(
        "secret {secret} has engine `{engine}`; this function rotates PostgreSQL (`postgres`) \
         credentials"
    )]
    WrongEngine { secret: String, engine: String },

    #[error(
        "secret {secret} is set up for alternating-users rotation but has no `masterarn` key \
         (the ARN of the secret holding the credentials that can change both users)"
    )]
    MissingMasterArn { secret: String },

    #[error(
        "secret {secret}: the AWSPENDING {what} differs from the AWSCURRENT {what}; a rotation \
         never changes the {what}"
    )]
    Mismatch { secret: String, what: &'static str },

    #[error(
        "secret {secret}: the alternate user name `{username}` is {len} bytes; PostgreSQL \
         allows at most 63"
    )]
    UsernameTooLong {
        secret: String,
        username: String,
        len: usize,
    },

    #[error("secret {secret}: {problem}")]
    Invalid { secret: String, problem: String },

    #[error("secret {secret}: {problem}")]
    AppSecret {
        secret: String,
        #[source]
        problem: AppSecretError,
    },

    /// rotor will not act on what the secret asks: its database is not the master's, or
    /// the role it names is too powerful. Nothing was changed.
    #[error("secret {secret}: refused: {reason}")]
    Refused {
        secret: String,
        /// `Host` or `Role`: the last part of the error type.
        what: &'static str,
        reason: String,
    },

    #[error("secret {secret}: no new password could be made: {source}")]
    Password {
        secret: String,
        source: PasswordError,
    },

    #[error(transparent)]
    Login(Box<LoginFailure>),

    #[error(transparent)]
    Database(Box<DatabaseFailure>),

    #[error("secret {secret}: {source}")]
    Aws { secret: String, source: AwsError },

    #[error(
        "secret {secret}: step {step} stopped before the Lambda deadline ({budget_ms} ms were \
         available after keeping {margin_ms} ms in reserve); it is safe to retry"
    )]
    Deadline {
        secret: String,
        step: Step,
        budget_ms: u128,
        margin_ms: u128,
    },
}

/// No login worked with the credentials tried.
#[derive(Debug, thiserror::Error)]
#[error("secret {secret}: cannot log in to {host}:{port} as {user} (TLS {tls}): {attempts}")]
pub struct LoginFailure {
    pub secret: String,
    pub user: String,
    pub host: String,
    pub port: u16,
    pub tls: String,
    /// Each credential tried and why it failed.
    pub attempts: String,
    /// The first failure, which decides the error type.
    pub source: PgError,
}

/// A statement failed after logging in.
#[derive(Debug, thiserror::Error)]
#[error("secret {secret}: {action} failed on {host}:{port}: {source}")]
pub struct DatabaseFailure {
    pub secret: String,
    pub action: String,
    pub host: String,
    pub port: u16,
    pub source: PgError,
}

impl RotateError {
    pub fn aws(secret: &str) -> impl FnOnce(AwsError) -> RotateError + '_ {
        move |source| RotateError::Aws {
            secret: secret.to_owned(),
            source,
        }
    }

    pub fn app_secret(secret: &str) -> impl FnOnce(AppSecretError) -> RotateError + '_ {
        move |problem| RotateError::AppSecret {
            secret: secret.to_owned(),
            problem,
        }
    }

    pub fn password(secret: &str) -> impl FnOnce(PasswordError) -> RotateError + '_ {
        move |source| RotateError::Password {
            secret: secret.to_owned(),
            source,
        }
    }

    pub fn invalid(secret: &str, problem: impl Into<String>) -> Self {
        RotateError::Invalid {
            secret: secret.to_owned(),
            problem: problem.into(),
        }
    }
}

impl ErrorType for RotateError {
    fn error_type(&self) -> String {
        match self {
            RotateError::Event(_) => "Rotor.InvalidEvent".into(),
            RotateError::Config(_) => "Rotor.Config".into(),
            RotateError::RotationNotEnabled { .. } => "Rotor.Rotation.NotEnabled".into(),
            RotateError::UnknownVersion { .. } => "Rotor.Rotation.UnknownVersion".into(),
            RotateError::NotPending { .. } => "Rotor.Rotation.NotPending".into(),
            RotateError::MissingValue { .. } => "Rotor.Rotation.MissingValue".into(),
            RotateError::Format { .. } => "Rotor.SecretFormat".into(),
            RotateError::WrongEngine { .. } => "Rotor.SecretFormat.Engine".into(),
            RotateError::MissingMasterArn { .. } => "Rotor.SecretFormat.MasterArn".into(),
            RotateError::Mismatch { .. } => "Rotor.Rotation.Mismatch".into(),
            RotateError::UsernameTooLong { .. } => "Rotor.SecretFormat.Username".into(),
            RotateError::Invalid { .. } | RotateError::AppSecret { .. } => {
                "Rotor.SecretFormat".into()
            }
            RotateError::Refused { what, .. } => format!("Rotor.Refused.{what}"),
            RotateError::Password { .. } => "Rotor.Password".into(),
            RotateError::Login(f) => format!("Rotor.Postgres.Login.{}", f.source.kind.as_str()),
            RotateError::Database(f) => format!("Rotor.Postgres.{}", f.source.kind.as_str()),
            RotateError::Aws { source, .. } => format!("Rotor.Aws.{}", source.code),
            RotateError::Deadline { .. } => "Rotor.Deadline".into(),
        }
    }
}

impl From<RotateError> for lambda_runtime::Diagnostic {
    fn from(err: RotateError) -> Self {
        rotor_core::error::diagnostic(&err)
    }
}
