//! What the AWS clients do, made visible and retried right: an interceptor that counts
//! every operation a function's clients start, by name (the counts go into the output and
//! the log, so the cost of a run is visible and, for the audit, "never GetSecretValue" is
//! checkable from the outside), and a retry classifier for SSM's `TooManyUpdates`, which
//! the SDK's default classifier does not retry.

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

/// Operation name → number of calls (retries of one call count once).
pub type Counts = BTreeMap<String, u64>;

/// An SDK interceptor that counts operations. Cloning shares the counts.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<Counts>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The counts so far.
    pub fn snapshot(&self) -> Counts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The number of calls so far, all operations together.
    pub fn total(&self) -> u64 {
        self.counts
            .lock()
            .map(|c| c.values().sum())
            .unwrap_or_default()
    }

    /// The number of calls in `counts` whose operation is one of `ops`.
    pub fn count_of(counts: &Counts, ops: &[&str]) -> u64 {
        counts
            .iter()
            .filter(|(op, _)| ops.contains(&op.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// The calls made since `before` was taken.
    pub fn since(&self, before: &Counts) -> Counts {
        self.snapshot()
            .into_iter()
            .filter_map(|(op, n)| {
                let d = n - before.get(&op).copied().unwrap_or(0);
                (d > 0).then_some((op, d))
            })
            .collect()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "rotor-call-counter"
    }

    // Once per operation (not per retry attempt), and after the operation's own
    // configuration, which carries its name, is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(name).or_default() += 1;
        }
        Ok(())
    }
}

/// SSM's `TooManyUpdates` (PutParameter and tag calls above the account's rate) as a
/// throttling error, so adaptive retry slows the client down and tries again. Install it
/// with `retry_classifier` on an SSM client's config.
#[derive(Debug, Default, Clone, Copy)]
pub struct TooManyUpdates;

/// The error code of a failed SSM write, if the error is one of the operations that can
/// be throttled with `TooManyUpdates`.
fn ssm_write_code(
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
            Some(Err(err)) if ssm_write_code(err).as_deref() == Some("TooManyUpdates") => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::operation::get_parameter::GetParameterError;
    use aws_sdk_ssm::operation::put_parameter::PutParameterError;
    use aws_sdk_ssm::types::error::{ParameterNotFound, TooManyUpdates as TooManyUpdatesError};
    use aws_smithy_runtime_api::client::interceptors::context::{Error, Input};

    fn classify(err: Error) -> RetryAction {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        ctx.set_output_or_error(Err(OrchestratorError::operation(err)));
        TooManyUpdates.classify_retry(&ctx)
    }

    #[test]
    fn too_many_updates_is_retried_as_throttling() {
        // As the deserializer builds it: the code is in the error's metadata.
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("TooManyUpdates")
            .build();
        let err =
            PutParameterError::TooManyUpdates(TooManyUpdatesError::builder().meta(meta).build());
        assert_eq!(
            classify(Error::erase(err)),
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                retry_after: None,
            })
        );
    }

    #[test]
    fn other_errors_are_left_to_the_default_classifiers() {
        let err = PutParameterError::ParameterAlreadyExists(
            aws_sdk_ssm::types::error::ParameterAlreadyExists::builder().build(),
        );
        assert_eq!(classify(Error::erase(err)), RetryAction::NoActionIndicated);
        let err = GetParameterError::ParameterNotFound(ParameterNotFound::builder().build());
        assert_eq!(classify(Error::erase(err)), RetryAction::NoActionIndicated);
    }

    #[test]
    fn counts_are_summed_for_the_operations_asked_for() {
        let counts = Counts::from([("PutParameter".into(), 3), ("GetParameters".into(), 5)]);
        assert_eq!(
            CallCounter::count_of(&counts, &["PutParameter", "DeleteParameter"]),
            3
        );
    }
}
