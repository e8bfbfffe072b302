//! Reader for Jepsen's etcd register logs (the format is described in
//! `shared/porcupine/README.md`).
//!
//! Each line is `INFO  jepsen.util - <process> <type> <f> <value>`. A completion closes the open
//! invocation of its process. The outcome follows porcupine's reading of these logs:
//!
//! | line                         | outcome                                                  |
//! |------------------------------|----------------------------------------------------------|
//! | `:ok`                        | took effect with the logged output                       |
//! | `:fail :cas [a b]`           | returned "compare failed": the register did not hold `a` |
//! | `:fail ... :timed-out`       | returned with an unknown result, took effect before then if at all |
//! | other `:fail`                | did not take effect                                      |
//! | `:info`, or no completion    | unknown: may take effect any time after invocation, or never |
//!
//! Times are line numbers.

use std::collections::BTreeMap;

use super::history::{ClientId, History, Operation, Outcome};
use super::reader::{LineScanner, ParseError};
use super::register::{RegisterInput, RegisterOutput};

/// A register history as the checker reads it.
pub type RegisterHistory = History<RegisterInput, RegisterOutput>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    Invoke,
    Complete(Completion),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Completion {
    Ok,
    Fail,
    Info,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Read,
    Write,
    CompareAndSet,
}

/// An invocation waiting for its completion.
struct OpenInvocation {
    /// Index into the list of operations being built.
    slot: usize,
    function: Function,
}

/// Parses a Jepsen etcd register log.
pub fn parse(text: &str) -> Result<RegisterHistory, ParseError> {
    // Operations in invocation order; filled in as completions arrive.
    let mut operations: Vec<Operation<RegisterInput, RegisterOutput>> = Vec::new();
    let mut open: BTreeMap<u64, OpenInvocation> = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let time = line_number as u64;
        let mut scanner = LineScanner::new(line_number, line);
        expect_word(&mut scanner, "INFO")?;
        expect_word(&mut scanner, "jepsen.util")?;
        expect_word(&mut scanner, "-")?;
        let (process_text, process_column) = word(&mut scanner);
        let process: u64 = process_text.parse().map_err(|_| {
            scanner.error_at(
                process_column,
                format!("expected a process number, found {process_text:?}"),
            )
        })?;
        let (type_text, type_column) = word(&mut scanner);
        let event_type = match type_text {
            ":invoke" => EventType::Invoke,
            ":ok" => EventType::Complete(Completion::Ok),
            ":fail" => EventType::Complete(Completion::Fail),
            ":info" => EventType::Complete(Completion::Info),
            other => {
                return Err(scanner.error_at(
                    type_column,
                    format!("expected :invoke, :ok, :fail or :info, found {other:?}"),
                ))
            }
        };
        let (function_text, function_column) = word(&mut scanner);
        let function = match function_text {
            ":read" => Function::Read,
            ":write" => Function::Write,
            ":cas" => Function::CompareAndSet,
            other => {
                return Err(scanner.error_at(
                    function_column,
                    format!("expected :read, :write or :cas, found {other:?}"),
                ))
            }
        };
        scanner.skip_while(char::is_whitespace);
        let value_column = scanner.column();
        let value = scanner.rest().trim_end();
        if value.is_empty() {
            return Err(scanner.error_here("expected a value"));
        }
        let value_error = |expected: &str| {
            ParseError::new(
                line_number,
                value_column,
                format!("expected {expected}, found {value:?}"),
            )
        };
        let client = ClientId(process);
        let completion =
            match event_type {
                EventType::Complete(completion) => completion,
                EventType::Invoke => {
                    if open.contains_key(&process) {
                        return Err(scanner.error_at(
                    type_column,
                    format!("process {process} invokes while its previous operation is still open"),
                ));
                    }
                    let input = match function {
                        Function::Read => RegisterInput::Read,
                        Function::Write => RegisterInput::Write(
                            parse_integer(value).ok_or_else(|| value_error("an integer"))?,
                        ),
                        Function::CompareAndSet => {
                            let (expected, new) =
                                parse_pair(value).ok_or_else(|| value_error("[expected new]"))?;
                            RegisterInput::CompareAndSet { expected, new }
                        }
                    };
                    open.insert(
                        process,
                        OpenInvocation {
                            slot: operations.len(),
                            function,
                        },
                    );
                    operations.push(Operation {
                        client,
                        invoke_time: time,
                        return_time: None,
                        input,
                        outcome: Outcome::Unknown,
                    });
                    continue;
                }
            };
        let Some(invocation) = open.remove(&process) else {
            return Err(scanner.error_at(
                process_column,
                format!("process {process} completes an operation it never invoked"),
            ));
        };
        if invocation.function != function {
            return Err(scanner.error_at(
                function_column,
                format!("completion {function_text} does not match the open invocation of process {process}"),
            ));
        }
        let operation = &mut operations[invocation.slot];
        let timed_out = value == ":timed-out";
        match completion {
            Completion::Ok => {
                let output = match function {
                    Function::Read => RegisterOutput::Read(
                        parse_optional_integer(value)
                            .ok_or_else(|| value_error("nil or an integer"))?,
                    ),
                    Function::Write => RegisterOutput::Written,
                    Function::CompareAndSet => RegisterOutput::CompareAndSet { succeeded: true },
                };
                operation.return_time = Some(time);
                operation.outcome = Outcome::Ok(output);
            }
            Completion::Fail if timed_out => {
                operation.return_time = Some(time);
                operation.outcome = Outcome::Unknown;
            }
            Completion::Fail => {
                operation.return_time = Some(time);
                operation.outcome = match function {
                    // etcd answered that the compare did not match: an observation of the value.
                    Function::CompareAndSet => {
                        Outcome::Ok(RegisterOutput::CompareAndSet { succeeded: false })
                    }
                    Function::Read | Function::Write => Outcome::Failed,
                };
            }
            Completion::Info => {
                operation.return_time = None;
                operation.outcome = Outcome::Unknown;
            }
        }
    }
    let mut history = History::new();
    for operation in operations {
        history
            .push(operation)
            .expect("times are line numbers, so returns follow invocations");
    }
    Ok(history)
}

