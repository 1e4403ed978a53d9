//! The time an invocation may use: its deadline less a margin kept in reserve, so a
//! function stops cleanly (reports, hands the rest on) instead of being killed by Lambda.
//!
//! `DEADLINE_MARGIN_SECONDS` means the same in every function: the seconds kept in
//! reserve before the invocation's deadline, from 0 to 60, fractions allowed. Left unset,
//! each function has its own default ([`Margin`]); a margin that leaves an invocation less
//! than a minimum working time is refused when the invocation starts
//! ([`Deadline::start`]), with an error that names the setting.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::{ConfigError, Settings};
use crate::error::ErrorType;

/// The setting every function reads for its margin.
pub const MARGIN_SETTING: &str = "DEADLINE_MARGIN_SECONDS";
/// The largest margin the setting accepts, and the largest scaled margin.
pub const MAX_MARGIN: Duration = Duration::from_secs(60);
/// The smallest scaled margin.
pub const MIN_SCALED_MARGIN: Duration = Duration::from_secs(1);

/// How much time to keep in reserve before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Margin {
    /// A fixed reserve (`DEADLINE_MARGIN_SECONDS` set, or a function's fixed default).
    Fixed(Duration),
    /// A tenth of the invocation's budget, at least 1 s and at most 60 s: a 15-minute
    /// invocation keeps 60 s, a 30-second one keeps 3 s, a 3-second one keeps 1 s.
    Scaled,
}

impl Margin {
    /// `DEADLINE_MARGIN_SECONDS` when set (0 to 60, fractions allowed), else `default`.
    pub fn from_settings(s: &Settings<'_>, default: Margin) -> Result<Self, ConfigError> {
        let expected = "a number of seconds from 0 to 60 (unset: the function's default)";
        match s.string(MARGIN_SETTING) {
            None => Ok(default),
            Some(v) => match v.parse::<f64>() {
                Ok(secs)
                    if secs.is_finite() && (0.0..=MAX_MARGIN.as_secs_f64()).contains(&secs) =>
                {
                    Ok(Self::Fixed(Duration::from_secs_f64(secs)))
                }
                _ => Err(ConfigError::new(
                    MARGIN_SETTING,
                    format!("expected {expected}"),
                )),
            },
        }
    }

    /// The reserve for an invocation given `budget` in all.
    pub fn for_budget(&self, budget: Duration) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Scaled => (budget / 10).clamp(MIN_SCALED_MARGIN, MAX_MARGIN),
        }
    }
}

/// An invocation whose margin leaves it too little time to do anything useful.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the invocation has {budget_ms} ms and {MARGIN_SETTING} keeps {margin_ms} ms in reserve, \
     leaving less than the {min_work_ms} ms this function needs to work: raise the function's \
     timeout or lower {MARGIN_SETTING}"
)]
pub struct NoTimeToWork {
    pub budget_ms: u128,
    pub margin_ms: u128,
    pub min_work_ms: u128,
}

impl ErrorType for NoTimeToWork {
    fn error_type(&self) -> String {
        "Rotor.Config.NoTimeToWork".into()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// `None` when the invocation carries no deadline (a direct call in a test or tool).
    at: Option<Instant>,
    budget: Duration,
    margin: Duration,
}

impl Deadline {
    /// From the Lambda context's deadline, keeping the reserve `margin` gives for the time
    /// left (never refused: a step that runs out reports it).
    pub fn from_context(ctx: &lambda_runtime::Context, margin: Margin) -> Self {
        match crate::invocation::time_left(ctx) {
            None => Self::none(),
            Some(left) => {
                let margin = margin.for_budget(left);
                Self::after(left.saturating_sub(margin), margin)
            }
        }
    }

    /// From the Lambda context, with the margin `margin` gives for the time left; refused
    /// when what remains is less than `min_work`. No deadline (a direct call) is no limit.
    pub fn start(
        ctx: &lambda_runtime::Context,
        margin: Margin,
        min_work: Duration,
    ) -> Result<Self, NoTimeToWork> {
        match crate::invocation::time_left(ctx) {
            None => Ok(Self::none()),
            Some(left) => Self::within(left, margin, min_work),
        }
    }

