//! Reading import rows one at a time (CSV with a header row, or JSON Lines), so memory stays
//! flat however long the file is.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

mod lines;

use crate::contact::input::{contact_from_json, field_for, value_from_text};
use crate::contact::schema::{self, FieldSpec, Mode};
use crate::error::{CliError, Result};

/// One data row: its 1-based number (header excluded) and the contact, or why it is invalid.
pub struct Row {
    pub number: u64,
    /// The line of the file where the row starts (1-based; a CSV header is line 1).
    pub line: u64,
    pub external_id: Option<String>,
    pub contact: std::result::Result<Map<String, Value>, String>,
}

/// How the rows are written: CSV with a header row of field names, or one JSON object a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// `--format`, else the file name's extension.
pub fn format_for(path: &str, explicit: Option<Format>) -> Result<Format> {
    if let Some(format) = explicit {
        return Ok(format);
    }
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Ok(Format::Csv)
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        Ok(Format::JsonLines)
    } else {
        Err(CliError::usage(format!(
            "cannot tell the format of `{path}`: name it .csv or .jsonl, or pass --format"
        )))
    }
}

pub fn open(path: &str) -> Result<Box<dyn Read>> {
    if path == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = File::open(path)
        .map_err(|e| CliError::usage(format!("cannot read `{path}`: {e}")).with_cause(&e))?;
    // A file, or a pipe (`<(...)`); never a device such as /dev/zero, which never ends.
    let kind = file.metadata().map(|m| m.file_type()).ok();
    if kind.is_some_and(|k| k.is_dir() || is_device(&k)) {
        return Err(CliError::usage(format!(
            "cannot read `{path}`: not a regular file or a pipe"
        )));
    }
    Ok(Box::new(file))
}

#[cfg(unix)]
fn is_device(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_char_device() || kind.is_block_device()
}

#[cfg(not(unix))]
fn is_device(_: &std::fs::FileType) -> bool {
    false
}

pub enum Rows {
    Csv {
        reader: csv::Reader<Box<dyn Read>>,
        columns: Vec<&'static FieldSpec>,
        record: csv::StringRecord,
        number: u64,
        lines: lines::LineIndex,
    },
    Json {
        reader: BufReader<Box<dyn Read>>,
        number: u64,
    },
}

impl Rows {
    /// Read the header now: an unknown column is an error for the whole file, before any
    /// row is sent.
    pub fn new(input: Box<dyn Read>, format: Format) -> Result<Rows> {
        match format {
            Format::JsonLines => Ok(Rows::Json {
                reader: BufReader::new(input),
                number: 0,
            }),
            Format::Csv => {
                let lines = lines::LineIndex::default();
                let mut reader = csv::ReaderBuilder::new()
                    .flexible(false)
                    .trim(csv::Trim::All)
                    .from_reader(lines.wrap(input));
                let headers = reader
                    .headers()
                    .map_err(|e| CliError::usage(format!("cannot read the CSV header: {e}")))?
                    .clone();
                let columns = csv_columns(&headers)?;
                Ok(Rows::Csv {
                    reader,
                    columns,
                    record: csv::StringRecord::new(),
                    number: 0,
                    lines,
                })
            }
        }
    }
}

