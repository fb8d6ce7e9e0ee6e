//! What `hsm ledger adopt FILE` reads: the files earlier versions of hsm kept, and the ledger's
//! own export. Pure readers (no ledger, no network), so the upgrade check can use them too.
//!
//! - An import report (`FILE.report.jsonl`): one line per event, `{"row":N,"external_id":..,
//!   "status":..,"contact_id":..}`. A row created (or found) is a contact with a known id; a
//!   row whose last word is `sent` or `unknown` may or may not exist: a pending create with no
//!   digests, looked up before anything is sent for it. Failed and invalid rows did nothing.
//! - A sync state (`sync/ENV.PROFILE.jsonl`): a header `{"ev":"header","v":1,"salt":..}`, then
//!   events keyed by `x` (the external id). Its digests were made under its own salt, which no
//!   ledger realm shares, so only ids and requests in flight are kept.
//! - An export (`hsm ledger export`): one [`Exported`] a line, digests kept with their salt.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Digests, Exported, Pending, Realm, RealmKey};
use crate::bounded;
use crate::error::{CliError, Result};

/// The longest line any of these formats writes is far below this.
const LINE_LIMIT: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    ImportReport,
    SyncState,
    Export,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::ImportReport => "an import report",
            Format::SyncState => "a sync state",
            Format::Export => "a ledger export",
        }
    }
}

/// One contact an old file knows of. `realm` is known only for an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub realm: Option<RealmKey>,
    pub external_id: String,
    pub contact_id: Option<String>,
    pub digests: Option<Digests>,
    pub salt: Option<String>,
    pub pending: Option<Pending>,
}

/// What an old file holds: its format, its contacts (in external-id order) and how many lines
/// could not be read (skipped).
#[derive(Debug, Clone)]
pub struct OldFile {
    pub format: Format,
    pub items: Vec<Item>,
    pub unreadable: u64,
}

/// Read an import report, a sync state or an export. A file of another kind, a directory or
/// a device is an error (exit 2); an empty file holds nothing.
pub fn read_old_file(path: &Path) -> Result<OldFile> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::usage(format!("cannot read {shown}: {e}")).with_cause(&e))?;
    if !meta.is_file() {
        return Err(CliError::usage(format!(
            "cannot read {shown}: not a regular file"
        )));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot read {shown}: {e}")).with_cause(&e))?;
    parse(std::io::BufReader::new(file)).map_err(|e| {
        let message = format!("{shown}: {e}");
        CliError::usage(message).with_hint(
            "adopt takes an import report (FILE.report.jsonl), a sync state of an earlier hsm, or the output of `hsm ledger export`; nothing was adopted",
        )
    })
}

/// True when `path` is a sync state of an earlier hsm (the sync's upgrade check).
pub fn is_old_sync_state(path: &Path) -> bool {
    sniff(path) == Some(Format::SyncState)
}

/// The format of a file from its first line (nothing more is read).
fn sniff(path: &Path) -> Option<Format> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut input = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    loop {
        let line = bounded::read_line(&mut input, LINE_LIMIT).ok()??;
        if !line.trim().is_empty() {
            return format_of(&line);
        }
    }
}

