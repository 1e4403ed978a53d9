//! The time a step may use: the invocation's deadline minus a reserve, so the function
//! reports a clear error instead of being killed mid-step by Lambda.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// `None` when the invocation carries no deadline (a direct call in a test or tool).
    at: Option<Instant>,
    budget: Duration,
    margin: Duration,
}

impl Deadline {
    /// From the Lambda context's deadline, keeping `margin` in reserve.
    pub fn from_context(ctx: &lambda_runtime::Context, margin: Duration) -> Self {
        match rotor_core::invocation::time_left(ctx) {
            None => Self::none(),
            Some(left) => Self::after(left.saturating_sub(margin), margin),
        }
    }

    /// A deadline `budget` from now.
    pub fn after(budget: Duration, margin: Duration) -> Self {
        Self {
            at: Some(Instant::now() + budget),
            budget,
            margin,
        }
    }

    pub fn none() -> Self {
        Self {
            at: None,
            budget: Duration::MAX,
            margin: Duration::ZERO,
        }
    }

    pub fn instant(&self) -> Option<Instant> {
        self.at
    }

    /// The time this step had when it started.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// Time left (`Duration::MAX` without a deadline).
    pub fn remaining(&self) -> Duration {
        match self.at {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => Duration::MAX,
        }
    }

    /// `limit`, shortened to the time left.
    pub fn cap(&self, limit: Duration) -> Duration {
        limit.min(self.remaining())
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[tokio::test]
    async fn a_context_deadline_leaves_the_margin_in_reserve() {
        let mut ctx = lambda_runtime::Context::default();
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        ctx.deadline = now_ms + 10_000;
        let d = Deadline::from_context(&ctx, Duration::from_secs(2));
        assert!(d.remaining() <= Duration::from_secs(8));
        assert!(d.remaining() > Duration::from_secs(7));
        assert_eq!(d.cap(Duration::from_secs(5)), Duration::from_secs(5));

        ctx.deadline = now_ms + 1_000;
        let d = Deadline::from_context(&ctx, Duration::from_secs(2));
        assert!(
            d.expired(),
            "less time than the reserve means no time at all"
        );
    }

    #[tokio::test]
    async fn the_local_emulators_relative_deadline_counts_from_now() {
        let mut ctx = lambda_runtime::Context::default();
        ctx.deadline = 600_000;
        let d = Deadline::from_context(&ctx, Duration::from_secs(2));
        assert!(d.remaining() > Duration::from_secs(590));
        assert!(d.remaining() <= Duration::from_secs(598));
    }

    #[tokio::test]
    async fn no_deadline_means_no_limit() {
        let d = Deadline::from_context(&lambda_runtime::Context::default(), Duration::ZERO);
        assert!(!d.expired());
        assert_eq!(d.cap(Duration::from_secs(3)), Duration::from_secs(3));
    }
}