impl Iterator for Rows {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        match self {
            Rows::Csv {
                reader,
                columns,
                record,
                number,
                lines,
            } => {
                // The line where a record starts, from its byte offset (see `lines`).
                let line_of = |position: Option<&csv::Position>, number: u64| {
                    position.map_or(number + 1, |p| lines.line_at(p.byte()))
                };
                match reader.read_record(record) {
                    Ok(false) => None,
                    Ok(true) => {
                        *number += 1;
                        let mut row = csv_row(*number, columns, record);
                        row.line = line_of(record.position(), *number);
                        Some(Ok(row))
                    }
                    // A row that is not UTF-8 is one invalid row; the file goes on.
                    Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                        *number += 1;
                        let line = line_of(e.position(), *number);
                        Some(Ok(invalid_row(*number, line, "the row is not UTF-8 text")))
                    }
                    Err(e) => Some(Err(CliError::usage(format!(
                        "CSV line {}: {e}",
                        line_of(e.position(), *number + 1)
                    )))),
                }
            }
            Rows::Json { reader, number } => loop {
                let line = match read_row_line(reader) {
                    Ok(Some(line)) => line,
                    Ok(None) => return None,
                    Err(e) => {
                        return Some(Err(CliError::usage(format!(
                            "cannot read line {}: {e}",
                            *number + 1
                        ))));
                    }
                };
                *number += 1;
                let text = match line {
                    RowLine::Text(text) => text,
                    RowLine::Invalid(why) => return Some(Ok(invalid_row(*number, *number, why))),
                };
                // A byte-order mark some editors put first is not part of the JSON.
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                if text.trim().is_empty() {
                    continue;
                }
                return Some(Ok(json_row(*number, text)));
            },
        }
    }
}

/// The longest row hsm reads: the API takes 1 MiB bodies.
const MAX_ROW_BYTES: u64 = crate::bounded::BODY;

enum RowLine {
    Text(String),
    /// A line that cannot be a row (too long, not UTF-8): invalid, and the file goes on.
    Invalid(&'static str),
}

/// One JSON Lines line, read with bounded memory: a longer line is skipped to its end.
fn read_row_line(reader: &mut impl BufRead) -> std::io::Result<Option<RowLine>> {
    let mut bytes = Vec::new();
    let n = reader
        .take(MAX_ROW_BYTES + 1)
        .read_until(b'\n', &mut bytes)?;
    if n == 0 {
        return Ok(None);
    }
    if bytes.last() != Some(&b'\n') && bytes.len() as u64 > MAX_ROW_BYTES {
        skip_line(reader)?;
        return Ok(Some(RowLine::Invalid("the line is longer than 1 MiB")));
    }
    Ok(Some(match String::from_utf8(bytes) {
        Ok(text) => RowLine::Text(text),
        Err(_) => RowLine::Invalid("the line is not UTF-8 text"),
    }))
}

/// Consume the rest of a line without keeping it.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = buf.len();
                reader.consume(len);
            }
        }
    }
}

fn invalid_row(number: u64, line: u64, why: &str) -> Row {
    Row {
        number,
        line,
        external_id: None,
        contact: Err(why.to_string()),
    }
}

fn csv_columns(headers: &csv::StringRecord) -> Result<Vec<&'static FieldSpec>> {
    let mut columns: Vec<&'static FieldSpec> = Vec::new();
    let mut unknown = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        match field_for(h) {
            Some(spec) => {
                let earlier = headers
                    .iter()
                    .take(i)
                    .position(|e| field_for(e).is_some_and(|other| other.name == spec.name));
                if let Some(j) = earlier {
                    let first = headers.get(j).unwrap_or_default();
                    return Err(CliError::usage(format!(
                        "CSV columns {} (`{first}`) and {} (`{h}`) are both the field `{}`",
                        j + 1,
                        i + 1,
                        spec.name
                    ))
                    .with_hint("keep one of them"));
                }
                columns.push(spec);
            }
            None => unknown.push(h.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(
            CliError::usage(format!("unknown CSV column(s): {}", unknown.join(", "))).with_hint(
                "columns are contact field names (external_id or external-id, first_name, ...)",
            ),
        );
    }
    Ok(columns)
}

fn csv_row(number: u64, columns: &[&'static FieldSpec], record: &csv::StringRecord) -> Row {
    let mut contact = Map::new();
    let mut problems = Vec::new();
    for (spec, cell) in columns.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        match value_from_text(spec, cell) {
            Ok(v) => {
                contact.insert(spec.name.to_string(), v);
            }
            Err(e) => problems.push(e),
        }
    }
    finish(number, contact, problems)
}

fn json_row(number: u64, line: &str) -> Row {
    match contact_from_json(line) {
        Ok(contact) => finish(number, contact, Vec::new()),
        Err(e) => Row {
            number,
            line: number,
            external_id: None,
            contact: Err(e),
        },
    }
}

