//! The values of the rotation in progress, kept between its steps while this instance stays
//! warm, so that setSecret and testSecret do not read again what createSecret read or
//! stored (nor hash again the new password, whose SCRAM verifier createSecret computed).
//! Secrets Manager calls the four steps one after another, and a warm instance usually
//! answers all four.
//!
//! Safe because a version's value never changes: PutSecretValue refuses a different value
//! under an existing version id (its API reference: "you can't modify an existing
//! version"), so a value kept under its secret and version id is what GetSecretValue would
//! return for it. Stages do move, so every step still reads DescribeSecret and checks the
//! protocol first, the pending value is kept only under the event's token, and a kept
//! AWSCURRENT value is used only while DescribeSecret shows AWSCURRENT on its version. (The
//! first login of setSecret and testSecret may begin while DescribeSecret is in flight; no
//! statement runs before the check: see `steps::early`.)
//!
//! One rotation is kept at a time (a new secret or token replaces it) and finishSecret
//! forgets it; the values are zeroed when dropped, as every `SecretString` is.

use std::sync::Mutex;

use rotor_core::{ExposeSecret, SecretString};

use crate::database::Verifier;

/// A value with the id of the version that holds it.
#[derive(Clone)]
pub struct Versioned {
    pub version: String,
    pub text: SecretString,
}

/// What is known of one rotation: the secret, the token (the AWSPENDING version), and the
/// values read or stored so far.
#[derive(Clone, Default)]
pub struct Known {
    pub pending: Option<SecretString>,
    /// The SCRAM verifier of the pending value's password, when createSecret computed it.
    pub verifier: Option<Verifier>,
    pub current: Option<Versioned>,
}

struct Entry {
    secret: String,
    token: String,
    known: Known,
}

/// The rotation in progress on this instance.
#[derive(Default)]
pub struct KnownVersions(Mutex<Option<Entry>>);

impl KnownVersions {
    /// What is known of `secret`'s rotation under `token` (nothing for another rotation).
    pub fn get(&self, secret: &str, token: &str) -> Known {
        match &*self.lock() {
            Some(e) if e.secret == secret && e.token == token => e.known.clone(),
            _ => Known::default(),
        }
    }

    /// Keeps the AWSPENDING value stored under `token`, and its password's verifier when
    /// there is one. A verifier kept earlier stays only with the value it was computed for.
    pub fn keep_pending(
        &self,
        secret: &str,
        token: &str,
        text: &SecretString,
        verifier: Option<Verifier>,
    ) {
        self.update(secret, token, |k| {
            let same = k
                .pending
                .as_ref()
                .is_some_and(|kept| kept.expose_secret() == text.expose_secret());
            if verifier.is_some() || !same {
                k.verifier = verifier;
            }
            k.pending = Some(text.clone());
        });
    }

    /// Keeps the value of `secret`'s AWSCURRENT version during the rotation `token`.
    pub fn keep_current(&self, secret: &str, token: &str, current: &Versioned) {
        self.update(secret, token, |k| k.current = Some(current.clone()));
    }

    /// Forgets the rotation: it finished.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    fn update(&self, secret: &str, token: &str, f: impl FnOnce(&mut Known)) {
        let mut slot = self.lock();
        match &mut *slot {
            Some(e) if e.secret == secret && e.token == token => f(&mut e.known),
            _ => {
                let mut known = Known::default();
                f(&mut known);
                *slot = Some(Entry {
                    secret: secret.to_owned(),
                    token: token.to_owned(),
                    known,
                });
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Entry>> {
        // A panic while holding the lock cannot leave an entry half-written (each update
        // is one assignment), so a poisoned lock is still good.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn text(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn a_kept_verifier_stays_only_with_the_value_it_was_computed_for() {
        let kv = KnownVersions::default();
        let verifier = crate::database::Verifier::compute(&text("p1-password"));
        kv.keep_pending("s", "t1", &text("p1"), Some(verifier));
        kv.keep_pending("s", "t1", &text("p1"), None);
        assert!(
            kv.get("s", "t1").verifier.is_some(),
            "the same value again keeps it"
        );
        kv.keep_pending("s", "t1", &text("p2"), None);
        assert!(
            kv.get("s", "t1").verifier.is_none(),
            "another value drops it"
        );
    }

    #[test]
    fn values_are_known_only_for_their_secret_and_token_until_forgotten() {
        let kv = KnownVersions::default();
        kv.keep_pending("s", "t1", &text("p1"), None);
        kv.keep_current(
            "s",
            "t1",
            &Versioned {
                version: "v0".into(),
                text: text("c0"),
            },
        );
        let k = kv.get("s", "t1");
        assert_eq!(k.pending.unwrap().expose_secret(), "p1");
        assert_eq!(k.current.unwrap().version, "v0");
        assert!(kv.get("s", "t2").pending.is_none());
        assert!(kv.get("other", "t1").pending.is_none());

        // Another rotation replaces the first entirely.
        kv.keep_pending("s", "t2", &text("p2"), None);
        assert!(kv.get("s", "t1").pending.is_none());
        assert!(kv.get("s", "t2").current.is_none());

        kv.forget();
        assert!(kv.get("s", "t2").pending.is_none());
    }
}
