//! The bridge from the client history to the linearizability checker (`crate::checker`): each
//! client operation becomes a checker operation on the KV model, partitioned by key.

use kvapp::store::{Operation, Reply};

use crate::checker::kv::{KvInput, KvModel, KvOutput};
use crate::checker::{
    check_with, html, Budget, CheckResult, ClientId, History as CheckerHistory,
    Operation as CheckerOperation, Outcome as CheckerOutcome, Partitioning,
};
use crate::history::{History, HistoryOperation, HistoryOutcome};
use crate::oracles::{Property, Violation};
use crate::report::LinearizabilityOutcome;

/// The operation on a key, or `None` for a close of sessions, which touches no key (the
/// simulated clients never send one; a command it refuses is answered `SessionClosed`).
fn input(operation: &Operation) -> Option<KvInput> {
    Some(match operation.clone() {
        Operation::Get { key } => KvInput::Get { key },
        Operation::Put { key, value } => KvInput::Put { key, value },
        Operation::Append { key, value } => KvInput::Append { key, value },
        Operation::Delete { key } => KvInput::Delete { key },
        Operation::CompareAndSet {
            key,
            expected,
            value,
        } => KvInput::CompareAndSet {
            key,
            expected,
            new: value,
        },
        Operation::CloseSessions { .. } => return None,
    })
}

fn outcome(outcome: &HistoryOutcome) -> CheckerOutcome<KvOutput> {
    match outcome {
        // What a write found is part of its answer, and the checker holds it to that: a
        // wrong previous value is a violation, and each answer pins where its write fell.
        HistoryOutcome::Ok(Reply::Written { previous }) => CheckerOutcome::Ok(KvOutput::Written {
            previous: previous.clone(),
        }),
        HistoryOutcome::Ok(Reply::Value { value }) => {
            CheckerOutcome::Ok(KvOutput::Value(value.clone()))
        }
        HistoryOutcome::Ok(Reply::CompareAndSet { swapped, previous }) => {
            CheckerOutcome::Ok(KvOutput::CompareAndSetFrom {
                succeeded: *swapped,
                previous: previous.clone(),
            })
        }
        // A stale reply says nothing about this operation (the acknowledged-write oracle
        // reports it); the checker treats it as unknown.
        HistoryOutcome::Ok(Reply::Stale { .. }) | HistoryOutcome::Unknown => {
            CheckerOutcome::Unknown
        }
        // Refused for a closed session: this attempt was not applied, but an earlier one may
        // have been.
        HistoryOutcome::Ok(Reply::SessionClosed) => CheckerOutcome::Unknown,
        // The answer of a close, which has no key and is left out of the checker's history.
        HistoryOutcome::Ok(Reply::SessionsClosed { .. }) => CheckerOutcome::Unknown,
        HistoryOutcome::Failed => CheckerOutcome::Failed,
    }
}

fn operation(operation: &HistoryOperation) -> Option<CheckerOperation<KvInput, KvOutput>> {
    let input = input(&operation.operation)?;
    let outcome = outcome(&operation.outcome);
    let return_time = match outcome {
        CheckerOutcome::Ok(_) => operation.return_ms,
        // An unknown write may take effect at any time after its invocation, even after the
        // client gave up on it (sessions only stop it once the client's next command applies).
        CheckerOutcome::Unknown | CheckerOutcome::Failed => None,
    };
    Some(CheckerOperation {
        client: ClientId(operation.client),
        invoke_time: operation.invoke_ms,
        return_time,
        input,
        outcome,
    })
}

/// The history in the checker's terms.
pub fn checker_history(history: &History) -> CheckerHistory<KvInput, KvOutput> {
    let mut converted = CheckerHistory::new();
    for client_operation in history.operations.iter().filter_map(operation) {
        converted.push(client_operation).unwrap_or_else(|error| {
            panic!("the simulator recorded an impossible operation: {error}")
        });
    }
    converted
}

