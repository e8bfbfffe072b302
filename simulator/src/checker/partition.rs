//! Splitting a history into independent sub-histories, and joining their linearizations.

use std::collections::BTreeMap;

use super::history::{History, OperationId, Outcome};
use super::model::Model;
use super::search::Entry;

/// The operations of one search: either one partition, or the whole history with each partition
/// as a component of the state.
pub(crate) struct Part<'a, M: Model> {
    /// The partition key of each component; `None` when the model has no partitions.
    pub(crate) component_keys: Vec<Option<String>>,
    pub(crate) entries: Vec<Entry<'a, M>>,
}

/// Groups the operations that took or may have taken effect by partition key, in key order.
/// Failed operations are dropped: they certainly did not take effect. When any operation has no
/// key, the model cannot be split and everything is one partition.
pub(crate) fn group_by_partition<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
) -> BTreeMap<Option<String>, Vec<OperationId>> {
    let live: Vec<(OperationId, Option<String>)> = history
        .operations()
        .iter()
        .enumerate()
        .filter(|(_, operation)| match operation.outcome {
            Outcome::Ok(_) | Outcome::Unknown => true,
            Outcome::Failed => false,
        })
        .map(|(index, operation)| (OperationId(index), model.partition(&operation.input)))
        .collect();
    let splittable = live.iter().all(|(_, key)| key.is_some());
    let mut groups: BTreeMap<Option<String>, Vec<OperationId>> = BTreeMap::new();
    for (id, key) in live {
        let key = if splittable { key } else { None };
        groups.entry(key).or_default().push(id);
    }
    groups
}

/// One search per partition.
pub(crate) fn parts_per_partition<'a, M: Model>(
    history: &'a History<M::Input, M::Output>,
    groups: BTreeMap<Option<String>, Vec<OperationId>>,
) -> Vec<Part<'a, M>> {
    groups
        .into_iter()
        .map(|(key, ids)| Part {
            component_keys: vec![key],
            entries: ids.into_iter().map(|id| entry(history, id, 0)).collect(),
        })
        .collect()
}

/// One search over the whole history, each partition a component of the state.
pub(crate) fn whole_part<'a, M: Model>(
    history: &'a History<M::Input, M::Output>,
    groups: BTreeMap<Option<String>, Vec<OperationId>>,
) -> Part<'a, M> {
    let mut component_keys = Vec::with_capacity(groups.len());
    let mut entries = Vec::new();
    for (component, (key, ids)) in groups.into_iter().enumerate() {
        let component = u32::try_from(component).expect("fewer than 2^32 partitions");
        component_keys.push(key);
        entries.extend(ids.into_iter().map(|id| entry(history, id, component)));
    }
    Part {
        component_keys,
        entries,
    }
}

fn entry<'a, M: Model>(
    history: &'a History<M::Input, M::Output>,
    id: OperationId,
    component: u32,
) -> Entry<'a, M> {
    let operation = &history.operations()[id.0];
    Entry {
        id,
        component,
        invoke_time: operation.invoke_time,
        return_time: operation.return_time,
        input: &operation.input,
        output: operation.output(),
    }
}

/// Interleaves linearizations of independent partitions into one linearization of the history.
///
/// Each operation gets a linearization point: the later of its invocation and its predecessor's
/// point. Points never exceed return times (an operation ordered before another cannot have been
/// invoked after that one returned), so sorting all operations by point keeps every partition's
/// order and every real-time order.
pub(crate) fn interleave<I, O>(
    history: &History<I, O>,
    orders: &[Vec<OperationId>],
) -> Vec<OperationId> {
    let mut placed: Vec<(u64, usize, usize, OperationId)> = Vec::new();
    for (part, order) in orders.iter().enumerate() {
        let mut point = 0;
        for (position, &id) in order.iter().enumerate() {
            point = point.max(history.operations()[id.0].invoke_time);
            placed.push((point, part, position, id));
        }
    }
    placed.sort_unstable();
    placed.into_iter().map(|(_, _, _, id)| id).collect()
}
