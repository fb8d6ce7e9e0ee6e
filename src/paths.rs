//! Where hsm keeps its files: the platform directories of `directories` (XDG on Linux), each
//! overridable by an `HSM_*` variable so tests and unusual setups can point elsewhere.

use std::path::{Path, PathBuf};

use directories::ProjectDirs;

use crate::env_vars as ev;
use crate::error::{CliError, Result};

fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "hsm")
}

/// `explicit` (the variable `var`, resolved by the settings) if set, else `rel` under the
/// platform directory `pick` chooses.
fn resolve(
    explicit: Option<&Path>,
    var: &str,
    pick: fn(&ProjectDirs) -> &Path,
    rel: &str,
    what: &str,
) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    project().map(|d| pick(&d).join(rel)).ok_or_else(|| {
        CliError::store(format!("cannot find a directory for {what}"))
            .with_hint(format!("set {var}"))
    })
}

/// The file store: `HSM_CREDENTIALS_FILE`, else `<data dir>/credentials.json`.
pub fn credentials_file(explicit: Option<&Path>) -> Result<PathBuf> {
    resolve(
        explicit,
        ev::HSM_CREDENTIALS_FILE,
        ProjectDirs::data_dir,
        "credentials.json",
        "the credentials file",
    )
}

/// Refresh locks: `HSM_STATE_DIR`, else `<cache dir>/locks`.
pub fn lock_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    resolve(
        explicit,
        ev::HSM_STATE_DIR,
        ProjectDirs::cache_dir,
        "locks",
        "lock files",
    )
}

/// The sync state: `HSM_STATE_DIR/sync`, else `sync` under the platform state dir
/// (`$XDG_STATE_HOME/hsm` or `~/.local/state/hsm` on Linux; the local data dir elsewhere).
pub fn sync_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.join("sync"));
    }
    project()
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).join("sync"))
        .ok_or_else(|| {
            CliError::store("cannot find a directory for the sync state")
                .with_hint(format!("set {} or pass --state PATH", ev::HSM_STATE_DIR))
        })
}

/// hsm's state directory (the ledger): `HSM_STATE_DIR`, else the platform state dir
/// (`$XDG_STATE_HOME/hsm` or `~/.local/state/hsm` on Linux; the local data dir elsewhere).
pub fn state_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    project()
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf())
        .ok_or_else(|| {
            CliError::store("cannot find a directory for hsm's state (the ledger)").with_hint(
                format!("set {} or HSM_LEDGER=sqlite:PATH", ev::HSM_STATE_DIR),
            )
        })
}

/// The generations of the etcd records this machine has seen (rollback detection):
/// `HSM_STATE_DIR/etcd-generations.json`, else under the platform state dir.
pub fn etcd_generations_file(explicit: Option<&Path>) -> Result<PathBuf> {
    const NAME: &str = "etcd-generations.json";
    if let Some(p) = explicit {
        return Ok(p.join(NAME));
    }
    project()
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).join(NAME))
        .ok_or_else(|| {
            CliError::store("cannot find a directory for the etcd generations file")
                .with_hint(format!("set {}", ev::HSM_STATE_DIR))
        })
}

/// The config file's default location: `$XDG_CONFIG_HOME/hsm/config.toml` or
/// `~/.config/hsm/config.toml` on Linux (`--config` / `HSM_CONFIG` are handled by the caller).
pub fn default_config_file() -> Option<PathBuf> {
    project().map(|d| d.config_dir().join("config.toml"))
}
