//! The peer wire format: one TCP connection per (sender, receiver) pair, carrying Raft messages
//! from the sender to the receiver only.
//!
//! | bytes | what |
//! |---|---|
//! | 4 | [`STREAM_MAGIC`], once, when the connection opens |
//! | 1 | [`STREAM_VERSION`], once |
//! | 4 | frame: payload length, u32 little-endian, at most [`MAX_FRAME_BYTES`] |
//! | length | frame: one message encoded with `raft::codec` |
//! | ... | more frames |
//!
//! The preamble turns away a stray client (an HTTP request sent to the Raft port) at its first
//! bytes. The receiver checks the length against the limit before reading the payload, so a
//! bad length costs nothing; it never trusts the payload, which `Node::receive` decodes with
//! the codec (that returns an error, never panics, on bad bytes).

use std::io::{self, Read, Write};

/// The first bytes of every peer connection.
pub const STREAM_MAGIC: [u8; 4] = *b"kvrp";

/// The version of this format, sent after the magic.
pub const STREAM_VERSION: u8 = 1;

/// The largest payload accepted; a longer frame closes the connection. A snapshot travels as
/// one message, so this also bounds the size of a snapshot that can be sent.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// The bytes of the length prefix.
const LENGTH_BYTES: usize = 4;

/// Reads of a large payload grow the buffer as bytes arrive rather than trusting the length
/// for one big allocation up front.
const INITIAL_PAYLOAD_CAPACITY: usize = 64 * 1024;

/// Why a peer stream was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The connection does not start with the magic and version.
    #[error("not a peer stream (preamble {found:02x?})")]
    BadPreamble {
        /// The five bytes that came instead.
        found: [u8; 5],
    },
    /// A length over the limit.
    #[error("frame of {length} bytes is over the {limit}-byte limit")]
    TooLong {
        /// The announced length.
        length: u64,
        /// The limit.
        limit: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes the frame needed.
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

/// Writes one frame. A payload over [`MAX_FRAME_BYTES`] is refused with
/// [`io::ErrorKind::InvalidInput`] before anything is written.
pub fn write_frame(writer: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|_| payload.len() <= MAX_FRAME_BYTES)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte message is over the {MAX_FRAME_BYTES}-byte frame limit",
                    payload.len()
                ),
            )
        })?;
    writer.write_all(&length.to_le_bytes())?;
    writer.write_all(payload)
}

/// Reads one frame: `Ok(None)` when the stream ends cleanly between frames.
pub fn read_frame(reader: &mut impl Read) -> Result<Option<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; LENGTH_BYTES];
    let got = read_up_to(reader, &mut prefix)?;
    if got == 0 {
        return Ok(None);
    }
    if got < LENGTH_BYTES {
        return Err(FrameError::Truncated {
            expected: LENGTH_BYTES,
            got,
        });
    }
    let length = u32::from_le_bytes(prefix);
    let length = usize::try_from(length)
        .ok()
        .filter(|&length| length <= MAX_FRAME_BYTES)
        .ok_or(FrameError::TooLong {
            length: u64::from(length),
            limit: MAX_FRAME_BYTES,
        })?;
    let mut payload = Vec::with_capacity(length.min(INITIAL_PAYLOAD_CAPACITY));
    reader.take(length as u64).read_to_end(&mut payload)?;
    if payload.len() < length {
        return Err(FrameError::Truncated {
            expected: length,
            got: payload.len(),
        });
    }
    Ok(Some(payload))
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

    fn stream(payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        write_preamble(&mut bytes).unwrap();
        for payload in payloads {
            write_frame(&mut bytes, payload).unwrap();
        }
        bytes
    }

    #[test]
    fn frames_round_trip_and_a_clean_end_is_none() {
        let bytes = stream(&[b"one", b"", b"three"]);
        let mut reader = bytes.as_slice();
        read_preamble(&mut reader).unwrap();
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"one");
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"");
        assert_eq!(read_frame(&mut reader).unwrap().unwrap(), b"three");
        assert!(read_frame(&mut reader).unwrap().is_none());
    }

    #[test]
    fn a_cut_inside_a_frame_is_truncation() {
        let bytes = stream(&[b"payload"]);
        for cut in 6..bytes.len() {
            let mut reader = &bytes[..cut];
            read_preamble(&mut reader).unwrap();
            assert!(
                matches!(read_frame(&mut reader), Err(FrameError::Truncated { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_reading_the_payload() {
        let length = (MAX_FRAME_BYTES as u32 + 1).to_le_bytes();
        let mut reader = length.as_slice();
        assert!(matches!(
            read_frame(&mut reader),
            Err(FrameError::TooLong { length, .. }) if length == MAX_FRAME_BYTES as u64 + 1
        ));
        let mut sink = Vec::new();
        let error = write_frame(&mut sink, &vec![0; MAX_FRAME_BYTES + 1]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(sink.is_empty());
    }

    #[test]
    fn an_http_request_is_not_a_peer_stream() {
        let mut reader: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        assert!(matches!(
            read_preamble(&mut reader),
            Err(FrameError::BadPreamble { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut reader = bytes.as_slice();
            let _ = read_preamble(&mut reader);
            for _ in 0..8 {
                if !matches!(read_frame(&mut reader), Ok(Some(_))) {
                    break;
                }
            }
        }
    }
}
