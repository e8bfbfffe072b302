//! The checker against the brute-force reference on random small histories: histories made
//! from a real sequential execution (linearizable by construction), and the same with one
//! operation corrupted (usually not).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::brute_force;
use super::kv::{KvInput, KvModel, KvOutput, KvValue};
use super::register::{RegisterInput, RegisterModel, RegisterOutput};
use super::*;

/// One operation to generate: its call, its interval, when it takes effect, what the client
/// learns.
#[derive(Clone, Debug)]
struct Plan {
    call: u8,
    key: u8,
    value: u8,
    invoke_time: u8,
    duration: u8,
    /// Where in its interval the operation takes effect, in hundredths.
    effect_point: u8,
    outcome: u8,
}

/// How to corrupt the history: which operation, and how.
type Corruption = Option<(u8, u8)>;

fn corruptions() -> impl Strategy<Value = Corruption> {
    prop_oneof![1 => Just(None), 3 => any::<(u8, u8)>().prop_map(Some)]
}

/// Up to `operations_max` operations over `key_count` keys, invoked within `time_span`.
fn plans(operations_max: usize, key_count: u8, time_span: u8) -> impl Strategy<Value = Vec<Plan>> {
    prop::collection::vec(
        (
            any::<u8>(),
            0u8..key_count,
            0u8..3,
            0u8..time_span,
            0u8..6,
            0u8..=100,
            0u8..10,
        )
            .prop_map(
                |(call, key, value, invoke_time, duration, effect_point, outcome)| Plan {
                    call,
                    key,
                    value,
                    invoke_time,
                    duration,
                    effect_point,
                    outcome,
                },
            ),
        0..=operations_max,
    )
}

/// What the client learns, decided by `Plan::outcome`.
enum Learned {
    Output,
    /// Unknown outcome, no return time; the flag says whether it took effect.
    Lost {
        took_effect: bool,
    },
    /// Unknown output, with a return time.
    TimedOut,
    Failed,
}

fn learned(plan: &Plan) -> Learned {
    match plan.outcome {
        0..=5 => Learned::Output,
        6 => Learned::Lost { took_effect: true },
        7 => Learned::Lost { took_effect: false },
        8 => Learned::TimedOut,
        _ => Learned::Failed,
    }
}

/// Runs the plans sequentially in effect order against `output_of` and records the history.
fn execute<I: Clone, O: Clone, S: Clone>(
    plans: &[Plan],
    input_of: impl Fn(&Plan) -> I,
    initial: S,
    partition_of: impl Fn(&Plan) -> u8,
    apply: impl Fn(&S, &I) -> (S, O),
) -> History<I, O> {
    let effect_time = |plan: &Plan| {
        u32::from(plan.invoke_time) * 100 + u32::from(plan.duration) * u32::from(plan.effect_point)
    };
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&index| (effect_time(&plans[index]), index));
    let mut states: BTreeMap<u8, S> = BTreeMap::new();
    let mut outputs: Vec<Option<O>> = vec![None; plans.len()];
    for index in order {
        let plan = &plans[index];
        let took_effect = match learned(plan) {
            Learned::Output | Learned::TimedOut | Learned::Lost { took_effect: true } => true,
            Learned::Lost { took_effect: false } | Learned::Failed => false,
        };
        if took_effect {
            let state = states
                .entry(partition_of(plan))
                .or_insert_with(|| initial.clone());
            let (next, output) = apply(state, &input_of(plan));
            *state = next;
            outputs[index] = Some(output);
        }
    }
    let mut history = History::new();
    for (plan, output) in plans.iter().zip(outputs) {
        let invoke_time = u64::from(plan.invoke_time) * 100;
        let return_time = invoke_time + u64::from(plan.duration) * 100;
        let (return_time, outcome) = match (learned(plan), output) {
            (Learned::Output, Some(output)) => (Some(return_time), Outcome::Ok(output)),
            (Learned::TimedOut, _) => (Some(return_time), Outcome::Unknown),
            (Learned::Lost { .. }, _) => (None, Outcome::Unknown),
            (Learned::Failed, _) => (Some(return_time), Outcome::Failed),
            (Learned::Output, None) => unreachable!("an operation with an output took effect"),
        };
        history
            .push(Operation {
                client: ClientId(u64::from(plan.call % 3)),
                invoke_time,
                return_time,
                input: input_of(plan),
                outcome,
            })
            .expect("generated times are ordered");
    }
    history
}

