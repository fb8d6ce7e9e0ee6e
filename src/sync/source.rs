//! The sync's input, read twice (validate, then send): a regular file is opened again; stdin
//! or a pipe is copied first into an unnamed temp file (0600, gone when hsm exits however it
//! exits), up to a bound.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use crate::error::{CliError, Result};
use crate::rows::{self, Format, Rows};

/// The most a sync reads from stdin or a pipe: far beyond any CRM export, short of filling a
/// disk with an endless stream.
const MAX_SPOOLED: u64 = 4 * 1024 * 1024 * 1024;

pub enum Source {
    File(String, Format),
    Spooled(File, Format),
}

impl Source {
    pub fn open(path: &str, format: Format) -> Result<Source> {
        let regular = path != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_file());
        if regular {
            return Ok(Source::File(path.to_string(), format));
        }
        let mut input = rows::open(path)?.take(MAX_SPOOLED + 1);
        let mut spool = tempfile::tempfile()
            .map_err(|e| CliError::usage(format!("cannot buffer `{path}`: {e}")).with_cause(&e))?;
        let copied = std::io::copy(&mut input, &mut spool)
            .map_err(|e| CliError::usage(format!("cannot read `{path}`: {e}")).with_cause(&e))?;
        if copied > MAX_SPOOLED {
            return Err(CliError::usage(format!(
                "`{path}` is larger than {} GiB; save it to a file and sync the file",
                MAX_SPOOLED >> 30
            )));
        }
        Ok(Source::Spooled(spool, format))
    }

    /// The rows, from the start.
    pub fn rows(&self) -> Result<Rows> {
        match self {
            Source::File(path, format) => Rows::new(rows::open(path)?, *format),
            Source::Spooled(file, format) => {
                let mut again = file
                    .try_clone()
                    .map_err(|e| CliError::usage(format!("cannot read the input again: {e}")))?;
                again
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| CliError::usage(format!("cannot read the input again: {e}")))?;
                Rows::new(Box::new(again), *format)
            }
        }
    }
}
