//! What a run did: counts per kind and region, every failure with its cause, the planned
//! actions of a dry run, and the API calls made. Holds names and causes only, never values.

use std::collections::BTreeMap;

use serde::Serialize;

/// Operations that change a replica or a source. Everything else the function calls only
/// reads, publishes the report, or keeps the sync's own state.
pub const WRITES: &[&str] = &[
    "PutParameter",
    "DeleteParameter",
    "DeleteParameters",
    "AddTagsToResource",
    "RemoveTagsFromResource",
    "ReplicateSecretToRegions",
    "RemoveRegionsFromReplication",
];

/// Outcome counts of one kind of item in one region (or in total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub copied: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Copied => self.copied += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Deleted => self.deleted += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// Counts in total and per target region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub total: Counts,
    pub by_region: BTreeMap<String, Counts>,
}

impl Tally {
    pub fn add(&mut self, region: &str, outcome: Outcome) {
        self.total.add(outcome);
        self.by_region
            .entry(region.to_owned())
            .or_default()
            .add(outcome);
    }

    pub fn region(&self, region: &str) -> Counts {
        self.by_region.get(region).copied().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Copied,
    Updated,
    Deleted,
    Unchanged,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Copied => "copied",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Unchanged => "unchanged",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Parameter,
    Secret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parameter => "parameter",
            Self::Secret => "secret",
        }
    }
}

/// One item that could not be replicated, and why (an AWS error's operation, code and
/// message, or the function's own explanation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: Kind,
    pub name: String,
    pub region: String,
    pub cause: String,
}

/// What a dry run would have done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub kind: Kind,
    pub name: String,
    pub region: String,
    pub action: String,
    /// The properties that differ (names only, e.g. `value`, `tags`).
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `full-sync`, `event` or `ignored`.
    pub mode: String,
    pub api_call: Option<String>,
    pub source_region: String,
    pub dry_run: bool,
    /// False when a full sync stopped before the invocation's deadline (handed on, or,
    /// without a state table, left to the next run: `remaining` then says how many
    /// parameters were not looked at).
    pub complete: bool,
    pub remaining: u64,
    /// The sync this invocation worked on (with a state table).
    pub sync_id: Option<String>,
    /// This invocation handed the rest of the sync on.
    pub handed_over: bool,
    /// Hand-overs of the sync so far.
    pub hand_overs: u64,
    pub parameters: Tally,
    pub secrets: Tally,
    pub failures: Vec<Failure>,
    pub planned: Vec<Planned>,
    pub ignored: Option<String>,
    /// Calls made by operation, and how many of them wrote.
    pub api_calls: BTreeMap<String, u64>,
    pub write_calls: u64,
    pub duration_ms: u64,
}

impl Report {
    pub fn tally(&mut self, kind: Kind) -> &mut Tally {
        match kind {
            Kind::Parameter => &mut self.parameters,
            Kind::Secret => &mut self.secrets,
        }
    }

    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// The SNS message: one line per failure, then the counts.
    pub fn failure_message(&self) -> String {
        let mut out = format!(
            "rotor-replicate ({} from {}): {} item(s) failed to replicate.\n\n",
            self.mode,
            self.source_region,
            self.failures.len()
        );
        // SNS takes 256 KB; a region failing for every item must not make the report fail.
        const LISTED: usize = 1000;
        for f in self.failures.iter().take(LISTED) {
            out.push_str(&format!(
                "- {} {} -> {}: {}\n",
                f.kind.as_str(),
                f.name,
                f.region,
                f.cause
            ));
        }
        if self.failures.len() > LISTED {
            out.push_str(&format!(
                "- ... and {} more (see the function's log)\n",
                self.failures.len() - LISTED
            ));
        }
        let line = |t: &Tally| {
            let c = t.total;
            format!(
                "copied {}, updated {}, deleted {}, unchanged {}, failed {}",
                c.copied, c.updated, c.deleted, c.unchanged, c.failed
            )
        };
        out.push_str(&format!(
            "\nParameters: {}\nSecrets: {}\n",
            line(&self.parameters),
            line(&self.secrets)
        ));
        if !self.complete {
            out.push_str(&format!(
                "The run stopped before its deadline; {} parameter(s) left for the next run.\n",
                self.remaining
            ));
        }
        out
    }
}
