//! Every message tells the truth about its sender.
//!
//! A Raft message is a set of claims about the log of the node that sends it: an append says
//! that its entries follow one another from `index + 1`, that the sender's entry at `index` has
//! term `log_term` and that it holds each entry it sends; a vote request states the candidate's
//! last index and term; an accepted append says the follower now holds the log up to `index`; a
//! rejection's hint names an entry the follower has, with its term; every commit index a message
//! carries is one its sender has reached. A receiver acts on these claims (and may drop a
//! malformed message without a word), so a lie shows only later, if ever, as a log that breaks
//! somewhere else.
//!
//! This oracle judges each message as it leaves, against the sender's log right after the step
//! that produced it. A step is the node's ticks and then at most one input, so a claim made by
//! the ticks may have been overtaken by the input: a pre-candidate's vote request names the log
//! as it was before the step, and an append that arrives in the same step lengthens it. So vote
//! requests are judged against the last entry before or after the step, and an append or a
//! snapshot only while its sender still leads the term it was sent in (a leader never truncates
//! its own log). A follower's answers come from the step's input, its last event. Commit
//! indexes only grow.

use raft::codec::MessageOutline;
use raft::{Index, MessageType, NodeId, Term};

use super::{Property, Violation};

/// What the sender's log says about one index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermAt {
    /// The entry (or the snapshot's last entry) at the index has this term.
    Known(Term),
    /// The index was compacted away: nothing can be said.
    Compacted,
    /// The index is beyond the log's end.
    Missing,
}

/// The sender's log, as the oracle reads it.
pub trait SenderLog {
    /// The term at `index`.
    fn term_at(&self, index: Index) -> TermAt;
    /// The index of the last entry.
    fn last_index(&self) -> Index;
    /// The commit index.
    fn committed(&self) -> Index;
}

impl<S: raft::Storage> SenderLog for raft::log::RaftLog<S> {
    fn term_at(&self, index: Index) -> TermAt {
        match self.term(index) {
            Ok(term) => TermAt::Known(term),
            Err(raft::StorageError::Unavailable) => TermAt::Missing,
            Err(_) => TermAt::Compacted,
        }
    }

    fn last_index(&self) -> Index {
        raft::log::RaftLog::last_index(self)
    }

    fn committed(&self) -> Index {
        self.committed
    }
}

/// The sender as the oracle sees it: its log right after the step that sent the message, its
/// last entry (index, term) before that step, and the term it leads after the step, if any.
pub struct Sender<'a, L> {
    /// The sender's log after the step.
    pub log: &'a L,
    /// The index and term of its last entry before the step.
    pub last_before: (Index, Term),
    /// The term it leads after the step.
    pub leading: Option<Term>,
}

