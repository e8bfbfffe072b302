//! The event trace: the last events of a run, kept cheaply (events are moved in after they are
//! processed, message bytes and all) and formatted only when a failure report needs them, or
//! printed as they happen with `--trace`.

use std::collections::VecDeque;

use raft::codec;

use crate::event::Event;

/// How many events a failure report shows.
pub const TRACE_TAIL_LENGTH: usize = 60;

/// One line of the trace.
#[derive(Clone, Debug)]
pub enum TraceItem {
    /// A processed event.
    Event {
        /// When.
        time_ms: u64,
        /// Its position in the run.
        index: u64,
        /// The event.
        event: Event,
    },
    /// Something the world did (a fault, a verdict).
    Note {
        /// When.
        time_ms: u64,
        /// What.
        text: String,
    },
}

/// Describes an event in one line, decoding a message if it carries one.
pub fn describe(event: &Event) -> String {
    match event {
        Event::Deliver {
            from, to, bytes, ..
        } => match codec::decode_message(bytes) {
            Ok(message) => {
                let mut line = format!(
                    "deliver {from}->{to} {:?} term {}",
                    message.msg_type, message.term
                );
                if message.index != 0 || message.log_term != 0 {
                    line.push_str(&format!(
                        " index {} log_term {}",
                        message.index, message.log_term
                    ));
                }
                if !message.entries.is_empty() {
                    let first = message.entries[0].index;
                    let last = message.entries[message.entries.len() - 1].index;
                    line.push_str(&format!(" entries {first}..={last}"));
                }
                if message.commit != 0 {
                    line.push_str(&format!(" commit {}", message.commit));
                }
                if message.reject {
                    line.push_str(&format!(" reject (hint {})", message.reject_hint));
                }
                if let Some(snapshot) = &message.snapshot {
                    if snapshot.metadata.index != 0 {
                        line.push_str(&format!(" snapshot at {}", snapshot.metadata.index));
                    }
                }
                line
            }
            Err(error) => format!("deliver {from}->{to} undecodable ({error})"),
        },
        Event::Timer { node, incarnation } => format!("timer node {node} (life {incarnation})"),
        Event::ClientWake { client } => format!("client {client} wakes"),
        Event::ClientTimeout { client, attempt } => {
            format!("client {client} attempt {attempt} times out")
        }
        Event::FaultTick => "fault tick".to_string(),
        Event::Restart { node } => format!("restart node {node}"),
        Event::Resume { node } => format!("resume node {node}"),
        Event::PartitionEnd { epoch } => format!("partition {epoch} ends"),
        Event::Heal => "heal: fault window over".to_string(),
        Event::LivenessCheck => "liveness check".to_string(),
    }
}

impl TraceItem {
    /// The item as one line.
    pub fn line(&self) -> String {
        match self {
            TraceItem::Event {
                time_ms,
                index,
                event,
            } => format!("{time_ms:>8} ms #{index:<7} {}", describe(event)),
            TraceItem::Note { time_ms, text } => format!("{time_ms:>8} ms          {text}"),
        }
    }
}

/// The last [`TRACE_TAIL_LENGTH`] items, and optionally every item printed as it comes.
#[derive(Debug, Default)]
pub struct Trace {
    tail: VecDeque<TraceItem>,
    print: bool,
}

impl Trace {
    /// A trace that prints every item when `print`.
    pub fn new(print: bool) -> Trace {
        Trace {
            tail: VecDeque::with_capacity(TRACE_TAIL_LENGTH + 1),
            print,
        }
    }

    /// Records an item.
    pub fn push(&mut self, item: TraceItem) {
        if self.print {
            println!("{}", item.line());
        }
        if self.tail.len() == TRACE_TAIL_LENGTH {
            self.tail.pop_front();
        }
        self.tail.push_back(item);
    }

    /// Records a note.
    pub fn note(&mut self, time_ms: u64, text: String) {
        self.push(TraceItem::Note { time_ms, text });
    }

    /// The tail, formatted.
    pub fn tail_lines(&self) -> Vec<String> {
        self.tail.iter().map(TraceItem::line).collect()
    }
}
