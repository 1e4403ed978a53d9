//! CloudWatch metrics in Embedded Metric Format: one JSON object on one log line, which
//! CloudWatch Logs turns into metrics. No PutMetricData call, no extra permission.

use serde_json::{Map, Value, json};

use crate::config::{ConfigError, Settings};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "rotor";

/// Where a function's metrics go, the same for every function: `METRICS_NAMESPACE`, and a
/// `Stack` dimension from `STACK_NAME` (the template sets it to the stack's name) so two
/// stacks in one account and region report apart. Without `STACK_NAME` (local runs) the
/// records carry no `Stack` dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub namespace: String,
    pub stack: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            stack: None,
        }
    }
}

impl MetricsConfig {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigError> {
        let namespace = s
            .string(NAMESPACE_VAR)
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        check_namespace(&namespace)?;
        let stack = s.string("STACK_NAME");
        if let Some(stack) = &stack
            && stack.len() > MAX_DIMENSION_VALUE
        {
            return Err(ConfigError::new(
                "STACK_NAME",
                format!("at most {MAX_DIMENSION_VALUE} characters (a CloudWatch dimension value)"),
            ));
        }
        Ok(Self { namespace, stack })
    }

    /// A record in this namespace, with the `Stack` dimension when there is one.
    pub fn record(&self) -> Emf {
        let emf = Emf::new(self.namespace.clone());
        match &self.stack {
            Some(stack) => emf.dimension("Stack", stack.clone()),
            None => emf,
        }
    }
}

/// CloudWatch's longest dimension value.
const MAX_DIMENSION_VALUE: usize = 1024;

/// The setting that names the namespace.
pub const NAMESPACE_VAR: &str = "METRICS_NAMESPACE";

/// CloudWatch's rules for a namespace (PutMetricData's `Namespace` and the metrics concepts
/// page): 1 to 255 characters from `0-9A-Za-z . - _ / # :` and space, at least one of them
/// not a space, not starting with `:`, and not `AWS/…`, which is reserved for AWS services.
pub fn check_namespace(namespace: &str) -> Result<(), ConfigError> {
    let refuse = |problem: String| Err(ConfigError::new(NAMESPACE_VAR, problem));
    if namespace.is_empty() || namespace.len() > 255 {
        return refuse("a CloudWatch namespace has 1 to 255 characters".into());
    }
    if let Some(c) = namespace
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".-_/#: ".contains(*c)))
    {
        return refuse(format!(
            "{c:?} is not allowed: use letters, digits, space and . - _ / # :"
        ));
    }
    if namespace.trim().is_empty() {
        return refuse("a CloudWatch namespace needs a character other than space".into());
    }
    if namespace.starts_with(':') {
        return refuse("a CloudWatch namespace cannot start with ':'".into());
    }
    if namespace.starts_with("AWS/") {
        return refuse("namespaces starting with AWS/ are reserved for AWS services".into());
    }
    Ok(())
}

/// CloudWatch allows at most 100 metrics per directive and 30 dimensions.
pub const MAX_METRICS: usize = 100;
pub const MAX_DIMENSIONS: usize = 30;

/// Units used by rotor's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        }
    }
}

/// One EMF record: a namespace, dimension values, and metric values.
#[derive(Debug, Clone)]
pub struct Emf {
    namespace: String,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, f64, Unit)>,
}

impl Emf {
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
        }
    }

    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if self.dimensions.len() < MAX_DIMENSIONS {
            self.dimensions.push((name.into(), value.into()));
        }
        self
    }

    /// Adds (or replaces) a metric value. Beyond [`MAX_METRICS`] metrics are dropped with
    /// a warning rather than producing a record CloudWatch rejects.
    pub fn metric(mut self, name: impl Into<String>, value: f64, unit: Unit) -> Self {
        let name = name.into();
        if let Some(m) = self.metrics.iter_mut().find(|m| m.0 == name) {
            m.1 = value;
            m.2 = unit;
        } else if self.metrics.len() < MAX_METRICS {
            self.metrics.push((name, value, unit));
        } else {
            tracing::warn!(metric = %name, "too many metrics for one EMF record; dropped");
        }
        self
    }

    /// The EMF JSON object, stamped with `timestamp_ms` (milliseconds since the epoch).
    pub fn to_value(&self, timestamp_ms: i64) -> Value {
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|d| d.0.as_str()).collect();
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, value, _) in &self.metrics {
            root.insert(name.clone(), json!(value));
        }
        Value::Object(root)
    }

    /// The record as one line.
    pub fn to_line(&self, timestamp_ms: i64) -> String {
        self.to_value(timestamp_ms).to_string()
    }

    /// Writes the record as one log line through the logging subscriber, which writes
    /// metric events whatever the level asked for and gives them a `level` that Lambda's
    /// log-level filtering keeps at every setting (see `logging::Settings::metrics_level`).
    /// On Lambda that is stdout, where the log agent picks it up.
    pub fn emit(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        tracing::info!(target: crate::logging::METRICS_TARGET, emf = %self.to_line(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_declares_every_metric_and_dimension_it_carries() {
        let v = Emf::new("rotor")
            .dimension("Environment", "prod")
            .metric("SecretsAudited", 12.0, Unit::Count)
            .metric("too-old", 2.0, Unit::Count)
            .to_value(1_700_000_000_000);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "rotor");
        assert_eq!(directive["Dimensions"], json!([["Environment"]]));
        assert_eq!(v["Environment"], "prod");
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name} declared but absent");
        }
        assert_eq!(v["SecretsAudited"], 12.0);
    }

    #[test]
    fn the_namespace_follows_cloudwatch_rules() {
        for ok in ["rotor", "team/rotor", "My App:prod #1", "a.b-c_d"] {
            assert_eq!(check_namespace(ok), Ok(()), "{ok}");
        }
        let long = "n".repeat(256);
        for bad in [
            "",
            "   ",
            ":rotor",
            "AWS/Lambda",
            "rotor!",
            "rötor",
            long.as_str(),
        ] {
            assert!(check_namespace(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_stack_name_becomes_a_dimension_and_the_namespace_defaults_to_rotor() {
        let cfg = MetricsConfig::from_settings(&Settings::from_pairs(&[("STACK_NAME", "prod-a")]))
            .unwrap();
        assert_eq!(cfg.namespace, "rotor");
        let v = cfg.record().dimension("Function", "f").to_value(0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stack", "Function"]])
        );
        assert_eq!(v["Stack"], "prod-a");
        let local = MetricsConfig::from_settings(&Settings::from_pairs(&[])).unwrap();
        assert_eq!(local.stack, None);
        let err = MetricsConfig::from_settings(&Settings::from_pairs(&[(
            "METRICS_NAMESPACE",
            "AWS/Lambda",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("METRICS_NAMESPACE"), "{err}");
    }

    #[test]
    fn a_repeated_metric_replaces_the_earlier_value() {
        let v = Emf::new("n")
            .metric("m", 1.0, Unit::Count)
            .metric("m", 2.0, Unit::Count)
            .to_value(0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(v["m"], 2.0);
    }
}
