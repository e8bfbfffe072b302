//! The byte layouts of the types on the hot paths (messages, entries, hard state), encoded and
//! decoded by hand with exactly the bytes that postcard writes for their serde derives: the
//! fields in declaration order, each in postcard's format (see [`super::primitive`]).
//!
//! | type         | layout, after the version byte                                               |
//! |--------------|------------------------------------------------------------------------------|
//! | `Message`    | msg_type: varint discriminant, to, from, term, log_term, index: varint,      |
//! |              | entries: varint count + `Entry`s, commit: varint,                            |
//! |              | snapshot: tag 0, or tag 1 + `Snapshot`, reject: bool, reject_hint: varint,   |
//! |              | context: varint length + bytes                                               |
//! | `Entry`      | term, index: varint, entry_type: varint discriminant,                        |
//! |              | data: varint length + bytes (at least 4 bytes in all)                        |
//! | `Snapshot`   | data: varint length + bytes, conf_state: `ConfState`, index, term: varint    |
//! | `ConfState`  | voters, learners, voters_outgoing, learners_next: varint count + varints,    |
//! |              | auto_leave: bool                                                             |
//! | `HardState`  | term, vote, commit: varint                                                   |
//! | `Vec<Entry>` | varint count + `Entry`s                                                      |
//!
//! A discriminant is the variant's position in the enum's declaration, as serde numbers it.
//! The differential tests in `differential_tests.rs` hold these functions to postcard's bytes.
//!
//! The readers and writers here are `#[inline(always)]`: each public function in `codec.rs`
//! then compiles to one function in which the reader's position (or the writer's length)
//! stays in a register, instead of going through memory at every field. That is most of the
//! difference from serde's generic path.

use super::primitive::{Reader, Stopped, Writer};
use super::MessageOutline;
use crate::message::{
    ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot, SnapshotMetadata,
};

/// The fewest bytes an encoded entry takes: three one-byte varints and an empty byte string.
const ENTRY_MIN_BYTES: usize = 4;

/// serde's variant index of a message type.
fn message_type_index(msg_type: MessageType) -> u64 {
    match msg_type {
        MessageType::Hup => 0,
        MessageType::Beat => 1,
        MessageType::Propose => 2,
        MessageType::Append => 3,
        MessageType::AppendResponse => 4,
        MessageType::RequestVote => 5,
        MessageType::RequestVoteResponse => 6,
        MessageType::RequestPreVote => 7,
        MessageType::RequestPreVoteResponse => 8,
        MessageType::Heartbeat => 9,
        MessageType::HeartbeatResponse => 10,
        MessageType::Snapshot => 11,
        MessageType::Unreachable => 12,
        MessageType::SnapshotStatus => 13,
        MessageType::CheckQuorum => 14,
        MessageType::TransferLeader => 15,
        MessageType::TimeoutNow => 16,
        MessageType::ReadIndex => 17,
        MessageType::ReadIndexResponse => 18,
    }
}

/// The message type with serde's variant index `index`, the inverse of [`message_type_index`].
pub(super) fn message_type_at(index: u64) -> Option<MessageType> {
    Some(match index {
        0 => MessageType::Hup,
        1 => MessageType::Beat,
        2 => MessageType::Propose,
        3 => MessageType::Append,
        4 => MessageType::AppendResponse,
        5 => MessageType::RequestVote,
        6 => MessageType::RequestVoteResponse,
        7 => MessageType::RequestPreVote,
        8 => MessageType::RequestPreVoteResponse,
        9 => MessageType::Heartbeat,
        10 => MessageType::HeartbeatResponse,
        11 => MessageType::Snapshot,
        12 => MessageType::Unreachable,
        13 => MessageType::SnapshotStatus,
        14 => MessageType::CheckQuorum,
        15 => MessageType::TransferLeader,
        16 => MessageType::TimeoutNow,
        17 => MessageType::ReadIndex,
        18 => MessageType::ReadIndexResponse,
        _ => return None,
    })
}

/// serde's variant index of an entry type.
fn entry_type_index(entry_type: EntryType) -> u64 {
    match entry_type {
        EntryType::Normal => 0,
        EntryType::ConfChange => 1,
    }
}

/// The entry type with serde's variant index `index`, the inverse of [`entry_type_index`].
fn entry_type_at(index: u64) -> Option<EntryType> {
    match index {
        0 => Some(EntryType::Normal),
        1 => Some(EntryType::ConfChange),
        _ => None,
    }
}

