//! The primitives of postcard's format, written by hand: varints, bools, option tags, and
//! length-prefixed byte strings and sequences.
//!
//! The rules follow postcard 1.1's specification and its `de/deserializer.rs` (read, not
//! copied): an unsigned integer is a LEB128 varint, low group first, at most 10 bytes for a
//! `u64`, and a 10th byte above `0x01` is rejected; a bool and an option tag are one byte, 0 or
//! 1; a byte string or a sequence is its length as a varint, then the bytes or the items.
//!
//! One deliberate difference: postcard accepts a varint padded with zero groups (`0x80 0x00`
//! for 0); the [`Reader`] rejects it, so that every value has exactly one byte representation.
//! postcard's encoder never writes one.

use super::{CodecError, FieldProblem};

/// The most bytes a `u64` varint takes: ceil(64 / 7).
pub(super) const VARINT_U64_MAX_BYTES: usize = 10;

/// The largest value of the 10th byte of a `u64` varint: the one bit left of the 64.
const VARINT_U64_LAST_BYTE_MAX: u8 = 0x01;

/// The continuation bit of a varint byte: more groups follow.
const VARINT_CONTINUATION: u8 = 0x80;

/// How many bytes a [`Writer`] assembles on the stack before it appends them to its output:
/// room for a whole message without entries or snapshot (94 bytes at most with the version
/// byte), so that a heartbeat reaches the output in one copy.
const SCRATCH_BYTES: usize = 96;

/// Appends values in postcard's format to a `Vec`. Runs of small fields are assembled in a
/// stack buffer and appended in one copy: pushing byte by byte would check the `Vec`'s
/// capacity and store its length at every byte. The buffer lives outside the struct (see
/// [`encode_into`]) so that the compiler can keep `scratch_length` in a register.
pub(super) struct Writer<'o, 's> {
    out: &'o mut Vec<u8>,
    scratch: &'s mut [u8; SCRATCH_BYTES],
    /// Invariant: `scratch_length <= SCRATCH_BYTES`.
    scratch_length: usize,
}

/// Appends what `write` writes to `out`.
#[inline(always)]
pub(super) fn encode_into(out: &mut Vec<u8>, write: impl FnOnce(&mut Writer<'_, '_>)) {
    let mut scratch = [0; SCRATCH_BYTES];
    let mut writer = Writer {
        out,
        scratch: &mut scratch,
        scratch_length: 0,
    };
    write(&mut writer);
    writer.flush();
}

impl Writer<'_, '_> {
    /// Appends the scratch buffer to the output.
    #[inline(always)]
    fn flush(&mut self) {
        self.out
            .extend_from_slice(&self.scratch[..self.scratch_length]);
        self.scratch_length = 0;
    }

    /// Makes room for `bytes` more in the scratch buffer.
    #[inline(always)]
    fn reserve_scratch(&mut self, bytes: usize) {
        if self.scratch_length + bytes > SCRATCH_BYTES {
            self.flush();
        }
    }

    /// Appends a varint.
    #[inline(always)]
    pub(super) fn varint(&mut self, value: u64) {
        self.reserve_scratch(VARINT_U64_MAX_BYTES);
        if value < u64::from(VARINT_CONTINUATION) {
            self.scratch[self.scratch_length] = value as u8;
            self.scratch_length += 1;
        } else {
            self.varint_multibyte(value);
        }
    }

    /// Appends a varint of two bytes or more; the caller has made room for ten.
    #[inline(always)]
    fn varint_multibyte(&mut self, mut value: u64) {
        let mut length = self.scratch_length;
        while value >= u64::from(VARINT_CONTINUATION) {
            self.scratch[length] = value as u8 | VARINT_CONTINUATION;
            value >>= 7;
            length += 1;
        }
        self.scratch[length] = value as u8;
        self.scratch_length = length + 1;
    }

    /// Appends one byte (the version byte).
    #[inline(always)]
    pub(super) fn byte(&mut self, byte: u8) {
        self.reserve_scratch(1);
        self.scratch[self.scratch_length] = byte;
        self.scratch_length += 1;
    }

