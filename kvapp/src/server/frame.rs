//! The peer wire format: one TCP connection per (sender, receiver) pair, carrying Raft messages
//! from the sender to the receiver only.
//!
//! | bytes | what |
//! |---|---|
//! | 4 | [`STREAM_MAGIC`], once, when the connection opens |
//! | 1 | [`STREAM_VERSION`], once |
//! | 4 | chunk header, u32 little-endian: the low 31 bits are the chunk's length, at most [`CHUNK_BYTES_MAX`]; the top bit ([`MORE_CHUNKS`]) says the message goes on in the next chunk |
//! | length | the chunk's bytes |
//! | ... | more chunks |
//!
//! A message (one Raft message encoded with `raft::codec`) is the concatenation of its chunks:
//! every chunk but its last has the top bit set. Small messages take one chunk; a snapshot
//! larger than a chunk takes as many as it needs, up to [`MESSAGE_BYTES_MAX`] in all. (Version
//! 1 sent every message as one frame of at most 64 MiB, so a larger snapshot could never reach
//! a follower that needed it.)
//!
//! The preamble turns away a stray client (an HTTP request sent to the Raft port) at its first
//! bytes, and a peer speaking another version. The receiver checks each length against its
//! limit before reading the bytes, so a bad length costs nothing, and grows a message's buffer
//! only as its bytes arrive. It never trusts the message, which `Node::receive` decodes with
//! the codec (that returns an error, never panics, on bad bytes).

use std::io::{self, Read, Write};

/// The first bytes of every peer connection.
pub const STREAM_MAGIC: [u8; 4] = *b"kvrp";

/// The version of this format, sent after the magic.
pub const STREAM_VERSION: u8 = 2;

/// The largest chunk written or accepted; a longer one closes the connection.
pub const CHUNK_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The largest message accepted, all its chunks together: it bounds the size of a snapshot
/// that can be sent. A message over it closes the connection.
pub const MESSAGE_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// The chunk header's flag: more chunks of this message follow.
pub const MORE_CHUNKS: u32 = 1 << 31;

/// The bytes of a chunk header.
const HEADER_BYTES: usize = 4;

/// A message's buffer starts this large and grows as its bytes arrive, rather than trusting
/// a length for one big allocation up front.
const INITIAL_MESSAGE_CAPACITY: usize = 64 * 1024;

/// Why a peer stream was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The connection does not start with the magic and version.
    #[error("not a peer stream of version {STREAM_VERSION} (preamble {found:02x?})")]
    BadPreamble {
        /// The five bytes that came instead.
        found: [u8; 5],
    },
    /// A chunk length over the limit.
    #[error("chunk of {length} bytes is over the {CHUNK_BYTES_MAX}-byte limit")]
    ChunkTooLong {
        /// The announced length.
        length: usize,
    },
    /// A message whose chunks add up to more than the limit.
    #[error("message of at least {length} bytes is over the {MESSAGE_BYTES_MAX}-byte limit")]
    MessageTooLong {
        /// The bytes announced so far.
        length: u64,
    },
    /// The stream ended inside a message.
    #[error("stream ended inside a message (a {what} of {expected} bytes had {got})")]
    Truncated {
        /// "chunk header" or "chunk".
        what: &'static str,
        /// Bytes it needed.
        expected: usize,
        /// Bytes that came.
        got: usize,
    },
}

/// Writes the preamble that opens a peer connection.
pub fn write_preamble(writer: &mut impl Write) -> io::Result<()> {
    writer.write_all(&STREAM_MAGIC)?;
    writer.write_all(&[STREAM_VERSION])
}

/// Reads and checks the preamble.
pub fn read_preamble(reader: &mut impl Read) -> Result<(), FrameError> {
    let mut found = [0u8; 5];
    reader.read_exact(&mut found)?;
    if found[..4] != STREAM_MAGIC || found[4] != STREAM_VERSION {
        return Err(FrameError::BadPreamble { found });
    }
    Ok(())
}

