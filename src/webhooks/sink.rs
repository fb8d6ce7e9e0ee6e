//! Where a new event goes, and the record that makes delivery exactly-once for the partner:
//! `--forward-to`, then `--exec`, then `--output` (the record itself), each of which must
//! succeed before the event counts as taken. One event per key at a time: a redelivery that
//! arrives while the first delivery is being handled waits for it, then finds it taken.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use url::Url;

use super::event::{Event, Key, key_of};
use crate::env_vars as ev;
use crate::error::{CliError, Result};

/// The longest line read back from the output file; a longer one is skipped (no event is
/// over 1 MiB, the body limit).
const MAX_RECORD_LINE: u64 = 2 * 1024 * 1024;

/// The event was taken now, or had been before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Taken,
    Duplicate,
}

/// Why an event was not taken: which sink failed and how, with no personal data.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

pub(crate) struct Sinks {
    pub(crate) output: Option<Record>,
    pub(crate) exec: Option<String>,
    pub(crate) forward: Option<(reqwest::Client, Url)>,
    pub(crate) timeout: Duration,
    /// The `--exec` commands running now (their process ids, which are their groups' ids).
    running: Mutex<HashSet<u32>>,
    taken: Mutex<HashSet<Key>>,
    busy: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sinks {
    pub(crate) fn new(
        output: Option<Record>,
        taken: HashSet<Key>,
        exec: Option<String>,
        forward: Option<(reqwest::Client, Url)>,
        timeout: Duration,
    ) -> Sinks {
        Sinks {
            output,
            exec,
            forward,
            timeout,
            running: Mutex::default(),
            taken: Mutex::new(taken),
            busy: Mutex::new(HashMap::new()),
        }
    }

    /// Kills every `--exec` command running now, with whatever it started (hsm is stopping
    /// at once: they would be left running, reparented to init).
    pub(crate) fn stop_commands(&self) {
        for pid in lock(&self.running).drain() {
            kill_group(pid);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.output.is_none() && self.exec.is_none() && self.forward.is_none()
    }

    /// Hands a new event to every sink, in order; a redelivery of a taken one to none.
    pub(crate) async fn take(&self, event: &Event) -> Result<Outcome, Failure> {
        let slot = lock(&self.busy)
            .entry(event.key.clone())
            .or_default()
            .clone();
        let outcome = {
            let _one_at_a_time = slot.lock().await;
            self.take_once(event).await
        };
        let mut busy = lock(&self.busy);
        // Ours and the map's: nobody else waits on this key any more.
        if Arc::strong_count(&slot) <= 2 {
            busy.remove(&event.key);
        }
        outcome
    }

    async fn take_once(&self, event: &Event) -> Result<Outcome, Failure> {
        if lock(&self.taken).contains(&event.key) {
            return Ok(Outcome::Duplicate);
        }
        if let Some((client, url)) = &self.forward {
            forward(client, url, event).await?;
        }
        if let Some(command) = &self.exec {
            exec(command, event, self.timeout, &self.running).await?;
        }
        if let Some(record) = &self.output {
            record.append(&event.line).await?;
        }
        lock(&self.taken).insert(event.key.clone());
        Ok(Outcome::Taken)
    }
}

/// POSTs the event as received (compacted). The API key is not passed on: the target is the
/// partner's own service, and the key stays with the receiver.
async fn forward(client: &reqwest::Client, url: &Url, event: &Event) -> Result<(), Failure> {
    let resp = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(event.line.clone())
        .send()
        .await
        .map_err(|e| {
            Failure(format!(
                "--forward-to: {}",
                crate::http::describe_reqwest(&e)
            ))
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure(format!(
            "--forward-to answered HTTP {}",
            status.as_u16()
        )))
    }
}

/// The shell that runs `--exec`: `sh -c` on Unix, `cmd /C` on Windows.
fn shell(command: &str) -> tokio::process::Command {
    #[cfg(windows)]
    let mut cmd = {
        let mut c = tokio::process::Command::new("cmd");
        c.arg("/C").arg(command);
        c
    };
    #[cfg(not(windows))]
    let mut cmd = {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(command);
        c
    };
    // The command gets the event, not the key that authenticates deliveries.
    cmd.env_remove(ev::HSM_WEBHOOK_API_KEY);
    // A group of its own: the terminal's Ctrl-C reaches hsm alone, which lets the command
    // finish the event in flight; and an overrun stops everything the command started.
    #[cfg(unix)]
    cmd.process_group(0);
    cmd
}

/// Stops the command and whatever it started (its process group, on Unix).
fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        kill_group(pid);
    }
    let _ = child.start_kill();
}

