//! CloudWatch metrics in Embedded Metric Format: one JSON object on one log line, which
//! CloudWatch Logs turns into metrics. No PutMetricData call, no extra permission.

use serde_json::{Map, Value, json};

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

    /// Writes the record to stdout, where the Lambda log agent picks it up.
    pub fn emit(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        println!("{}", self.to_line(now));
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
