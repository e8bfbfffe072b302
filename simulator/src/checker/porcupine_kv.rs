//! Reader for porcupine's key-value logs (the format is described in
//! `shared/porcupine/README.md`).
//!
//! Each line is one map, `{:process P, :type :invoke|:ok, :f :get|:put|:append, :key "K",
//! :value nil|"S"}`; an `:ok` closes the open invocation of its process. Every key starts as the
//! empty string, so the histories are checked with [`KvModel::missing_equals_empty`]. Beyond
//! that format the reader also takes `:fail` (did not take effect) and `:info` (unknown outcome),
//! as Jepsen writes them. Times are line numbers.
//!
//! [`KvModel::missing_equals_empty`]: super::kv::KvModel::missing_equals_empty

use std::collections::BTreeMap;

use super::history::{ClientId, History, Operation, Outcome};
use super::kv::{KvInput, KvOutput};
use super::reader::{LineScanner, ParseError};

/// A key-value history as the checker reads it.
pub type KvHistory = History<KvInput, KvOutput>;

/// A value of the map syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Nil,
    Integer(u64),
    Keyword(String),
    Text(String),
}

/// How a completion line ends its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Completion {
    Ok,
    /// Did not take effect.
    Fail,
    /// Unknown outcome.
    Info,
}

/// The fields of one line.
struct Event {
    process: u64,
    process_column: usize,
    event_type: String,
    type_column: usize,
    function: String,
    function_column: usize,
    key: String,
    value: Option<String>,
    value_column: usize,
}