/// Kills the process group led by `pid` (on Unix; elsewhere the child alone is stopped).
fn kill_group(pid: u32) {
    // Never 0 (or a negative id): killpg(0) would signal hsm's own group.
    #[cfg(unix)]
    if let Ok(pid @ 1..) = libc::pid_t::try_from(pid) {
        // SAFETY: killpg takes plain integers and touches no memory of ours; a failure (the
        // group already gone) is ignored.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Keeps a command's id among the running ones while it runs.
struct Running<'a> {
    set: &'a Mutex<HashSet<u32>>,
    pid: Option<u32>,
}

impl<'a> Running<'a> {
    fn add(set: &'a Mutex<HashSet<u32>>, pid: Option<u32>) -> Running<'a> {
        if let Some(pid) = pid {
            lock(set).insert(pid);
        }
        Running { set, pid }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            lock(self.set).remove(&pid);
        }
    }
}

/// Runs the command with the event (one line) on its stdin and its output on our stderr
/// (stdout is kept for `--json`); it must exit 0 within `limit`, or it is killed.
async fn exec(
    command: &str,
    event: &Event,
    limit: Duration,
    running: &Mutex<HashSet<u32>>,
) -> Result<(), Failure> {
    let mut child = shell(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure(format!("--exec: cannot start the shell: {e}")))?;
    let _running = Running::add(running, child.id());
    let mut stdin = child.stdin.take();
    let line = format!("{}\n", event.line);
    let feed = async move {
        if let Some(stdin) = stdin.as_mut() {
            // A command that does not read its stdin is fine: only its exit status counts.
            let _ = stdin.write_all(line.as_bytes()).await;
            let _ = stdin.shutdown().await;
        }
    };
    let run = async {
        let ((), status) = tokio::join!(feed, child.wait());
        status
    };
    let outcome = tokio::time::timeout(limit, run).await;
    match outcome {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(Failure(format!("--exec exited with {status}"))),
        Ok(Err(e)) => Err(Failure(format!("--exec: {e}"))),
        Err(_) => {
            stop(&mut child);
            let _ = child.wait().await;
            Err(Failure(format!(
                "--exec did not finish within {} s; stopped",
                limit.as_secs_f64()
            )))
        }
    }
}

/// The output file: appended to, one event per line, each line on disk before the answer.
pub(crate) struct Record {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl Record {
    /// Opens (creating 0600) the file and reads back the keys of the events it holds. A last
    /// line cut short by a crash is ended, so the next event starts on a line of its own.
    pub(crate) fn open(path: &Path) -> Result<(Record, HashSet<Key>, usize)> {
        check_dir(path)?;
        let file = crate::private_file::open_append(path).map_err(|e| file_error(path, &e))?;
        // Held as long as the file is open: a second listener (or a restart overlapping the
        // old one) would record every event it also receives a second time.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(CliError::usage(format!(
                    "another `hsm webhooks listen` is using {} as --output",
                    path.display()
                ))
                .with_hint("stop it first, or give this one another --output"));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(file_error(path, &e)),
        }
        let (keys, unreadable) = read_keys(&file).map_err(|e| file_error(path, &e))?;
        let mut file = file;
        crate::private_file::end_torn_line(&mut file).map_err(|e| file_error(path, &e))?;
        let record = Record {
            path: path.to_owned(),
            file: Arc::new(Mutex::new(file)),
        };
        Ok((record, keys, unreadable))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    async fn append(&self, line: &str) -> Result<(), Failure> {
        let file = self.file.clone();
        let bytes = format!("{line}\n").into_bytes();
        let written =
            tokio::task::spawn_blocking(move || append_whole(&mut lock(&file), &bytes)).await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure(format!("--output: cannot write: {e}"))),
            Err(_) => Err(Failure("--output: the writer stopped".into())),
        }
    }
}

/// Appends `bytes` (one whole line) and makes it durable, or leaves the file as it was: a
/// failed write (a full disk) is cut back to the length before it, so the next event is not
/// written onto a torn line (unreadable, and its event neither kept nor deduplicated).
fn append_whole(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    // A line left torn by an earlier cut that failed too is ended first.
    crate::private_file::end_torn_line(file)?;
    let before = file.metadata()?.len();
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_data()) {
        let _ = file.set_len(before).and_then(|()| file.sync_data());
        return Err(e);
    }
    Ok(())
}

fn file_error(path: &Path, e: &std::io::Error) -> CliError {
    CliError::usage(format!("cannot use {} as --output: {e}", path.display())).with_cause(e)
}

/// Personal data goes only into a directory other users cannot write to.
fn check_dir(path: &Path) -> Result<()> {
    match crate::private_file::world_writable_dir(path) {
        Ok(None) => Ok(()),
        Ok(Some(dir)) => Err(CliError::usage(format!(
            "refusing --output in {}: other users can write to that directory, and events hold personal data",
            dir.display()
        ))),
        Err(e) => Err(file_error(path, &e)),
    }
}

/// The keys of the file's events, and how many lines were not events.
fn read_keys(file: &File) -> std::io::Result<(HashSet<Key>, usize)> {
    let mut reader = BufReader::new(file);
    let mut keys = HashSet::new();
    let mut unreadable = 0;
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(MAX_RECORD_LINE)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if !line.ends_with(b"\n") && n as u64 == MAX_RECORD_LINE {
            // Skip the rest of an overlong line.
            let mut rest = Vec::new();
            reader.read_until(b'\n', &mut rest)?;
            unreadable += 1;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match key_of(&line) {
            Some(key) => {
                keys.insert(key);
            }
            None => unreadable += 1,
        }
    }
    Ok((keys, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_read_back_and_a_torn_line_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(
            &path,
            "{\"medicare_application\":{\"confirmation_number\":\"1\",\"submitted_at\":\"t\"},\"contact\":{}}\nnot json\n{\"medicare_app",
        )
        .unwrap();
        let (_record, keys, unreadable) = Record::open(&path).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(unreadable, 2);
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("app\n"));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_record_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let _ = Record::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
