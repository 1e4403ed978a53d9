//! rotor-rotate against moto and a real PostgreSQL (scram-sha-256, TLS only, every
//! statement logged): the handler called as Lambda calls it, step by step, the way
//! Secrets Manager runs a rotation.

mod alternating;
mod app_secret;
mod common;
mod deputy;
mod errors;
mod hostile;
mod single_user;
mod warm;
