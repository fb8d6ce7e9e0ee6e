//! Resolves flags, environment variables and the config file into one `EnvSettings`. The only
//! place where precedence is decided: flag > variable > config file > built-in.

use std::path::PathBuf;

use url::Url;

use crate::cli::GlobalArgs;
use crate::config::{self, Config, EnvConfig};
use crate::env_vars as ev;
use crate::error::{CliError, Result};

pub const DEFAULT_SCOPE: &str = "partner_api_v2";
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
pub const DEFAULT_PROFILE: &str = "default";
pub const DEFAULT_ENV: &str = "production";

/// Everything hsm needs to talk to one environment.
#[derive(Debug, Clone)]
pub struct EnvSettings {
    pub env: String,
    pub profile: String,
    pub authorize_url: Url,
    pub token_url: Url,
    pub api_url: Url,
    /// None when neither flag, variable nor config gives one (login then asks for it).
    pub client_id: Option<String>,
    /// Only the sandbox has a built-in secret; real ones come from the variable or the store.
    pub builtin_client_secret: Option<&'static str>,
    pub redirect_uri: Url,
    pub scope: String,
    /// Extra CA certificates to trust (`HSM_CA_FILE` or `ca_file`).
    pub ca_file: Option<PathBuf>,
}

impl EnvSettings {
    /// The keychain account / file-store key of this session's record.
    pub fn account(&self) -> String {
        format!("{}/{}", self.env, self.profile)
    }
}

/// Flags of `hsm login` that override the environment's values.
#[derive(Debug, Default)]
pub struct Overrides {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
}

struct Builtin {
    authorize: &'static str,
    token: &'static str,
    api: &'static str,
}

fn builtin(name: &str) -> Option<Builtin> {
    match name {
        "production" => Some(Builtin {
            authorize: "https://medicare.healthsherpa.com/oauth/authorize",
            token: "https://medicare.healthsherpa.com/oauth/token",
            api: "https://api.medicare.healthsherpa.com/v2",
        }),
        "staging" => Some(Builtin {
            authorize: "https://medicare-staging.healthsherpa.com/oauth/authorize",
            token: "https://medicare-staging.healthsherpa.com/oauth/token",
            api: "https://api.medicare-staging.healthsherpa.com/v2",
        }),
        _ => None,
    }
}

pub fn resolve(global: &GlobalArgs, overrides: &Overrides) -> Result<EnvSettings> {
    let cfg = config::load(global.config.as_deref())?;
    resolve_with(global, overrides, &cfg)
}

fn resolve_with(global: &GlobalArgs, overrides: &Overrides, cfg: &Config) -> Result<EnvSettings> {
    // An empty HSM_ENV / HSM_PROFILE counts as unset, as for every other variable.
    let env = global
        .env
        .clone()
        .filter(|e| !e.is_empty())
        .or_else(|| cfg.default_env.clone())
        .unwrap_or_else(|| DEFAULT_ENV.to_string());
    let profile = global
        .profile
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    check_name("environment", &env)?;
    check_name("profile", &profile)?;

    let file = cfg.env.get(&env).cloned().unwrap_or_default();
    let (authorize, token, api, client_id, secret) = if env == "sandbox" {
        let base = ev::get(ev::HSM_SANDBOX_URL)
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", crate::sandbox_env::DEFAULT_PORT));
        let base = base.trim_end_matches('/');
        (
            Some(format!("{base}/oauth/authorize")),
            Some(format!("{base}/oauth/token")),
            Some(format!("{base}/v2")),
            Some(crate::sandbox_env::CLIENT_ID.to_string()),
            Some(crate::sandbox_env::CLIENT_SECRET),
        )
    } else if let Some(b) = builtin(&env) {
        (
            Some(b.authorize.to_string()),
            Some(b.token.to_string()),
            Some(b.api.to_string()),
            None,
            None,
        )
    } else if cfg.env.contains_key(&env) {
        (None, None, None, None, None)
    } else {
        return Err(
            CliError::usage(format!("unknown environment `{env}`")).with_hint(
                "use production, staging or sandbox, or define [env.NAME] in the config file",
            ),
        );
    };

    let pick =
        |flag: Option<&String>, var: &str, from_file: &Option<String>, base: Option<String>| {
            flag.cloned()
                .or_else(|| ev::get(var))
                .or_else(|| from_file.clone())
                .or(base)
        };
    let EnvConfig {
        client_id: file_client_id,
        redirect_uri: file_redirect,
        authorize_url: file_authorize,
        token_url: file_token,
        api_url: file_api,
        scope: file_scope,
        ca_file: file_ca,
    } = file;

    let need = |what: &str, value: Option<String>, var: &str| -> Result<Url> {
        let value = value.ok_or_else(|| {
            CliError::usage(format!("environment `{env}` has no {what}")).with_hint(format!(
                "set `{}` in [env.{env}] of the config file, or {var}",
                what.replace(' ', "_")
            ))
        })?;
        parse_endpoint(&value, var)
    };
    let authorize_url = need(
        "authorize url",
        pick(None, ev::HSM_AUTHORIZE_URL, &file_authorize, authorize),
        ev::HSM_AUTHORIZE_URL,
    )?;
    let token_url = need(
        "token url",
        pick(None, ev::HSM_TOKEN_URL, &file_token, token),
        ev::HSM_TOKEN_URL,
    )?;
    let api_url = need(
        "api url",
        pick(None, ev::HSM_API_URL, &file_api, api),
        ev::HSM_API_URL,
    )?;
    let redirect = pick(
        overrides.redirect_uri.as_ref(),
        ev::HSM_REDIRECT_URI,
        &file_redirect,
        Some(DEFAULT_REDIRECT_URI.to_string()),
    )
    .unwrap_or_default();
    let redirect_uri = parse_redirect_uri(&redirect)?;
    let client_id = pick(
        overrides.client_id.as_ref(),
        ev::HSM_CLIENT_ID,
        &file_client_id,
        client_id,
    );
    let scope = overrides
        .scope
        .clone()
        .or(file_scope)
        .unwrap_or_else(|| DEFAULT_SCOPE.to_string());

    Ok(EnvSettings {
        env,
        profile,
        authorize_url,
        token_url,
        api_url,
        client_id,
        builtin_client_secret: secret,
        redirect_uri,
        scope,
        ca_file: ev::get(ev::HSM_CA_FILE).map(PathBuf::from).or(file_ca),
    })
}