/// Changes one operation's output or moves it later, which usually breaks linearizability.
fn corrupt<I: Clone, O: Clone>(
    history: &History<I, O>,
    corruption: Corruption,
    other_output: impl Fn(&O, u8) -> O,
) -> History<I, O> {
    let Some((which, how)) = corruption else {
        return history.clone();
    };
    let mut corrupted = History::new();
    let target = usize::from(which) % history.len().max(1);
    for (index, operation) in history.operations().iter().enumerate() {
        let mut operation = operation.clone();
        if index == target {
            let changed_output = match &operation.outcome {
                Outcome::Ok(output) if how % 3 != 0 => {
                    let output = other_output(output, how);
                    operation.outcome = Outcome::Ok(output);
                    true
                }
                Outcome::Ok(_) | Outcome::Failed | Outcome::Unknown => false,
            };
            if !changed_output {
                let shift = u64::from(how % 7 + 1) * 100;
                operation.invoke_time += shift;
                operation.return_time = operation.return_time.map(|time| time + shift);
            }
        }
        corrupted
            .push(operation)
            .expect("shifting keeps times ordered");
    }
    corrupted
}

fn kv_input(plan: &Plan) -> KvInput {
    let key = if plan.key == 0 { "a" } else { "b" }.to_string();
    let value = plan.value.to_string();
    match plan.call % 5 {
        0 => KvInput::Get { key },
        1 => KvInput::Put { key, value },
        2 => KvInput::Append { key, value },
        3 => KvInput::Delete { key },
        _ => KvInput::CompareAndSet {
            key,
            expected: (plan.call % 2 == 0).then(|| ((plan.value + 1) % 3).to_string()),
            new: value,
        },
    }
}

/// The true output of `input` from `state`: with the value found (as kvapp answers) when
/// `with_previous`, without it (as porcupine's histories answer) otherwise.
fn kv_apply(
    model: &KvModel,
    state: &KvValue,
    input: &KvInput,
    with_previous: bool,
) -> (KvValue, KvOutput) {
    let previous = state.to_text();
    let output = match input {
        KvInput::Get { .. } => KvOutput::Value(previous),
        KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. } if with_previous => {
            KvOutput::Written { previous }
        }
        KvInput::Put { .. } | KvInput::Append { .. } | KvInput::Delete { .. } => KvOutput::Done,
        KvInput::CompareAndSet { .. } => {
            let succeeded = model
                .step(
                    state,
                    input,
                    Some(&KvOutput::CompareAndSet { succeeded: true }),
                )
                .is_some();
            if with_previous {
                KvOutput::CompareAndSetFrom {
                    succeeded,
                    previous,
                }
            } else {
                KvOutput::CompareAndSet { succeeded }
            }
        }
    };
    let next = model
        .step(state, input, Some(&output))
        .expect("the true output is legal");
    (next, output)
}

fn kv_other_output(output: &KvOutput, how: u8) -> KvOutput {
    match output {
        KvOutput::Value(value) => KvOutput::Value(kv_other_value(value.as_deref(), how)),
        KvOutput::Done => KvOutput::Done,
        KvOutput::Written { previous } => KvOutput::Written {
            previous: kv_other_value(previous.as_deref(), how),
        },
        KvOutput::CompareAndSet { succeeded } => KvOutput::CompareAndSet {
            succeeded: !succeeded,
        },
        KvOutput::CompareAndSetFrom {
            succeeded,
            previous,
        } if how % 2 == 0 => KvOutput::CompareAndSetFrom {
            succeeded: !succeeded,
            previous: previous.clone(),
        },
        KvOutput::CompareAndSetFrom {
            succeeded,
            previous,
        } => KvOutput::CompareAndSetFrom {
            succeeded: *succeeded,
            previous: kv_other_value(previous.as_deref(), how),
        },
    }
}