fn finish(number: u64, mut contact: Map<String, Value>, mut problems: Vec<String>) -> Row {
    crate::contact::input::normalise(&mut contact);
    let external_id = contact
        .get("external_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    problems.extend(
        schema::validate(&contact, Mode::Create)
            .iter()
            .map(ToString::to_string),
    );
    let contact = if problems.is_empty() {
        Ok(contact)
    } else {
        Err(problems.join("; "))
    };
    // JSON Lines rows are numbered by line already; CSV rows get theirs from the reader.
    Row {
        number,
        line: number,
        external_id,
        contact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, format: Format) -> Vec<Row> {
        Rows::new(Box::new(std::io::Cursor::new(text.to_string())), format)
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn csv_headers_in_any_spelling_and_row_validation() {
        let r = rows(
            "External ID,first-name,last_name,zip\nA1,Ann,Lee,94103\nA2,Bo,Li,941\n",
            Format::Csv,
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].number, 1);
        assert_eq!((r[0].line, r[1].line), (2, 3));
        assert_eq!(r[0].contact.as_ref().unwrap()["zip"], "94103");
        assert_eq!(r[1].external_id.as_deref(), Some("A2"));
        assert!(r[1].contact.as_ref().unwrap_err().contains("zip"));
    }

    #[test]
    fn csv_lines_are_the_files_own_with_crlf_and_quoted_line_breaks() {
        for eol in ["\n", "\r\n"] {
            let text = format!(
                "external_id,first_name,last_name,birth_date{eol}C1,Ann,Lee,1950-01-01{eol}\
                 C2,\"Bob{eol}Jr{eol}\",Ray,1950-01-01{eol}C3,Cy,Ray,02/30/1950{eol}"
            );
            let r = rows(&text, Format::Csv);
            let lines: Vec<u64> = r.iter().map(|r| r.line).collect();
            assert_eq!(lines, [2, 3, 6], "{eol:?}");
            assert!(r[2].contact.is_err());
        }
    }

    #[test]
    fn unknown_csv_columns_fail_the_whole_file() {
        let err = Rows::new(
            Box::new(std::io::Cursor::new("external_id,shoe_size\n".to_string())),
            Format::Csv,
        )
        .err()
        .unwrap();
        assert!(err.message.contains("shoe_size"));
    }

    #[test]
    fn json_lines_skip_blanks_and_report_bad_json() {
        let r = rows(
            "{\"external_id\":\"A\",\"first_name\":\"x\",\"last_name\":\"y\"}\n\nnot json\n",
            Format::JsonLines,
        );
        assert_eq!(r.len(), 2);
        assert!(r[0].contact.is_ok());
        assert_eq!(r[1].number, 3);
        assert!(r[1].contact.is_err());
    }

    proptest::proptest! {
        /// Any input bytes, as CSV or JSON Lines: every row comes out valid, invalid or as an
        /// error, and the reader ends; no panic.
        #[test]
        fn any_input_bytes_are_read_to_the_end_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            header in proptest::sample::select(vec!["external_id,first_name,last_name,birth_date,zip,phone\n", "", "external_id\n"]),
        ) {
            for format in [Format::Csv, Format::JsonLines] {
                let mut input = header.as_bytes().to_vec();
                input.extend_from_slice(&bytes);
                if let Ok(rows) = Rows::new(Box::new(std::io::Cursor::new(input)), format) {
                    for row in rows.take(10_000) {
                        let _ = row;
                    }
                }
            }
        }

        /// Every field's text parser, on any text.
        #[test]
        fn any_cell_text_is_accepted_or_refused(text in proptest::prelude::any::<String>()) {
            for spec in crate::contact::schema::FIELDS {
                let _ = value_from_text(spec, &text);
            }
            let _ = crate::contact::schema::parse_date(&text);
            let _ = contact_from_json(&text);
        }
    }
}
