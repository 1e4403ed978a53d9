//! New passwords and app keys, made in the function from the operating system's random
//! source under the same rules as Secrets Manager's GetRandomPassword, whose settings (and
//! names, and defaults) the samples use. Made here, a rotation needs one AWS round trip and
//! one IAM permission fewer.
//!
//! The rules (GetRandomPassword's API reference): lowercase and uppercase letters, digits
//! and the punctuation ``!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~``, less excluded types and
//! characters; by default at least one character of each included type.

use rotor_core::SecretString;

/// How new passwords are made (the samples' settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub length: i64,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub require_each_included_type: bool,
}

/// The samples' default: characters that break connection strings and shell quoting.
pub const DEFAULT_EXCLUDE_CHARACTERS: &str = ":/@\"'\\";

const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// With each type required, a draw that misses one is drawn again. The tightest policy
/// (one character per type) succeeds about once in 15 draws; this bound is never reached
/// unless the random source is broken.
const MAX_DRAWS: usize = 100_000;

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: 32,
            exclude_characters: DEFAULT_EXCLUDE_CHARACTERS.to_owned(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            require_each_included_type: true,
        }
    }
}

/// Why no password can be made. The first two are settings errors, found at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the settings leave no character to make passwords of")]
    NoCharacters,
    #[error(
        "a password of {length} characters cannot hold one character of each of the \
         {types} included types (REQUIRE_EACH_INCLUDED_TYPE)"
    )]
    TooShort { length: i64, types: usize },
    #[error("the system's random source failed: {0}")]
    Random(String),
}

impl PasswordPolicy {
    /// The character types left after the exclusions, each as its characters (bytes: all
    /// are ASCII). Empty types are dropped.
    fn types(&self) -> Vec<Vec<u8>> {
        [
            (LOWERCASE, self.exclude_lowercase),
            (UPPERCASE, self.exclude_uppercase),
            (DIGITS, self.exclude_numbers),
            (PUNCTUATION, self.exclude_punctuation),
        ]
        .into_iter()
        .filter(|(_, excluded)| !excluded)
        .map(|(chars, _)| {
            chars
                .bytes()
                .filter(|b| !self.exclude_characters.contains(char::from(*b)))
                .collect::<Vec<u8>>()
        })
        .filter(|chars| !chars.is_empty())
        .collect()
    }

    /// Whether passwords can be made under this policy at all.
    pub fn check(&self) -> Result<(), PasswordError> {
        let types = self.types();
        if types.is_empty() {
            return Err(PasswordError::NoCharacters);
        }
        if self.require_each_included_type && (self.length as usize) < types.len() {
            return Err(PasswordError::TooShort {
                length: self.length,
                types: types.len(),
            });
        }
        Ok(())
    }

    /// A new password: each character drawn uniformly from the allowed ones, the whole
    /// drawn again while an included type is missing (so every allowed password is equally
    /// likely).
    pub fn generate(&self) -> Result<SecretString, PasswordError> {
        self.check()?;
        let types = self.types();
        let alphabet: Vec<u8> = types.concat();
        let length = self.length as usize;
        let mut password = vec![0u8; length];
        for _ in 0..MAX_DRAWS {
            fill_uniform(&mut password, &alphabet)?;
            if !self.require_each_included_type
                || types
                    .iter()
                    .all(|chars| password.iter().any(|b| chars.contains(b)))
            {
                let text = String::from_utf8(std::mem::take(&mut password))
                    .expect("the alphabet is ASCII");
                return Ok(SecretString::from(text));
            }
        }
        password.fill(0);
        Err(PasswordError::Random(
            "no password with every included type after many draws".into(),
        ))
    }
}

/// Fills `out` with characters of `alphabet`, each uniformly: a random byte is kept only
/// below the largest multiple of the alphabet's size, so no character is more likely.
fn fill_uniform(out: &mut [u8], alphabet: &[u8]) -> Result<(), PasswordError> {
    let n = alphabet.len();
    let limit = 256 - 256 % n;
    let mut pool = [0u8; 64];
    let mut used = pool.len();
    for slot in out.iter_mut() {
        loop {
            if used == pool.len() {
                getrandom::fill(&mut pool).map_err(|e| PasswordError::Random(e.to_string()))?;
                used = 0;
            }
            let byte = usize::from(pool[used]);
            used += 1;
            if byte < limit {
                *slot = alphabet[byte % n];
                break;
            }
        }
    }
    pool.fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn policy(f: impl FnOnce(&mut PasswordPolicy)) -> PasswordPolicy {
        let mut p = PasswordPolicy::default();
        f(&mut p);
        p
    }

    #[test]
    fn the_default_makes_32_characters_of_every_type_without_the_excluded_ones() {
        let p = PasswordPolicy::default();
        for _ in 0..200 {
            let pw = p.generate().unwrap();
            let pw = pw.expose_secret();
            assert_eq!(pw.len(), 32);
            assert!(pw.bytes().any(|b| b.is_ascii_lowercase()));
            assert!(pw.bytes().any(|b| b.is_ascii_uppercase()));
            assert!(pw.bytes().any(|b| b.is_ascii_digit()));
            assert!(pw.bytes().any(|b| PUNCTUATION.as_bytes().contains(&b)));
            assert!(!pw.chars().any(|c| DEFAULT_EXCLUDE_CHARACTERS.contains(c)));
        }
    }

    #[test]
    fn excluded_types_never_appear_and_the_shortest_policy_still_has_each_type() {
        let p = policy(|p| {
            p.exclude_punctuation = true;
            p.exclude_numbers = true;
            p.length = 2;
        });
        for _ in 0..200 {
            let pw = p.generate().unwrap();
            let pw = pw.expose_secret();
            assert!(pw.bytes().all(|b| b.is_ascii_alphabetic()), "{}", pw.len());
            assert!(pw.bytes().any(|b| b.is_ascii_lowercase()));
            assert!(pw.bytes().any(|b| b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn every_allowed_character_is_drawn_about_equally_often() {
        let p = policy(|p| {
            p.length = 4096;
            p.require_each_included_type = false;
        });
        let mut counts = [0u32; 128];
        for _ in 0..10 {
            for b in p.generate().unwrap().expose_secret().bytes() {
                counts[usize::from(b)] += 1;
            }
        }
        let allowed = p.types().concat();
        let expected = 40960.0 / allowed.len() as f64; // about 465
        for b in &allowed {
            let n = f64::from(counts[usize::from(*b)]);
            assert!(
                (expected * 0.7..expected * 1.3).contains(&n),
                "{} drawn {n} times",
                char::from(*b)
            );
        }
        let others: u32 = (0u8..128)
            .filter(|b| !allowed.contains(b))
            .map(|b| counts[usize::from(b)])
            .sum();
        assert_eq!(others, 0);
    }

    #[test]
    fn policies_that_cannot_make_a_password_are_refused() {
        let none = policy(|p| {
            p.exclude_lowercase = true;
            p.exclude_uppercase = true;
            p.exclude_punctuation = true;
            p.exclude_characters = DIGITS.into();
        });
        assert_eq!(none.check(), Err(PasswordError::NoCharacters));
        let short = policy(|p| p.length = 3);
        assert_eq!(
            short.check(),
            Err(PasswordError::TooShort {
                length: 3,
                types: 4
            })
        );
        assert!(
            policy(|p| {
                p.length = 3;
                p.require_each_included_type = false;
            })
            .generate()
            .is_ok()
        );
    }
}
