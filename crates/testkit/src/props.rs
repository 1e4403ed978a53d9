//! What the property tests of every crate share: the case count, secret values made so
//! that any part of one in an error or a `Debug` output can be recognised, and the
//! generators of arbitrary and damaged JSON.

use proptest::prelude::*;
use serde_json::{Value, json};

/// `PROPTEST_CASES` when set (proptest reads it), else 2,000 cases.
pub fn config() -> ProptestConfig {
    config_with(2_000)
}

/// `PROPTEST_CASES` when set, else `cases`.
pub fn config_with(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// Characters that only secret values are made of. No message text, field name or other
/// generated input holds any of them, so one of them in an output (as it is,
/// percent-encoded or `\u{…}`-escaped) is a leak of part of a secret. Every secret has a
/// mark in each window of 6 characters (a mark, then at most three printable ASCII
/// characters, URL and JSON metacharacters included), so this check is stricter than
/// "no 6-character window of the secret".
pub const MARKS: [char; 16] = [
    'Ā', 'ą', 'Ć', 'ď', 'Ē', 'Ğ', 'Ĩ', 'ł', 'Ŋ', 'ő', 'Ř', 'Ş', 'Ж', 'Щ', '密', '🔑',
];

/// A secret value of 8 to 64 characters built as [`MARKS`] says.
pub fn secret() -> impl Strategy<Value = String> {
    let unit = (
        prop::sample::select(&MARKS[..]),
        prop::collection::vec(b' '..=b'~', 0..=3),
    );
    prop::collection::vec(unit, 8..16).prop_map(|units| {
        let mut secret = String::new();
        for (mark, tail) in units {
            secret.push(mark);
            secret.extend(tail.into_iter().map(char::from));
        }
        secret
    })
}

/// Text that is not a secret: any of `pattern`, with every [`MARKS`] character replaced,
/// so that only secret values hold them.
pub fn plain(pattern: &'static str) -> impl Strategy<Value = String> {
    pattern.prop_map(|s| {
        s.chars()
            .map(|c| if MARKS.contains(&c) { '?' } else { c })
            .collect()
    })
}

/// Fails the case when `shown` holds any sign of a secret value. Never prints it.
pub fn assert_no_secret(shown: &str) -> Result<(), TestCaseError> {
    for mark in MARKS {
        let mut utf8 = [0u8; 4];
        let encoded: String = mark
            .encode_utf8(&mut utf8)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        prop_assert!(
            !shown.contains(mark)
                && !shown.to_uppercase().contains(&encoded)
                && !shown.contains(&mark.escape_unicode().to_string()),
            "an error, a result or a Debug output holds part of a secret value"
        );
    }
    Ok(())
}

/// Arbitrary JSON, any shape, any Unicode (marks excluded: no secret is asserted on it).
/// Leaves are also drawn from `words` (values the parser looks for), object keys from
/// `keys` (a pattern that names its field names besides any text).
pub fn json_value(words: &'static str, keys: &'static str) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        plain("\\PC{0,12}").prop_map(Value::from),
        words.prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((plain(keys), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The same text broken the ways a hand-edited secret breaks: cut short, a character
/// dropped or inserted, a quote or brace lost.
pub fn damaged(text: String) -> impl Strategy<Value = String> {
    let len = text.chars().count();
    (
        0..=len,
        prop::sample::select(&['"', '}', '{', ',', ':', '\\', 'x'][..]),
        0..3u8,
    )
        .prop_map(move |(at, c, how)| {
            let chars: Vec<char> = text.chars().collect();
            let (head, tail) = chars.split_at(at);
            let head: String = head.iter().collect();
            let tail: String = tail.iter().collect();
            match how {
                0 => head,
                1 => format!("{head}{c}{tail}"),
                _ => format!("{head}{}", tail.chars().skip(1).collect::<String>()),
            }
        })
}

/// A generated input that holds a secret value. Its `Debug` (what proptest prints and
/// records for a failing case) shows nothing of it: a failure is replayed from the seed
/// proptest records, not from printed values.
#[derive(Clone)]
pub struct Hidden<T>(pub T);

impl<T> std::fmt::Debug for Hidden<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hidden(input holding a secret value, not shown)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn a_secret_is_caught_as_it_is_percent_encoded_and_escaped_but_plain_text_passes() {
        let mut runner = TestRunner::deterministic();
        let value = secret().new_tree(&mut runner).unwrap().current();
        let first = value.chars().next().unwrap();
        assert!(assert_no_secret(&format!("x {value} y")).is_err());
        let mut utf8 = [0u8; 4];
        let encoded: String = first
            .encode_utf8(&mut utf8)
            .bytes()
            .map(|b| format!("%{b:02x}"))
            .collect();
        assert!(assert_no_secret(&encoded).is_err());
        assert!(assert_no_secret(&first.escape_unicode().to_string()).is_err());
        let text = plain("\\PC{0,40}").new_tree(&mut runner).unwrap().current();
        assert!(assert_no_secret(&text).is_ok());
        assert!(!format!("{:?}", Hidden(value.clone())).contains(&value));
    }
}