#[inline(always)]
pub(super) fn write_message(out: &mut Writer<'_, '_>, message: &Message) {
    out.varint(message_type_index(message.msg_type));
    out.varint(message.to);
    out.varint(message.from);
    out.varint(message.term);
    out.varint(message.log_term);
    out.varint(message.index);
    write_entries(out, &message.entries);
    out.varint(message.commit);
    match &message.snapshot {
        None => out.bool(false),
        Some(snapshot) => {
            out.bool(true);
            write_snapshot(out, snapshot);
        }
    }
    out.bool(message.reject);
    out.varint(message.reject_hint);
    out.bytes(&message.context);
}

#[inline(always)]
pub(super) fn write_entries(out: &mut Writer<'_, '_>, entries: &[Entry]) {
    out.varint(entries.len() as u64);
    for entry in entries {
        out.varint(entry.term);
        out.varint(entry.index);
        out.varint(entry_type_index(entry.entry_type));
        out.bytes(&entry.data);
    }
}

#[inline(always)]
fn write_snapshot(out: &mut Writer<'_, '_>, snapshot: &Snapshot) {
    let SnapshotMetadata {
        conf_state,
        index,
        term,
    } = &snapshot.metadata;
    out.bytes(&snapshot.data);
    out.varints(&conf_state.voters);
    out.varints(&conf_state.learners);
    out.varints(&conf_state.voters_outgoing);
    out.varints(&conf_state.learners_next);
    out.bool(conf_state.auto_leave);
    out.varint(*index);
    out.varint(*term);
}

#[inline(always)]
pub(super) fn write_hard_state(out: &mut Writer<'_, '_>, hard_state: &HardState) {
    out.varint(hard_state.term);
    out.varint(hard_state.vote);
    out.varint(hard_state.commit);
}

#[inline(always)]
pub(super) fn read_message(reader: &mut Reader<'_, '_>) -> Result<Message, Stopped> {
    Ok(Message {
        msg_type: reader.discriminant("msg_type", message_type_at)?,
        to: reader.varint("to")?,
        from: reader.varint("from")?,
        term: reader.varint("term")?,
        log_term: reader.varint("log_term")?,
        index: reader.varint("index")?,
        entries: read_entries(reader)?,
        commit: reader.varint("commit")?,
        snapshot: if reader.option_tag("snapshot")? {
            Some(Box::new(read_snapshot(reader)?))
        } else {
            None
        },
        reject: reader.bool("reject")?,
        reject_hint: reader.varint("reject_hint")?,
        context: owned(reader.bytes("context")?),
    })
}

/// Checks a whole message without building it (no entry, snapshot or context is copied) and
/// returns its type and reject flag. Accepts exactly what [`read_message`] accepts.
#[inline(always)]
pub(super) fn skim_message(reader: &mut Reader<'_, '_>) -> Result<(MessageType, bool), Stopped> {
    let msg_type = reader.discriminant("msg_type", message_type_at)?;
    for field in ["to", "from", "term", "log_term", "index"] {
        reader.varint(field)?;
    }
    let count = reader.count("entries", ENTRY_MIN_BYTES)?;
    for _ in 0..count {
        read_entry_parts(reader)?;
    }
    reader.varint("commit")?;
    if reader.option_tag("snapshot")? {
        skim_snapshot(reader)?;
    }
    let reject = reader.bool("reject")?;
    reader.varint("reject_hint")?;
    reader.bytes("context")?;
    Ok((msg_type, reject))
}

/// Reads a whole message into `outline` without building it: the header fields, each entry's
/// index and term, the snapshot's index and term; nothing is copied or allocated once
/// `outline.entries` has room. Accepts exactly what [`read_message`] accepts.
pub(super) fn outline_message(
    reader: &mut Reader<'_, '_>,
    outline: &mut MessageOutline,
) -> Result<(), Stopped> {
    outline.msg_type = reader.discriminant("msg_type", message_type_at)?;
    outline.to = reader.varint("to")?;
    outline.from = reader.varint("from")?;
    outline.term = reader.varint("term")?;
    outline.log_term = reader.varint("log_term")?;
    outline.index = reader.varint("index")?;
    outline.entries.clear();
    let count = reader.count("entries", ENTRY_MIN_BYTES)?;
    for _ in 0..count {
        let (term, index, _, _) = read_entry_parts(reader)?;
        outline.entries.push((index, term));
    }
    outline.commit = reader.varint("commit")?;
    outline.snapshot = if reader.option_tag("snapshot")? {
        Some(skim_snapshot(reader)?)
    } else {
        None
    };
    outline.reject = reader.bool("reject")?;
    outline.reject_hint = reader.varint("reject_hint")?;
    reader.bytes("context")?;
    Ok(())
}

