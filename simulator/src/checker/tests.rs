//! Unit tests of the checker on hand-written histories.

use super::kv::{KvInput, KvModel, KvOutput};
use super::register::{RegisterInput, RegisterModel, RegisterOutput};
use super::*;

type RegisterHistory = History<RegisterInput, RegisterOutput>;

fn operation<I, O>(
    client: u64,
    invoke_time: u64,
    return_time: Option<u64>,
    input: I,
    outcome: Outcome<O>,
) -> Operation<I, O> {
    Operation {
        client: ClientId(client),
        invoke_time,
        return_time,
        input,
        outcome,
    }
}

fn write(
    client: u64,
    invoke_time: u64,
    return_time: u64,
    value: i64,
) -> Operation<RegisterInput, RegisterOutput> {
    operation(
        client,
        invoke_time,
        Some(return_time),
        RegisterInput::Write(value),
        Outcome::Ok(RegisterOutput::Written),
    )
}

fn read(
    client: u64,
    invoke_time: u64,
    return_time: u64,
    value: Option<i64>,
) -> Operation<RegisterInput, RegisterOutput> {
    operation(
        client,
        invoke_time,
        Some(return_time),
        RegisterInput::Read,
        Outcome::Ok(RegisterOutput::Read(value)),
    )
}

fn history(operations: Vec<Operation<RegisterInput, RegisterOutput>>) -> RegisterHistory {
    let mut history = History::new();
    for operation in operations {
        history.push(operation).unwrap();
    }
    history
}

fn register_check(history: &RegisterHistory) -> CheckResult {
    check(history, &RegisterModel, Budget::steps(100_000))
}

fn ids(indices: &[usize]) -> Vec<OperationId> {
    indices.iter().map(|&index| OperationId(index)).collect()
}

#[test]
fn empty_history_is_linearizable() {
    let result = register_check(&History::new());
    assert_eq!(result, CheckResult::Linearizable { order: Vec::new() });
}

#[test]
fn one_operation() {
    let result = register_check(&history(vec![write(0, 0, 1, 3)]));
    assert_eq!(result, CheckResult::Linearizable { order: ids(&[0]) });
    let result = register_check(&history(vec![read(0, 0, 1, Some(3))]));
    let CheckResult::Illegal { witness } = result else {
        panic!("a read of a value never written is illegal, got {result:?}");
    };
    assert_eq!(witness.partition, None);
    assert_eq!(witness.prefix, Vec::new());
    assert_eq!(witness.cannot_follow, ids(&[0]));
}

#[test]
fn stale_read_is_illegal_with_a_witness() {
    let result = register_check(&history(vec![
        write(0, 0, 1, 1),
        write(0, 2, 3, 2),
        read(1, 4, 5, Some(1)),
    ]));
    let CheckResult::Illegal { witness } = result else {
        panic!("expected illegal, got {result:?}");
    };
    assert_eq!(witness.prefix, ids(&[0, 1]));
    assert_eq!(witness.cannot_follow, ids(&[2]));
}

#[test]
fn concurrent_operations_may_take_effect_in_either_order() {
    let result = register_check(&history(vec![
        write(0, 0, 10, 1),
        read(1, 1, 2, Some(1)),
        read(2, 3, 4, None),
    ]));
    assert!(matches!(result, CheckResult::Illegal { .. }), "{result:?}");
    let result = register_check(&history(vec![
        write(0, 0, 10, 1),
        read(1, 1, 2, None),
        read(2, 3, 4, Some(1)),
    ]));
    assert_eq!(
        result,
        CheckResult::Linearizable {
            order: ids(&[1, 0, 2])
        }
    );
}

#[test]
fn equal_times_count_as_concurrent() {
    let result = register_check(&history(vec![read(1, 5, 6, None), write(0, 0, 5, 1)]));
    assert!(
        matches!(result, CheckResult::Linearizable { .. }),
        "{result:?}"
    );
}

