//! The invocation's time budget, read from the Lambda context.

use std::time::{Duration, SystemTime};

/// Deadlines below this (2001-09-09 as epoch milliseconds) are durations, not times.
const RELATIVE_BELOW_MS: u64 = 1_000_000_000_000;

/// Time left before the invocation's deadline; `None` when the context carries none (a
/// direct call from a test or a tool). Lambda sends the deadline as epoch milliseconds;
/// cargo-lambda's local emulator sends the time allowed instead (`600000`), which is
/// taken as a duration from now so the functions behave the same under it.
pub fn time_left(ctx: &lambda_runtime::Context) -> Option<Duration> {
    match ctx.deadline {
        0 => None,
        ms if ms < RELATIVE_BELOW_MS => Some(Duration::from_millis(ms)),
        _ => Some(
            ctx.deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(deadline: u64) -> lambda_runtime::Context {
        let mut c = lambda_runtime::Context::default();
        c.deadline = deadline;
        c
    }

    #[test]
    fn epoch_deadlines_relative_deadlines_and_none_are_told_apart() {
        assert_eq!(time_left(&ctx(0)), None);
        assert_eq!(time_left(&ctx(600_000)), Some(Duration::from_secs(600)));
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        let ms = in_a_minute
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let left = time_left(&ctx(ms)).unwrap();
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        let past = SystemTime::now() - Duration::from_secs(60);
        let ms = past
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert_eq!(time_left(&ctx(ms)), Some(Duration::ZERO));
    }
}
