//! A map from string keys to string values with get, put, append, delete and compare-and-set:
//! the service `kvapp` offers, and the object of porcupine's KV histories.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use super::model::Model;

/// The value of one key, or its absence.
///
/// Histories append to values over and over, and the search keeps every value it reaches, so a
/// value is a persistent list of the pieces it was built from, newest first: an append shares
/// everything before it and costs one small allocation. Each node knows its length and a
/// polynomial hash of its whole text, so hashing is O(1) and most comparisons end at the length.
#[derive(Clone, Default)]
pub struct KvValue {
    /// `None` while the key is missing.
    newest: Option<Rc<ValueNode>>,
}

struct ValueNode {
    earlier: Option<Rc<ValueNode>>,
    piece: Box<str>,
    /// Length in bytes of the whole text up to and including `piece`.
    length: usize,
    /// Invariant: `text_hash(whole text)`, computed incrementally from `earlier`.
    hash: u64,
}

/// Multiplier of the polynomial text hash; odd, so that it is invertible modulo 2^64.
const TEXT_HASH_BASE: u64 = 0x100_0000_01b3;

fn extend_text_hash(hash: u64, piece: &str) -> u64 {
    piece.bytes().fold(hash, |hash, byte| {
        hash.wrapping_mul(TEXT_HASH_BASE)
            .wrapping_add(u64::from(byte) + 1)
    })
}

impl KvValue {
    pub fn missing() -> Self {
        KvValue { newest: None }
    }

    pub fn from_text(text: &str) -> Self {
        KvValue::missing().appended(text)
    }

    pub fn is_missing(&self) -> bool {
        self.newest.is_none()
    }

    /// The value with `piece` added at the end; a missing value counts as empty.
    pub fn appended(&self, piece: &str) -> Self {
        let (length, hash) = match &self.newest {
            Some(node) => (node.length, node.hash),
            None => (0, 0),
        };
        KvValue {
            newest: Some(Rc::new(ValueNode {
                earlier: self.newest.clone(),
                piece: piece.into(),
                length: length + piece.len(),
                hash: extend_text_hash(hash, piece),
            })),
        }
    }

    /// Length in bytes; a missing value has length 0.
    pub fn len(&self) -> usize {
        self.newest.as_ref().map_or(0, |node| node.length)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text's bytes from last to first.
    fn bytes_reversed(&self) -> impl Iterator<Item = u8> + '_ {
        let mut node = self.newest.as_deref();
        std::iter::from_fn(move || {
            let current = node?;
            node = current.earlier.as_deref();
            Some(current.piece.bytes().rev())
        })
        .flatten()
    }

    /// Whether the text is `text` (a missing value's text is empty).
    pub fn text_equals(&self, text: &str) -> bool {
        self.len() == text.len() && self.bytes_reversed().eq(text.bytes().rev())
    }

    /// Whether the text is a prefix of `text` (a missing value's text is empty).
    pub fn is_prefix_of(&self, text: &str) -> bool {
        let length = self.len();
        length <= text.len()
            && self
                .bytes_reversed()
                .eq(text.as_bytes()[..length].iter().rev().copied())
    }

    /// The text, or `None` when missing.
    pub fn to_text(&self) -> Option<String> {
        self.newest.as_ref()?;
        let mut bytes: Vec<u8> = self.bytes_reversed().collect();
        bytes.reverse();
        Some(String::from_utf8(bytes).expect("pieces are whole strings"))
    }
}

impl PartialEq for KvValue {
    fn eq(&self, other: &Self) -> bool {
        match (&self.newest, &other.newest) {
            (None, None) => true,
            (Some(left), Some(right)) => {
                Rc::ptr_eq(left, right)
                    || (left.length == right.length
                        && left.hash == right.hash
                        && self.bytes_reversed().eq(other.bytes_reversed()))
            }
            (None, Some(_)) | (Some(_), None) => false,
        }
    }
}

impl Eq for KvValue {}

impl Hash for KvValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.newest {
            Some(node) => {
                state.write_u8(1);
                state.write_u64(node.hash);
            }
            None => state.write_u8(0),
        }
    }
}

impl fmt::Debug for KvValue {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_text() {
            Some(text) => write!(formatter, "{text:?}"),
            None => write!(formatter, "missing"),
        }
    }
}

/// Operations on the map. Each touches exactly one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    /// Concatenates `value` to the key's value; a missing key counts as empty.
    Append {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    /// Sets the key to `new` when it holds `expected` (`None`: when it is missing).
    CompareAndSet {
        key: String,
        expected: Option<String>,
        new: String,
    },
}

impl KvInput {
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Append { key, .. }
            | KvInput::Delete { key }
            | KvInput::CompareAndSet { key, .. } => key,
        }
    }
}

/// Answers from the map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The value a get returned; `None` when the key was missing.
    Value(Option<String>),
    /// A put, append or delete was applied.
    Done,
    /// A put, append or delete was applied to a key that held `previous` (`None`: missing), as
    /// kvapp answers: the answer pins where the write fell among the others.
    Written { previous: Option<String> },
    /// Whether the compare matched and the new value was stored.
    CompareAndSet { succeeded: bool },
    /// A compare-and-set, with the value the key held when it ran, as kvapp answers.
    CompareAndSetFrom {
        succeeded: bool,
        previous: Option<String>,
    },
}

