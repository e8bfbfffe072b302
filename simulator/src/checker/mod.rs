//! Linearizability checking of client histories.
//!
//! ```
//! use simulator::checker::{check, Budget, CheckResult, ClientId, History, Operation, Outcome};
//! use simulator::checker::register::{RegisterInput, RegisterModel, RegisterOutput};
//!
//! let mut history = History::new();
//! history.push(Operation {
//!     client: ClientId(0),
//!     invoke_time: 0,
//!     return_time: Some(2),
//!     input: RegisterInput::Write(1),
//!     outcome: Outcome::Ok(RegisterOutput::Written),
//! }).unwrap();
//! history.push(Operation {
//!     client: ClientId(1),
//!     invoke_time: 1,
//!     return_time: Some(3),
//!     input: RegisterInput::Read,
//!     outcome: Outcome::Ok(RegisterOutput::Read(Some(1))),
//! }).unwrap();
//! let result = check(&history, &RegisterModel, Budget::steps(1_000_000));
//! assert!(matches!(result, CheckResult::Linearizable { .. }));
//! ```

pub mod brute_force;
pub mod history;
pub mod html;
pub mod jepsen;
pub mod kv;
mod memo;
pub mod model;
mod partition;
pub mod porcupine_kv;
#[cfg(test)]
mod property_tests;
pub mod reader;
pub mod register;
mod search;
#[cfg(test)]
mod tests;

use std::time::Instant;

pub use history::{ClientId, History, HistoryError, Operation, OperationId, Outcome};
pub use model::Model;

use search::{Search, SearchOutcome};

/// Steps each partition's search takes in its turn.
const PARTITION_TURN_STEPS: u64 = 1000;

/// How much work a check may do before it gives up with [`CheckResult::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Search steps (operations tried) over all partitions. Deterministic: the simulator uses
    /// only this.
    pub max_steps: Option<u64>,
    /// A wall-clock limit, for interactive use only: it makes the verdict depend on the machine.
    pub deadline: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Budget {
            max_steps: None,
            deadline: None,
        }
    }

    pub fn steps(max_steps: u64) -> Self {
        Budget {
            max_steps: Some(max_steps),
            deadline: None,
        }
    }

    pub fn with_deadline(self, deadline: Instant) -> Self {
        Budget {
            deadline: Some(deadline),
            ..self
        }
    }

    /// Whether `steps` exhaust the budget; the clock is read only every `interval` steps.
    fn exceeded(&self, steps: u64, interval: u64) -> Option<UnknownReason> {
        if let Some(max_steps) = self.max_steps {
            if steps > max_steps {
                return Some(UnknownReason::StepBudget { max_steps });
            }
        }
        if let Some(deadline) = self.deadline {
            if steps % interval == 0 && Instant::now() >= deadline {
                return Some(UnknownReason::Deadline);
            }
        }
        None
    }
}

/// Why a check ended without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownReason {
    StepBudget { max_steps: u64 },
    Deadline,
}

/// How the history is cut up before the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Partitioning {
    /// One search per partition of the model (P-compositionality).
    #[default]
    PerPartition,
    /// One search over the whole history, with the whole state (every partition) as its state.
    /// The search still exploits the independence of partitions internally.
    Whole,
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IllegalWitness {
    /// The partition that is not linearizable, when the model has partitions.
    pub partition: Option<String>,
    /// The longest linearization of the partition's operations that the search found, in order.
    pub prefix: Vec<OperationId>,
    /// Operations that must take effect next (invoked before the first of them returns) but are
    /// illegal after the prefix. The first is the one whose return forces it next.
    pub cannot_follow: Vec<OperationId>,
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// `order` lists the operations that took effect, in an order that respects real time and
    /// the model. Operations with unknown outcomes that are absent never took effect.
    Linearizable {
        order: Vec<OperationId>,
    },
    Illegal {
        witness: IllegalWitness,
    },
    Unknown {
        reason: UnknownReason,
    },
}

/// A verdict and the work it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub result: CheckResult,
    pub steps: u64,
}

/// Checks `history` against `model`, one partition at a time.
pub fn check<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    budget: Budget,
) -> CheckResult {
    check_with(history, model, budget, Partitioning::PerPartition).result
}

/// Checks `history` against `model`, cutting it up as `partitioning` says.
pub fn check_with<M: Model>(
    history: &History<M::Input, M::Output>,
    model: &M,
    budget: Budget,
    partitioning: Partitioning,
) -> CheckReport {
    let groups = partition::group_by_partition(history, model);
    let mut parts = match partitioning {
        Partitioning::PerPartition => partition::parts_per_partition(history, groups),
        Partitioning::Whole => vec![partition::whole_part(history, groups)],
    };
    let mut steps = 0;
    let mut searches: Vec<Option<Search<'_, M>>> = parts
        .iter_mut()
        .map(|part| {
            let entries = std::mem::take(&mut part.entries);
            Some(Search::new(model, entries, part.component_keys.len()))
        })
        .collect();
    let mut orders: Vec<Vec<OperationId>> = vec![Vec::new(); parts.len()];
    let mut unfinished = searches.len();
    // Partitions take turns, like porcupine's goroutines, so that one easy illegal partition is
    // found even when another would take ages to settle. The turns are counted in steps, so the
    // verdict does not depend on the machine.
    while unfinished > 0 {
        for (index, slot) in searches.iter_mut().enumerate() {
            let Some(search) = slot else {
                continue;
            };
            let Some(outcome) = search.run(&budget, &mut steps, PARTITION_TURN_STEPS) else {
                continue;
            };
            *slot = None;
            unfinished -= 1;
            match outcome {
                SearchOutcome::Linearizable { order } => orders[index] = order,
                SearchOutcome::Illegal {
                    component,
                    prefix,
                    cannot_follow,
                } => {
                    let witness = IllegalWitness {
                        partition: parts[index].component_keys[component as usize].clone(),
                        prefix,
                        cannot_follow,
                    };
                    return CheckReport {
                        result: CheckResult::Illegal { witness },
                        steps,
                    };
                }
                SearchOutcome::Unknown { reason } => {
                    return CheckReport {
                        result: CheckResult::Unknown { reason },
                        steps,
                    }
                }
            }
        }
    }
    let order = partition::interleave(history, &orders);
    CheckReport {
        result: CheckResult::Linearizable { order },
        steps,
    }
}
