//! Client operations as the checker sees them: who issued what, when, and what came back.

use std::fmt;

/// Identifies the client (a Jepsen process, a simulator session) that issued an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "client {}", self.0)
    }
}

/// Index of an operation in its [`History`], in the order the operations were pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperationId(pub usize);

impl fmt::Display for OperationId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "#{}", self.0)
    }
}

/// What the client learned about its operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    /// The operation took effect exactly once, between its invocation and its return, and
    /// produced this output.
    Ok(O),
    /// The operation certainly did not take effect (the server refused it before applying it).
    /// The checker drops it.
    Failed,
    /// The client does not know what the operation did (a timeout, a lost reply), and its
    /// output is unconstrained. Without a return time it may take effect at any time after its
    /// invocation, or never: this is what a client timeout should record. With a return time it
    /// took effect before then, output unknown, as porcupine reads Jepsen's timed-out reads (for
    /// a read, taking effect or not is the same).
    Unknown,
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub client: ClientId,
    /// When the client sent the operation. Any unit works as long as every operation of a history
    /// uses the same one; the readers use line numbers.
    pub invoke_time: u64,
    /// When the client received the answer. An operation `a` precedes `b` in real time when
    /// `a.return_time < b.invoke_time`; equal times count as concurrent, so that a coarse clock
    /// can never produce a false alarm.
    ///
    /// Invariant: `None` only when `outcome` is [`Outcome::Unknown`] or [`Outcome::Failed`];
    /// when present, `return_time >= invoke_time`.
    pub return_time: Option<u64>,
    pub input: I,
    pub outcome: Outcome<O>,
}

impl<I, O> Operation<I, O> {
    /// The output the model must produce, or `None` when it is unconstrained.
    pub fn output(&self) -> Option<&O> {
        match &self.outcome {
            Outcome::Ok(output) => Some(output),
            Outcome::Failed | Outcome::Unknown => None,
        }
    }
}

/// Why an operation cannot be part of a history.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "operation of {client} returns at {return_time}, before its invocation at {invoke_time}"
    )]
    ReturnBeforeInvoke {
        client: ClientId,
        invoke_time: u64,
        return_time: u64,
    },
    #[error("operation of {client} invoked at {invoke_time} is ok but has no return time")]
    OkWithoutReturn { client: ClientId, invoke_time: u64 },
}

/// A sequence of operations, in any order; real-time order comes from the times alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<I, O> {
    /// Invariant: every operation satisfies the invariants of [`Operation::return_time`].
    operations: Vec<Operation<I, O>>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        History {
            operations: Vec::new(),
        }
    }
}

impl<I, O> History<I, O> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an operation after checking its times against its outcome.
    pub fn push(&mut self, operation: Operation<I, O>) -> Result<OperationId, HistoryError> {
        if let (Outcome::Ok(_), None) = (&operation.outcome, operation.return_time) {
            return Err(HistoryError::OkWithoutReturn {
                client: operation.client,
                invoke_time: operation.invoke_time,
            });
        }
        if let Some(return_time) = operation.return_time {
            if return_time < operation.invoke_time {
                return Err(HistoryError::ReturnBeforeInvoke {
                    client: operation.client,
                    invoke_time: operation.invoke_time,
                    return_time,
                });
            }
        }
        self.operations.push(operation);
        Ok(OperationId(self.operations.len() - 1))
    }

    pub fn operations(&self) -> &[Operation<I, O>] {
        &self.operations
    }

    pub fn get(&self, id: OperationId) -> Option<&Operation<I, O>> {
        self.operations.get(id.0)
    }

    pub fn len(&self) -> usize {
        self.operations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}
