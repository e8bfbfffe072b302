//! The search for a linearization of one history over a product of independent components.
//!
//! This is the Wing and Gong tree search as refined by Lowe ("Testing for linearizability", 2017)
//! and porcupine: a depth-first search over configurations (which operations are linearized,
//! the model state), remembering configurations already proven dead. On top of that:
//!
//! - **Just in time.** Operations are linearized only when the earliest pending return forces it:
//!   the search takes the unlinearized operation that returns first (the *forced* operation) and
//!   chooses which pending operations of the same component, if any, take effect before it.
//! - **Reads first.** A pending observation (an operation that never changes the state, such as
//!   a read) that is legal now is linearized at once without branching: any completion can move
//!   it to the front.
//! - **Components.** The model state is a vector of independent components (the keys of a map).
//!   A choice about one component never rescues another, so a dead end names the component to
//!   blame, the search jumps straight back to the latest choice about that component
//!   (conflict-directed backjumping), and dead ends are remembered per component. Independent
//!   keys therefore add their search costs instead of multiplying them.
//! - **Blind writes.** A dead end reached only through choices that would fail from any state
//!   of the component, or that set the state whatever it was ([`Model::is_blind`], a put), is
//!   remembered for every state. Appends overwritten by a put are then tried as sets, not in
//!   every order.
//! - **Look-ahead.** A configuration is abandoned as soon as some operation that must still take
//!   effect can never become legal ([`Model::may_reach`]): a pending one, or one of the next few
//!   not yet invoked. Without this a wrong early choice (an append placed after the put that
//!   should hide it) is found out only at the next read, after every order of the operations in
//!   between has been tried.
//! - **Unknown outcomes.** An operation that may never return is never forced; once every
//!   returning operation is linearized the rest are taken never to have happened. Among pending
//!   operations with unknown outcomes and equal inputs only the oldest is tried, since they are
//!   interchangeable, and one that would not change the state is never tried.
//! - **Interning.** Model states are interned to small integers and every (operation, state)
//!   transition is computed once, so the search itself never clones or compares states.
//!
//! The search runs in slices of steps ([`Search::run`]) so that the partitions of a history can
//! take turns.

use rustc_hash::FxHashMap;

use super::history::OperationId;
use super::memo::FailureMemo;
use super::model::Model;
use super::{Budget, UnknownReason};

/// One operation as the search sees it.
pub(crate) struct Entry<'a, M: Model> {
    pub(crate) id: OperationId,
    /// Invariant: less than the component count given to [`Search::new`].
    pub(crate) component: u32,
    pub(crate) invoke_time: u64,
    /// `None`: may take effect at any time after invocation, or never.
    pub(crate) return_time: Option<u64>,
    pub(crate) input: &'a M::Input,
    /// `None`: any output is acceptable.
    pub(crate) output: Option<&'a M::Output>,
}

pub(crate) enum SearchOutcome {
    Linearizable {
        order: Vec<OperationId>,
    },
    Illegal {
        component: u32,
        prefix: Vec<OperationId>,
        cannot_follow: Vec<OperationId>,
    },
    Unknown {
        reason: UnknownReason,
    },
}

/// Marks an illegal transition in the transition cache and an absent index elsewhere.
const NONE: u32 = u32::MAX;

/// How many operations not yet invoked [`Search::future_unreachable`] looks at.
const FUTURE_OPERATIONS_CHECKED: usize = 3;

/// How often, in steps, the wall-clock deadline is looked at.
const DEADLINE_CHECK_INTERVAL_STEPS: u64 = 1024;

/// One linearized operation, with what is needed to undo it.
struct TrailStep {
    operation: u32,
    previous_state: u32,
    previous_cursor: u32,
}

/// A choice point: which operation of `component` takes effect next.
struct Frame {
    component: u32,
    /// Trail length of the configuration this frame chooses from.
    base: usize,
    /// Operations to try, the forced one first.
    candidates: Vec<u32>,
    /// Invariant: `next <= candidates.len()`.
    next: usize,
    /// Whether every candidate tried so far failed whatever the component's state was, not just
    /// in the current one.
    state_independent: bool,
    /// Whether the candidate tried last sets the state whatever it was ([`Model::is_blind`]).
    last_candidate_blind: bool,
    /// Whether settling this configuration linearized observations, whose legality depended on
    /// the state before them.
    settled_with_reads: bool,
}

