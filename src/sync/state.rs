//! The sync state, which is also its write-ahead journal: external_id → contact id and a
//! digest of each field as last sent. One JSON line per event, appended (one write call each)
//! before the next step: a request is recorded as sent before it goes out and its outcome
//! after, so a run cut short by a crash, Ctrl-C or SIGKILL leaves exactly the rows whose
//! outcome is unknown, which the next run looks up before sending anything for them.
//!
//! No field value is kept: digests are salted (a random salt per state file), so the file
//! holds external ids, contact ids and digests only. It is still created 0600, in a directory
//! that is not world-writable, and locked while a sync runs.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{CliError, Result};

/// Field name → digest of its value.
pub type Digests = BTreeMap<String, String>;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Ev {
    /// First line: the format version and the salt of the digests.
    Header,
    /// A confirmed contact: its id and the digests of what it holds (a compacted state).
    Entry,
    /// Seeded from an import report: the id is known, what the contact holds is not.
    Adopt,
    SentCreate,
    SentUpdate,
    Created,
    Updated,
    /// The API refused the request or failed (it did not act): safe to send again.
    Failed,
    /// Sent, and no answer: the pending request stays pending.
    Unknown,
    /// A pending row looked up and found: its id and the digests of the server's values.
    Found,
    /// A pending create looked up and certainly not there.
    Absent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub ev: Ev,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<Digests>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

impl Line {
    pub fn new(ev: Ev, external_id: &str) -> Line {
        Line {
            ev,
            x: Some(external_id.to_string()),
            id: None,
            d: None,
            status: None,
            v: None,
            salt: None,
        }
    }
}

/// A request sent whose outcome is not recorded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub create: bool,
    pub d: Digests,
}

/// What the state knows of one external id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub id: Option<String>,
    /// None: adopted, what the contact holds is unknown.
    pub d: Option<Digests>,
    pub pending: Option<Pending>,
}

pub struct State {
    path: PathBuf,
    salt: String,
    pub known: HashMap<String, Known>,
    /// Open for appending (None in a dry run, which writes nothing).
    file: Option<File>,
    /// Held while the run lasts: one sync per state file at a time.
    _lock: Option<File>,
}

impl State {
    /// Open (or create) the state for a run: the directory checked, the lock taken, what
    /// earlier runs recorded read back.
    pub fn open(path: &Path) -> Result<State> {
        prepare_dir(path)?;
        let lock = take_lock(path)?;
        let mut file = open_private(path)?;
        let (salt, known) = read_lines(&file, path)?;
        if salt.is_none() {
            // Empty, or only a header torn by a crash: start afresh.
            file.set_len(0)
                .map_err(|e| io_error("cannot repair", path, e))?;
        }
        crate::private_file::end_torn_line(&mut file)
            .map_err(|e| io_error("cannot repair", path, e))?;
        let mut state = State {
            path: path.to_path_buf(),
            salt: salt.clone().unwrap_or_else(new_salt),
            known,
            file: Some(file),
            _lock: Some(lock),
        };
        if salt.is_none() {
            let header = Line {
                v: Some(VERSION),
                salt: Some(state.salt.clone()),
                x: None,
                ..Line::new(Ev::Header, "")
            };
            state.record(&header)?;
        }
        Ok(state)
    }

