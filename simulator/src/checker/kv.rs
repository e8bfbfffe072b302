//! A map from string keys to string values with get, put, append, delete and compare-and-set:
//! the service `kvapp` offers, and the object of porcupine's KV histories.

use super::model::Model;

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
    /// Whether the compare matched and the new value was stored.
    CompareAndSet { succeeded: bool },
}

/// The key-value model, partitioned by key: its state is the value of one key, `None` while the
/// key is missing.
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

    fn same_value(&self, left: Option<&str>, right: Option<&str>) -> bool {
        if self.missing_equals_empty {
            left.unwrap_or("") == right.unwrap_or("")
        } else {
            left == right
        }
    }
}

impl Model for KvModel {
    type Input = KvInput;
    type Output = KvOutput;
    type State = Option<String>;

    fn initial_state(&self) -> Option<String> {
        None
    }

    fn step(
        &self,
        state: &Option<String>,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Option<String>> {
        let next = match input {
            KvInput::Get { .. } => state.clone(),
            KvInput::Put { value, .. } => Some(value.clone()),
            KvInput::Append { value, .. } => {
                let mut joined = state.clone().unwrap_or_default();
                joined.push_str(value);
                Some(joined)
            }
            KvInput::Delete { .. } => None,
            KvInput::CompareAndSet { expected, new, .. } => {
                if self.same_value(state.as_deref(), expected.as_deref()) {
                    Some(new.clone())
                } else {
                    state.clone()
                }
            }
        };
        let Some(output) = output else {
            return Some(next);
        };
        let legal = match (input, output) {
            (KvInput::Get { .. }, KvOutput::Value(value)) => {
                self.same_value(state.as_deref(), value.as_deref())
            }
            (
                KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. },
                KvOutput::Done,
            ) => true,
            (KvInput::CompareAndSet { expected, .. }, KvOutput::CompareAndSet { succeeded }) => {
                self.same_value(state.as_deref(), expected.as_deref()) == *succeeded
            }
            // An output of the wrong kind cannot come from this operation.
            (KvInput::Get { .. }, KvOutput::Done | KvOutput::CompareAndSet { .. })
            | (
                KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. },
                KvOutput::Value(_) | KvOutput::CompareAndSet { .. },
            )
            | (KvInput::CompareAndSet { .. }, KvOutput::Value(_) | KvOutput::Done) => false,
        };
        legal.then_some(next)
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
            Some(KvOutput::CompareAndSet { succeeded }) => {
                format!("{call} -> {}", if *succeeded { "ok" } else { "mismatch" })
            }
        }
    }

    fn describe_state(&self, state: &Option<String>) -> String {
        describe_value(state.as_deref())
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
            model.step(&None, &append, Some(&KvOutput::Done)),
            Some(Some("x".to_string()))
        );
    }

    #[test]
    fn missing_and_empty_differ_unless_asked() {
        let empty = KvOutput::Value(Some(String::new()));
        assert_eq!(KvModel::new().step(&None, &get("k"), Some(&empty)), None);
        assert_eq!(
            KvModel::missing_equals_empty().step(&None, &get("k"), Some(&empty)),
            Some(None)
        );
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
            model.step(&None, &cas, Some(&succeeded)),
            Some(Some("v".to_string()))
        );
        assert_eq!(
            model.step(&Some("w".to_string()), &cas, Some(&succeeded)),
            None
        );
    }
}
