//! What the AWS clients do, made visible: an interceptor that counts calls by service
//! and operation (the report shows them, and a test proves a no-change sync writes
//! nothing), and a retry classifier that treats SSM's `TooManyUpdates` as throttling,
//! which the SDK's default classifier does not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryReason,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind;

/// Operations that change something. Everything else the function calls only reads
/// (or publishes the report).
pub const WRITES: &[&str] = &[
    "PutParameter",
    "DeleteParameter",
    "DeleteParameters",
    "AddTagsToResource",
    "RemoveTagsFromResource",
    "ReplicateSecretToRegions",
    "RemoveRegionsFromReplication",
];

/// Calls made, by `Operation` (summed over regions and services), shared by every client.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Calls made since `before` was taken.
    pub fn since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        self.snapshot()
            .into_iter()
            .map(|(op, n)| {
                let earlier = before.get(&op).copied().unwrap_or(0);
                (op, n - earlier)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The number of write calls in a set of counts.
pub fn writes(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(op, _)| WRITES.contains(&op.as_str()))
        .map(|(_, n)| n)
        .sum()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Once per operation, however many attempts the retry policy makes. (Not in
    // `read_before_execution`: client interceptors run that before the operation's
    // metadata is in the config bag.)
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "Unknown".to_owned());
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(op).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// `TooManyUpdates` (PutParameter and tag calls above the account's rate) as a throttling
/// error, so adaptive retry slows the client down and tries again.
#[derive(Debug, Default)]
pub struct TooManyUpdates;

fn code_of(
    err: &OrchestratorError<aws_smithy_runtime_api::client::interceptors::context::Error>,
) -> Option<String> {
    use aws_sdk_ssm::operation as op;
    let e = err.as_operation_error()?;
    macro_rules! try_types {
        ($($t:ty),*) => {
            $(if let Some(e) = e.downcast_ref::<$t>() { return e.code().map(str::to_owned); })*
        };
    }
    try_types!(
        op::put_parameter::PutParameterError,
        op::add_tags_to_resource::AddTagsToResourceError,
        op::remove_tags_from_resource::RemoveTagsFromResourceError,
        op::delete_parameter::DeleteParameterError,
        op::delete_parameters::DeleteParametersError,
        op::label_parameter_version::LabelParameterVersionError
    );
    None
}

impl ClassifyRetry for TooManyUpdates {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(err)) if code_of(err).as_deref() == Some("TooManyUpdates") => {
                RetryAction::RetryIndicated(RetryReason::RetryableError {
                    kind: ErrorKind::ThrottlingError,
                    retry_after: None,
                })
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "TooManyUpdates"
    }
}