fn format_of(line: &str) -> Option<Format> {
    let Ok(Value::Object(first)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    if first.get("ev").and_then(Value::as_str) == Some("header") {
        Some(Format::SyncState)
    } else if first.get("row").is_some_and(Value::is_u64) && first.contains_key("status") {
        Some(Format::ImportReport)
    } else if first.contains_key("realm") && first.contains_key("external_id") {
        Some(Format::Export)
    } else {
        None
    }
}

/// Read one of the three formats from `input`, a line at a time (what is kept grows with the
/// contacts, not with the file); the error is a phrase (the caller names the file).
pub fn parse(mut input: impl BufRead) -> std::result::Result<OldFile, String> {
    let mut number = 0u64;
    let mut reader: Option<Reader> = None;
    // An unreadable line is counted once another follows it: the last one may be torn by a
    // crash mid-write, which is not damage.
    let mut torn = false;
    let mut unreadable = 0;
    loop {
        number += 1;
        let line = bounded::read_line(&mut input, LINE_LIMIT)
            .map_err(|e| format!("line {number}: {e}"))?;
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let reader = match &mut reader {
            Some(r) => r,
            None => {
                let format = format_of(&line).ok_or_else(|| {
                    format!(
                        "line {number} is not an import report, a sync state or a ledger export"
                    )
                })?;
                reader.insert(Reader::new(format, &line)?)
            }
        };
        if torn {
            unreadable += 1;
        }
        torn = !reader
            .line(&line)
            .map_err(|e| format!("line {number}: {e}"))?;
    }
    Ok(match reader {
        Some(r) => r.finish(unreadable),
        None => OldFile {
            format: Format::Export,
            items: Vec::new(),
            unreadable: 0,
        },
    })
}

enum Reader {
    Report(HashMap<u64, (String, RowState)>),
    State(BTreeMap<String, Known>),
    Export(Vec<Item>),
}

impl Reader {
    fn new(format: Format, first: &str) -> std::result::Result<Reader, String> {
        Ok(match format {
            Format::ImportReport => Reader::Report(HashMap::new()),
            Format::SyncState => {
                let header: StateLine = serde_json::from_str(first)
                    .map_err(|_| "its header cannot be read".to_string())?;
                if header.v != Some(1) {
                    return Err(format!(
                        "a sync state of version {}, which this hsm does not know",
                        header.v.map(|v| v.to_string()).unwrap_or_default()
                    ));
                }
                Reader::State(BTreeMap::new())
            }
            Format::Export => Reader::Export(Vec::new()),
        })
    }

    /// Take one line: false when it cannot be read (skipped); an error only for an export,
    /// which is read whole or not at all.
    fn line(&mut self, line: &str) -> std::result::Result<bool, String> {
        match self {
            Reader::Report(rows) => Ok(report_line(rows, line)),
            Reader::State(known) => Ok(state_line(known, line)),
            Reader::Export(items) => {
                let e: Exported = serde_json::from_str(line)
                    .map_err(|e| format!("not a ledger export line ({e})"))?;
                // A create that failed leaves a row with neither: nothing to adopt.
                if e.contact_id.is_some() || e.pending.is_some() {
                    items.push(Item {
                        realm: Some(e.realm),
                        external_id: e.external_id,
                        contact_id: e.contact_id,
                        digests: e.digests,
                        salt: e.salt,
                        pending: e.pending,
                    });
                }
                Ok(true)
            }
        }
    }

    fn finish(self, unreadable: u64) -> OldFile {
        let (format, items) = match self {
            Reader::Report(rows) => (Format::ImportReport, report_items(rows)),
            Reader::State(known) => (Format::SyncState, state_items(known)),
            Reader::Export(items) => (Format::Export, items),
        };
        OldFile {
            format,
            items,
            unreadable,
        }
    }
}

#[derive(Deserialize)]
struct ReportLine {
    row: u64,
    #[serde(default)]
    external_id: Option<String>,
    status: String,
    #[serde(default)]
    contact_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RowState {
    Done(String),
    Unsure,
    Nothing,
}

impl RowState {
    fn rank(&self) -> u8 {
        match self {
            RowState::Done(_) => 2,
            RowState::Unsure => 1,
            RowState::Nothing => 0,
        }
    }
}

/// One report line, as the import read its report: per row, and once done a row stays done.
fn report_line(rows: &mut HashMap<u64, (String, RowState)>, line: &str) -> bool {
    let Ok(entry) = serde_json::from_str::<ReportLine>(line) else {
        return false;
    };
    let Some(x) = entry.external_id.filter(|x| !x.is_empty()) else {
        return true;
    };
    let state = match (entry.status.as_str(), entry.contact_id) {
        ("created" | "found", Some(id)) if !id.is_empty() => RowState::Done(id),
        // Created without an id cannot happen; unsure is the safe reading of it.
        ("created" | "found" | "sent" | "unknown", _) => RowState::Unsure,
        _ => RowState::Nothing,
    };
    if !matches!(rows.get(&entry.row), Some((_, RowState::Done(_)))) {
        rows.insert(entry.row, (x, state));
    }
    true
}

/// Per external id: a contact any row created wins over one whose outcome is unknown.
fn report_items(rows: HashMap<u64, (String, RowState)>) -> Vec<Item> {
    let mut by_id: BTreeMap<String, RowState> = BTreeMap::new();
    for (x, state) in rows.into_values() {
        let slot = by_id.entry(x).or_insert(RowState::Nothing);
        if state.rank() > slot.rank() {
            *slot = state;
        }
    }
    by_id
        .into_iter()
        .filter_map(|(x, state)| match state {
            RowState::Done(id) => Some(known_item(x, id)),
            RowState::Unsure => Some(unsure(x)),
            RowState::Nothing => None,
        })
        .collect()
}

#[derive(Deserialize)]
struct StateLine {
    ev: String,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    v: Option<u32>,
}

#[derive(Default)]
struct Known {
    id: Option<String>,
    /// A request in flight: `true` for a create.
    pending: Option<bool>,
}

/// One sync state line, as the sync read it, except that an id is never dropped: a `created`
/// whose `sent_create` line was lost still names a contact that exists.
fn state_line(known: &mut BTreeMap<String, Known>, line: &str) -> bool {
    let Ok(line) = serde_json::from_str::<StateLine>(line) else {
        return false;
    };
    let Some(x) = line.x else { return true };
    match line.ev.as_str() {
        "entry" | "found" | "adopt" | "created" => {
            let k = known.entry(x).or_default();
            if line.id.is_some() {
                k.id = line.id;
            }
            if line.ev != "adopt" {
                k.pending = None;
            }
        }
        "sent_create" => known.entry(x).or_default().pending = Some(true),
        "sent_update" => known.entry(x).or_default().pending = Some(false),
        "updated" | "failed" | "absent" => {
            if let Some(k) = known.get_mut(&x) {
                k.pending = None;
            }
        }
        _ => {}
    }
    true
}

fn state_items(known: BTreeMap<String, Known>) -> Vec<Item> {
    known
        .into_iter()
        .filter_map(|(x, k)| match (k.id, k.pending) {
            (Some(id), _) => Some(known_item(x, id)),
            // Only a create in flight may have made a contact the state does not name.
            (None, Some(true)) => Some(unsure(x)),
            (None, _) => None,
        })
        .collect()
}

fn known_item(x: String, id: String) -> Item {
    Item {
        realm: None,
        external_id: x,
        contact_id: Some(id),
        digests: None,
        salt: None,
        pending: None,
    }
}

fn unsure(x: String) -> Item {
    Item {
        realm: None,
        external_id: x,
        contact_id: None,
        digests: None,
        salt: None,
        pending: Some(Pending {
            create: true,
            d: Digests::new(),
        }),
    }
}

/// Whether an item belongs in `realm`: an export's items only in the realm they were written
/// in (the same server, client, profile and sandbox instance); an old file's always, as it
/// names no realm.
pub fn belongs(item: &Item, realm: &Realm) -> bool {
    item.realm.as_ref().is_none_or(|r| *r == realm.key)
}

/// The item as the ledger adopts it into `realm`: digests (the contact's and a pending
/// request's) only when made under this realm's salt, since any other salt makes them noise.
pub fn for_realm(item: &Item, realm: &Realm) -> Exported {
    let same_salt = item.salt.as_deref() == Some(realm.salt.as_str());
    let pending = item.pending.as_ref().map(|p| Pending {
        create: p.create,
        d: if same_salt {
            p.d.clone()
        } else {
            Digests::new()
        },
    });
    Exported {
        realm: realm.key.clone(),
        external_id: item.external_id.clone(),
        contact_id: item.contact_id.clone(),
        digests: item.digests.clone().filter(|_| same_salt),
        salt: same_salt.then(|| realm.salt.clone()),
        pending,
    }
}

/// The salt an export's items of `key` were made under, when they all share one.
pub fn salt_of(items: &[Item], key: &RealmKey) -> Option<String> {
    let mut salts = items
        .iter()
        .filter(|i| i.realm.as_ref() == Some(key))
        .map(|i| i.salt.clone());
    let first = salts.next()??;
    salts
        .all(|s| s.as_deref() == Some(first.as_str()))
        .then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> OldFile {
        parse(text.as_bytes()).unwrap()
    }

    fn ids(file: &OldFile) -> Vec<(&str, Option<&str>, bool)> {
        file.items
            .iter()
            .map(|i| {
                (
                    i.external_id.as_str(),
                    i.contact_id.as_deref(),
                    i.pending.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn an_import_report_gives_created_rows_and_unsure_ones() {
        // Row 1's last line, a later `sent`, does not undo its creation; row 7 is torn.
        let file = read(
            r#"{"row":1,"external_id":"A","status":"sent"}
{"row":1,"external_id":"A","status":"created","contact_id":"c1"}
{"row":2,"external_id":"B","status":"sent"}
{"row":3,"external_id":"C","status":"sent"}
{"row":3,"external_id":"C","status":"unknown","http_status":502}
{"row":4,"external_id":"D","status":"failed","http_status":422}
{"row":5,"status":"invalid","error":"no external_id"}
{"row":6,"external_id":"E","status":"found","contact_id":"c5"}
{"row":1,"external_id":"A","status":"sent"}
{"row":7,"external_id":"F","sta"#,
        ); // (row 7's closing } was never written)
        assert_eq!(file.format, Format::ImportReport);
        assert_eq!(
            ids(&file),
            [
                ("A", Some("c1"), false),
                ("B", None, true),
                ("C", None, true),
                ("E", Some("c5"), false),
            ]
        );
        assert_eq!(file.unreadable, 0, "a torn last line is not damage");
        let unsure = file.items[1].pending.as_ref().unwrap();
        assert!(unsure.create && unsure.d.is_empty());
    }

    #[test]
    fn a_sync_state_keeps_ids_and_creates_in_flight_never_its_digests() {
        let file = read(
            r#"{"ev":"header","v":1,"salt":"s"}
{"ev":"entry","x":"A","id":"c1","d":{"zip":"aa"}}
{"ev":"sent_update","x":"A","d":{"zip":"bb"}}
{"ev":"adopt","x":"B","id":"c2"}
{"ev":"sent_create","x":"C","d":{"zip":"cc"}}
{"ev":"sent_create","x":"D","d":{}}
{"ev":"failed","x":"D","status":422}
not json at all
{"ev":"created","x":"E","id":"c5"}
{"ev":"sent_create","x":"F","d":{}}
{"ev":"absent","x":"F"}
"#,
        );
        assert_eq!(file.format, Format::SyncState);
        assert_eq!(
            ids(&file),
            [
                ("A", Some("c1"), false),
                ("B", Some("c2"), false),
                ("C", None, true),
                ("E", Some("c5"), false),
            ]
        );
        assert_eq!(file.unreadable, 1);
        assert!(file.items.iter().all(|i| i.digests.is_none()));
        assert!(
            file.items[2]
                .pending
                .as_ref()
                .is_some_and(|p| p.d.is_empty())
        );
    }

    #[test]
    fn an_export_keeps_its_realm_salt_and_digests() {
        let key = RealmKey::for_tests();
        let line = serde_json::to_string(&Exported {
            realm: key.clone(),
            external_id: "A".into(),
            contact_id: Some("c1".into()),
            digests: Some([("zip".to_string(), "aa".to_string())].into()),
            salt: Some("s1".into()),
            pending: None,
        })
        .unwrap();
        let file = read(&format!("{line}\n"));
        assert_eq!(file.format, Format::Export);
        assert_eq!(file.items[0].realm.as_ref(), Some(&key));
        assert_eq!(salt_of(&file.items, &key).as_deref(), Some("s1"));

        let mine = Realm {
            id: 1,
            salt: "s1".into(),
            key: key.clone(),
        };
        let kept = for_realm(&file.items[0], &mine);
        assert!(kept.digests.is_some() && kept.salt.as_deref() == Some("s1"));
        let other_salt = Realm {
            salt: "s2".into(),
            ..mine.clone()
        };
        let dropped = for_realm(&file.items[0], &other_salt);
        assert_eq!(dropped.digests, None);
        assert_eq!(dropped.contact_id.as_deref(), Some("c1"));
        assert!(belongs(&file.items[0], &mine));
        let elsewhere = Realm {
            key: RealmKey {
                instance: "another".into(),
                ..key
            },
            ..mine
        };
        assert!(!belongs(&file.items[0], &elsewhere));
    }

    #[test]
    fn other_files_are_refused_and_an_empty_one_holds_nothing() {
        for text in [
            "external_id,first_name\nA,Ann\n",
            "{\"external_id\":\"A\",\"first_name\":\"Ann\"}\n",
            "[1,2]\n",
        ] {
            let err = parse(text.as_bytes()).err().unwrap();
            assert!(err.contains("line 1"), "{err}");
            assert!(!err.contains("Ann"), "no value in the error: {err}");
        }
        assert!(read("").items.is_empty());
        assert!(read("\n\n").items.is_empty());
        let err = parse("{\"ev\":\"header\",\"v\":9,\"salt\":\"s\"}\n".as_bytes())
            .err()
            .unwrap();
        assert!(err.contains("version 9"), "{err}");
    }

    #[test]
    fn sniffing_reads_the_first_line_of_a_regular_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.jsonl");
        std::fs::write(
            &report,
            "{\"row\":1,\"external_id\":\"A\",\"status\":\"sent\"}\n",
        )
        .unwrap();
        let state = dir.path().join("s.jsonl");
        std::fs::write(&state, "{\"ev\":\"header\",\"v\":1,\"salt\":\"s\"}\n").unwrap();
        assert!(!is_old_sync_state(&report));
        assert!(is_old_sync_state(&state));
        assert!(!is_old_sync_state(dir.path()));
        assert!(!is_old_sync_state(&dir.path().join("missing")));
        assert!(read_old_file(dir.path()).is_err());
        #[cfg(unix)]
        assert!(read_old_file(Path::new("/dev/zero")).is_err());
    }
}