#[test]
fn unknown_outcome_may_take_effect_late_or_never() {
    let unknown_write = operation(0, 0, None, RegisterInput::Write(1), Outcome::Unknown);
    // Seen long after its invocation: it took effect late.
    let result = register_check(&history(vec![
        unknown_write.clone(),
        read(1, 10, 11, None),
        read(1, 20, 21, Some(1)),
    ]));
    assert_eq!(
        result,
        CheckResult::Linearizable {
            order: ids(&[1, 0, 2])
        }
    );
    // Never seen: it never took effect, and the order leaves it out.
    let result = register_check(&history(vec![unknown_write, read(1, 10, 11, None)]));
    assert_eq!(result, CheckResult::Linearizable { order: ids(&[1]) });
    // Seen before its invocation: impossible.
    let late_write = operation(0, 5, None, RegisterInput::Write(1), Outcome::Unknown);
    let result = register_check(&history(vec![read(1, 0, 1, Some(1)), late_write]));
    assert!(matches!(result, CheckResult::Illegal { .. }), "{result:?}");
}

#[test]
fn unknown_output_with_return_time_took_effect_before_it() {
    let timed_out = operation(0, 0, Some(2), RegisterInput::Write(1), Outcome::Unknown);
    let result = register_check(&history(vec![timed_out.clone(), read(1, 3, 4, Some(1))]));
    assert!(
        matches!(result, CheckResult::Linearizable { .. }),
        "{result:?}"
    );
    let result = register_check(&history(vec![timed_out, read(1, 3, 4, None)]));
    assert!(matches!(result, CheckResult::Illegal { .. }), "{result:?}");
    let timed_out_read = operation(0, 0, Some(2), RegisterInput::Read, Outcome::Unknown);
    let result = register_check(&history(vec![timed_out_read, write(1, 3, 4, 1)]));
    assert_eq!(
        result,
        CheckResult::Linearizable {
            order: ids(&[0, 1])
        }
    );
}

#[test]
fn failed_operation_never_took_effect() {
    let failed = operation(0, 0, Some(1), RegisterInput::Write(1), Outcome::Failed);
    let result = register_check(&history(vec![failed.clone(), read(1, 2, 3, None)]));
    assert_eq!(result, CheckResult::Linearizable { order: ids(&[1]) });
    let result = register_check(&history(vec![failed, read(1, 2, 3, Some(1))]));
    assert!(matches!(result, CheckResult::Illegal { .. }), "{result:?}");
}

#[test]
fn failed_compare_and_set_observes_the_value() {
    let mismatch = operation(
        0,
        2,
        Some(3),
        RegisterInput::CompareAndSet {
            expected: 1,
            new: 2,
        },
        Outcome::Ok(RegisterOutput::CompareAndSet { succeeded: false }),
    );
    let result = register_check(&history(vec![write(1, 0, 1, 1), mismatch.clone()]));
    assert!(matches!(result, CheckResult::Illegal { .. }), "{result:?}");
    let result = register_check(&history(vec![write(1, 0, 1, 5), mismatch]));
    assert!(
        matches!(result, CheckResult::Linearizable { .. }),
        "{result:?}"
    );
}

#[test]
fn step_budget_ends_in_unknown() {
    // Reads that can only be explained after trying several orders of the concurrent writes.
    let mut operations: Vec<_> = (0..6)
        .map(|value| write(value as u64, 0, 100, value))
        .collect();
    operations.push(read(9, 101, 102, Some(0)));
    let history = history(operations);
    let report = check_with(
        &history,
        &RegisterModel,
        Budget::steps(2),
        Partitioning::PerPartition,
    );
    assert_eq!(
        report.result,
        CheckResult::Unknown {
            reason: UnknownReason::StepBudget { max_steps: 2 }
        }
    );
    assert!(matches!(
        register_check(&history),
        CheckResult::Linearizable { .. }
    ));
}