    /// Read an existing state without creating or locking anything (`--dry-run`).
    pub fn peek(path: &Path) -> Result<State> {
        let (salt, known) = match File::open(path) {
            Ok(file) => read_lines(&file, path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, HashMap::new()),
            Err(e) => return Err(io_error("cannot read", path, e)),
        };
        Ok(State {
            path: path.to_path_buf(),
            salt: salt.unwrap_or_else(new_salt),
            known,
            file: None,
            _lock: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The digest of one field's value, salted with this state's salt.
    pub fn digest(&self, field: &str, value: &Value) -> String {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update([0]);
        h.update(field.as_bytes());
        h.update([0]);
        h.update(value.to_string().as_bytes());
        h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The digests of these fields of a contact.
    pub fn digests<'a>(
        &self,
        contact: &Map<String, Value>,
        fields: impl IntoIterator<Item = &'a String>,
    ) -> Digests {
        fields
            .into_iter()
            .filter_map(|f| contact.get(f).map(|v| (f.clone(), self.digest(f, v))))
            .collect()
    }

    /// Append one line, in a single write, then apply it.
    pub fn record(&mut self, line: &Line) -> Result<()> {
        if let Some(file) = &mut self.file {
            let mut bytes = serde_json::to_vec(line).unwrap_or_default();
            bytes.push(b'\n');
            file.write_all(&bytes)
                .map_err(|e| io_error("cannot write", &self.path, e))?;
        }
        apply(&mut self.known, line);
        Ok(())
    }

    /// Rewrite the file as one line per contact (and its pending request), atomically, so
    /// it does not grow run after run.
    pub fn compact(&mut self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut temp = tempfile::Builder::new()
            .prefix(".hsm-sync-")
            .tempfile_in(dir)
            .map_err(|e| io_error("cannot compact", &self.path, e))?;
        let mut text = serde_json::to_string(&Line {
            v: Some(VERSION),
            salt: Some(self.salt.clone()),
            x: None,
            ..Line::new(Ev::Header, "")
        })
        .unwrap_or_default();
        text.push('\n');
        let mut ids: Vec<&String> = self.known.keys().collect();
        ids.sort();
        for x in ids {
            for line in lines_for(x, &self.known[x]) {
                text.push_str(&serde_json::to_string(&line).unwrap_or_default());
                text.push('\n');
            }
        }
        let written = temp
            .write_all(text.as_bytes())
            .and_then(|_| temp.as_file().sync_all());
        written.map_err(|e| io_error("cannot compact", &self.path, e))?;
        // tempfile creates the file 0600 already.
        let file = temp
            .persist(&self.path)
            .map_err(|e| io_error("cannot compact", &self.path, e.error))?;
        drop(file);
        self.file = Some(open_private(&self.path)?);
        Ok(())
    }
}

/// The lines that recreate one contact's state.
fn lines_for(x: &str, known: &Known) -> Vec<Line> {
    let mut lines = Vec::new();
    if let Some(id) = &known.id {
        let ev = if known.d.is_some() {
            Ev::Entry
        } else {
            Ev::Adopt
        };
        lines.push(Line {
            id: Some(id.clone()),
            d: known.d.clone(),
            ..Line::new(ev, x)
        });
    }
    if let Some(p) = &known.pending {
        let ev = if p.create {
            Ev::SentCreate
        } else {
            Ev::SentUpdate
        };
        lines.push(Line {
            d: Some(p.d.clone()),
            ..Line::new(ev, x)
        });
    }
    lines
}

/// What one line does to the state.
pub fn apply(known: &mut HashMap<String, Known>, line: &Line) {
    let Some(x) = &line.x else { return };
    let d = || line.d.clone().unwrap_or_default();
    match line.ev {
        Ev::Header => {}
        Ev::Entry | Ev::Found => {
            let k = known.entry(x.clone()).or_default();
            k.id = line.id.clone();
            k.d = Some(d());
            k.pending = None;
        }
        Ev::Adopt => {
            let k = known.entry(x.clone()).or_default();
            if k.id.is_none() {
                k.id = line.id.clone();
                k.d = None;
            }
        }
        Ev::SentCreate | Ev::SentUpdate => {
            known.entry(x.clone()).or_default().pending = Some(Pending {
                create: line.ev == Ev::SentCreate,
                d: d(),
            });
        }
        Ev::Created | Ev::Updated => {
            let k = known.entry(x.clone()).or_default();
            if let Some(p) = k.pending.take() {
                if line.ev == Ev::Created {
                    k.id = line.id.clone();
                    k.d = Some(p.d);
                } else {
                    k.d.get_or_insert_with(Digests::new).extend(p.d);
                }
            }
        }
        Ev::Failed | Ev::Absent => {
            if let Some(k) = known.get_mut(x) {
                k.pending = None;
                if k.id.is_none() {
                    known.remove(x);
                }
            }
        }
        Ev::Unknown => {}
    }
}

fn read_lines(file: &File, path: &Path) -> Result<(Option<String>, HashMap<String, Known>)> {
    let mut text = String::new();
    BufReader::new(file)
        .read_to_string(&mut text)
        .map_err(|e| io_error("cannot read", path, e))?;
    let mut salt = None;
    let mut known = HashMap::new();
    for raw in text.split_inclusive('\n') {
        if raw.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Line>(raw);
        match (&salt, parsed) {
            (None, Ok(line)) if line.ev == Ev::Header && line.v == Some(VERSION) => {
                salt = line.salt.clone();
            }
            // A line cut short by a crash is ignored: a `sent` line is whole before its
            // request goes out, so a torn one was never sent; a torn outcome leaves the row
            // pending. Before the header, only a torn header (the very first write) is.
            (None, Err(_)) if !raw.ends_with('\n') => {}
            (None, _) => return Err(not_a_state(path)),
            (Some(_), Ok(line)) => apply(&mut known, &line),
            (Some(_), Err(_)) => {}
        }
    }
    Ok((salt, known))
}

fn not_a_state(path: &Path) -> CliError {
    CliError::usage(format!(
        "{} is not an hsm sync state (version {VERSION})",
        path.display()
    ))
    .with_hint("name another file with --state, or move this one away")
}

fn new_salt() -> String {
    (0..32)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::usage(format!("{what} sync state {}: {e}", path.display()))
}

/// Create the state's directory (0700) if needed; refuse one that anyone may write to.
fn prepare_dir(path: &Path) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| io_error("cannot create the directory of", path, e))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&dir)
            .map_err(|e| io_error("cannot inspect the directory of", path, e))?;
        if meta.permissions().mode() & 0o002 != 0 {
            return Err(CliError::usage(format!(
                "refusing to keep the sync state in {}: anyone can write to that directory",
                dir.display()
            ))
            .with_hint("the state lists your contacts: choose a private directory with --state"));
        }
    }
    Ok(dir)
}

