//! The SNS report's text (subject and body) built from a run's outcome: counts first, then findings grouped by code with names, ages and what
//! to do, then secrets managed elsewhere and rotations started. Plain text, readable in
//! an e-mail, and within SNS's 256 KB message limit.

use std::fmt::Write;

use crate::findings::{Code, Resource};
use crate::run_outcome::Outcome;

/// Entries listed per code before "… and N more".
pub const MAX_ENTRIES_PER_CODE: usize = 100;
/// SNS takes 256 KiB; leave room for the envelope.
pub const MAX_MESSAGE_BYTES: usize = 250_000;

/// The subject line.
pub fn subject(o: &Outcome) -> String {
    let n = o.findings.len();
    if n == 0 {
        format!(
            "rotor audit {}: clean ({} secrets, {} parameters)",
            o.environment, o.secrets_audited, o.parameters_audited
        )
    } else {
        format!(
            "rotor audit {}: {n} finding{} in {} secrets, {} parameters",
            o.environment,
            if n == 1 { "" } else { "s" },
            o.secrets_audited,
            o.parameters_audited
        )
    }
}

/// The message body.
pub fn body(o: &Outcome) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "rotor audit of {} as of {}", o.environment, o.as_of);
    let _ = writeln!(
        s,
        "Audited {} secrets and {} parameters: {} finding{}.",
        o.secrets_audited,
        o.parameters_audited,
        o.findings.len(),
        if o.findings.len() == 1 { "" } else { "s" }
    );
    if o.skipped_by_policy > 0 {
        let _ = writeln!(s, "Skipped by policy: {}.", o.skipped_by_policy);
    }
    if o.dry_run {
        let _ = writeln!(s, "Dry run: nothing was changed.");
    }
    let present: Vec<(Code, u64)> = Code::ALL
        .into_iter()
        .filter_map(|c| match o.counts.get(c.as_str()) {
            Some(&n) if n > 0 => Some((c, n)),
            _ => None,
        })
        .collect();
    if !present.is_empty() {
        s.push('\n');
        for (code, n) in &present {
            let _ = writeln!(
                s,
                "  {:<24}{:>6}  {}",
                code.as_str(),
                n,
                code.control().unwrap_or("")
            );
        }
    }
    for (code, _) in present {
        let _ = writeln!(s, "\n== {} ==", heading(code));
        let _ = writeln!(s, "Means: {}.", code.meaning());
        let _ = writeln!(s, "What to do: {}.", code.remedy());
        let entries: Vec<_> = o.findings.iter().filter(|f| f.code == code).collect();
        for f in entries.iter().take(MAX_ENTRIES_PER_CODE) {
            let kind = match f.resource {
                Resource::Secret => "",
                Resource::Parameter => "parameter ",
            };
            let _ = writeln!(s, "  - {kind}{}: {}", f.name, f.detail);
        }
        if entries.len() > MAX_ENTRIES_PER_CODE {
            let _ = writeln!(
                s,
                "  … and {} more (the function's output lists every finding)",
                entries.len() - MAX_ENTRIES_PER_CODE
            );
        }
    }
    if !o.managed.is_empty() {
        let _ = writeln!(s, "\n== Managed by another service ==");
        let _ = writeln!(
            s,
            "Their rotation is the owning service's job; they are not checked for rotation or age."
        );
        for m in o.managed.iter().take(MAX_ENTRIES_PER_CODE) {
            let _ = writeln!(s, "  - {} (owned by {})", m.name, m.owning_service);
        }
        if o.managed.len() > MAX_ENTRIES_PER_CODE {
            let _ = writeln!(s, "  … and {} more", o.managed.len() - MAX_ENTRIES_PER_CODE);
        }
    }
    if !o.rotations.is_empty() {
        let _ = writeln!(s, "\n== Rotations (AUTO_ROTATE) ==");
        for r in &o.rotations {
            match &r.error {
                Some(e) => {
                    let _ = writeln!(s, "  - {}: {} ({e})", r.name, r.outcome);
                }
                None => {
                    let _ = writeln!(s, "  - {}: {}", r.name, r.outcome);
                }
            }
        }
    }
    truncate(s)
}

fn heading(code: Code) -> String {
    match code.control() {
        Some(control) => format!("{} ({control})", code.as_str()),
        None => code.as_str().to_owned(),
    }
}

fn truncate(mut s: String) -> String {
    if s.len() <= MAX_MESSAGE_BYTES {
        return s;
    }
    let note = "\n… report cut to fit an SNS message; the function's output lists every finding.\n";
    let mut cut = MAX_MESSAGE_BYTES - note.len();
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    if let Some(line_end) = s[..cut].rfind('\n') {
        cut = line_end;
    }
    s.truncate(cut);
    s.push_str(note);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Finding;
    use crate::run_outcome::{ReportStatus, count_by_code};

    fn outcome(findings: Vec<Finding>) -> Outcome {
        Outcome {
            as_of: "2027-03-04T06:00:00+00:00".into(),
            environment: "prod".into(),
            dry_run: false,
            secrets_audited: 3,
            parameters_audited: 1,
            skipped_by_policy: 0,
            replicas_skipped: 0,
            counts: count_by_code(&findings),
            findings,
            managed: vec![],
            rotations: vec![],
            report: ReportStatus::NotNeeded,
            calls: Default::default(),
        }
    }

    #[test]
    fn the_report_lists_counts_then_each_code_with_names_and_remedy() {
        let o = outcome(vec![
            Finding::new(
                Code::TooOld,
                Resource::Secret,
                "prod/db",
                "value is 120 days old".into(),
            ),
            Finding::new(
                Code::TooOld,
                Resource::Parameter,
                "/prod/key",
                "value is 95 days old".into(),
            ),
            Finding::new(
                Code::Unused,
                Resource::Secret,
                "prod/old",
                "never read".into(),
            ),
        ]);
        let b = body(&o);
        assert!(b.contains("Audited 3 secrets and 1 parameters: 3 findings."));
        assert!(b.contains("== too-old (SecretsManager.4) =="));
        assert!(b.contains("  - prod/db: value is 120 days old"));
        assert!(b.contains("  - parameter /prod/key: value is 95 days old"));
        assert!(b.contains("== unused (SecretsManager.3) =="));
        assert!(b.contains(Code::Unused.remedy()));
        assert!(
            !b.contains("rotation-overdue"),
            "codes without findings are left out"
        );
        assert_eq!(
            subject(&o),
            "rotor audit prod: 3 findings in 3 secrets, 1 parameters"
        );
    }

    #[test]
    fn a_huge_account_still_fits_one_sns_message() {
        let long = "x".repeat(500);
        let findings = Code::ALL
            .iter()
            .flat_map(|c| {
                (0..300)
                    .map(|i| Finding::new(*c, Resource::Secret, &format!("{long}/{i}"), "d".into()))
            })
            .collect();
        let b = body(&outcome(findings));
        assert!(b.len() <= MAX_MESSAGE_BYTES, "{}", b.len());
        assert!(b.contains("report cut to fit"));
    }
}