/// Why the frame popped last failed.
#[derive(Clone, Copy, Debug)]
struct Failure {
    /// The component whose sub-configuration cannot be completed.
    blame: u32,
    /// Whether it cannot be completed from any state of that component, with the same
    /// operations linearized.
    state_independent: bool,
}

enum Arrival {
    /// Every operation that returned is linearized.
    Complete,
    /// A component of this configuration is a dead end.
    DeadEnd(Failure),
    /// The forced operation `forced`, of `component`, must be linearized next.
    Open {
        component: u32,
        forced: u32,
        settled_with_reads: bool,
    },
}

/// What [`Search::linearize_reads`] did.
enum Reads {
    Linearized,
    /// No pending observation is legal now.
    NoneFree,
    /// A pending operation can never become legal.
    Unreachable,
}

/// The longest prefix of one component after which its forced operation was illegal.
struct Witness {
    prefix: Vec<u32>,
    cannot_follow: Vec<u32>,
}

pub(crate) struct Search<'a, M: Model> {
    model: &'a M,
    /// Sorted by invocation time; a search index is a position here.
    entries: Vec<Entry<'a, M>>,
    /// Position of each operation among its component's operations.
    local_index: Vec<u32>,
    /// Each component's operations in invocation order.
    members: Vec<Vec<u32>>,
    /// Operations that return, by return time.
    return_order: Vec<u32>,
    /// Position in `return_order`, or `NONE` for operations that never return.
    return_rank: Vec<u32>,
    /// For an operation that returns: how many operations of its component were invoked by then.
    pending_limit: Vec<u32>,
    /// Per component, for each position: the latest return time among the operations up to
    /// it (`u64::MAX` once one never returns). Never decreasing, so a binary search finds
    /// where the operations still open at a given time can begin.
    latest_return: Vec<Vec<u64>>,
    /// For an operation that never returns: the previous such operation of its component with an
    /// equal input, or `NONE`.
    previous_twin: Vec<u32>,
    /// Per operation, [`Model::is_observation`].
    observation: Vec<bool>,
    /// Per operation, [`Model::is_blind`].
    blind: Vec<bool>,
    /// Random bits per operation, xor-ed into the component hash when it is linearized.
    zobrist: Vec<u64>,

    /// Per component, the bitset of linearized operations over local indices.
    linearized: Vec<Vec<u64>>,
    /// Per component, how many leading words of `linearized` have every bit set: the scans
    /// over pending operations start there, so that they cost the span of operations still
    /// open rather than the length of the history.
    /// Invariant: `linearized[c][..full_words[c]]` are all `u64::MAX`.
    full_words: Vec<usize>,
    linearized_count: Vec<u32>,
    /// Per component, the xor of `zobrist` over its linearized operations.
    linearized_hash: Vec<u64>,
    /// Per component, the interned model state.
    states: Vec<u32>,
    /// Position in `return_order` of the earliest unlinearized returning operation.
    /// Invariant: every operation before it in `return_order` is linearized.
    cursor: usize,
    trail: Vec<TrailStep>,
    /// The choice points from the root to the current configuration.
    frames: Vec<Frame>,
    /// The failure of the frame popped last, until a frame takes it.
    failure: Option<Failure>,
    /// Whether the root configuration has been settled.
    started: bool,

    state_ids: FxHashMap<M::State, u32>,
    state_values: Vec<M::State>,
    /// (operation, state) to the next state, or `NONE` when illegal.
    transitions: FxHashMap<u64, u32>,
    /// (operation, state) to [`Model::may_reach`] for the operation.
    reachable: FxHashMap<u64, bool>,
    /// Per operation, once needed: the operations of its component that may take effect before
    /// it whenever it is pending (those concurrent with it).
    concurrent: Vec<Option<Vec<u32>>>,
    memo: FailureMemo,
    witnesses: Vec<Option<Witness>>,
}

