//! Shared building blocks of the rotor Lambda functions: AWS clients, secret payloads,
//! PostgreSQL connections, settings, logging, metrics, notifications and errors.

pub mod aws;
pub mod aws_calls;
pub mod config;
pub mod credentials;
pub mod deadline;
pub mod error;
pub mod eventbridge;
pub mod invocation;
pub mod logging;
pub mod metrics;
pub mod notify;
#[cfg(feature = "pg")]
pub mod pg;
pub mod rds;
pub mod secrets;

pub use credentials::{CredentialFields, CredentialsError, DbCredentials};
pub use error::AwsError;
pub use secrecy::{ExposeSecret, SecretString};