/// A value other than `value`.
fn kv_other_value(value: Option<&str>, how: u8) -> Option<String> {
    match value {
        Some(text) if how % 4 == 0 => Some(format!("{text}{}", how % 3)),
        Some(_) => None,
        None => Some((how % 3).to_string()),
    }
}

fn register_input(plan: &Plan) -> RegisterInput {
    match plan.call % 3 {
        0 => RegisterInput::Read,
        1 => RegisterInput::Write(i64::from(plan.value)),
        _ => RegisterInput::CompareAndSet {
            expected: i64::from((plan.value + 1) % 3),
            new: i64::from(plan.value),
        },
    }
}

fn register_apply(state: &Option<i64>, input: &RegisterInput) -> (Option<i64>, RegisterOutput) {
    match input {
        RegisterInput::Read => (*state, RegisterOutput::Read(*state)),
        RegisterInput::Write(value) => (Some(*value), RegisterOutput::Written),
        RegisterInput::CompareAndSet { expected, new } => {
            let succeeded = *state == Some(*expected);
            let next = if succeeded { Some(*new) } else { *state };
            (next, RegisterOutput::CompareAndSet { succeeded })
        }
    }
}

fn register_other_output(output: &RegisterOutput, how: u8) -> RegisterOutput {
    match output {
        RegisterOutput::Read(Some(value)) if how % 4 == 0 => RegisterOutput::Read(None),
        RegisterOutput::Read(value) => RegisterOutput::Read(Some(value.unwrap_or(0) + 1)),
        RegisterOutput::Written => RegisterOutput::Written,
        RegisterOutput::CompareAndSet { succeeded } => RegisterOutput::CompareAndSet {
            succeeded: !succeeded,
        },
    }
}

/// Checks that `order` is a linearization: every operation that returned with effect is in
/// it once, it respects real time, and the model accepts it.
fn assert_is_linearization<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    order: &[OperationId],
) {
    let operations = history.operations();
    let mut seen = vec![false; operations.len()];
    for &id in order {
        assert!(!seen[id.0], "{id} twice in {order:?}");
        seen[id.0] = true;
        assert!(
            !matches!(operations[id.0].outcome, Outcome::Failed),
            "failed {id} in {order:?}"
        );
    }
    for (index, operation) in operations.iter().enumerate() {
        let must_appear =
            operation.return_time.is_some() && !matches!(operation.outcome, Outcome::Failed);
        assert!(
            !must_appear || seen[index],
            "#{index} missing from {order:?}"
        );
    }
    for (position, &earlier) in order.iter().enumerate() {
        for &later in &order[position + 1..] {
            let returned = operations[later.0].return_time;
            assert!(
                returned.is_none_or(|time| time >= operations[earlier.0].invoke_time),
                "{later} returned before {earlier} was invoked, yet comes after it in {order:?}"
            );
        }
    }
    let mut states: BTreeMap<Option<String>, M::State> = BTreeMap::new();
    for &id in order {
        let operation = &operations[id.0];
        let state = states
            .entry(model.partition(&operation.input))
            .or_insert_with(|| model.initial_state());
        *state = model
            .step(state, &operation.input, operation.output())
            .unwrap_or_else(|| panic!("{id} is illegal where {order:?} puts it"));
    }
}

/// The same exhaustive search as the brute force, remembering the (operations taken, whole
/// state) pairs already explored: the same answer, fast enough for histories of a dozen and more
/// operations, where the checker's pruning has more to get wrong.
fn is_linearizable_memoized<M: Model>(history: &History<M::Input, M::Output>, model: &M) -> bool {
    type WholeState<S> = BTreeMap<Option<String>, S>;
    fn extend<M: Model>(
        history: &History<M::Input, M::Output>,
        model: &M,
        taken: u64,
        state: &WholeState<M::State>,
        visited: &mut std::collections::HashSet<(u64, WholeState<M::State>)>,
    ) -> bool {
        let operations = history.operations();
        let live = |index: usize| !matches!(operations[index].outcome, Outcome::Failed);
        let open = |index: usize| taken & (1 << index) == 0 && live(index);
        if !(0..operations.len())
            .any(|index| open(index) && operations[index].return_time.is_some())
        {
            return true;
        }
        if !visited.insert((taken, state.clone())) {
            return false;
        }
        for candidate in (0..operations.len()).filter(|&index| open(index)) {
            let invoke_time = operations[candidate].invoke_time;
            let blocked = (0..operations.len()).any(|other| {
                open(other)
                    && operations[other]
                        .return_time
                        .is_some_and(|time| time < invoke_time)
            });
            if blocked {
                continue;
            }
            let operation = &operations[candidate];
            let key = model.partition(&operation.input);
            let current = state
                .get(&key)
                .cloned()
                .unwrap_or_else(|| model.initial_state());
            let Some(next) = model.step(&current, &operation.input, operation.output()) else {
                continue;
            };
            let mut next_state = state.clone();
            next_state.insert(key, next);
            if extend(
                history,
                model,
                taken | (1 << candidate),
                &next_state,
                visited,
            ) {
                return true;
            }
        }
        false
    }
    assert!(
        history.len() <= 64,
        "the memoized reference takes at most 64 operations"
    );
    extend(
        history,
        model,
        0,
        &BTreeMap::new(),
        &mut std::collections::HashSet::new(),
    )
}

