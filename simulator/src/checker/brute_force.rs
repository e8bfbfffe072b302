//! The reference checker: tries every order. Exponential, for tests and fuzzing on tiny
//! histories only.

use std::collections::BTreeMap;

use super::history::{History, Outcome};
use super::model::Model;

/// The whole state: each partition's state, absent while still initial.
type WholeState<S> = BTreeMap<Option<String>, S>;

/// Whether some order of the operations respects real time and the model, trying them all.
/// The state is the whole map of partitions, and nothing is split. Operations with unknown outcomes may be left out; failed ones always are.
pub fn is_linearizable<M: Model>(history: &History<M::Input, M::Output>, model: &M) -> bool {
    let operations: Vec<usize> = (0..history.len())
        .filter(|&index| match history.operations()[index].outcome {
            Outcome::Ok(_) | Outcome::Unknown => true,
            Outcome::Failed => false,
        })
        .collect();
    let mut taken = vec![false; history.len()];
    extend(
        history,
        model,
        &operations,
        &mut taken,
        &mut WholeState::new(),
    )
}

fn extend<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    operations: &[usize],
    taken: &mut [bool],
    state: &mut WholeState<M::State>,
) -> bool {
    let all = history.operations();
    let must_take = |index: usize| !taken[index] && all[index].return_time.is_some();
    if !operations.iter().any(|&index| must_take(index)) {
        return true;
    }
    for &candidate in operations {
        if taken[candidate] {
            continue;
        }
        // The candidate may go next unless some operation still to be placed returned before it
        // was invoked.
        let invoke_time = all[candidate].invoke_time;
        let blocked = operations.iter().any(|&other| {
            !taken[other]
                && all[other]
                    .return_time
                    .is_some_and(|return_time| return_time < invoke_time)
        });
        if blocked {
            continue;
        }
        let operation = &all[candidate];
        let key = model.partition(&operation.input);
        let before = state.get(&key).cloned();
        let current = before.clone().unwrap_or_else(|| model.initial_state());
        let Some(next) = model.step(&current, &operation.input, operation.output()) else {
            continue;
        };
        state.insert(key.clone(), next);
        taken[candidate] = true;
        let found = extend(history, model, operations, taken, state);
        taken[candidate] = false;
        match before {
            Some(before) => state.insert(key, before),
            None => state.remove(&key),
        };
        if found {
            return true;
        }
    }
    false
}