impl<'a, M: Model> Search<'a, M> {
    pub(crate) fn new(
        model: &'a M,
        mut entries: Vec<Entry<'a, M>>,
        component_count: usize,
    ) -> Self {
        entries.sort_by_key(|entry| (entry.invoke_time, entry.id));
        let count = entries.len();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); component_count];
        let mut local_index = Vec::with_capacity(count);
        for (index, entry) in entries.iter().enumerate() {
            let component = &mut members[entry.component as usize];
            local_index.push(to_u32(component.len()));
            component.push(to_u32(index));
        }
        let mut return_order: Vec<u32> = (0..count)
            .filter(|&index| entries[index].return_time.is_some())
            .map(to_u32)
            .collect();
        return_order.sort_by_key(|&index| (entries[index as usize].return_time, index));
        let mut return_rank = vec![NONE; count];
        let mut pending_limit = vec![0; count];
        for (rank, &index) in return_order.iter().enumerate() {
            let entry = &entries[index as usize];
            return_rank[index as usize] = to_u32(rank);
            let return_time = entry.return_time.unwrap_or(u64::MAX);
            // Equal times count as concurrent, so an operation invoked at the very time another
            // returns may still take effect before it.
            let invoked = members[entry.component as usize]
                .partition_point(|&other| entries[other as usize].invoke_time <= return_time);
            pending_limit[index as usize] = to_u32(invoked);
        }
        let latest_return = members
            .iter()
            .map(|component| {
                let mut latest = 0;
                component
                    .iter()
                    .map(|&index| {
                        latest =
                            latest.max(entries[index as usize].return_time.unwrap_or(u64::MAX));
                        latest
                    })
                    .collect()
            })
            .collect();
        let mut previous_twin = vec![NONE; count];
        let mut latest_twin: FxHashMap<(u32, &M::Input), u32> = FxHashMap::default();
        for (index, entry) in entries.iter().enumerate() {
            if entry.return_time.is_none() {
                if let Some(previous) =
                    latest_twin.insert((entry.component, entry.input), to_u32(index))
                {
                    previous_twin[index] = previous;
                }
            }
        }
        let zobrist = (0..count as u64).map(split_mix).collect();
        let observation = entries
            .iter()
            .map(|entry| model.is_observation(entry.input, entry.output))
            .collect();
        let blind = entries
            .iter()
            .map(|entry| model.is_blind(entry.input, entry.output))
            .collect();
        let linearized = members
            .iter()
            .map(|component| vec![0; component.len().div_ceil(64)])
            .collect();
        let mut search = Search {
            model,
            entries,
            local_index,
            members,
            return_order,
            return_rank,
            pending_limit,
            latest_return,
            previous_twin,
            observation,
            blind,
            zobrist,
            linearized,
            full_words: vec![0; component_count],
            linearized_count: vec![0; component_count],
            linearized_hash: vec![0; component_count],
            states: Vec::new(),
            cursor: 0,
            trail: Vec::new(),
            frames: Vec::new(),
            failure: None,
            started: false,
            state_ids: FxHashMap::default(),
            state_values: Vec::new(),
            transitions: FxHashMap::default(),
            reachable: FxHashMap::default(),
            concurrent: (0..count).map(|_| None).collect(),
            memo: FailureMemo::default(),
            witnesses: (0..component_count).map(|_| None).collect(),
        };
        let initial = search.intern(model.initial_state());
        search.states = vec![initial; component_count];
        search
    }

    /// Runs the search for at most `slice_steps` more steps, adding them to `steps`. Returns
    /// `None` when the slice ends first; the next call goes on from there.
    pub(crate) fn run(
        &mut self,
        budget: &Budget,
        steps: &mut u64,
        slice_steps: u64,
    ) -> Option<SearchOutcome> {
        if !self.started {
            self.started = true;
            match self.arrive(None) {
                Arrival::Complete => return Some(self.linearizable()),
                Arrival::DeadEnd(failure) => return Some(self.illegal(failure.blame)),
                Arrival::Open {
                    component,
                    forced,
                    settled_with_reads,
                } => {
                    let frame = self.frame(component, forced, settled_with_reads);
                    self.frames.push(frame);
                }
            }
        }
        let slice_end = steps.saturating_add(slice_steps);
        loop {
            let Some(frame) = self.frames.last_mut() else {
                let failure = self.failure.expect("the root frame fails with a blame");
                return Some(self.illegal(failure.blame));
            };
            let (component, base) = (frame.component, frame.base);
            if let Some(failure) = self.failure {
                if failure.blame != component {
                    // This frame only chooses among operations of its own component, which is not
                    // the one that failed: no other choice here can help. Whether the failure
                    // holds in every state of its component is not known at this configuration,
                    // which may lack observations linearized since.
                    self.frames.pop();
                    self.undo_to(base);
                    self.remember_failure(failure.blame, false);
                    self.failure = Some(Failure {
                        blame: failure.blame,
                        state_independent: false,
                    });
                    continue;
                }
                frame.state_independent &= frame.last_candidate_blind || failure.state_independent;
                self.failure = None;
            }
            let Some(&candidate) = frame.candidates.get(frame.next) else {
                let state_independent = frame.state_independent;
                let settled_with_reads = frame.settled_with_reads;
                self.frames.pop();
                self.undo_to(base);
                self.remember_failure(component, state_independent);
                self.failure = Some(Failure {
                    blame: component,
                    state_independent: state_independent && !settled_with_reads,
                });
                continue;
            };
            if *steps >= slice_end {
                return None;
            }
            frame.next += 1;
            frame.last_candidate_blind = self.blind[candidate as usize];
            self.undo_to(base);
            *steps += 1;
            if let Some(reason) = budget.exceeded(*steps, DEADLINE_CHECK_INTERVAL_STEPS) {
                return Some(SearchOutcome::Unknown { reason });
            }
            if !self.try_linearize(candidate) {
                // In another state the candidate might be legal, or worth trying.
                if let Some(frame) = self.frames.last_mut() {
                    frame.state_independent = false;
                }
                continue;
            }
            match self.arrive(Some(component)) {
                Arrival::Complete => return Some(self.linearizable()),
                Arrival::DeadEnd(failure) => self.failure = Some(failure),
                Arrival::Open {
                    component,
                    forced,
                    settled_with_reads,
                } => {
                    let frame = self.frame(component, forced, settled_with_reads);
                    self.frames.push(frame);
                }
            }
        }
    }

    /// Settles a new configuration: moves the cursor, linearizes reads that are free to go, and
    /// consults the memory of dead ends for the components that changed.
    fn arrive(&mut self, changed: Option<u32>) -> Arrival {
        let mut settled_with_reads = false;
        let forced = loop {
            self.advance_cursor();
            let Some(&forced) = self.return_order.get(self.cursor) else {
                return Arrival::Complete;
            };
            match self.linearize_reads(forced) {
                Reads::Linearized => settled_with_reads = true,
                Reads::NoneFree => break forced,
                Reads::Unreachable => {
                    return Arrival::DeadEnd(Failure {
                        blame: self.entries[forced as usize].component,
                        state_independent: false,
                    })
                }
            }
        };
        let component = self.entries[forced as usize].component;
        let changed = changed.filter(|&changed| changed != component);
        for blame in std::iter::once(component).chain(changed) {
            if let Some(state_independent) = self.known_failure(blame) {
                return Arrival::DeadEnd(Failure {
                    blame,
                    state_independent: state_independent && !settled_with_reads,
                });
            }
        }
        Arrival::Open {
            component,
            forced,
            settled_with_reads,
        }
    }

    /// The choice point at the current configuration.
    fn frame(&mut self, component: u32, forced: u32, settled_with_reads: bool) -> Frame {
        let mut others = Vec::new();
        self.for_each_pending(forced, |search, operation| {
            if operation == forced {
                return;
            }
            let twin = search.previous_twin[operation as usize];
            if twin != NONE && !search.is_linearized(twin) {
                return;
            }
            others.push(operation);
        });
        // Operations that return soon are likelier to be needed early; those that never return
        // come last, oldest first.
        others.sort_by_key(|&operation| (self.return_rank[operation as usize], operation));
        let mut candidates = Vec::with_capacity(others.len() + 1);
        candidates.push(forced);
        candidates.extend(others);
        let state = self.states[component as usize];
        if self.transition(forced, state).is_none() {
            self.record_witness(forced, forced);
        }
        Frame {
            component,
            base: self.trail.len(),
            candidates,
            next: 0,
            state_independent: true,
            last_candidate_blind: false,
            settled_with_reads,
        }
    }

    /// Linearizes every pending observation of the forced operation's component that is legal
    /// now, unless some pending operation can never become legal.
    fn linearize_reads(&mut self, forced: u32) -> Reads {
        let component = self.entries[forced as usize].component as usize;
        let state = self.states[component];
        let mut reads = Vec::new();
        let mut unreachable = None;
        self.for_each_pending(forced, |search, operation| {
            // An operation that may never return needs no linearization to read.
            if unreachable.is_some() || search.entries[operation as usize].return_time.is_none() {
                return;
            }
            match search.transition(operation, state) {
                Some(_) if search.observation[operation as usize] => reads.push(operation),
                Some(_) => {}
                None => {
                    if !search.may_reach(operation, state) {
                        unreachable = Some(operation);
                    }
                }
            }
        });
        if let Some(operation) = unreachable {
            self.record_witness(forced, operation);
            return Reads::Unreachable;
        }
        for &operation in &reads {
            self.linearize(operation, state);
        }
        if !reads.is_empty() {
            return Reads::Linearized;
        }
        if let Some(operation) = self.future_unreachable(forced) {
            self.record_witness(forced, operation);
            return Reads::Unreachable;
        }
        Reads::NoneFree
    }

    /// One of the next few operations of the forced operation's component not invoked yet that
    /// can never become legal, if any. They must all take effect after the current state, and
    /// only the unlinearized operations invoked before each returns can come in between.
    fn future_unreachable(&mut self, forced: u32) -> Option<u32> {
        let component = self.entries[forced as usize].component as usize;
        let state = self.states[component];
        let limit = self.pending_limit[forced as usize] as usize;
        let mut checked = 0;
        for position in limit..self.members[component].len() {
            if checked == FUTURE_OPERATIONS_CHECKED {
                break;
            }
            let operation = self.members[component][position];
            let entry = &self.entries[operation as usize];
            let (Some(output), Some(_)) = (entry.output, entry.return_time) else {
                continue;
            };
            checked += 1;
            if self.transition(operation, state).is_some() {
                continue;
            }
            let entry = &self.entries[operation as usize];
            let operation_limit = self.pending_limit[operation as usize] as usize;
            let (entries, linearized, local_index) = (
                &self.entries,
                &self.linearized[component],
                &self.local_index,
            );
            // Every operation before the first unlinearized one is linearized.
            let full_words = self.full_words[component];
            let first_unlinearized = linearized
                .get(full_words)
                .map_or(linearized.len() * 64, |word| {
                    full_words * 64 + word.trailing_ones() as usize
                });
            let mut candidates = self.members[component]
                [first_unlinearized.min(operation_limit)..operation_limit]
                .iter()
                .filter(|&&other| {
                    let local = local_index[other as usize] as usize;
                    other != operation && linearized[local / 64] & (1 << (local % 64)) == 0
                })
                .map(|&other| entries[other as usize].input);
            if !self.model.may_reach(
                &self.state_values[state as usize],
                entry.input,
                output,
                &mut candidates,
            ) {
                return Some(operation);
            }
        }
        None
    }

    /// [`Model::may_reach`] for a pending operation, computed once per state.
    fn may_reach(&mut self, operation: u32, state: u32) -> bool {
        let Some(output) = self.entries[operation as usize].output else {
            return true;
        };
        let key = (u64::from(operation) << 32) | u64::from(state);
        if let Some(&reachable) = self.reachable.get(&key) {
            return reachable;
        }
        if self.concurrent[operation as usize].is_none() {
            let concurrent = self.concurrent_with(operation);
            self.concurrent[operation as usize] = Some(concurrent);
        }
        let entries = &self.entries;
        let mut candidates = self.concurrent[operation as usize]
            .iter()
            .flatten()
            .map(|&other| entries[other as usize].input);
        let entry = &entries[operation as usize];
        let reachable = self.model.may_reach(
            &self.state_values[state as usize],
            entry.input,
            output,
            &mut candidates,
        );
        self.reachable.insert(key, reachable);
        reachable
    }

    /// The operations of `operation`'s component that may be linearized before it while it is
    /// pending: all invoked before it returns, except those that returned before it was invoked
    /// (the cursor has passed them, so they are linearized by then).
    fn concurrent_with(&self, operation: u32) -> Vec<u32> {
        let entry = &self.entries[operation as usize];
        let component = entry.component as usize;
        let limit = self.pending_limit[operation as usize] as usize;
        // Before `first`, every operation returned before this one was invoked.
        let first = self.latest_return[component][..limit]
            .partition_point(|&latest| latest < entry.invoke_time);
        self.members[component][first..limit]
            .iter()
            .copied()
            .filter(|&other| {
                other != operation
                    && self.entries[other as usize]
                        .return_time
                        .is_none_or(|return_time| return_time >= entry.invoke_time)
            })
            .collect()
    }

    /// Calls `visit` on each unlinearized operation of `forced`'s component invoked before
    /// `forced` returns, in invocation order.
    fn for_each_pending(&mut self, forced: u32, mut visit: impl FnMut(&mut Self, u32)) {
        let component = self.entries[forced as usize].component as usize;
        let limit = self.pending_limit[forced as usize] as usize;
        for word_index in self.full_words[component]..limit.div_ceil(64) {
            let mut bits = !self.linearized[component][word_index];
            let valid = limit - word_index * 64;
            if valid < 64 {
                bits &= (1u64 << valid) - 1;
            }
            while bits != 0 {
                let local = word_index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let operation = self.members[component][local];
                visit(self, operation);
            }
        }
    }

    /// Linearizes `operation` from the current state if that is legal and useful.
    fn try_linearize(&mut self, operation: u32) -> bool {
        let component = self.entries[operation as usize].component as usize;
        let state = self.states[component];
        let Some(next) = self.transition(operation, state) else {
            return false;
        };
        // An operation that may never return and changes nothing can always be left out.
        if self.entries[operation as usize].return_time.is_none() && next == state {
            return false;
        }
        self.linearize(operation, next);
        true
    }

    fn linearize(&mut self, operation: u32, next_state: u32) {
        let component = self.entries[operation as usize].component as usize;
        let local = self.local_index[operation as usize] as usize;
        let words = &mut self.linearized[component];
        let word = &mut words[local / 64];
        assert!(
            *word & (1 << (local % 64)) == 0,
            "operation {operation} linearized twice"
        );
        *word |= 1 << (local % 64);
        let full_words = &mut self.full_words[component];
        while words.get(*full_words) == Some(&u64::MAX) {
            *full_words += 1;
        }
        self.linearized_count[component] += 1;
        self.linearized_hash[component] ^= self.zobrist[operation as usize];
        self.trail.push(TrailStep {
            operation,
            previous_state: self.states[component],
            previous_cursor: to_u32(self.cursor),
        });
        self.states[component] = next_state;
    }

    fn undo_to(&mut self, length: usize) {
        while self.trail.len() > length {
            let step = self.trail.pop().expect("trail longer than length");
            let operation = step.operation as usize;
            let component = self.entries[operation].component as usize;
            let local = self.local_index[operation] as usize;
            self.linearized[component][local / 64] &= !(1 << (local % 64));
            self.full_words[component] = self.full_words[component].min(local / 64);
            self.linearized_count[component] -= 1;
            self.linearized_hash[component] ^= self.zobrist[operation];
            self.states[component] = step.previous_state;
            self.cursor = step.previous_cursor as usize;
        }
    }

    fn advance_cursor(&mut self) {
        while let Some(&operation) = self.return_order.get(self.cursor) {
            if !self.is_linearized(operation) {
                break;
            }
            self.cursor += 1;
        }
    }

    fn is_linearized(&self, operation: u32) -> bool {
        let component = self.entries[operation as usize].component as usize;
        let local = self.local_index[operation as usize] as usize;
        self.linearized[component][local / 64] & (1 << (local % 64)) != 0
    }

    /// The hash of a component's sub-configuration; `state` is `NONE` for "any state".
    fn component_hash(&self, component: u32, state: u32) -> u64 {
        self.linearized_hash[component as usize]
            ^ split_mix((u64::from(component) << 32) | u64::from(state))
    }

    /// Whether the component's current sub-configuration is a known dead end, and if so whether
    /// it is one whatever the component's state.
    fn known_failure(&self, component: u32) -> Option<bool> {
        let index = component as usize;
        let linearized = &self.linearized[index];
        let state = self.states[index];
        if self.memo.contains(
            self.component_hash(component, NONE),
            component,
            NONE,
            linearized,
        ) {
            return Some(true);
        }
        self.memo
            .contains(
                self.component_hash(component, state),
                component,
                state,
                linearized,
            )
            .then_some(false)
    }

    /// Remembers that the component's current sub-configuration cannot be completed: in its
    /// current state, or in any state when `state_independent`.
    fn remember_failure(&mut self, component: u32, state_independent: bool) {
        let index = component as usize;
        let state = if state_independent {
            NONE
        } else {
            self.states[index]
        };
        let hash = self.component_hash(component, state);
        self.memo
            .insert(hash, component, state, &self.linearized[index]);
    }

    /// The state after `operation` from `state`, computed once per pair.
    fn transition(&mut self, operation: u32, state: u32) -> Option<u32> {
        let key = (u64::from(operation) << 32) | u64::from(state);
        if let Some(&next) = self.transitions.get(&key) {
            return (next != NONE).then_some(next);
        }
        let entry = &self.entries[operation as usize];
        let next = self
            .model
            .step(
                &self.state_values[state as usize],
                entry.input,
                entry.output,
            )
            .map(|value| self.intern(value));
        self.transitions.insert(key, next.unwrap_or(NONE));
        next
    }

    fn intern(&mut self, state: M::State) -> u32 {
        if let Some(&id) = self.state_ids.get(&state) {
            return id;
        }
        let id = to_u32(self.state_values.len());
        assert!(id != NONE, "more than 2^32 - 1 distinct model states");
        self.state_values.push(state.clone());
        self.state_ids.insert(state, id);
        id
    }

    /// Remembers the current prefix of `forced`'s component if it is the longest yet, with
    /// `blocked`, which cannot follow it, and every other pending operation that cannot either.
    fn record_witness(&mut self, forced: u32, blocked: u32) {
        let component = self.entries[forced as usize].component;
        let size = self.linearized_count[component as usize] as usize;
        if let Some(witness) = &self.witnesses[component as usize] {
            if witness.prefix.len() >= size {
                return;
            }
        }
        let prefix: Vec<u32> = self
            .trail
            .iter()
            .map(|step| step.operation)
            .filter(|&operation| self.entries[operation as usize].component == component)
            .collect();
        let state = self.states[component as usize];
        let mut cannot_follow = vec![blocked];
        self.for_each_pending(forced, |search, operation| {
            if operation != blocked
                && search.entries[operation as usize].return_time.is_some()
                && search.transition(operation, state).is_none()
            {
                cannot_follow.push(operation);
            }
        });
        self.witnesses[component as usize] = Some(Witness {
            prefix,
            cannot_follow,
        });
    }

    fn ids(&self, operations: &[u32]) -> Vec<OperationId> {
        operations
            .iter()
            .map(|&operation| self.entries[operation as usize].id)
            .collect()
    }

    fn linearizable(&self) -> SearchOutcome {
        let order: Vec<u32> = self.trail.iter().map(|step| step.operation).collect();
        SearchOutcome::Linearizable {
            order: self.ids(&order),
        }
    }

    fn illegal(&self, component: u32) -> SearchOutcome {
        let (prefix, cannot_follow) = match &self.witnesses[component as usize] {
            Some(witness) => (self.ids(&witness.prefix), self.ids(&witness.cannot_follow)),
            None => (Vec::new(), Vec::new()),
        };
        SearchOutcome::Illegal {
            component,
            prefix,
            cannot_follow,
        }
    }
}

fn to_u32(value: usize) -> u32 {
    u32::try_from(value).expect("fewer than 2^32 operations")
}

/// SplitMix64 (Steele, Lea and Flood 2014): a fixed, well-mixed hash of an integer.
fn split_mix(value: u64) -> u64 {
    let mut mixed = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}
