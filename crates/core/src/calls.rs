//! Counts every AWS operation a function's clients start, by name. The counts go into
//! the output and the log, so the cost of a run is visible (and, for the audit, "never
//! GetSecretValue" is checkable from the outside).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

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