/// Checks `history` within `steps_max` search steps; an illegal history is a [`Violation`].
pub fn check(history: &History, steps_max: u64) -> Result<LinearizabilityOutcome, Violation> {
    let converted = checker_history(history);
    let report = check_with(
        &converted,
        &KvModel::new(),
        Budget::steps(steps_max),
        Partitioning::PerPartition,
    );
    match report.result {
        CheckResult::Linearizable { .. } => Ok(LinearizabilityOutcome::Linearizable {
            steps: report.steps,
        }),
        CheckResult::Unknown { reason } => Ok(LinearizabilityOutcome::Inconclusive(format!(
            "{reason:?} after {} steps",
            report.steps
        ))),
        CheckResult::Illegal { witness } => {
            let describe = |id: &crate::checker::OperationId| {
                let operation = &history.operations[id.0];
                format!(
                    "#{} client {} seq {} {:?} -> {:?} [{}..{:?}]",
                    id.0,
                    operation.client,
                    operation.sequence,
                    operation.operation,
                    operation.outcome,
                    operation.invoke_ms,
                    operation.return_ms
                )
            };
            let prefix: Vec<String> = witness
                .prefix
                .iter()
                .rev()
                .take(5)
                .rev()
                .map(describe)
                .collect();
            let blocked: Vec<String> = witness.cannot_follow.iter().map(describe).collect();
            Err(Violation {
                property: Property::Linearizability,
                node: None,
                detail: format!(
                    "key {}: after the linearized prefix (last {} of {}: {}) none of these can \
                     take effect: {}",
                    witness.partition.as_deref().unwrap_or("-"),
                    prefix.len(),
                    witness.prefix.len(),
                    prefix.join("; "),
                    blocked.join("; ")
                ),
            })
        }
    }
}

/// The checker's HTML picture of `history` and its verdict.
pub fn html_picture(history: &History, steps_max: u64, title: &str) -> String {
    let converted = checker_history(history);
    let model = KvModel::new();
    let report = check_with(
        &converted,
        &model,
        Budget::steps(steps_max),
        Partitioning::PerPartition,
    );
    html::render(&converted, &model, &report.result, title)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        client: u64,
        invoke_ms: u64,
        return_ms: u64,
        operation: Operation,
        reply: Reply,
    ) -> HistoryOperation {
        HistoryOperation {
            client,
            sequence: invoke_ms,
            invoke_ms,
            return_ms: Some(return_ms),
            operation,
            through_log: false,
            outcome: HistoryOutcome::Ok(reply),
            attempts: 1,
        }
    }

    fn put(value: &str) -> Operation {
        Operation::Put {
            key: "k".to_string(),
            value: value.to_string(),
        }
    }

    fn get() -> Operation {
        Operation::Get {
            key: "k".to_string(),
        }
    }

    /// A write's answer: it replaced `previous`.
    fn written(previous: Option<&str>) -> Reply {
        Reply::Written {
            previous: previous.map(str::to_string),
        }
    }

    /// A get's answer.
    fn value(value: &str) -> Reply {
        Reply::Value {
            value: Some(value.to_string()),
        }
    }

    #[test]
    fn a_stale_read_is_not_linearizable() {
        let history = History {
            operations: vec![
                op(0, 0, 10, put("a"), written(None)),
                op(1, 20, 30, put("b"), written(Some("a"))),
                // Invoked after "b" was acknowledged, yet reads "a".
                op(2, 40, 50, get(), value("a")),
            ],
        };
        let violation = check(&history, 1_000_000).unwrap_err();
        assert_eq!(violation.property, Property::Linearizability);
        assert!(html_picture(&history, 1_000_000, "stale read").contains("<html"));
    }

    #[test]
    fn concurrent_operations_and_unknown_writes_may_go_either_way() {
        let mut unknown = op(0, 0, 0, put("x"), written(None));
        unknown.outcome = HistoryOutcome::Unknown;
        unknown.return_ms = None;
        let history = History {
            operations: vec![
                unknown,
                // It found the unknown write's value: that write took effect, before it.
                op(1, 5, 30, put("b"), written(Some("x"))),
                op(2, 10, 20, get(), value("x")),
                op(2, 40, 50, get(), value("b")),
            ],
        };
        assert!(matches!(
            check(&history, 1_000_000),
            Ok(LinearizabilityOutcome::Linearizable { .. })
        ));
    }

    #[test]
    fn a_write_that_found_a_value_nobody_wrote_is_not_linearizable() {
        // Every read is consistent, but the second put says it replaced "c", which no
        // operation ever wrote: the checker holds writes to the value they report.
        let history = History {
            operations: vec![
                op(0, 0, 10, put("a"), written(None)),
                op(1, 20, 30, put("b"), written(Some("c"))),
                op(2, 40, 50, get(), value("b")),
            ],
        };
        let violation = check(&history, 1_000_000).unwrap_err();
        assert_eq!(violation.property, Property::Linearizability);
        // The same history with the true previous value passes.
        let mut fixed = history.clone();
        fixed.operations[1].outcome = HistoryOutcome::Ok(written(Some("a")));
        assert!(matches!(
            check(&fixed, 1_000_000),
            Ok(LinearizabilityOutcome::Linearizable { .. })
        ));
    }
}