fn expect_word(scanner: &mut LineScanner<'_>, expected: &str) -> Result<(), ParseError> {
    let (found, column) = word(scanner);
    if found == expected {
        Ok(())
    } else {
        Err(scanner.error_at(column, format!("expected {expected:?}, found {found:?}")))
    }
}

/// The next whitespace-separated word and its column.
fn word<'a>(scanner: &mut LineScanner<'a>) -> (&'a str, usize) {
    scanner.skip_while(char::is_whitespace);
    scanner.take_until(char::is_whitespace)
}

fn parse_integer(text: &str) -> Option<i64> {
    text.parse().ok()
}

fn parse_optional_integer(text: &str) -> Option<Option<i64>> {
    if text == "nil" {
        Some(None)
    } else {
        parse_integer(text).map(Some)
    }
}

/// `[a b]` with integers `a` and `b`.
fn parse_pair(text: &str) -> Option<(i64, i64)> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    let mut parts = inner.split_whitespace();
    let first = parse_integer(parts.next()?)?;
    let second = parse_integer(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((first, second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_event() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
                    INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 0\t:ok\t:write\t1\n\
                    INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 2\t:info\t:read\t:timed-out\n\
                    INFO  jepsen.util - 3\t:invoke\t:read\tnil\n";
        let history = parse(text).unwrap();
        let operations = history.operations();
        assert_eq!(operations.len(), 4);
        assert_eq!(operations[0].return_time, Some(3));
        assert_eq!(
            operations[1].outcome,
            Outcome::Ok(RegisterOutput::CompareAndSet { succeeded: false })
        );
        assert_eq!(operations[2].outcome, Outcome::Unknown);
        assert_eq!(operations[2].return_time, None);
        assert_eq!(operations[3].return_time, None);
    }

    #[test]
    fn timed_out_failure_has_a_return_time() {
        let text = "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :fail :read :timed-out\n";
        let history = parse(text).unwrap();
        assert_eq!(history.operations()[0].return_time, Some(2));
        assert_eq!(history.operations()[0].outcome, Outcome::Unknown);
    }

    #[test]
    fn errors_name_line_and_column() {
        let text =
            "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :ok :read seven\n";
        assert_eq!(
            parse(text).unwrap_err(),
            ParseError::new(2, 33, "expected nil or an integer, found \"seven\"")
        );
        let text = "INFO  jepsen.util - x :invoke :read nil\n";
        assert_eq!(parse(text).unwrap_err().column, 21);
        let text = "INFO  jepsen.util - 0 :invoke :frob nil\n";
        assert_eq!(parse(text).unwrap_err().column, 31);
        let text = "INFO  jepsen.util - 0 :ok :read nil\n";
        assert_eq!(parse(text).unwrap_err().line, 1);
        let text = "WARN  jepsen.util - 0 :ok :read nil\n";
        assert_eq!(parse(text).unwrap_err().column, 1);
        let text = "INFO  jepsen.util - 0 :invoke :cas [1]\n";
        assert_eq!(parse(text).unwrap_err().column, 36);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn damaged_history_never_panics(position in 0usize..200, replacement in "\\PC{0,3}") {
            let sample: &str = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n";
            let mut damaged: String = sample.chars().take(position).collect();
            damaged.push_str(&replacement);
            damaged.extend(sample.chars().skip(position + 1));
            if let Err(error) = parse(&damaged) {
                proptest::prop_assert!(error.line >= 1 && error.column >= 1);
            }
        }
    }
}
