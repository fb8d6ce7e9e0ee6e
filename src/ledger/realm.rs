//! The realm a write is made in: the API base URL, the client id and the profile it was
//! written under, and for the bundled sandbox the instance (a restarted sandbox holds no
//! contacts, so what was written to the old one means nothing to the new one).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};
use crate::settings::EnvSettings;

/// The header the sandbox names its instance in, on every answer.
pub const INSTANCE_HEADER: &str = hsm_sandbox::INSTANCE_HEADER;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealmKey {
    pub api_url: String,
    #[serde(default)]
    pub client_id: String,
    pub profile: String,
    /// The sandbox's instance; empty for a real server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
}

impl RealmKey {
    /// The realm of this environment and profile. A loopback API may be the sandbox: it is
    /// asked for its instance (one request to its admin path, not counted as API traffic).
    pub async fn of(settings: &EnvSettings) -> Result<RealmKey> {
        let instance = if crate::settings::is_loopback_host(&settings.api_url) {
            sandbox_instance(settings).await?
        } else {
            String::new()
        };
        Ok(RealmKey {
            api_url: settings.api_url.as_str().trim_end_matches('/').to_string(),
            client_id: settings.client_id.clone().unwrap_or_default(),
            profile: settings.profile.clone(),
            instance,
        })
    }

    /// The text the store keys realms by.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.api_url, self.client_id, self.profile, self.instance
        )
    }

    #[cfg(test)]
    pub fn for_tests() -> RealmKey {
        RealmKey {
            api_url: "http://127.0.0.1:1/v2".into(),
            client_id: "c".into(),
            profile: "default".into(),
            instance: String::new(),
        }
    }
}

impl std::fmt::Display for RealmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (client {}, profile {}",
            self.api_url, self.client_id, self.profile
        )?;
        if !self.instance.is_empty() {
            write!(f, ", sandbox instance {}", self.instance)?;
        }
        f.write_str(")")
    }
}

/// The instance a loopback server names in its answers; empty when it names none (it is not
/// the sandbox). A server that cannot be reached fails here, before anything is planned.
async fn sandbox_instance(settings: &EnvSettings) -> Result<String> {
    let mut url = settings.api_url.clone();
    url.set_path("/__sandbox/health");
    url.set_query(None);
    let http = crate::http::loopback_client(Duration::from_secs(10), settings.ca_file.as_deref())?;
    let answer = http.get(url.clone()).send().await.map_err(|e| {
        CliError::network(format!(
            "cannot reach {}: {}",
            settings.api_url,
            crate::http::describe_reqwest(&e)
        ))
        .with_causes(crate::http::reqwest_causes(&e))
        .with_hint("is `hsm sandbox` running? Start it in another terminal, or set HSM_SANDBOX_URL")
    })?;
    Ok(answer
        .headers()
        .get(INSTANCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_default()
        .to_string())
}