/// Writes one message as chunks of at most [`CHUNK_BYTES_MAX`] (an empty message is one empty
/// chunk). A message over [`MESSAGE_BYTES_MAX`] is refused with
/// [`io::ErrorKind::InvalidInput`] before anything is written.
pub fn write_message(writer: &mut impl Write, message: &[u8]) -> io::Result<()> {
    if message.len() as u64 > MESSAGE_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a {}-byte message is over the {MESSAGE_BYTES_MAX}-byte limit",
                message.len()
            ),
        ));
    }
    let mut chunks = message.chunks(CHUNK_BYTES_MAX).peekable();
    if chunks.peek().is_none() {
        return writer.write_all(&0u32.to_le_bytes());
    }
    while let Some(chunk) = chunks.next() {
        // A chunk is at most CHUNK_BYTES_MAX, far below the flag bit.
        let mut header = chunk.len() as u32;
        if chunks.peek().is_some() {
            header |= MORE_CHUNKS;
        }
        writer.write_all(&header.to_le_bytes())?;
        writer.write_all(chunk)?;
    }
    Ok(())
}

/// Reads one message: `Ok(None)` when the stream ends cleanly between messages.
pub fn read_message(reader: &mut impl Read) -> Result<Option<Vec<u8>>, FrameError> {
    read_message_within(reader, MESSAGE_BYTES_MAX)
}

/// [`read_message`] with a lower message limit, for tests of the limit that need not send
/// gigabytes. The error still names [`MESSAGE_BYTES_MAX`]; tests check the length it reports.
fn read_message_within(
    reader: &mut impl Read,
    message_bytes_max: u64,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut message = Vec::new();
    let mut first = true;
    loop {
        let mut header = [0u8; HEADER_BYTES];
        let got = read_up_to(reader, &mut header)?;
        if got == 0 && first {
            return Ok(None);
        }
        if got < HEADER_BYTES {
            return Err(FrameError::Truncated {
                expected: HEADER_BYTES,
                got,
                what: "chunk header",
            });
        }
        let header = u32::from_le_bytes(header);
        let length = (header & !MORE_CHUNKS) as usize;
        if length > CHUNK_BYTES_MAX {
            return Err(FrameError::ChunkTooLong { length });
        }
        let total = message.len() as u64 + length as u64;
        if total > message_bytes_max {
            return Err(FrameError::MessageTooLong { length: total });
        }
        if first {
            message.reserve(length.min(INITIAL_MESSAGE_CAPACITY));
        }
        let before = message.len();
        reader.take(length as u64).read_to_end(&mut message)?;
        let got = message.len() - before;
        if got < length {
            return Err(FrameError::Truncated {
                expected: length,
                got,
                what: "chunk",
            });
        }
        if header & MORE_CHUNKS == 0 {
            return Ok(Some(message));
        }
        first = false;
    }
}

