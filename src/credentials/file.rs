//! The opt-in file store: a JSON map of account to value, mode 0600, written atomically
//! (temp file + rename) under an exclusive lock, and refused when others can read it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{SecretStore, StoreKind};
use crate::error::{CliError, Result};

pub struct FileStore {
    path: PathBuf,
}

#[derive(Default, Serialize, Deserialize)]
struct Contents {
    version: u32,
    entries: BTreeMap<String, String>,
}

impl FileStore {
    /// A symbolic link (a CI job's file saved elsewhere) is followed: hsm reads, locks and
    /// atomically replaces its target, in the target's own directory, so the link stays a
    /// link and the target always holds the latest rotated tokens.
    pub fn new(path: PathBuf) -> FileStore {
        FileStore {
            path: follow_links(path),
        }
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> CliError {
        CliError::store(format!("{what} {}: {e}", self.path.display()))
    }

    /// An io failure on the file: the message as `err`'s, the io error kept as its cause.
    fn io_err(&self, what: &str, e: std::io::Error) -> CliError {
        self.err(what, &e).with_cause(&e)
    }

    /// Read the file; a missing file is empty. Unsafe permissions and corrupt content are
    /// errors, never reasons to start over.
    fn read(&self) -> Result<Contents> {
        let text = match crate::bounded::read_text(&self.path, crate::bounded::SMALL_FILE) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
            Err(e) => return Err(self.io_err("cannot read credentials file", e)),
        };
        self.check_permissions()?;
        serde_json::from_str(&text).map_err(|e| {
            self.err("corrupt credentials file", e)
                .with_hint("hsm will not overwrite it; move it aside and log in again")
        })
    }

    #[cfg(unix)]
    fn check_permissions(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(&self.path).map_err(|e| self.io_err("cannot stat", e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CliError::store(format!(
                "refusing credentials file {}: it is readable by others (mode {mode:o})",
                self.path.display()
            ))
            .with_hint(format!("run `chmod 600 {}`", self.path.display())));
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_permissions(&self) -> Result<()> {
        Ok(())
    }

    fn write(&self, contents: &Contents) -> Result<()> {
        let dir = self.dir();
        let text = serde_json::to_vec_pretty(contents).map_err(|e| self.err("cannot encode", e))?;
        // tempfile creates the file 0600 on Unix; rename makes the replacement atomic. Named
        // after the store, so that the next writer (under the lock) can remove one a killed
        // process left behind.
        let mut tmp = tempfile::Builder::new()
            .prefix(&self.temp_prefix())
            .suffix(TEMP_SUFFIX)
            .tempfile_in(&dir)
            .map_err(|e| self.err("cannot create a temp file beside", e))?;
        tmp.write_all(&text)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| self.err("cannot write", e))?;
        tmp.persist(&self.path)
            .map_err(|e| self.err("cannot replace", e.error))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Serialise read-modify-write cycles between processes sharing the file.
    fn lock(&self) -> Result<File> {
        let dir = self.dir();
        create_private_dir(&dir).map_err(|e| self.err("cannot create the directory of", e))?;
        let lock_path = lock_path(&self.path);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.err("cannot open the lock of", e))?;
        f.lock().map_err(|e| self.err("cannot lock", e))?;
        Ok(f)
    }

    fn temp_prefix(&self) -> String {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        format!(".{name}.")
    }

    /// Remove the temp files (holding tokens) of writes that a kill interrupted. Called under
    /// the lock, which every writer holds while its temp file exists: any left is orphaned.
    /// Older versions named them `.credentialsXXXXXX`; those are removed when a minute old.
    fn remove_orphaned_temp_files(&self) {
        let Ok(entries) = fs::read_dir(self.dir()) else {
            return;
        };
        let prefix = self.temp_prefix();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX);
            let legacy = is_legacy_temp(&name)
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().unwrap_or_default().as_secs() >= 60);
            if (ours || legacy) && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn modify(&self, change: impl FnOnce(&mut BTreeMap<String, String>) -> bool) -> Result<bool> {
        let _guard = self.lock()?;
        self.remove_orphaned_temp_files();
        let mut contents = self.read()?;
        contents.version = 1;
        let changed = change(&mut contents.entries);
        if changed {
            self.write(&contents)?;
        }
        Ok(changed)
    }
}

const TEMP_SUFFIX: &str = ".tmp";

/// `.credentials` and six random characters: the temp file name of earlier builds.
fn is_legacy_temp(name: &str) -> bool {
    name.strip_prefix(".credentials")
        .is_some_and(|rest| rest.len() == 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The file a chain of symbolic links ends at (relative links resolved from their own
/// directory); the path itself when it is no link or a link cannot be read.
fn follow_links(mut path: PathBuf) -> PathBuf {
    for _ in 0..40 {
        let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            break;
        }
        let Ok(target) = fs::read_link(&path) else {
            break;
        };
        path = match path.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
    }
    path
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

impl SecretStore for FileStore {
    fn kind(&self) -> StoreKind {
        StoreKind::File
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn get(&self, account: &str) -> Result<Option<String>> {
        Ok(self.read()?.entries.remove(account))
    }

    fn set(&self, account: &str, value: &str) -> Result<()> {
        self.modify(|m| {
            m.insert(account.to_string(), value.to_string());
            true
        })
        .map(|_| ())
    }

    fn delete(&self, account: &str) -> Result<bool> {
        self.modify(|m| m.remove(account).is_some())
    }

    fn accounts(&self) -> Result<Vec<String>> {
        Ok(self.read()?.entries.into_keys().collect())
    }

    fn probe(&self) -> Result<()> {
        // Taking the lock proves the directory is writable; reading proves the file is sane.
        let _guard = self.lock()?;
        self.read().map(|_| ())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn set_get_delete_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/creds.json");
        let s = FileStore::new(path.clone());
        assert_eq!(s.get("a").unwrap(), None);
        s.set("a", "1").unwrap();
        s.set("b", "2").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some("1"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(s.delete("a").unwrap());
        assert!(!s.delete("a").unwrap());
        assert_eq!(s.get("b").unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn refuses_group_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        let s = FileStore::new(path.clone());
        s.set("a", "1").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = s.get("a").unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Store);
        assert!(err.message.contains("readable by others"));
        // Nothing is rewritten behind the user's back.
        assert!(s.set("a", "2").is_err());
    }

    #[test]
    fn corrupt_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        fs::write(&path, "{not json").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let s = FileStore::new(path.clone());
        assert!(s.get("a").is_err());
        assert!(s.set("a", "1").is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{not json");
    }
}
