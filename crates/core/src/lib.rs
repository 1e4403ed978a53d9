//! Shared building blocks of the rotor Lambda functions: AWS clients, secret payloads,
//! PostgreSQL connections, settings, logging, metrics, notifications and errors.

pub mod aws;
pub mod calls;
pub mod config;
pub mod credentials;
pub mod deadline;
pub mod error;
pub mod invocation;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod pg;

pub use credentials::{CredentialsError, DbCredentials};
pub use error::{AwsError, Error};
pub use secrecy::{ExposeSecret, SecretString};