/// The state file, private (see `private_file`).
fn open_private(path: &Path) -> Result<File> {
    crate::private_file::open_append(path).map_err(|e| io_error("cannot open", path, e))
}

/// `STATE.lock`, held for the run: a second sync on the same state stops at once.
fn take_lock(path: &Path) -> Result<File> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&lock_path)
        .map_err(|e| io_error("cannot lock", path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::usage(format!(
            "another `hsm contacts sync` is using {}",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error("cannot lock", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digests(pairs: &[(&str, &str)]) -> Digests {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn line(ev: Ev, x: &str, id: Option<&str>, d: Option<Digests>) -> Line {
        Line {
            id: id.map(str::to_string),
            d,
            ..Line::new(ev, x)
        }
    }

    #[test]
    fn the_journal_survives_a_reopen_a_torn_line_and_a_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s").join("state.jsonl");
        {
            let mut s = State::open(&path).unwrap();
            let d = digests(&[("first_name", "a"), ("zip", "b")]);
            let zip = digests(&[("zip", "c")]);
            s.record(&line(Ev::SentCreate, "A", None, Some(d.clone())))
                .unwrap();
            s.record(&line(Ev::Created, "A", Some("c1"), None)).unwrap();
            s.record(&line(Ev::SentUpdate, "A", None, Some(zip)))
                .unwrap();
            s.record(&line(Ev::SentCreate, "B", None, Some(d))).unwrap();
            s.record(&line(Ev::SentCreate, "C", None, Some(Digests::new())))
                .unwrap();
            s.record(&Line::new(Ev::Failed, "C")).unwrap();
        }
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"ev\":\"updated\",\"x\":\"A")
            .unwrap();
        let mut s = State::open(&path).unwrap();
        let a = &s.known["A"];
        assert_eq!(a.id.as_deref(), Some("c1"));
        assert_eq!(a.d.as_ref().unwrap()["zip"], "b");
        assert!(a.pending.as_ref().is_some_and(|p| !p.create));
        assert!(s.known["B"].pending.as_ref().is_some_and(|p| p.create));
        assert!(!s.known.contains_key("C"), "a failed create leaves nothing");
        s.record(&Line::new(Ev::Updated, "A")).unwrap();
        s.compact().unwrap();
        drop(s);
        let s = State::open(&path).unwrap();
        assert_eq!(s.known["A"].d.as_ref().unwrap()["zip"], "c");
        assert!(s.known["A"].pending.is_none());
        assert!(s.known["B"].pending.is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn digests_are_salted_per_state_and_a_second_run_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let a = State::open(&dir.path().join("a.jsonl")).unwrap();
        let b = State::open(&dir.path().join("b.jsonl")).unwrap();
        let v = json!("94103");
        assert_eq!(a.digest("zip", &v), a.digest("zip", &v));
        assert_ne!(a.digest("zip", &v), b.digest("zip", &v));
        assert_ne!(a.digest("zip", &v), a.digest("city", &v));
        assert!(State::open(&dir.path().join("a.jsonl")).is_err());
        let report = dir.path().join("r.jsonl");
        std::fs::write(
            &report,
            "{\"row\":1,\"status\":\"created\"}\n{\"ev\":\"created\",\"x\":\"A\"}\n",
        )
        .unwrap();
        assert!(State::peek(&report).is_err());
    }
}
