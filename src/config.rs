//! The TOML config file: `default_env` and `[env.NAME]` tables. Never holds a secret, and hsm
//! never writes it (a corrupt file is reported, not overwritten).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{CliError, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub default_env: Option<String>,
    /// `keychain`, `file` or `etcd`; `HSM_CREDENTIAL_STORE` wins.
    pub credential_store: Option<String>,
    /// Client URLs of the etcd store; `HSM_ETCD_ENDPOINTS` wins.
    pub etcd_endpoints: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, EnvConfig>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub api_url: Option<String>,
    pub scope: Option<String>,
    /// Extra CA certificates (PEM) to trust for this environment.
    pub ca_file: Option<PathBuf>,
}

/// Load the config. A missing file at the default location is an empty config; a missing file
/// the user named explicitly is an error, as is any file that cannot be read or parsed.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    let (path, must_exist) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => match crate::paths::default_config_file() {
            Some(p) => (p, false),
            None => return Ok(Config::default()),
        },
    };
    let text = match crate::bounded::read_text(&path, crate::bounded::SMALL_FILE) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(Config::default());
        }
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read config file {}: {e}",
                path.display()
            ))
            .with_cause(&e));
        }
    };
    parse(&text).map_err(|msg| {
        CliError::usage(format!("invalid config file {}: {msg}", path.display())).with_hint(
            "fix the file or point --config / HSM_CONFIG at another one; hsm never rewrites it",
        )
    })
}

/// Parse config text; the error names the line and column.
pub fn parse(text: &str) -> std::result::Result<Config, String> {
    toml::from_str::<Config>(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {msg}")
            }
            None => msg,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_envs_and_default() {
        let c = parse(
            "default_env = \"work\"\n[env.work]\nclient_id = \"abc\"\ntoken_url = \"https://x/t\"\n",
        )
        .unwrap();
        assert_eq!(c.default_env.as_deref(), Some("work"));
        assert_eq!(c.env["work"].client_id.as_deref(), Some("abc"));
    }

    #[test]
    fn the_store_and_etcd_endpoints_are_top_level_keys() {
        let c = parse(
            "credential_store = \"etcd\"\netcd_endpoints = [\"https://a:2379\", \"https://b:2379\"]\n",
        )
        .unwrap();
        assert_eq!(c.credential_store.as_deref(), Some("etcd"));
        assert_eq!(c.etcd_endpoints.unwrap().len(), 2);
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = parse("default_env = \"a\"\n[env.x]\nclient_id = \n").unwrap_err();
        assert!(err.starts_with("line 3:"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_so_typos_surface() {
        let err = parse("[env.x]\nclient_secret = \"s\"\n").unwrap_err();
        assert!(err.contains("client_secret"), "{err}");
    }
}
