//! The sequential specification a history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential object: its states and how each operation moves between them.
///
/// A model may split its state into independent partitions (the keys of a map). Operations in
/// different partitions commute and cannot observe one another, so a history is linearizable
/// exactly when each partition's sub-history is (P-compositionality, Horn and Kroening 2015;
/// locality, Herlihy and Wing 1990). `State` is the state of one partition, and every partition
/// starts in [`Model::initial_state`].
pub trait Model {
    /// What a client asks for. Equal inputs must behave identically, which lets the search treat
    /// operations with equal inputs and unknown outcomes as interchangeable.
    type Input: Clone + Debug + Eq + Hash;
    /// What a client is told.
    type Output: Clone + Debug;
    /// The state of one partition.
    type State: Clone + Debug + Eq + Hash;

    fn initial_state(&self) -> Self::State;

    /// The state after `input` when the operation may produce `output` from `state`, or `None`
    /// when it cannot. An unknown output (`None`) constrains nothing: the step must then succeed
    /// from every state.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether the operation, with this output, leaves the state unchanged whenever it is legal
    /// (a read, a compare that failed). The search linearizes such an operation as soon as it is
    /// legal, without trying alternatives, since it can always be moved ahead of operations that
    /// were not yet linearized. An operation that merely happens to leave the current state
    /// unchanged (deleting a missing key) is not one. Answering `false` is always safe.
    fn is_observation(&self, input: &Self::Input, output: Option<&Self::Output>) -> bool;

    /// Whether the operation, with this output, is legal in every state and leaves a state that
    /// does not depend on the one before (a put, a write, a delete). A dead end reached through
    /// such an operation is one whatever the state was before it, which the search remembers so
    /// that it does not try every order of operations that the write hides. Answering `false` is
    /// always safe.
    fn is_blind(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> bool {
        false
    }

    /// Whether some of `candidates`, in some order, could bring `state` to one from which `input`
    /// may produce `output`. `candidates` holds every operation that may still take effect
    /// before this one. The search abandons a configuration when a pending operation can never
    /// become legal, long before that operation's return would reveal it; without this a wrong
    /// early choice is found out only after trying every order of the operations in between.
    ///
    /// It must be sound: answer `true` when unsure. The default never prunes.
    fn may_reach(
        &self,
        _state: &Self::State,
        _input: &Self::Input,
        _output: &Self::Output,
        _candidates: &mut dyn Iterator<Item = &Self::Input>,
    ) -> bool {
        true
    }

    /// The partition `input` touches, or `None` when the model is not partitioned.
    fn partition(&self, input: &Self::Input) -> Option<String>;

    /// A short human description of an operation, for witnesses and pictures.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// A short human description of a state, for witnesses and pictures.
    fn describe_state(&self, state: &Self::State) -> String;
}