/// The checker agrees with the brute force under both partitionings, and its orders are
/// linearizations.
fn assert_agrees<M: Model>(history: &History<M::Input, M::Output>, model: &M) {
    assert_agrees_with(history, model, brute_force::is_linearizable(history, model));
}

/// The checker gives the verdict `expected` under both partitionings, and its orders are
/// linearizations.
fn assert_agrees_with<M: Model>(history: &History<M::Input, M::Output>, model: &M, expected: bool) {
    for partitioning in [Partitioning::PerPartition, Partitioning::Whole] {
        let report = check_with(history, model, Budget::steps(1_000_000), partitioning);
        match &report.result {
            CheckResult::Linearizable { order } => {
                assert!(
                    expected,
                    "{partitioning:?} found {order:?} but brute force found none"
                );
                assert_is_linearization(history, model, order);
            }
            CheckResult::Illegal { witness } => {
                assert!(
                    !expected,
                    "{partitioning:?} says illegal ({witness:?}) but brute force found an order"
                );
                assert!(
                    !witness.cannot_follow.is_empty(),
                    "empty witness {witness:?}"
                );
            }
            CheckResult::Unknown { reason } => {
                panic!("{partitioning:?} ran out of budget: {reason:?}")
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn kv_checker_agrees_with_brute_force(
        plans in plans(8, 2, 12),
        corruption in corruptions(),
        with_previous in any::<bool>(),
    ) {
        let model = KvModel::new();
        let history = execute(&plans, kv_input, KvValue::missing(), |plan| plan.key, |state, input| kv_apply(&model, state, input, with_previous));
        if corruption.is_none() {
            prop_assert!(brute_force::is_linearizable(&history, &model));
        }
        assert_agrees(&corrupt(&history, corruption, kv_other_output), &model);
    }

    #[test]
    fn register_checker_agrees_with_brute_force(plans in plans(8, 1, 12), corruption in corruptions()) {
        let history = execute(&plans, register_input, None, |_| 0, register_apply);
        if corruption.is_none() {
            prop_assert!(brute_force::is_linearizable(&history, &RegisterModel));
        }
        assert_agrees(&corrupt(&history, corruption, register_other_output), &RegisterModel);
    }

    #[test]
    fn kv_checker_agrees_with_exhaustive_search_on_larger_histories(
        plans in plans(16, 2, 16),
        corruption in corruptions(),
        with_previous in any::<bool>(),
    ) {
        let model = KvModel::new();
        let history = execute(&plans, kv_input, KvValue::missing(), |plan| plan.key, |state, input| kv_apply(&model, state, input, with_previous));
        let history = corrupt(&history, corruption, kv_other_output);
        assert_agrees_with(&history, &model, is_linearizable_memoized(&history, &model));
    }

    #[test]
    fn register_checker_agrees_with_exhaustive_search_on_larger_histories(
        plans in plans(16, 1, 16),
        corruption in corruptions(),
    ) {
        let history = execute(&plans, register_input, None, |_| 0, register_apply);
        let history = corrupt(&history, corruption, register_other_output);
        assert_agrees_with(&history, &RegisterModel, is_linearizable_memoized(&history, &RegisterModel));
    }
}