    /// Appends a bool (or an option tag) as one byte, 0 or 1.
    #[inline(always)]
    pub(super) fn bool(&mut self, value: bool) {
        self.byte(u8::from(value));
    }

    /// Appends a length-prefixed byte string.
    #[inline(always)]
    pub(super) fn bytes(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        if !bytes.is_empty() {
            self.flush();
            self.out.extend_from_slice(bytes);
        }
    }

    /// Appends a length-prefixed sequence of varints.
    #[inline(always)]
    pub(super) fn varints(&mut self, values: &[u64]) {
        self.varint(values.len() as u64);
        for &value in values {
            self.varint(value);
        }
    }
}

/// The error of a [`Reader`] read. The [`CodecError`] itself waits in the slot that
/// [`decode_whole`] owns: a read's result is then a word or two that travels in registers,
/// where a `Result` carrying the error would be copied through memory at every field.
#[derive(Debug)]
pub(super) struct Stopped;

/// A cursor over an encoded value. Every read names the field it reads, so that an error says
/// which field was bad and where it started (the offset counts the version byte).
///
/// Nothing takes the reader's address out of line (slow paths are free functions), so that
/// the compiler keeps `position` in a register through a whole message.
pub(super) struct Reader<'a, 'e> {
    /// The whole input, version byte included.
    input: &'a [u8],
    /// Where the next read starts. Invariant: `1 <= position <= input.len()`.
    position: usize,
    /// Why the read stopped, once a read has returned [`Stopped`].
    error: &'e mut Option<CodecError>,
}

/// Decodes `input` (version byte first) with `read`, and rejects trailing bytes.
#[inline(always)]
pub(super) fn decode_whole<'a, T>(
    input: &'a [u8],
    read: impl FnOnce(&mut Reader<'a, '_>) -> Result<T, Stopped>,
) -> Result<T, CodecError> {
    let (value, end) = decode_prefix(input, read)?;
    if end == input.len() {
        Ok(value)
    } else {
        Err(CodecError::TrailingBytes {
            offset: end,
            count: input.len() - end,
        })
    }
}

/// Decodes the start of `input` (version byte first) with `read`; returns the value and where
/// it ended.
#[inline(always)]
pub(super) fn decode_prefix<'a, T>(
    input: &'a [u8],
    read: impl FnOnce(&mut Reader<'a, '_>) -> Result<T, Stopped>,
) -> Result<(T, usize), CodecError> {
    match input.first() {
        Some(&super::CODEC_VERSION) => {}
        Some(&found) => return Err(CodecError::UnsupportedVersion { found }),
        None => return Err(CodecError::Empty),
    }
    let mut error = None;
    let mut reader = Reader {
        input,
        position: 1,
        error: &mut error,
    };
    match read(&mut reader) {
        Ok(value) => Ok((value, reader.position)),
        Err(Stopped) => Err(error.expect("a read returned `Stopped` without recording why")),
    }
}

/// Records in `slot` that `field`, starting at `offset`, has `problem`.
#[cold]
#[inline(never)]
fn stop(
    slot: &mut Option<CodecError>,
    offset: usize,
    field: &'static str,
    problem: FieldProblem,
) -> Stopped {
    *slot = Some(CodecError::MalformedField {
        field,
        offset,
        problem,
    });
    Stopped
}

/// Reads a varint of any length (in practice three bytes or more: shorter ones take the
/// inline paths) from the start of `rest`: its value and its length.
#[inline(never)]
fn varint_from_three_bytes(rest: &[u8]) -> Result<(u64, usize), FieldProblem> {
    let mut value = 0u64;
    for (group, &byte) in rest.iter().take(VARINT_U64_MAX_BYTES).enumerate() {
        value |= u64::from(byte & !VARINT_CONTINUATION) << (7 * group);
        if byte & VARINT_CONTINUATION == 0 {
            if group == VARINT_U64_MAX_BYTES - 1 && byte > VARINT_U64_LAST_BYTE_MAX {
                return Err(FieldProblem::VarintOverflow);
            }
            if group > 0 && byte == 0 {
                return Err(FieldProblem::NonCanonicalVarint);
            }
            return Ok((value, group + 1));
        }
    }
    if rest.len() >= VARINT_U64_MAX_BYTES {
        Err(FieldProblem::VarintOverflow)
    } else {
        Err(FieldProblem::Truncated)
    }
}