impl KvOutput {
    /// The value the key must hold just before the operation, when the output says.
    fn value_before(&self) -> Option<Option<&str>> {
        match self {
            KvOutput::Value(value)
            | KvOutput::Written { previous: value }
            | KvOutput::CompareAndSetFrom {
                previous: value, ..
            } => Some(value.as_deref()),
            KvOutput::Done | KvOutput::CompareAndSet { .. } => None,
        }
    }
}

/// The key-value model, partitioned by key: its state is the value of one key.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel {
    /// Whether a missing key and an empty value are the same thing, as in porcupine's KV tests
    /// where every key starts as the empty string.
    pub missing_equals_empty: bool,
}

impl KvModel {
    /// The model of `kvapp`: a missing key is distinct from an empty value.
    pub fn new() -> Self {
        KvModel {
            missing_equals_empty: false,
        }
    }

    /// The model of porcupine's KV histories: every key starts as the empty string.
    pub fn missing_equals_empty() -> Self {
        KvModel {
            missing_equals_empty: true,
        }
    }

    /// Whether the state holds `expected` (`None`: the key is missing).
    fn holds(&self, state: &KvValue, expected: Option<&str>) -> bool {
        if self.missing_equals_empty {
            return state.text_equals(expected.unwrap_or(""));
        }
        match expected {
            Some(text) => !state.is_missing() && state.text_equals(text),
            None => state.is_missing(),
        }
    }
}

impl Model for KvModel {
    type Input = KvInput;
    type Output = KvOutput;
    type State = KvValue;

    fn initial_state(&self) -> KvValue {
        KvValue::missing()
    }

    fn step(&self, state: &KvValue, input: &KvInput, output: Option<&KvOutput>) -> Option<KvValue> {
        let next = match input {
            KvInput::Get { .. } => state.clone(),
            KvInput::Put { value, .. } => KvValue::from_text(value),
            KvInput::Append { value, .. } => state.appended(value),
            KvInput::Delete { .. } => KvValue::missing(),
            KvInput::CompareAndSet { expected, new, .. } => {
                if self.holds(state, expected.as_deref()) {
                    KvValue::from_text(new)
                } else {
                    state.clone()
                }
            }
        };
        let Some(output) = output else {
            return Some(next);
        };
        let legal = match (input, output) {
            (KvInput::Get { .. }, KvOutput::Value(value)) => self.holds(state, value.as_deref()),
            (
                KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. },
                KvOutput::Done,
            ) => true,
            (
                KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. },
                KvOutput::Written { previous },
            ) => self.holds(state, previous.as_deref()),
            (KvInput::CompareAndSet { expected, .. }, KvOutput::CompareAndSet { succeeded }) => {
                self.holds(state, expected.as_deref()) == *succeeded
            }
            (
                KvInput::CompareAndSet { expected, .. },
                KvOutput::CompareAndSetFrom {
                    succeeded,
                    previous,
                },
            ) => {
                self.holds(state, previous.as_deref())
                    && self.holds(state, expected.as_deref()) == *succeeded
            }
            // An output of the wrong kind cannot come from this operation.
            (
                KvInput::Get { .. },
                KvOutput::Done
                | KvOutput::Written { .. }
                | KvOutput::CompareAndSet { .. }
                | KvOutput::CompareAndSetFrom { .. },
            )
            | (
                KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. },
                KvOutput::Value(_)
                | KvOutput::CompareAndSet { .. }
                | KvOutput::CompareAndSetFrom { .. },
            )
            | (
                KvInput::CompareAndSet { .. },
                KvOutput::Value(_) | KvOutput::Done | KvOutput::Written { .. },
            ) => false,
        };
        legal.then_some(next)
    }

    fn is_observation(&self, input: &KvInput, output: Option<&KvOutput>) -> bool {
        match (input, output) {
            (KvInput::Get { .. }, _) => true,
            (
                KvInput::CompareAndSet { .. },
                Some(
                    KvOutput::CompareAndSet { succeeded }
                    | KvOutput::CompareAndSetFrom { succeeded, .. },
                ),
            ) => !succeeded,
            (
                KvInput::CompareAndSet { .. },
                None | Some(KvOutput::Value(_) | KvOutput::Done | KvOutput::Written { .. }),
            )
            | (KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. }, _) => false,
        }
    }

    fn is_blind(&self, input: &KvInput, output: Option<&KvOutput>) -> bool {
        match (input, output) {
            (KvInput::Put { .. } | KvInput::Delete { .. }, None | Some(KvOutput::Done)) => true,
            // A write that says what it overwrote is legal in one state only.
            (
                KvInput::Put { .. } | KvInput::Delete { .. },
                Some(
                    KvOutput::Value(_)
                    | KvOutput::Written { .. }
                    | KvOutput::CompareAndSet { .. }
                    | KvOutput::CompareAndSetFrom { .. },
                ),
            )
            | (KvInput::Get { .. } | KvInput::Append { .. } | KvInput::CompareAndSet { .. }, _) => {
                false
            }
        }
    }

    fn may_reach(
        &self,
        state: &KvValue,
        _input: &KvInput,
        output: &KvOutput,
        candidates: &mut dyn Iterator<Item = &KvInput>,
    ) -> bool {
        // The value the key must hold just before the operation: what a get returns, what a
        // write or a compare-and-set says it found.
        let Some(expected) = output.value_before() else {
            return true;
        };
        // Appends only lengthen the text and never make a key missing, so the value found is
        // the current one or one a candidate sets, lengthened by appends.
        let reachable_from = |start: Option<&str>| match (expected, start) {
            (Some(text), Some(start)) => text.starts_with(start),
            (Some(_), None) => true,
            (None, Some(start)) => self.missing_equals_empty && start.is_empty(),
            (None, None) => true,
        };
        let current = match expected {
            Some(text) => state.is_prefix_of(text),
            None if self.missing_equals_empty => state.is_empty(),
            None => state.is_missing(),
        };
        let mut set_values = candidates.filter_map(|candidate| match candidate {
            KvInput::Put { value, .. } => Some(Some(value.as_str())),
            KvInput::CompareAndSet { new, .. } => Some(Some(new.as_str())),
            KvInput::Delete { .. } => Some(None),
            KvInput::Get { .. } | KvInput::Append { .. } => None,
        });
        current || set_values.any(reachable_from)
    }

    fn partition(&self, input: &KvInput) -> Option<String> {
        Some(input.key().to_string())
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        let call = match input {
            KvInput::Get { key } => format!("get({key:?})"),
            KvInput::Put { key, value } => format!("put({key:?}, {value:?})"),
            KvInput::Append { key, value } => format!("append({key:?}, {value:?})"),
            KvInput::Delete { key } => format!("delete({key:?})"),
            KvInput::CompareAndSet { key, expected, new } => {
                format!(
                    "cas({key:?}, {}, {new:?})",
                    describe_value(expected.as_deref())
                )
            }
        };
        match output {
            None => format!("{call} -> ?"),
            Some(KvOutput::Value(value)) => {
                format!("{call} -> {}", describe_value(value.as_deref()))
            }
            Some(KvOutput::Done) => format!("{call} -> ok"),
            Some(KvOutput::Written { previous }) => {
                format!("{call} -> ok (was {})", describe_value(previous.as_deref()))
            }
            Some(KvOutput::CompareAndSet { succeeded }) => {
                format!("{call} -> {}", if *succeeded { "ok" } else { "mismatch" })
            }
            Some(KvOutput::CompareAndSetFrom {
                succeeded,
                previous,
            }) => format!(
                "{call} -> {} (was {})",
                if *succeeded { "ok" } else { "mismatch" },
                describe_value(previous.as_deref())
            ),
        }
    }

    fn describe_state(&self, state: &KvValue) -> String {
        describe_value(state.to_text().as_deref())
    }
}