#[test]
fn illegal_partition_is_named() {
    let put = |client, invoke_time, key: &str, value: &str| {
        operation(
            client,
            invoke_time,
            Some(invoke_time + 1),
            KvInput::Put {
                key: key.to_string(),
                value: value.to_string(),
            },
            Outcome::Ok(KvOutput::Done),
        )
    };
    let get = |client, invoke_time, key: &str, value: Option<&str>| {
        operation(
            client,
            invoke_time,
            Some(invoke_time + 1),
            KvInput::Get {
                key: key.to_string(),
            },
            Outcome::Ok(KvOutput::Value(value.map(str::to_string))),
        )
    };
    let mut history = History::new();
    for operation in [
        put(0, 0, "a", "1"),
        put(1, 0, "b", "1"),
        get(0, 2, "a", Some("1")),
        get(1, 2, "b", None),
    ] {
        history.push(operation).unwrap();
    }
    for partitioning in [Partitioning::PerPartition, Partitioning::Whole] {
        let report = check_with(&history, &KvModel::new(), Budget::steps(1000), partitioning);
        let CheckResult::Illegal { witness } = report.result else {
            panic!("expected illegal, got {:?}", report.result);
        };
        assert_eq!(witness.partition.as_deref(), Some("b"));
        assert_eq!(witness.prefix, ids(&[1]));
        assert_eq!(witness.cannot_follow, ids(&[3]));
    }
}

#[test]
fn history_rejects_bad_times() {
    let mut history = RegisterHistory::new();
    assert_eq!(
        history.push(write(0, 5, 4, 1)),
        Err(HistoryError::ReturnBeforeInvoke {
            client: ClientId(0),
            invoke_time: 5,
            return_time: 4
        })
    );
    let no_return = operation(
        0,
        5,
        None,
        RegisterInput::Read,
        Outcome::Ok(RegisterOutput::Read(None)),
    );
    assert_eq!(
        history.push(no_return),
        Err(HistoryError::OkWithoutReturn {
            client: ClientId(0),
            invoke_time: 5
        })
    );
    assert!(history.is_empty());
}

#[test]
fn state_preserving_writes_are_not_taken_for_reads() {
    // Deleting a missing key changes nothing now, but the delete must still come after the put.
    let mut history = History::new();
    let key = || "a".to_string();
    for operation in [
        operation(
            0,
            0,
            Some(300),
            KvInput::Put {
                key: key(),
                value: "0".to_string(),
            },
            Outcome::Ok(KvOutput::Done),
        ),
        operation(
            1,
            500,
            Some(500),
            KvInput::Get { key: key() },
            Outcome::Ok(KvOutput::Value(None)),
        ),
        operation(
            2,
            0,
            Some(0),
            KvInput::Delete { key: key() },
            Outcome::Ok(KvOutput::Done),
        ),
    ] {
        history.push(operation).unwrap();
    }
    let result = check(&history, &KvModel::new(), Budget::steps(1000));
    assert_eq!(
        result,
        CheckResult::Linearizable {
            order: ids(&[0, 2, 1])
        }
    );
}

#[test]
fn a_wrong_early_choice_found_out_past_a_full_bitset_word_is_undone() {
    // Two writes span the whole history. The search tries the write of 1 first, then the write
    // of 2 that the reads need; only the last read, more than 64 operations later, shows that
    // the write of 1 came last. Backtracking then reopens operations in the first word of the
    // bitset, which had filled up, and the scans over pending operations must see them again.
    let mut operations = vec![write(0, 0, 1_000, 1), write(1, 0, 1_000, 2)];
    let reads = 70;
    for index in 0..reads {
        operations.push(read(2, 10 + 2 * index, 11 + 2 * index, Some(2)));
    }
    operations.push(read(2, 500, 501, Some(1)));
    let result = register_check(&history(operations));
    let CheckResult::Linearizable { order } = result else {
        panic!("expected linearizable, got {result:?}");
    };
    // The write of 2, the reads of 2, the write of 1, the read of 1.
    let mut expected = vec![1];
    expected.extend(2..2 + reads as usize);
    expected.extend([0, 2 + reads as usize]);
    assert_eq!(order, ids(&expected));
}
