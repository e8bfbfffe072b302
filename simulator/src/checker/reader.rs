//! What the history readers share: errors that point at a line and column, and file reading.

use std::fmt;
use std::path::{Path, PathBuf};

/// A malformed line, with the 1-based line and column (in characters) where it goes wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl ParseError {
    pub fn new(line: usize, column: usize, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            column,
            reason: reason.into(),
        }
    }
}

/// A history file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{}:{}: {}", path.display(), error.line, error.column, error.reason)]
    Parse { path: PathBuf, error: ParseError },
}

/// Reads `path` and parses it with `parse`, naming the file in any error.
pub fn read_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|error| ReadError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// A cursor over one line that knows its column.
pub(crate) struct LineScanner<'a> {
    line_number: usize,
    text: &'a str,
    /// Byte offset into `text`.
    /// Invariant: on a character boundary.
    offset: usize,
}

impl<'a> LineScanner<'a> {
    pub(crate) fn new(line_number: usize, text: &'a str) -> Self {
        LineScanner {
            line_number,
            text,
            offset: 0,
        }
    }

    /// The 1-based column of the next character.
    pub(crate) fn column(&self) -> usize {
        self.text[..self.offset].chars().count() + 1
    }

    pub(crate) fn error_here(&self, reason: impl fmt::Display) -> ParseError {
        ParseError::new(self.line_number, self.column(), reason.to_string())
    }

    pub(crate) fn error_at(&self, column: usize, reason: impl fmt::Display) -> ParseError {
        ParseError::new(self.line_number, column, reason.to_string())
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.offset..]
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.offset += next.len_utf8();
        Some(next)
    }

    pub(crate) fn skip_while(&mut self, mut keep_going: impl FnMut(char) -> bool) {
        while let Some(next) = self.peek() {
            if !keep_going(next) {
                break;
            }
            self.bump();
        }
    }

    /// Takes the characters up to the next one for which `stop` holds, returning them and the
    /// column they started at.
    pub(crate) fn take_until(&mut self, mut stop: impl FnMut(char) -> bool) -> (&'a str, usize) {
        let column = self.column();
        let start = self.offset;
        self.skip_while(|next| !stop(next));
        (&self.text[start..self.offset], column)
    }

    pub(crate) fn is_at_end(&self) -> bool {
        self.offset == self.text.len()
    }
}
