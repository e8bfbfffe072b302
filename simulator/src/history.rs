//! The client history: every operation with its invoke time, return time and outcome, in the
//! order the operations were invoked. The linearizability checker judges it after the run.

use kvapp::store::{Operation, Reply};
use serde::Serialize;

/// What the client learned about an operation, over all its attempts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum HistoryOutcome {
    /// Took effect once, with this reply.
    Ok(Reply),
    /// Certainly took no effect: every attempt was refused before it could be applied.
    Failed,
    /// May or may not have taken effect.
    Unknown,
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryOperation {
    /// The client.
    pub client: u64,
    /// The client's sequence number for it (every attempt carries it).
    pub sequence: u64,
    /// When the client first sent it (world milliseconds).
    pub invoke_ms: u64,
    /// When the client learned its outcome; `None` while unknown at the end of the run.
    pub return_ms: Option<u64>,
    /// What it does.
    pub operation: Operation,
    /// Gets only: whether it went through the log (otherwise through ReadIndex).
    pub through_log: bool,
    /// How it ended.
    pub outcome: HistoryOutcome,
    /// Attempts made.
    pub attempts: u32,
}

impl HistoryOperation {
    /// Whether the operation can change the store.
    pub fn is_write(&self) -> bool {
        !matches!(self.operation, Operation::Get { .. })
    }
}

/// Every operation of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    /// In invocation order.
    pub operations: Vec<HistoryOperation>,
}

/// Outcome counts for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HistoryCounts {
    /// Operations invoked.
    pub invoked: u64,
    /// Ended ok.
    pub ok: u64,
    /// Ended failed.
    pub failed: u64,
    /// Ended unknown (or never ended).
    pub unknown: u64,
    /// Of the ok ones, closes of a client's session (left out when none, as in runs whose
    /// clients never close).
    #[serde(skip_serializing_if = "is_zero")]
    pub sessions_closed: u64,
}

/// For `skip_serializing_if`: counters that most runs leave at zero stay out of reports.
pub(crate) fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl History {
    /// Records an invocation; returns its position.
    pub fn invoke(&mut self, operation: HistoryOperation) -> usize {
        self.operations.push(operation);
        self.operations.len() - 1
    }

    /// Outcome counts.
    pub fn counts(&self) -> HistoryCounts {
        let mut counts = HistoryCounts::default();
        for operation in &self.operations {
            counts.invoked += 1;
            match operation.outcome {
                HistoryOutcome::Ok(_) => {
                    counts.ok += 1;
                    if matches!(operation.operation, Operation::CloseSessions { .. }) {
                        counts.sessions_closed += 1;
                    }
                }
                HistoryOutcome::Failed => counts.failed += 1,
                HistoryOutcome::Unknown => counts.unknown += 1,
            }
        }
        counts
    }
}