    /// An invocation with `left` in all, `margin` kept in reserve.
    pub fn within(
        left: Duration,
        margin: Margin,
        min_work: Duration,
    ) -> Result<Self, NoTimeToWork> {
        let reserve = margin.for_budget(left);
        let work = left.saturating_sub(reserve);
        if work < min_work {
            return Err(NoTimeToWork {
                budget_ms: left.as_millis(),
                margin_ms: reserve.as_millis(),
                min_work_ms: min_work.as_millis(),
            });
        }
        Ok(Self::after(work, reserve))
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

    /// The working time this invocation had when it started (the margin excluded).
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

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_scaled_margin_is_a_tenth_of_the_budget_between_one_second_and_a_minute() {
        assert_eq!(Margin::Scaled.for_budget(S(900)), S(60));
        assert_eq!(Margin::Scaled.for_budget(S(3600)), S(60));
        assert_eq!(Margin::Scaled.for_budget(S(300)), S(30));
        assert_eq!(Margin::Scaled.for_budget(S(30)), S(3));
        assert_eq!(Margin::Scaled.for_budget(S(3)), S(1));
        assert_eq!(Margin::Fixed(S(5)).for_budget(S(900)), S(5));
    }

    #[test]
    fn a_thirty_second_budget_keeps_most_of_its_time_for_work() {
        let d = Deadline::within(S(30), Margin::Scaled, S(2)).unwrap();
        assert_eq!(d.margin(), S(3));
        assert_eq!(d.budget(), S(27));
    }

    #[test]
    fn a_margin_that_leaves_too_little_time_is_refused_naming_the_setting() {
        let err = Deadline::within(S(20), Margin::Fixed(S(30)), S(2)).unwrap_err();
        assert_eq!(err.margin_ms, 30_000);
        assert!(err.to_string().contains(MARGIN_SETTING), "{err}");
        assert_eq!(err.error_type(), "Rotor.Config.NoTimeToWork");
        let err = Deadline::within(Duration::from_millis(2500), Margin::Scaled, S(2)).unwrap_err();
        assert_eq!((err.budget_ms, err.margin_ms), (2500, 1000));
        assert!(Deadline::within(S(3), Margin::Scaled, S(2)).is_ok());
    }

    #[test]
    fn the_setting_is_seconds_from_zero_to_sixty_and_unset_means_the_default() {
        let parse = |v: &str| {
            let pairs = [(MARGIN_SETTING, v)];
            Margin::from_settings(&Settings::from_pairs(&pairs), Margin::Scaled)
        };
        assert_eq!(parse("1.5"), Ok(Margin::Fixed(Duration::from_millis(1500))));
        assert_eq!(parse("0"), Ok(Margin::Fixed(Duration::ZERO)));
        assert_eq!(parse(""), Ok(Margin::Scaled));
        for bad in ["61", "-1", "NaN", "soon"] {
            assert_eq!(parse(bad).unwrap_err().var, MARGIN_SETTING, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_context_deadline_leaves_the_margin_in_reserve() {
        let mut ctx = lambda_runtime::Context::default();
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        ctx.deadline = now_ms + 10_000;
        let d = Deadline::from_context(&ctx, Margin::Fixed(S(2)));
        assert!(d.remaining() <= S(8));
        assert!(d.remaining() > S(7));
        assert_eq!(d.cap(S(5)), S(5));

        ctx.deadline = now_ms + 1_000;
        let d = Deadline::from_context(&ctx, Margin::Fixed(S(2)));
        assert!(
            d.expired(),
            "less time than the reserve means no time at all"
        );
        let err = Deadline::start(&ctx, Margin::Scaled, S(2)).unwrap_err();
        assert!(err.budget_ms <= 1_000);
    }

    #[tokio::test]
    async fn the_local_emulators_relative_deadline_counts_from_now() {
        let mut ctx = lambda_runtime::Context::default();
        ctx.deadline = 600_000;
        let d = Deadline::from_context(&ctx, Margin::Fixed(S(2)));
        assert!(d.remaining() > S(590));
        assert!(d.remaining() <= S(598));
        let d = Deadline::start(&ctx, Margin::Scaled, S(2)).unwrap();
        assert_eq!(d.margin(), S(60));
    }

    #[tokio::test]
    async fn no_deadline_means_no_limit() {
        let d = Deadline::from_context(
            &lambda_runtime::Context::default(),
            Margin::Fixed(Duration::ZERO),
        );
        assert!(!d.expired());
        assert_eq!(d.cap(S(3)), S(3));
        let d = Deadline::start(&lambda_runtime::Context::default(), Margin::Scaled, S(2)).unwrap();
        assert!(!d.expired());
    }
}