/// Fills `buffer` unless the stream ends first; returns how many bytes came.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream(messages: &[&[u8]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        write_preamble(&mut bytes).unwrap();
        for message in messages {
            write_message(&mut bytes, message).unwrap();
        }
        bytes
    }

    /// The chunk headers of one written message, in order.
    fn headers(mut message: &[u8]) -> Vec<u32> {
        let mut headers = Vec::new();
        loop {
            let header = u32::from_le_bytes(message[..HEADER_BYTES].try_into().unwrap());
            headers.push(header);
            message = &message[HEADER_BYTES + (header & !MORE_CHUNKS) as usize..];
            if header & MORE_CHUNKS == 0 {
                assert!(message.is_empty(), "bytes after the last chunk");
                return headers;
            }
        }
    }

    #[test]
    fn messages_round_trip_and_a_clean_end_is_none() {
        let bytes = stream(&[b"one", b"", b"three"]);
        let mut reader = bytes.as_slice();
        read_preamble(&mut reader).unwrap();
        assert_eq!(read_message(&mut reader).unwrap().unwrap(), b"one");
        assert_eq!(read_message(&mut reader).unwrap().unwrap(), b"");
        assert_eq!(read_message(&mut reader).unwrap().unwrap(), b"three");
        assert!(read_message(&mut reader).unwrap().is_none());
    }

    #[test]
    fn a_message_larger_than_a_chunk_travels_in_several() {
        // Two full chunks and a byte: distinct bytes, so a chunk out of place would show.
        let message: Vec<u8> = (0..2 * CHUNK_BYTES_MAX + 1)
            .map(|index| (index % 251) as u8)
            .collect();
        let mut written = Vec::new();
        write_message(&mut written, &message).unwrap();
        let chunk = CHUNK_BYTES_MAX as u32;
        assert_eq!(
            headers(&written),
            vec![chunk | MORE_CHUNKS, chunk | MORE_CHUNKS, 1]
        );
        // Exactly one chunk's worth is one chunk, with no empty chunk after it.
        let mut exact = Vec::new();
        write_message(&mut exact, &message[..CHUNK_BYTES_MAX]).unwrap();
        assert_eq!(headers(&exact), vec![chunk]);

        let mut bytes = stream(&[b"before"]);
        bytes.extend_from_slice(&written);
        write_message(&mut bytes, b"after").unwrap();
        let mut reader = bytes.as_slice();
        read_preamble(&mut reader).unwrap();
        assert_eq!(read_message(&mut reader).unwrap().unwrap(), b"before");
        assert!(read_message(&mut reader).unwrap().unwrap() == message);
        assert_eq!(read_message(&mut reader).unwrap().unwrap(), b"after");
        assert!(read_message(&mut reader).unwrap().is_none());
    }

    #[test]
    fn a_cut_anywhere_inside_a_message_is_truncation() {
        // A message of three chunks, hand-made with small ones (the reader accepts any chunk
        // up to the limit), so that every cut can be tried.
        let mut bytes = stream(&[]);
        let start = bytes.len();
        for (chunk, more) in [(&b"ab"[..], true), (&b""[..], true), (&b"cde"[..], false)] {
            let flag = if more { MORE_CHUNKS } else { 0 };
            bytes.extend_from_slice(&(chunk.len() as u32 | flag).to_le_bytes());
            bytes.extend_from_slice(chunk);
        }
        let mut whole = &bytes[..];
        read_preamble(&mut whole).unwrap();
        assert_eq!(read_message(&mut whole).unwrap().unwrap(), b"abcde");
        for cut in start + 1..bytes.len() {
            let mut reader = &bytes[..cut];
            read_preamble(&mut reader).unwrap();
            let result = read_message(&mut reader);
            assert!(
                matches!(result, Err(FrameError::Truncated { .. })),
                "cut at {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn a_chunk_over_the_limit_is_refused_before_reading_it() {
        let length = (CHUNK_BYTES_MAX as u32 + 1).to_le_bytes();
        let mut reader = length.as_slice();
        let error = read_message(&mut reader).unwrap_err();
        assert!(
            matches!(error, FrameError::ChunkTooLong { length } if length == CHUNK_BYTES_MAX + 1),
            "{error:?}"
        );
        assert!(error.to_string().contains("4194305"), "{error}");
    }

    #[test]
    fn a_message_over_the_limit_is_refused_before_reading_the_chunk_that_passes_it() {
        // Three chunks of 4 bytes against a limit of 10: the third header passes it.
        let mut bytes = Vec::new();
        for more in [true, true, false] {
            let flag = if more { MORE_CHUNKS } else { 0 };
            bytes.extend_from_slice(&(4 | flag).to_le_bytes());
            bytes.extend_from_slice(b"abcd");
        }
        let mut reader = bytes.as_slice();
        let error = read_message_within(&mut reader, 10).unwrap_err();
        assert!(
            matches!(error, FrameError::MessageTooLong { length: 12 }),
            "{error:?}"
        );
        assert_eq!(reader, b"abcd", "the last chunk's bytes were not read");
        // At the limit exactly it passes.
        let mut reader = bytes.as_slice();
        let message = read_message_within(&mut reader, 12).unwrap().unwrap();
        assert_eq!(message, b"abcdabcdabcd");
        let mut sink = Vec::new();
        write_message(&mut sink, &[]).unwrap();
        assert_eq!(
            sink,
            0u32.to_le_bytes(),
            "an empty message is one empty chunk"
        );
    }

    #[test]
    fn an_http_request_or_another_version_is_not_a_peer_stream() {
        let mut reader: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        assert!(matches!(
            read_preamble(&mut reader),
            Err(FrameError::BadPreamble { .. })
        ));
        let mut version_1 = STREAM_MAGIC.to_vec();
        version_1.push(1);
        let error = read_preamble(&mut version_1.as_slice()).unwrap_err();
        assert!(matches!(error, FrameError::BadPreamble { .. }));
        assert!(error.to_string().contains("version 2"), "{error}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut reader = bytes.as_slice();
            let _ = read_preamble(&mut reader);
            for _ in 0..8 {
                if !matches!(read_message(&mut reader), Ok(Some(_))) {
                    break;
                }
            }
        }

        #[test]
        fn any_messages_round_trip(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6)
        ) {
            let mut bytes = Vec::new();
            for message in &messages {
                write_message(&mut bytes, message).unwrap();
            }
            let mut reader = bytes.as_slice();
            for message in &messages {
                prop_assert_eq!(&read_message(&mut reader).unwrap().unwrap(), message);
            }
            prop_assert!(read_message(&mut reader).unwrap().is_none());
        }
    }
}
