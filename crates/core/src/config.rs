//! Settings read through a lookup function, so tests never touch the process environment,
//! and a bad value fails at start with the variable's name and what is allowed.

use std::str::FromStr;

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {var}: {problem}")]
pub struct ConfigError {
    pub var: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &str, problem: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            problem: problem.into(),
        }
    }
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads settings by name. `Settings::env()` reads the process environment; tests pass a map.
pub struct Settings<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Settings<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    pub fn env() -> Settings<'static> {
        Settings::new(|k| std::env::var(k).ok())
    }

    /// Settings from `(name, value)` pairs; handy in tests.
    pub fn from_pairs(pairs: &'a [(&'a str, &'a str)]) -> Self {
        Self::new(move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// The trimmed value, or `None` when unset or blank.
    pub fn string(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, var: &str) -> Result<String, ConfigError> {
        self.string(var)
            .ok_or_else(|| ConfigError::new(var, "is required but not set"))
    }

    /// A boolean: true/1/y/yes or false/0/n/no, in any case.
    pub fn bool(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.string(var) {
            None => Ok(default),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                ConfigError::new(var, "expected true/false (also 1/0, yes/no, y/n)")
            }),
        }
    }

    /// A value parsed with `FromStr`; `expected` says what is allowed.
    pub fn parse<T: FromStr>(
        &self,
        var: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.string(var) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError::new(var, format!("expected {expected}"))),
        }
    }

    /// A comma-separated list, blanks dropped.
    pub fn list(&self, var: &str) -> Vec<String> {
        self.string(var)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "y" | "yes" => Some(true),
        "false" | "0" | "n" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_samples_spellings_in_any_case() {
        for v in ["true", "TRUE", "1", "y", "Yes"] {
            assert_eq!(parse_bool(v), Some(true), "{v}");
        }
        for v in ["false", "0", "N", "no"] {
            assert_eq!(parse_bool(v), Some(false), "{v}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_is_allowed() {
        let s = Settings::from_pairs(&[("DRY_RUN", "perhaps"), ("N", "x")]);
        let err = s.bool("DRY_RUN", false).unwrap_err();
        assert_eq!(err.var, "DRY_RUN");
        assert!(err.to_string().contains("true/false"));
        let err = s.parse::<u32>("N", 1, "a whole number").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting N: expected a whole number"
        );
    }

    #[test]
    fn blank_values_count_as_unset_and_lists_split_on_commas() {
        let s = Settings::from_pairs(&[("A", "  "), ("L", "us-west-2, eu-west-1,,")]);
        assert_eq!(s.string("A"), None);
        assert_eq!(s.list("L"), vec!["us-west-2", "eu-west-1"]);
        assert!(s.required("A").is_err());
    }
}
