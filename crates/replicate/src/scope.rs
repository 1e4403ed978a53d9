//! Which names are in scope: include prefixes (none means everything), then exclude
//! prefixes, which win.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Scope {
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Self {
        Self { include, exclude }
    }

    /// The include prefixes (none: everything).
    pub fn include(&self) -> &[String] {
        &self.include
    }

    pub fn contains(&self, name: &str) -> bool {
        let included = self.include.is_empty() || self.include.iter().any(|p| name.starts_with(p));
        included && !self.exclude.iter().any(|p| name.starts_with(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_win_over_includes_and_no_include_means_everything() {
        let s = Scope::new(vec!["/app/".into()], vec!["/app/local/".into()]);
        assert!(s.contains("/app/db/url"));
        assert!(!s.contains("/app/local/x"));
        assert!(!s.contains("/other"));
        let all = Scope::new(vec![], vec!["tmp".into()]);
        assert!(all.contains("/anything") && !all.contains("tmp/x"));
    }
}