/// Parses a porcupine KV log.
pub fn parse(text: &str) -> Result<KvHistory, ParseError> {
    let mut operations: Vec<Operation<KvInput, KvOutput>> = Vec::new();
    // Process to the index in `operations` of its open invocation.
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let time = line_number as u64;
        let mut scanner = LineScanner::new(line_number, line);
        let event = parse_event(&mut scanner)?;
        let completion = match event.event_type.as_str() {
            "invoke" => {
                if open.contains_key(&event.process) {
                    return Err(scanner.error_at(
                        event.type_column,
                        format!(
                            "process {} invokes while its previous operation is still open",
                            event.process
                        ),
                    ));
                }
                let input = invocation_input(&scanner, &event)?;
                open.insert(event.process, operations.len());
                operations.push(Operation {
                    client: ClientId(event.process),
                    invoke_time: time,
                    return_time: None,
                    input,
                    outcome: Outcome::Unknown,
                });
                continue;
            }
            "ok" => Completion::Ok,
            "fail" => Completion::Fail,
            "info" => Completion::Info,
            other => {
                return Err(scanner.error_at(
                    event.type_column,
                    format!("expected :invoke, :ok, :fail or :info, found :{other}"),
                ))
            }
        };
        let Some(slot) = open.remove(&event.process) else {
            return Err(scanner.error_at(
                event.process_column,
                format!(
                    "process {} completes an operation it never invoked",
                    event.process
                ),
            ));
        };
        let operation = &mut operations[slot];
        if !same_call(&operation.input, &event) {
            return Err(scanner.error_at(
                event.function_column,
                format!(
                    "completion does not match the open invocation of process {}",
                    event.process
                ),
            ));
        }
        match completion {
            Completion::Ok => {
                operation.return_time = Some(time);
                operation.outcome = Outcome::Ok(match operation.input {
                    KvInput::Get { .. } => KvOutput::Value(event.value),
                    KvInput::Put { .. }
                    | KvInput::Append { .. }
                    | KvInput::Delete { .. }
                    | KvInput::CompareAndSet { .. } => KvOutput::Done,
                });
            }
            Completion::Fail => {
                operation.return_time = Some(time);
                operation.outcome = Outcome::Failed;
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

fn invocation_input(scanner: &LineScanner<'_>, event: &Event) -> Result<KvInput, ParseError> {
    let key = event.key.clone();
    let value = || {
        event.value.clone().ok_or_else(|| {
            scanner.error_at(
                event.value_column,
                format!(":{} needs a string value", event.function),
            )
        })
    };
    match event.function.as_str() {
        "get" => Ok(KvInput::Get { key }),
        "put" => Ok(KvInput::Put {
            key,
            value: value()?,
        }),
        "append" => Ok(KvInput::Append {
            key,
            value: value()?,
        }),
        other => Err(scanner.error_at(
            event.function_column,
            format!("expected :get, :put or :append, found :{other}"),
        )),
    }
}

fn same_call(input: &KvInput, event: &Event) -> bool {
    let function = match input {
        KvInput::Get { .. } => "get",
        KvInput::Put { .. } => "put",
        KvInput::Append { .. } => "append",
        KvInput::Delete { .. } => "delete",
        KvInput::CompareAndSet { .. } => "cas",
    };
    function == event.function && input.key() == event.key
}

/// Reads `{:process P, :type :T, :f :F, :key "K", :value V}`; the fields may come in any order.
fn parse_event(scanner: &mut LineScanner<'_>) -> Result<Event, ParseError> {
    let fields = parse_map(scanner)?;
    let field = |name: &str| {
        fields
            .get(name)
            .cloned()
            .ok_or_else(|| scanner.error_at(1, format!("missing field :{name}")))
    };
    let (process, process_column) = match field("process")? {
        (Value::Integer(process), column) => (process, column),
        (_, column) => return Err(scanner.error_at(column, ":process must be an integer")),
    };
    let (event_type, type_column) = keyword(scanner, field("type")?, "type")?;
    let (function, function_column) = keyword(scanner, field("f")?, "f")?;
    let key = match field("key")? {
        (Value::Text(key), _) => key,
        (_, column) => return Err(scanner.error_at(column, ":key must be a string")),
    };
    let (value, value_column) = match field("value")? {
        (Value::Text(text), column) => (Some(text), column),
        (Value::Nil, column) => (None, column),
        (_, column) => return Err(scanner.error_at(column, ":value must be a string or nil")),
    };
    Ok(Event {
        process,
        process_column,
        event_type,
        type_column,
        function,
        function_column,
        key,
        value,
        value_column,
    })
}

fn keyword(
    scanner: &LineScanner<'_>,
    field: (Value, usize),
    name: &str,
) -> Result<(String, usize), ParseError> {
    match field {
        (Value::Keyword(word), column) => Ok((word, column)),
        (_, column) => Err(scanner.error_at(column, format!(":{name} must be a keyword"))),
    }
}

/// A flat map of keyword keys to values, commas counting as whitespace.
fn parse_map(
    scanner: &mut LineScanner<'_>,
) -> Result<BTreeMap<String, (Value, usize)>, ParseError> {
    let is_space = |next: char| next.is_whitespace() || next == ',';
    scanner.skip_while(is_space);
    if scanner.bump() != Some('{') {
        return Err(scanner.error_at(1, "expected '{'"));
    }
    let mut fields = BTreeMap::new();
    loop {
        scanner.skip_while(is_space);
        match scanner.peek() {
            Some('}') => {
                scanner.bump();
                break;
            }
            None => return Err(scanner.error_here("expected '}'")),
            Some(_) => {}
        }
        let key_column = scanner.column();
        let Value::Keyword(key) = parse_value(scanner)? else {
            return Err(scanner.error_at(key_column, "expected a keyword"));
        };
        scanner.skip_while(is_space);
        let value_column = scanner.column();
        let value = parse_value(scanner)?;
        if fields.insert(key.clone(), (value, value_column)).is_some() {
            return Err(scanner.error_at(key_column, format!("duplicate field :{key}")));
        }
    }
    scanner.skip_while(char::is_whitespace);
    if !scanner.is_at_end() {
        return Err(scanner.error_here("unexpected text after '}'"));
    }
    Ok(fields)
}

fn parse_value(scanner: &mut LineScanner<'_>) -> Result<Value, ParseError> {
    let column = scanner.column();
    match scanner.peek() {
        Some('"') => {
            scanner.bump();
            let mut text = String::new();
            loop {
                match scanner.bump() {
                    Some('"') => return Ok(Value::Text(text)),
                    Some('\\') => match scanner.bump() {
                        Some('n') => text.push('\n'),
                        Some('t') => text.push('\t'),
                        Some(escaped @ ('"' | '\\')) => text.push(escaped),
                        _ => return Err(scanner.error_here("unknown escape in string")),
                    },
                    Some(next) => text.push(next),
                    None => return Err(scanner.error_at(column, "unterminated string")),
                }
            }
        }
        Some(':') => {
            scanner.bump();
            let (word, _) =
                scanner.take_until(|next| next.is_whitespace() || next == ',' || next == '}');
            if word.is_empty() {
                return Err(scanner.error_at(column, "empty keyword"));
            }
            Ok(Value::Keyword(word.to_string()))
        }
        Some(_) => {
            let (word, _) =
                scanner.take_until(|next| next.is_whitespace() || next == ',' || next == '}');
            if word == "nil" {
                Ok(Value::Nil)
            } else if let Ok(number) = word.parse() {
                Ok(Value::Integer(number))
            } else {
                Err(scanner.error_at(column, format!("expected a value, found {word:?}")))
            }
        }
        None => Err(scanner.error_here("expected a value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_invocations_and_completions() {
        let text = "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
                    {:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n\
                    {:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
                    {:process 1, :type :ok, :f :get, :key \"0\", :value \"x 0 0 y\"}\n";
        let history = parse(text).unwrap();
        let operations = history.operations();
        assert_eq!(operations.len(), 2);
        assert_eq!(operations[1].invoke_time, 2);
        assert_eq!(operations[1].return_time, Some(4));
        assert_eq!(
            operations[1].outcome,
            Outcome::Ok(KvOutput::Value(Some("x 0 0 y".to_string())))
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil}\n\
                    {:process 0, :type :ok, :f :get, :key \"0\", :value 12x}\n";
        assert_eq!(
            parse(text).unwrap_err(),
            ParseError::new(2, 51, "expected a value, found \"12x\"")
        );
        let text = "{:process 0, :type :invoke, :f :get, :key \"0, :value nil}\n";
        assert_eq!(parse(text).unwrap_err().column, 43);
        let text = "{:process 0, :type :invoke, :f :frob, :key \"0\", :value nil}\n";
        assert_eq!(parse(text).unwrap_err().column, 32);
        let text = "{:process 0, :type :ok, :f :get, :key \"0\", :value nil}\n";
        assert_eq!(parse(text).unwrap_err().column, 11);
        let text = "{:process 0, :type :invoke, :f :get, :key \"0\", :value nil";
        assert_eq!(parse(text).unwrap_err().column, 58);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn damaged_history_never_panics(position in 0usize..200, replacement in "\\PC{0,3}") {
            let sample: &str = "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n";
            let mut damaged: String = sample.chars().take(position).collect();
            damaged.push_str(&replacement);
            damaged.extend(sample.chars().skip(position + 1));
            if let Err(error) = parse(&damaged) {
                proptest::prop_assert!(error.line >= 1 && error.column >= 1);
            }
        }
    }
}
