//! The file's own line numbers for CSV records. The csv crate's `Position::line` is off by
//! one for CRLF files (BurntSushi/rust-csv#395), which Excel and most CRM exports write, so
//! hsm counts line breaks itself as the bytes go by, and turns a record's byte offset
//! (which the csv crate gets right) into a line.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

/// Shared between the reader that sees the bytes and the code that asks for lines.
#[derive(Clone, Default)]
pub struct LineIndex(Rc<RefCell<Breaks>>);

#[derive(Default)]
struct Breaks {
    /// Offsets of line breaks read but not yet passed by a query. Holds only what the csv
    /// reader has buffered ahead of the record asked about, so memory stays bounded.
    pending: VecDeque<u64>,
    /// Line breaks before every offset asked about so far.
    passed: u64,
    /// Bytes read so far.
    offset: u64,
    /// The last byte read was `\r`: a `\n` now ends the same line (CRLF).
    after_cr: bool,
}

impl LineIndex {
    /// `input`, read through this index.
    pub fn wrap(&self, input: Box<dyn Read>) -> Box<dyn Read> {
        Box::new(Counting {
            inner: input,
            index: self.clone(),
        })
    }

    /// The 1-based line on which the byte at `offset` lies. Offsets must not go backwards.
    pub fn line_at(&self, offset: u64) -> u64 {
        let mut breaks = self.0.borrow_mut();
        while breaks.pending.front().is_some_and(|&b| b < offset) {
            breaks.pending.pop_front();
            breaks.passed += 1;
        }
        breaks.passed + 1
    }
}

struct Counting {
    inner: Box<dyn Read>,
    index: LineIndex,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut breaks = self.index.0.borrow_mut();
        for &byte in &buf[..n] {
            // A line ends at `\n`, `\r\n` (counted at the `\r`) or a lone `\r`, as the csv
            // crate reads them.
            let is_break = byte == b'\r' || (byte == b'\n' && !breaks.after_cr);
            if is_break {
                let at = breaks.offset;
                breaks.pending.push_back(at);
            }
            breaks.after_cr = byte == b'\r';
            breaks.offset += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &str, offsets: &[u64]) -> Vec<u64> {
        let index = LineIndex::default();
        let mut reader = index.wrap(Box::new(std::io::Cursor::new(text.to_string())));
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        offsets.iter().map(|&o| index.line_at(o)).collect()
    }

    #[test]
    fn lf_crlf_and_lone_cr_each_end_one_line() {
        assert_eq!(lines_of("a\nb\nc", &[0, 2, 4]), [1, 2, 3]);
        assert_eq!(lines_of("a\r\nb\r\nc", &[0, 3, 6]), [1, 2, 3]);
        assert_eq!(lines_of("a\rb\rc", &[0, 2, 4]), [1, 2, 3]);
        assert_eq!(lines_of("a\n\nb", &[3]), [3]);
    }
}