impl<'a> Reader<'a, '_> {
    /// The bytes not read yet.
    #[inline(always)]
    fn rest(&self) -> &'a [u8] {
        &self.input[self.position..]
    }

    /// Records that `field`, starting at `offset`, has `problem`.
    #[inline(always)]
    fn stop_at(&mut self, offset: usize, field: &'static str, problem: FieldProblem) -> Stopped {
        stop(self.error, offset, field, problem)
    }

    /// Reads a varint `u64`.
    #[inline(always)]
    pub(super) fn varint(&mut self, field: &'static str) -> Result<u64, Stopped> {
        // Most values on the wire (ids, terms, flags, empty lengths) fit one byte, and most
        // of the rest (indexes, lengths below 16 KiB) two.
        match self.input.get(self.position) {
            Some(&first) if first < VARINT_CONTINUATION => {
                self.position += 1;
                Ok(u64::from(first))
            }
            _ => self.varint_multibyte(field),
        }
    }

    #[inline(always)]
    fn varint_multibyte(&mut self, field: &'static str) -> Result<u64, Stopped> {
        let rest = self.rest();
        if let [first, second, ..] = *rest {
            if second < VARINT_CONTINUATION && second != 0 {
                self.position += 2;
                return Ok(u64::from(first & !VARINT_CONTINUATION) | u64::from(second) << 7);
            }
        }
        match varint_from_three_bytes(rest) {
            Ok((value, length)) => {
                self.position += length;
                Ok(value)
            }
            Err(problem) => Err(self.stop_at(self.position, field, problem)),
        }
    }

    /// Reads one byte that must be 0 or 1; `invalid` describes any other value.
    #[inline(always)]
    fn zero_or_one(
        &mut self,
        field: &'static str,
        invalid: fn(u8) -> FieldProblem,
    ) -> Result<bool, Stopped> {
        match self.input.get(self.position) {
            Some(&byte @ (0 | 1)) => {
                self.position += 1;
                Ok(byte == 1)
            }
            Some(&byte) => Err(self.stop_at(self.position, field, invalid(byte))),
            None => Err(self.stop_at(self.position, field, FieldProblem::Truncated)),
        }
    }

    /// Reads a bool.
    #[inline(always)]
    pub(super) fn bool(&mut self, field: &'static str) -> Result<bool, Stopped> {
        self.zero_or_one(field, |byte| FieldProblem::InvalidBool { byte })
    }

    /// Reads an option tag: true when a value follows.
    #[inline(always)]
    pub(super) fn option_tag(&mut self, field: &'static str) -> Result<bool, Stopped> {
        self.zero_or_one(field, |byte| FieldProblem::InvalidOptionTag { byte })
    }

    /// Reads an enum discriminant and maps it with `variant`, which returns `None` for an
    /// index the enum does not have.
    #[inline(always)]
    pub(super) fn discriminant<T>(
        &mut self,
        field: &'static str,
        variant: fn(u64) -> Option<T>,
    ) -> Result<T, Stopped> {
        let start = self.position;
        let discriminant = self.varint(field)?;
        match variant(discriminant) {
            Some(value) => Ok(value),
            None => Err(self.stop_at(start, field, FieldProblem::UnknownVariant { discriminant })),
        }
    }

    /// Reads a length-prefixed byte string, borrowed from the input.
    #[inline(always)]
    pub(super) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], Stopped> {
        let start = self.position;
        let length = self.varint(field)?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| self.position.checked_add(length));
        match end.and_then(|end| Some((end, self.input.get(self.position..end)?))) {
            Some((end, bytes)) => {
                self.position = end;
                Ok(bytes)
            }
            None => Err(self.stop_at(
                start,
                field,
                FieldProblem::LengthExceedsInput {
                    length,
                    remaining: self.input.len() - self.position,
                },
            )),
        }
    }

    /// Reads a sequence's item count, refusing a count that the rest of the input cannot hold
    /// when each item takes at least `min_bytes_each`: the caller may then allocate room for
    /// that many items, and no input makes it allocate more than in proportion to its size.
    #[inline(always)]
    pub(super) fn count(
        &mut self,
        field: &'static str,
        min_bytes_each: usize,
    ) -> Result<usize, Stopped> {
        let start = self.position;
        let count = self.varint(field)?;
        let remaining = self.input.len() - self.position;
        match usize::try_from(count) {
            Ok(count) if count <= remaining / min_bytes_each => Ok(count),
            _ => Err(self.stop_at(
                start,
                field,
                FieldProblem::CountExceedsInput {
                    count,
                    min_bytes_each,
                    remaining,
                },
            )),
        }
    }

    /// Reads a length-prefixed sequence of varints.
    #[inline(always)]
    pub(super) fn varints(&mut self, field: &'static str) -> Result<Vec<u64>, Stopped> {
        let count = self.count(field, 1)?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(self.varint(field)?);
        }
        Ok(values)
    }

    /// Checks a length-prefixed sequence of varints without keeping it.
    #[inline(always)]
    pub(super) fn skip_varints(&mut self, field: &'static str) -> Result<(), Stopped> {
        let count = self.count(field, 1)?;
        for _ in 0..count {
            self.varint(field)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_varint(body: &[u8]) -> Result<u64, CodecError> {
        let mut input = vec![super::super::CODEC_VERSION];
        input.extend_from_slice(body);
        decode_whole(&input, |reader| reader.varint("value"))
    }

    fn problem(body: &[u8]) -> FieldProblem {
        match read_varint(body) {
            Err(CodecError::MalformedField { problem, .. }) => problem,
            other => panic!("{body:?} read as {other:?}"),
        }
    }

    #[test]
    fn varints_round_trip_at_every_group_boundary() {
        let mut values = vec![0, 1, u64::MAX];
        for shift in (7..64).step_by(7) {
            values.extend([(1u64 << shift) - 1, 1u64 << shift]);
        }
        for value in values {
            let mut out = Vec::new();
            encode_into(&mut out, |writer| writer.varint(value));
            let groups = (64 - (value | 1).leading_zeros() as usize).div_ceil(7);
            assert_eq!(out.len(), groups, "{value} took {out:?}");
            assert_eq!(read_varint(&out), Ok(value), "{value} as {out:?}");
        }
    }

    /// The scratch buffer flushes at every fill level: a run of ten-byte varints and a byte
    /// string after every possible number of one-byte fields writes the same bytes as
    /// postcard does, and never writes past the buffer.
    #[test]
    fn the_writer_flushes_at_every_fill_level() {
        for prefix_length in 0..2 * SCRATCH_BYTES {
            let mut out = Vec::new();
            encode_into(&mut out, |writer| {
                for _ in 0..prefix_length {
                    writer.byte(7);
                }
                for _ in 0..12 {
                    writer.varint(u64::MAX);
                }
                writer.bytes(b"abc");
            });
            let mut expected = vec![7; prefix_length];
            let reference = (vec![u64::MAX; 12], serde_bytes::Bytes::new(b"abc"));
            expected.extend(postcard::to_stdvec(&reference).unwrap());
            // postcard writes the vector's length first; the writer above wrote none.
            expected.remove(prefix_length);
            assert_eq!(out, expected, "after {prefix_length} one-byte fields");
        }
    }

    #[test]
    fn the_largest_varint_is_ten_bytes_ending_in_one() {
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(read_varint(&max), Ok(u64::MAX));
        max[9] = 0x02;
        assert_eq!(problem(&max), FieldProblem::VarintOverflow);
        max[9] = 0x81;
        max.push(0x00);
        assert_eq!(problem(&max), FieldProblem::VarintOverflow);
    }

    #[test]
    fn padded_and_cut_varints_are_rejected() {
        assert_eq!(problem(&[0x80, 0x00]), FieldProblem::NonCanonicalVarint);
        assert_eq!(
            problem(&[0xff, 0x80, 0x00]),
            FieldProblem::NonCanonicalVarint
        );
        assert_eq!(problem(&[0x80]), FieldProblem::Truncated);
        assert_eq!(problem(&[0xff; 9]), FieldProblem::Truncated);
        assert_eq!(problem(&[]), FieldProblem::Truncated);
    }
}