/// Judges `message`, sent by node `sender` as `state` describes it.
pub fn check<L: SenderLog>(
    sender: NodeId,
    message: &MessageOutline,
    state: &Sender<'_, L>,
) -> Result<(), Violation> {
    let log = state.log;
    let fail = |what: String| {
        Err(Violation::at(
            Property::MessageClaim,
            sender,
            format!(
                "node {sender} sent node {} {:?} (term {}) {what}",
                message.to, message.msg_type, message.term
            ),
        ))
    };
    if message.commit > log.committed() {
        return fail(format!(
            "with commit index {}, beyond its own commit index {}",
            message.commit,
            log.committed()
        ));
    }
    match message.msg_type {
        MessageType::Append | MessageType::Snapshot if state.leading != Some(message.term) => {}
        MessageType::Append => {
            let mut previous_term = message.log_term;
            for (offset, &(index, term)) in message.entries.iter().enumerate() {
                let expected = message.index + 1 + offset as Index;
                if index != expected {
                    return fail(format!(
                        "after index {} whose entry {offset} has index {index}, not {expected}: \
                         the entries do not follow one another",
                        message.index
                    ));
                }
                if term < previous_term || term > message.term {
                    return fail(format!(
                        "whose entry {index} has term {term}, outside [{previous_term}, {}]: \
                         terms in a log never fall, and no entry is newer than its sender's term",
                        message.term
                    ));
                }
                previous_term = term;
                if let Some(claim) = disowned(log, index, term) {
                    return fail(format!("with entry {index} of term {term}: {claim}"));
                }
            }
            if let Some(claim) = disowned(log, message.index, message.log_term) {
                return fail(format!(
                    "claiming term {} at index {}: {claim}",
                    message.log_term, message.index
                ));
            }
        }
        MessageType::RequestVote | MessageType::RequestPreVote => {
            let claim = (message.index, message.log_term);
            let last = log.last_index();
            let after = match log.term_at(last) {
                TermAt::Known(term) => (last, term),
                TermAt::Compacted | TermAt::Missing => claim,
            };
            if claim != state.last_before && claim != after {
                return fail(format!(
                    "claiming its last entry is at index {} with term {}, while it was at {} \
                     with term {} before the step and at {} with term {} after it",
                    claim.0, claim.1, state.last_before.0, state.last_before.1, after.0, after.1
                ));
            }
        }
        MessageType::AppendResponse if !message.reject && message.index > log.last_index() => {
            return fail(format!(
                "accepting up to index {} while its log ends at {}",
                message.index,
                log.last_index()
            ));
        }
        MessageType::AppendResponse if !message.reject => {}
        MessageType::AppendResponse => {
            if let Some(claim) = disowned(log, message.reject_hint, message.log_term) {
                return fail(format!(
                    "hinting term {} at index {}: {claim}",
                    message.log_term, message.reject_hint
                ));
            }
        }
        MessageType::Snapshot => {
            if let Some((index, term)) = message.snapshot {
                if index > log.committed() {
                    return fail(format!(
                        "with a snapshot up to index {index}, beyond its commit index {}",
                        log.committed()
                    ));
                }
                if let Some(claim) = disowned(log, index, term) {
                    return fail(format!(
                        "with a snapshot claiming term {term} at index {index}: {claim}"
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why the sender's log does not hold term `term` at `index`, if it does not.
fn disowned(log: &impl SenderLog, index: Index, term: Term) -> Option<String> {
    match log.term_at(index) {
        TermAt::Known(held) if held == term => None,
        TermAt::Known(held) => Some(format!("its own log has term {held} there")),
        TermAt::Compacted => None,
        TermAt::Missing => Some(format!(
            "its own log ends at {}, before that index",
            log.last_index()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log holding terms `terms[i]` at index `first + i`, compacted below `first`.
    struct Log {
        first: Index,
        terms: Vec<Term>,
        committed: Index,
    }

    impl SenderLog for Log {
        fn term_at(&self, index: Index) -> TermAt {
            if index < self.first {
                TermAt::Compacted
            } else {
                self.terms
                    .get((index - self.first) as usize)
                    .map_or(TermAt::Missing, |&term| TermAt::Known(term))
            }
        }
        fn last_index(&self) -> Index {
            self.first + self.terms.len() as Index - 1
        }
        fn committed(&self) -> Index {
            self.committed
        }
    }

    /// Indexes 3 to 8 with terms 1 1 2 2 2 3, committed to 6.
    fn log() -> Log {
        Log {
            first: 3,
            terms: vec![1, 1, 2, 2, 2, 3],
            committed: 6,
        }
    }

    /// A message from node 1 to node 2 in `term`.
    fn message(msg_type: MessageType, term: Term) -> MessageOutline {
        MessageOutline {
            msg_type,
            to: 2,
            from: 1,
            term,
            ..MessageOutline::default()
        }
    }

    fn append(index: Index, log_term: Term, entries: &[(Index, Term)]) -> MessageOutline {
        MessageOutline {
            index,
            log_term,
            commit: 6,
            entries: entries.to_vec(),
            ..message(MessageType::Append, 3)
        }
    }

    fn property(result: Result<(), Violation>) -> Option<Property> {
        result.err().map(|violation| violation.property)
    }

    /// Node 1 leading term 3 with `log()`, whose last entry did not change in the step.
    fn judge(message: &MessageOutline) -> Option<Property> {
        let log = log();
        let sender = Sender {
            log: &log,
            last_before: (8, 3),
            leading: Some(3),
        };
        property(check(1, message, &sender))
    }

    #[test]
    fn an_append_of_the_senders_own_contiguous_entries_passes() {
        assert_eq!(judge(&append(5, 2, &[(6, 2), (7, 2), (8, 3)])), None);
        // The entry at the probe's index may have been compacted since.
        assert_eq!(judge(&append(2, 1, &[(3, 1)])), None);
        assert_eq!(judge(&append(8, 3, &[])), None);
    }

    #[test]
    fn an_append_that_skips_an_index_or_misstates_the_log_is_caught() {
        let cases = [
            append(5, 2, &[(6, 2), (8, 3)]), // a gap
            append(5, 2, &[(5, 2)]),         // starts at the probe's own index
            append(5, 1, &[(6, 2)]),         // the sender has term 2 at index 5
            append(5, 2, &[(6, 3)]),         // and term 2 at index 6
            append(8, 3, &[(9, 3)]),         // the sender does not hold index 9
            append(6, 2, &[(7, 2), (8, 1)]), // terms fall
            append(8, 3, &[(9, 4)]),         // newer than the message's term
        ];
        for message in cases {
            assert_eq!(judge(&message), Some(Property::MessageClaim), "{message:?}");
        }
    }

    #[test]
    fn a_commit_index_beyond_the_senders_is_caught() {
        let mut message = message(MessageType::Heartbeat, 3);
        message.commit = 6;
        assert_eq!(judge(&message), None);
        message.commit = 7;
        assert_eq!(judge(&message), Some(Property::MessageClaim));
    }

    #[test]
    fn a_vote_request_states_the_candidates_last_entry() {
        let mut message = message(MessageType::RequestVote, 4);
        message.index = 8;
        message.log_term = 3;
        assert_eq!(judge(&message), None);
        message.log_term = 2;
        assert_eq!(judge(&message), Some(Property::MessageClaim));
        message.log_term = 3;
        message.index = 7;
        assert_eq!(judge(&message), Some(Property::MessageClaim));
    }

    #[test]
    fn append_responses_name_what_the_follower_holds() {
        let mut accept = message(MessageType::AppendResponse, 3);
        accept.index = 8;
        assert_eq!(judge(&accept), None);
        accept.index = 9;
        assert_eq!(judge(&accept), Some(Property::MessageClaim));
        let mut reject = message(MessageType::AppendResponse, 3);
        reject.reject = true;
        reject.index = 12;
        reject.reject_hint = 7;
        reject.log_term = 2;
        assert_eq!(judge(&reject), None);
        reject.log_term = 3;
        assert_eq!(judge(&reject), Some(Property::MessageClaim));
    }

    #[test]
    fn claims_the_steps_input_overtook_are_judged_by_the_log_they_were_made_on() {
        let log = log();
        // A pre-vote from the step's ticks named the log before an append in the same step
        // lengthened it to 8.
        let mut pre_vote = message(MessageType::RequestPreVote, 4);
        pre_vote.index = 6;
        pre_vote.log_term = 2;
        let moved = Sender {
            log: &log,
            last_before: (6, 2),
            leading: None,
        };
        assert_eq!(property(check(1, &pre_vote, &moved)), None);
        pre_vote.index = 7;
        assert_eq!(
            property(check(1, &pre_vote, &moved)),
            Some(Property::MessageClaim)
        );
        // An append sent by a leader that stepped down in the step is not judged: the rest of
        // the step may have replaced its log.
        let deposed = Sender {
            log: &log,
            last_before: (8, 3),
            leading: None,
        };
        let skipping = append(5, 2, &[(6, 2), (8, 3)]);
        assert_eq!(property(check(1, &skipping, &deposed)), None);
        assert_eq!(judge(&skipping), Some(Property::MessageClaim));
    }
}