#[inline(always)]
pub(super) fn read_entries(reader: &mut Reader<'_, '_>) -> Result<Vec<Entry>, Stopped> {
    let count = reader.count("entries", ENTRY_MIN_BYTES)?;
    if count == 0 {
        // Most messages carry no entries; an empty `Vec` needs no trip to the allocator.
        Ok(Vec::new())
    } else {
        read_entry_list(reader, count)
    }
}

#[inline(always)]
fn read_entry_list(reader: &mut Reader<'_, '_>, count: usize) -> Result<Vec<Entry>, Stopped> {
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let (term, index, entry_type, data) = read_entry_parts(reader)?;
        entries.push(Entry {
            term,
            index,
            entry_type,
            data: owned(data),
        });
    }
    Ok(entries)
}

/// `bytes` copied into a `Vec`, without a call into the allocator when empty.
#[inline(always)]
fn owned(bytes: &[u8]) -> Vec<u8> {
    if bytes.is_empty() {
        Vec::new()
    } else {
        bytes.to_vec()
    }
}

/// An entry's fields with its data borrowed from the input.
#[inline(always)]
fn read_entry_parts<'a>(
    reader: &mut Reader<'a, '_>,
) -> Result<(u64, u64, EntryType, &'a [u8]), Stopped> {
    Ok((
        reader.varint("entry.term")?,
        reader.varint("entry.index")?,
        reader.discriminant("entry.entry_type", entry_type_at)?,
        reader.bytes("entry.data")?,
    ))
}

#[inline(always)]
fn read_snapshot(reader: &mut Reader<'_, '_>) -> Result<Snapshot, Stopped> {
    Ok(Snapshot {
        data: reader.bytes("snapshot.data")?.to_vec(),
        metadata: SnapshotMetadata {
            conf_state: ConfState {
                voters: reader.varints("conf_state.voters")?,
                learners: reader.varints("conf_state.learners")?,
                voters_outgoing: reader.varints("conf_state.voters_outgoing")?,
                learners_next: reader.varints("conf_state.learners_next")?,
                auto_leave: reader.bool("conf_state.auto_leave")?,
            },
            index: reader.varint("snapshot.index")?,
            term: reader.varint("snapshot.term")?,
        },
    })
}

/// Checks a snapshot as [`read_snapshot`] does, without copying anything; returns its index
/// and term.
#[inline(always)]
fn skim_snapshot(reader: &mut Reader<'_, '_>) -> Result<(u64, u64), Stopped> {
    reader.bytes("snapshot.data")?;
    reader.skip_varints("conf_state.voters")?;
    reader.skip_varints("conf_state.learners")?;
    reader.skip_varints("conf_state.voters_outgoing")?;
    reader.skip_varints("conf_state.learners_next")?;
    reader.bool("conf_state.auto_leave")?;
    let index = reader.varint("snapshot.index")?;
    let term = reader.varint("snapshot.term")?;
    Ok((index, term))
}

#[inline(always)]
pub(super) fn read_hard_state(reader: &mut Reader<'_, '_>) -> Result<HardState, Stopped> {
    Ok(HardState {
        term: reader.varint("term")?,
        vote: reader.varint("vote")?,
        commit: reader.varint("commit")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two tables agree with each other and with serde's numbering (postcard writes a
    /// small discriminant as one byte), and no index past the last variant maps to one.
    #[test]
    fn discriminants_are_serdes_variant_indexes() {
        let mut count = 0;
        while let Some(msg_type) = message_type_at(count) {
            assert_eq!(message_type_index(msg_type), count);
            assert_eq!(postcard::to_stdvec(&msg_type).unwrap(), [count as u8]);
            count += 1;
        }
        assert_eq!(count, 19);
        assert!(postcard::from_bytes::<MessageType>(&[count as u8]).is_err());
        for index in 0..2 {
            let entry_type = entry_type_at(index).unwrap();
            assert_eq!(entry_type_index(entry_type), index);
            assert_eq!(postcard::to_stdvec(&entry_type).unwrap(), [index as u8]);
        }
        assert_eq!(entry_type_at(2), None);
        assert!(postcard::from_bytes::<EntryType>(&[2]).is_err());
    }
}
