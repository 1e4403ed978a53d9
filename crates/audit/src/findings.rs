//! Finding codes: stable names, the AWS Config rule and Security Hub control each one
//! mirrors, and what to do about it.

use serde::Serialize;

/// A stable finding code. The string form is what the output, the metrics and the report use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    RotationDisabled,
    TooOld,
    RotationOverdue,
    RotationFailing,
    Unused,
    NoCustomerKey,
    ScheduledForDeletion,
    InvalidPolicy,
}

impl Code {
    pub const ALL: [Code; 8] = [
        Code::RotationDisabled,
        Code::TooOld,
        Code::RotationOverdue,
        Code::RotationFailing,
        Code::Unused,
        Code::NoCustomerKey,
        Code::ScheduledForDeletion,
        Code::InvalidPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::RotationDisabled => "rotation-disabled",
            Code::TooOld => "too-old",
            Code::RotationOverdue => "rotation-overdue",
            Code::RotationFailing => "rotation-failing",
            Code::Unused => "unused",
            Code::NoCustomerKey => "no-customer-key",
            Code::ScheduledForDeletion => "scheduled-for-deletion",
            Code::InvalidPolicy => "invalid-policy",
        }
    }

    /// The Security Hub control the finding matches, where there is one.
    pub fn control(self) -> Option<&'static str> {
        match self {
            Code::RotationDisabled => Some("SecretsManager.1"),
            Code::RotationOverdue => Some("SecretsManager.2"),
            Code::Unused => Some("SecretsManager.3"),
            Code::TooOld => Some("SecretsManager.4"),
            _ => None,
        }
    }

    /// The AWS Config managed rule that checks the same thing, where there is one.
    pub fn config_rule(self) -> Option<&'static str> {
        match self {
            Code::RotationDisabled => Some("secretsmanager-rotation-enabled-check"),
            Code::RotationOverdue => Some("secretsmanager-scheduled-rotation-success-check"),
            Code::Unused => Some("secretsmanager-secret-unused"),
            Code::TooOld => Some("secretsmanager-secret-periodic-rotation"),
            Code::NoCustomerKey => Some("secretsmanager-using-cmk"),
            _ => None,
        }
    }

    /// One line on what the finding means.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::RotationDisabled => {
                "automatic rotation is off, or its schedule is longer than allowed"
            }
            Code::TooOld => "the current value is older than allowed",
            Code::RotationOverdue => {
                "the next scheduled rotation date has passed: rotation is failing or stuck"
            }
            Code::RotationFailing => {
                "an AWSPENDING version was left behind by a rotation that did not finish"
            }
            Code::Unused => "not read in any region for longer than allowed",
            Code::NoCustomerKey => "encrypted with the AWS-managed key, not a customer key",
            Code::ScheduledForDeletion => "marked for deletion and still recoverable",
            Code::InvalidPolicy => "a rotor: tag has a value the audit cannot use",
        }
    }

    /// What to do about it.
    pub fn remedy(self) -> &'static str {
        match self {
            Code::RotationDisabled => {
                "turn rotation on (aws secretsmanager rotate-secret --secret-id NAME --rotation-lambda-arn ARN --rotation-rules AutomaticallyAfterDays=N) with a schedule within the limit"
            }
            Code::TooOld => {
                "rotate it now (aws secretsmanager rotate-secret --secret-id NAME), or set AUTO_ROTATE=true to let the audit start rotations"
            }
            Code::RotationOverdue => {
                "read the rotation function's logs for the failing step, fix it, then rotate again"
            }
            Code::RotationFailing => {
                "find why the rotation stopped (rotation function logs), then finish it or remove the AWSPENDING label (aws secretsmanager update-secret-version-stage --version-stage AWSPENDING --remove-from-version-id ID)"
            }
            Code::Unused => {
                "confirm nothing needs it, then delete it (aws secretsmanager delete-secret --recovery-window-in-days 30)"
            }
            Code::NoCustomerKey => {
                "re-encrypt with a customer managed KMS key (aws secretsmanager update-secret --kms-key-id KEY)"
            }
            Code::ScheduledForDeletion => {
                "if it is still needed, restore it (aws secretsmanager restore-secret) before the recovery window ends"
            }
            Code::InvalidPolicy => "fix or remove the tag; the default limit applies meanwhile",
        }
    }
}

/// What was audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    Secret,
    Parameter,
}

impl Resource {
    /// The name used in the output and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Secret => "secret",
            Resource::Parameter => "parameter",
        }
    }
}

/// One finding about one secret or parameter. Holds names, dates and counts only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub resource: Resource,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<&'static str>,
    /// Days since the date the check looked at (value created, last accessed, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_days: Option<u32>,
    pub detail: String,
}

impl Finding {
    pub fn new(code: Code, resource: Resource, name: &str, detail: String) -> Self {
        Self {
            code,
            resource,
            name: name.to_owned(),
            arn: None,
            control: code.control(),
            age_days: None,
            limit_days: None,
            detail,
        }
    }

    pub fn arn(mut self, arn: Option<&str>) -> Self {
        self.arn = arn.map(str::to_owned);
        self
    }

    pub fn age(mut self, age_days: i64, limit_days: u32) -> Self {
        self.age_days = Some(age_days);
        self.limit_days = Some(limit_days);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_names() {
        for code in Code::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().to_owned())
            );
        }
    }

    #[test]
    fn resources_serialize_as_their_names() {
        for r in [Resource::Secret, Resource::Parameter] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::String(r.as_str().to_owned())
            );
        }
    }

    #[test]
    fn the_four_security_hub_controls_map_to_their_codes() {
        let mapped: Vec<(&str, &str)> = Code::ALL
            .iter()
            .filter_map(|c| c.control().map(|ctl| (ctl, c.as_str())))
            .collect();
        assert_eq!(
            mapped,
            [
                ("SecretsManager.1", "rotation-disabled"),
                ("SecretsManager.4", "too-old"),
                ("SecretsManager.2", "rotation-overdue"),
                ("SecretsManager.3", "unused"),
            ]
        );
    }
}