fn describe_value(value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{value:?}"),
        None => "missing".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(key: &str) -> KvInput {
        KvInput::Get {
            key: key.to_string(),
        }
    }

    #[test]
    fn append_to_missing_starts_from_empty() {
        let model = KvModel::new();
        let append = KvInput::Append {
            key: "k".to_string(),
            value: "x".to_string(),
        };
        assert_eq!(
            model.step(&KvValue::missing(), &append, Some(&KvOutput::Done)),
            Some(KvValue::from_text("x"))
        );
    }

    #[test]
    fn missing_and_empty_differ_unless_asked() {
        let empty = KvOutput::Value(Some(String::new()));
        let missing = KvValue::missing();
        assert_eq!(KvModel::new().step(&missing, &get("k"), Some(&empty)), None);
        assert_eq!(
            KvModel::missing_equals_empty().step(&missing, &get("k"), Some(&empty)),
            Some(missing)
        );
    }

    #[test]
    fn values_built_differently_are_equal() {
        let built = KvValue::from_text("ab").appended("c").appended("");
        let whole = KvValue::from_text("abc");
        assert_eq!(built, whole);
        assert!(built.text_equals("abc"));
        assert!(!built.text_equals("abd"));
        assert_ne!(KvValue::from_text(""), KvValue::missing());
        let hash = |value: &KvValue| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            value.hash(&mut hasher);
            hasher.finish()
        };
        assert_eq!(hash(&built), hash(&whole));
        assert_eq!(built.to_text().as_deref(), Some("abc"));
    }

    #[test]
    fn compare_and_set_on_missing_key() {
        let model = KvModel::new();
        let cas = KvInput::CompareAndSet {
            key: "k".to_string(),
            expected: None,
            new: "v".to_string(),
        };
        let succeeded = KvOutput::CompareAndSet { succeeded: true };
        assert_eq!(
            model.step(&KvValue::missing(), &cas, Some(&succeeded)),
            Some(KvValue::from_text("v"))
        );
        assert_eq!(
            model.step(&KvValue::from_text("w"), &cas, Some(&succeeded)),
            None
        );
    }
}
