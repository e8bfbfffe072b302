//! A single register holding an integer or nothing, with read, write and compare-and-set: the
//! object Jepsen's etcd test exercises.

use super::model::Model;

/// Operations on the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    Read,
    Write(i64),
    /// Sets the register to `new` when it holds `expected`.
    CompareAndSet {
        expected: i64,
        new: i64,
    },
}

/// Answers from the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// The value read; `None` when the register was never written.
    Read(Option<i64>),
    Written,
    /// Whether the compare matched and the new value was stored.
    CompareAndSet {
        succeeded: bool,
    },
}

/// The register model. Its state is the value held, `None` before the first write.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel;

impl Model for RegisterModel {
    type Input = RegisterInput;
    type Output = RegisterOutput;
    type State = Option<i64>;

    fn initial_state(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<Option<i64>> {
        match (input, output) {
            (RegisterInput::Read, None) => Some(*state),
            (RegisterInput::Read, Some(RegisterOutput::Read(value))) => {
                (value == state).then_some(*state)
            }
            (RegisterInput::Write(value), None | Some(RegisterOutput::Written)) => {
                Some(Some(*value))
            }
            (RegisterInput::CompareAndSet { expected, new }, None) => {
                Some(if *state == Some(*expected) {
                    Some(*new)
                } else {
                    *state
                })
            }
            (
                RegisterInput::CompareAndSet { expected, new },
                Some(RegisterOutput::CompareAndSet { succeeded }),
            ) => {
                let matches = *state == Some(*expected);
                match (matches, *succeeded) {
                    (true, true) => Some(Some(*new)),
                    (false, false) => Some(*state),
                    (true, false) | (false, true) => None,
                }
            }
            // An output of the wrong kind cannot come from this operation.
            (
                RegisterInput::Read,
                Some(RegisterOutput::Written | RegisterOutput::CompareAndSet { .. }),
            )
            | (
                RegisterInput::Write(_),
                Some(RegisterOutput::Read(_) | RegisterOutput::CompareAndSet { .. }),
            )
            | (
                RegisterInput::CompareAndSet { .. },
                Some(RegisterOutput::Read(_) | RegisterOutput::Written),
            ) => None,
        }
    }

    fn is_observation(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> bool {
        match (input, output) {
            (RegisterInput::Read, _) => true,
            (
                RegisterInput::CompareAndSet { .. },
                Some(RegisterOutput::CompareAndSet { succeeded }),
            ) => !succeeded,
            (
                RegisterInput::CompareAndSet { .. },
                None | Some(RegisterOutput::Read(_) | RegisterOutput::Written),
            )
            | (RegisterInput::Write(_), _) => false,
        }
    }

    fn is_blind(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> bool {
        match (input, output) {
            (RegisterInput::Write(_), None | Some(RegisterOutput::Written)) => true,
            (
                RegisterInput::Write(_),
                Some(RegisterOutput::Read(_) | RegisterOutput::CompareAndSet { .. }),
            )
            | (RegisterInput::Read | RegisterInput::CompareAndSet { .. }, _) => false,
        }
    }

    fn partition(&self, _input: &RegisterInput) -> Option<String> {
        None
    }

    fn describe_operation(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        let call = match input {
            RegisterInput::Read => "read()".to_string(),
            RegisterInput::Write(value) => format!("write({value})"),
            RegisterInput::CompareAndSet { expected, new } => format!("cas({expected}, {new})"),
        };
        match output {
            None => format!("{call} -> ?"),
            Some(RegisterOutput::Read(value)) => format!("{call} -> {}", describe_value(*value)),
            Some(RegisterOutput::Written) => format!("{call} -> ok"),
            Some(RegisterOutput::CompareAndSet { succeeded }) => {
                format!("{call} -> {}", if *succeeded { "ok" } else { "mismatch" })
            }
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        describe_value(*state)
    }
}

fn describe_value(value: Option<i64>) -> String {
    match value {
        Some(value) => value.to_string(),
        None => "nil".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_compare_leaves_the_value() {
        let model = RegisterModel;
        let input = RegisterInput::CompareAndSet {
            expected: 1,
            new: 2,
        };
        let mismatch = RegisterOutput::CompareAndSet { succeeded: false };
        assert_eq!(model.step(&Some(3), &input, Some(&mismatch)), Some(Some(3)));
        assert_eq!(model.step(&Some(1), &input, Some(&mismatch)), None);
        assert_eq!(model.step(&Some(1), &input, None), Some(Some(2)));
    }

    #[test]
    fn read_must_match() {
        let model = RegisterModel;
        let read = RegisterInput::Read;
        assert_eq!(
            model.step(&None, &read, Some(&RegisterOutput::Read(None))),
            Some(None)
        );
        assert_eq!(
            model.step(&Some(1), &read, Some(&RegisterOutput::Read(None))),
            None
        );
    }
}