/// Names become keychain accounts and file keys: keep them to a safe alphabet.
fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid {what} name `{name}`: use letters, digits, `-`, `_` or `.` (at most 64)"
        )))
    }
}

pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Endpoints must be https, except on loopback where http is allowed (the sandbox, tests).
pub fn parse_endpoint(value: &str, origin: &str) -> Result<Url> {
    let url = Url::parse(value)
        .map_err(|e| CliError::usage(format!("invalid URL `{value}` ({origin}): {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        _ => Err(CliError::usage(format!(
            "refusing `{value}` ({origin}): URLs must be https:// (http:// only for 127.0.0.1, [::1] or localhost)"
        ))),
    }
}

/// The redirect URI must be a loopback http:// URL with an explicit port: hsm catches the
/// redirect on a listener it binds there.
pub fn parse_redirect_uri(value: &str) -> Result<Url> {
    let url = Url::parse(value)
        .map_err(|e| CliError::usage(format!("invalid redirect URI `{value}`: {e}")))?;
    if url.scheme() != "http" || !is_loopback_host(&url) {
        return Err(CliError::usage(format!(
            "refusing redirect URI `{value}`: it must be http:// on 127.0.0.1, [::1] or localhost"
        )));
    }
    if url.port().is_none() {
        return Err(CliError::usage(format!(
            "redirect URI `{value}` needs an explicit port, e.g. http://127.0.0.1:8765/callback"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(env: Option<&str>) -> GlobalArgs {
        GlobalArgs {
            env: env.map(str::to_string),
            profile: None,
            config: None,
            verbose: false,
            quiet: false,
        }
    }

    #[test]
    fn production_is_the_default() {
        let s = resolve_with(&global(None), &Overrides::default(), &Config::default()).unwrap();
        assert_eq!(s.env, "production");
        assert_eq!(
            s.token_url.as_str(),
            "https://medicare.healthsherpa.com/oauth/token"
        );
        assert_eq!(s.redirect_uri.as_str(), DEFAULT_REDIRECT_URI);
        assert_eq!(s.account(), "production/default");
    }

    #[test]
    fn config_default_env_and_values_apply_and_flags_win() {
        let cfg = config::parse(
            "default_env = \"staging\"\n[env.staging]\nclient_id = \"from-file\"\nscope = \"s1\"\n",
        )
        .unwrap();
        let s = resolve_with(&global(None), &Overrides::default(), &cfg).unwrap();
        assert_eq!(s.env, "staging");
        assert_eq!(s.client_id.as_deref(), Some("from-file"));
        assert_eq!(s.scope, "s1");
        let o = Overrides {
            client_id: Some("from-flag".into()),
            ..Default::default()
        };
        let s = resolve_with(&global(Some("staging")), &o, &cfg).unwrap();
        assert_eq!(s.client_id.as_deref(), Some("from-flag"));
    }

    #[test]
    fn custom_env_needs_all_urls() {
        let cfg = config::parse("[env.acme]\nauthorize_url = \"https://a/x\"\n").unwrap();
        let err = resolve_with(&global(Some("acme")), &Overrides::default(), &cfg).unwrap_err();
        assert!(err.message.contains("no token url"), "{}", err.message);
    }

    #[test]
    fn empty_env_and_profile_count_as_unset() {
        let mut g = global(Some(""));
        g.profile = Some(String::new());
        let s = resolve_with(&g, &Overrides::default(), &Config::default()).unwrap();
        assert_eq!(s.account(), "production/default");
    }

    #[test]
    fn unknown_env_is_a_usage_error() {
        let err = resolve_with(
            &global(Some("nope")),
            &Overrides::default(),
            &Config::default(),
        )
        .unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Usage);
    }

    #[test]
    fn http_is_refused_except_on_loopback() {
        assert!(parse_endpoint("http://example.com/t", "x").is_err());
        assert!(parse_endpoint("ftp://127.0.0.1/t", "x").is_err());
        assert!(parse_endpoint("http://127.0.0.1:9/t", "x").is_ok());
        assert!(parse_endpoint("http://[::1]:9/t", "x").is_ok());
        assert!(parse_endpoint("http://localhost:9/t", "x").is_ok());
        assert!(parse_endpoint("https://example.com/t", "x").is_ok());
    }

    #[test]
    fn redirect_uri_must_be_loopback_http_with_port() {
        assert!(parse_redirect_uri("http://127.0.0.1:8765/callback").is_ok());
        assert!(parse_redirect_uri("https://127.0.0.1:8765/callback").is_err());
        assert!(parse_redirect_uri("http://10.0.0.1:8765/callback").is_err());
        assert!(parse_redirect_uri("http://127.0.0.1/callback").is_err());
    }

    #[test]
    fn names_are_restricted() {
        assert!(check_name("profile", "work-1").is_ok());
        assert!(check_name("profile", "a/b").is_err());
        assert!(check_name("profile", "").is_err());
    }
}
