//! Resolves flags, environment variables and the config file into one `EnvSettings`. The only
//! place where precedence is decided (flag > variable > config file > built-in), and the only
//! place that reads the environment: clippy.toml forbids `std::env::var` elsewhere, and clap
//! reads `HSM_ENV`, `HSM_PROFILE` and `HSM_CONFIG` through its `env` attributes. The rest of
//! the program gets typed values: URLs, durations, the store choice, the token source, secrets.
//! A variable that is invalid but used only by some commands (`HSM_CREDENTIAL_STORE`) is
//! carried as a value that reports the problem where it is used, so that commands which never
//! use it do not start failing.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::config::{self, Config, EnvConfig};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::secret::Secret;

pub const DEFAULT_SCOPE: &str = "partner_api_v2";
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
pub const DEFAULT_PROFILE: &str = "default";
pub const DEFAULT_ENV: &str = "production";
/// How long one HTTP request may take unless `HSM_HTTP_TIMEOUT` says otherwise.
const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one etcd call may take, failover included, unless `HSM_ETCD_TIMEOUT` says otherwise.
const DEFAULT_ETCD_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_ETCD_PREFIX: &str = "/hsm/";

/// Everything hsm needs to talk to one environment.
#[derive(Debug, Clone)]
pub struct EnvSettings {
    pub env: String,
    /// False when neither `--env`, `HSM_ENV` nor `default_env` named the environment, and the
    /// built-in default was taken (a stored session may then decide; see `commands`).
    pub env_chosen: bool,
    pub profile: String,
    pub authorize_url: Url,
    pub token_url: Url,
    pub api_url: Url,
    /// None when neither flag, variable nor config gives one (login then asks for it).
    pub client_id: Option<String>,
    /// Only the sandbox has a built-in secret; real ones come from the variable or the store.
    pub builtin_client_secret: Option<Secret>,
    /// `HSM_CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    pub redirect_uri: Url,
    pub scope: String,
    /// Extra CA certificates to trust (`HSM_CA_FILE` or `ca_file`).
    pub ca_file: Option<PathBuf>,
    /// Where the access token comes from.
    pub token: TokenSource,
    pub store: StoreChoice,
    /// `HSM_CREDENTIALS_FILE`, whatever the store: where the file store is when `hsm login`
    /// offers it on a machine without a keychain, and where `hsm status` looks.
    pub credentials_file: Option<PathBuf>,
    /// How long one HTTP request may take (`HSM_HTTP_TIMEOUT`, default 30 s).
    pub http_timeout: Duration,
    /// Where the refresh locks live: `HSM_STATE_DIR`, else (None) the platform cache dir.
    pub state_dir: Option<PathBuf>,
    pub browser: BrowserChoice,
    /// `HSM_LEDGER` as given (None: the default SQLite file under the state dir).
    pub ledger: Option<String>,
    /// `HSM_LEDGER_TIMEOUT` (default 10 s).
    pub ledger_timeout: Duration,
    /// A PostgreSQL ledger's password (`HSM_LEDGER_PASSWORD`), CA (`HSM_LEDGER_CA_FILE`) and
    /// libpq's password file (`PGPASSFILE`).
    pub ledger_password: Option<Secret>,
    pub ledger_ca_file: Option<PathBuf>,
    pub pgpassfile: Option<PathBuf>,
}

impl EnvSettings {
    /// The keychain account / file-store key of this session's record.
    pub fn account(&self) -> String {
        format!("{}/{}", self.env, self.profile)
    }
}

/// Where the access token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `HSM_ACCESS_TOKEN`: used as is, never stored nor refreshed.
    Variable(Secret),
    /// The credential store's record of this environment and profile.
    Store,
}

/// The credential store `HSM_CREDENTIAL_STORE` chooses.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreChoice {
    /// The OS keychain (the default); one call may take up to `timeout`, e.g. waiting for an
    /// unlock prompt (`HSM_KEYCHAIN_TIMEOUT`; 120 s at a terminal, 20 s otherwise).
    Keychain { timeout: Duration },
    /// The opt-in 0600 file: `HSM_CREDENTIALS_FILE`, else (None) the platform data dir.
    File { path: Option<PathBuf> },
    /// etcd, shared by every machine that uses the session (`HSM_CREDENTIAL_STORE=etcd`).
    Etcd(Box<EtcdSettings>),
    /// A value that is none of these: an error when a store is opened, not before.
    Unknown(String),
}

/// Where the etcd store is and how to reach it. Endpoints are checked when the store is
/// opened, so a bad value fails only the commands that use the store.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdSettings {
    /// `HSM_ETCD_ENDPOINTS` (comma-separated), else `etcd_endpoints` of the config file.
    pub endpoints: Vec<String>,
    /// `HSM_ETCD_PREFIX`, default `/hsm/`.
    pub prefix: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Any one call, failover included (`HSM_ETCD_TIMEOUT`, default 10 s).
    pub timeout: Duration,
    /// `HSM_STORE_KEY`, as given; parsed (and required) when the store is opened.
    pub store_key: Option<Secret>,
    /// `HSM_STATE_DIR`: where the generations of the records seen are kept (rollback check).
    pub state_dir: Option<PathBuf>,
}

/// How to open the login URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserChoice {
    /// `HSM_BROWSER`, else `BROWSER`: the command, and the variable it came from.
    pub command: Option<(String, &'static str)>,
    /// On Linux and the BSDs a browser needs a display; elsewhere one is assumed. Under WSL
    /// the platform opener hands the URL to the Windows browser, which needs no Linux display.
    pub has_display: bool,
}

/// What the command line chose with the global options `--env`, `--profile` and `--config`
/// (clap reads `HSM_ENV`, `HSM_PROFILE` and `HSM_CONFIG` into them); none means not chosen.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub env: Option<String>,
    pub profile: Option<String>,
    pub config: Option<PathBuf>,
}

/// Flags of `hsm login` that override the environment's values.
#[derive(Debug, Default)]
pub struct Overrides {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    /// A person can answer (the printer's `can_prompt`): a locked keychain's unlock prompt is
    /// waited for longer.
    pub attended: bool,
}

/// Read a variable; empty counts as unset, as most CLIs treat it.
#[allow(clippy::disallowed_methods)]
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `HSM_WEBHOOK_API_KEY`: the key `hsm webhooks listen` expects in `X-API-Key`, and the one
/// `hsm sandbox --webhook-url` sends by default. Read on its own: only those two commands use
/// it, and they need no environment (`--env`) resolved.
pub fn webhook_api_key() -> Option<Secret> {
    var(ev::HSM_WEBHOOK_API_KEY).map(Secret::new)
}

/// An `HSM_*` variable that is set but not UTF-8 would read as unset and silently fall back
/// to a default (another store, another endpoint): say so instead.
fn refuse_unreadable_variables() -> Result<()> {
    for (name, value) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("HSM_") && value.to_str().is_none() {
            return Err(CliError::usage(format!(
                "{name} is set but is not valid UTF-8 text; hsm cannot use it"
            ))
            .with_hint(format!("set {name} to a UTF-8 value, or unset it")));
        }
    }
    Ok(())
}

/// Every variable hsm reads besides clap's, read once, as text; the secrets among them as
/// `Secret` from the moment they are read, so that `Debug` shows a fingerprint.
#[derive(Debug, Default)]
struct Variables {
    sandbox_url: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    api_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    redirect_uri: Option<String>,
    access_token: Option<Secret>,
    credential_store: Option<String>,
    credentials_file: Option<String>,
    state_dir: Option<String>,
    ledger: Option<String>,
    ledger_timeout: Option<String>,
    ledger_password: Option<Secret>,
    ledger_ca_file: Option<String>,
    pgpassfile: Option<String>,
    ca_file: Option<String>,
    http_timeout: Option<String>,
    keychain_timeout: Option<String>,
    etcd_endpoints: Option<String>,
    etcd_prefix: Option<String>,
    etcd_user: Option<String>,
    etcd_password: Option<Secret>,
    etcd_ca_file: Option<String>,
    etcd_cert_file: Option<String>,
    etcd_key_file: Option<String>,
    etcd_timeout: Option<String>,
    store_key: Option<Secret>,
    browser: Option<(String, &'static str)>,
    display: bool,
}

impl Variables {
    fn from_env() -> Variables {
        Variables {
            sandbox_url: var(ev::HSM_SANDBOX_URL),
            authorize_url: var(ev::HSM_AUTHORIZE_URL),
            token_url: var(ev::HSM_TOKEN_URL),
            api_url: var(ev::HSM_API_URL),
            client_id: var(ev::HSM_CLIENT_ID),
            client_secret: var(ev::HSM_CLIENT_SECRET).map(Secret::new),
            redirect_uri: var(ev::HSM_REDIRECT_URI),
            access_token: var(ev::HSM_ACCESS_TOKEN).map(Secret::new),
            credential_store: var(ev::HSM_CREDENTIAL_STORE),
            credentials_file: var(ev::HSM_CREDENTIALS_FILE),
            state_dir: var(ev::HSM_STATE_DIR),
            ledger: var(ev::HSM_LEDGER),
            ledger_timeout: var(ev::HSM_LEDGER_TIMEOUT),
            ledger_password: var(ev::HSM_LEDGER_PASSWORD).map(Secret::new),
            ledger_ca_file: var(ev::HSM_LEDGER_CA_FILE),
            pgpassfile: var(ev::PGPASSFILE),
            ca_file: var(ev::HSM_CA_FILE),
            http_timeout: var(ev::HSM_HTTP_TIMEOUT),
            keychain_timeout: var(ev::HSM_KEYCHAIN_TIMEOUT),
            etcd_endpoints: var(ev::HSM_ETCD_ENDPOINTS),
            etcd_prefix: var(ev::HSM_ETCD_PREFIX),
            etcd_user: var(ev::HSM_ETCD_USER),
            etcd_password: var(ev::HSM_ETCD_PASSWORD).map(Secret::new),
            etcd_ca_file: var(ev::HSM_ETCD_CA_FILE),
            etcd_cert_file: var(ev::HSM_ETCD_CERT_FILE),
            etcd_key_file: var(ev::HSM_ETCD_KEY_FILE),
            etcd_timeout: var(ev::HSM_ETCD_TIMEOUT),
            store_key: var(ev::HSM_STORE_KEY).map(Secret::new),
            browser: [ev::HSM_BROWSER, ev::BROWSER]
                .into_iter()
                .find_map(|name| var(name).map(|spec| (spec, name))),
            display: ev::DISPLAY_VARS.iter().any(|name| var(name).is_some()),
        }
    }
}

/// The range every seconds variable accepts: shorter would time everything out at once,
/// longer is "never".
const MIN_SECONDS: f64 = 0.1;
const MAX_SECONDS: f64 = 86_400.0;

impl Variables {
    /// Every numeric variable must be usable: a typo (`abc`, `-1`, `inf`) is a usage error
    /// naming the variable and the range, as a bad flag is, never replaced by the default.
    fn check_numbers(&self) -> Result<()> {
        for (name, value) in [
            (ev::HSM_HTTP_TIMEOUT, &self.http_timeout),
            (ev::HSM_KEYCHAIN_TIMEOUT, &self.keychain_timeout),
            (ev::HSM_ETCD_TIMEOUT, &self.etcd_timeout),
            (ev::HSM_LEDGER_TIMEOUT, &self.ledger_timeout),
        ] {
            let Some(value) = value else { continue };
            let usable = seconds(Some(value))
                .is_some_and(|s| s.is_finite() && (MIN_SECONDS..=MAX_SECONDS).contains(&s));
            if !usable {
                return Err(CliError::usage(format!(
                    "{name} must be a number of seconds from {MIN_SECONDS} to {MAX_SECONDS} (got `{value}`)"
                )));
            }
        }
        Ok(())
    }
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

pub fn resolve(global: &Selection, overrides: &Overrides) -> Result<EnvSettings> {
    refuse_unreadable_variables()?;
    let cfg = config::load(global.config.as_deref())?;
    resolve_with(global, overrides, &cfg, &Variables::from_env())
}

fn resolve_with(
    global: &Selection,
    overrides: &Overrides,
    cfg: &Config,
    vars: &Variables,
) -> Result<EnvSettings> {
    vars.check_numbers()?;
    let (env, profile) = env_and_profile(global, cfg)?;
    let env_chosen =
        global.env.as_deref().is_some_and(|e| !e.is_empty()) || cfg.default_env.is_some();
    let base = Defaults::of(&env, cfg, vars)?;
    let file = cfg.env.get(&env).cloned().unwrap_or_default();
    let (vu, fu) = (&vars, &file);
    let authorize_url = endpoint(
        &env,
        "authorize url",
        ev::HSM_AUTHORIZE_URL,
        (&vu.authorize_url, &fu.authorize_url),
        base.authorize,
    )?;
    let token_url = endpoint(
        &env,
        "token url",
        ev::HSM_TOKEN_URL,
        (&vu.token_url, &fu.token_url),
        base.token,
    )?;
    let api_url = endpoint(
        &env,
        "api url",
        ev::HSM_API_URL,
        (&vu.api_url, &fu.api_url),
        base.api,
    )?;
    let redirect = pick(
        overrides.redirect_uri.as_ref(),
        &vars.redirect_uri,
        &file.redirect_uri,
        Some(DEFAULT_REDIRECT_URI.to_string()),
    );
    let redirect_uri = parse_redirect_uri(&redirect.unwrap_or_default())?;
    let EnvConfig {
        client_id: file_client_id,
        scope: file_scope,
        ca_file: file_ca,
        ..
    } = file;
    let local = FromVariables::of(vars, cfg, overrides.attended);
    Ok(EnvSettings {
        client_id: pick(
            overrides.client_id.as_ref(),
            &vars.client_id,
            &file_client_id,
            base.client_id,
        ),
        scope: (overrides.scope.clone().or(file_scope)).unwrap_or_else(|| DEFAULT_SCOPE.into()),
        ca_file: vars.ca_file.as_ref().map(PathBuf::from).or(file_ca),
        builtin_client_secret: base.client_secret,
        env,
        env_chosen,
        profile,
        authorize_url,
        token_url,
        api_url,
        redirect_uri,
        client_secret: local.client_secret,
        token: local.token,
        store: local.store,
        credentials_file: vars.credentials_file.as_ref().map(PathBuf::from),
        http_timeout: local.http_timeout,
        state_dir: local.state_dir,
        browser: local.browser,
        ledger: vars.ledger.clone(),
        ledger_timeout: ledger_timeout(vars),
        ledger_password: vars.ledger_password.clone(),
        ledger_ca_file: vars.ledger_ca_file.as_ref().map(PathBuf::from),
        pgpassfile: vars.pgpassfile.as_ref().map(PathBuf::from),
    })
}

/// One endpoint URL, and a bad one blamed on where it came from: the variable, the config
/// file, or the environment's default.
fn endpoint(
    env: &str,
    what: &str,
    var: &str,
    (from_var, from_file): (&Option<String>, &Option<String>),
    base: Option<String>,
) -> Result<Url> {
    let key = what.replace(' ', "_");
    let origin = match (from_var, from_file) {
        (Some(_), _) => var.to_string(),
        (None, Some(_)) => format!("`{key}` in [env.{env}] of the config file"),
        (None, None) => format!("the default {what} of environment `{env}`"),
    };
    let value = pick(None, from_var, from_file, base).ok_or_else(|| {
        CliError::usage(format!("environment `{env}` has no {what}")).with_hint(format!(
            "set `{key}` in [env.{env}] of the config file, or {var}"
        ))
    })?;
    parse_endpoint(&value, &origin)
}

/// The environment (`--env`/`HSM_ENV`, else `default_env`, else production) and the profile.
/// An empty `HSM_ENV` / `HSM_PROFILE` counts as unset, as for every other variable.
fn env_and_profile(global: &Selection, cfg: &Config) -> Result<(String, String)> {
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
    Ok((env, profile))
}

/// What an environment brings before the variables and the config file are applied.
#[derive(Default)]
struct Defaults {
    authorize: Option<String>,
    token: Option<String>,
    api: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
}

impl Defaults {
    fn of(env: &str, cfg: &Config, vars: &Variables) -> Result<Defaults> {
        if env == "sandbox" {
            let base = vars.sandbox_url.clone().unwrap_or_else(|| {
                format!("http://127.0.0.1:{}", crate::sandbox_env::DEFAULT_PORT)
            });
            let base = base.trim_end_matches('/');
            return Ok(Defaults {
                authorize: Some(format!("{base}/oauth/authorize")),
                token: Some(format!("{base}/oauth/token")),
                api: Some(format!("{base}/v2")),
                client_id: Some(crate::sandbox_env::CLIENT_ID.to_string()),
                client_secret: Some(Secret::new(crate::sandbox_env::CLIENT_SECRET)),
            });
        }
        if let Some(b) = builtin(env) {
            return Ok(Defaults {
                authorize: Some(b.authorize.to_string()),
                token: Some(b.token.to_string()),
                api: Some(b.api.to_string()),
                ..Defaults::default()
            });
        }
        if cfg.env.contains_key(env) {
            return Ok(Defaults::default());
        }
        Err(
            CliError::usage(format!("unknown environment `{env}`")).with_hint(
                "use production, staging or sandbox, or define [env.NAME] in the config file",
            ),
        )
    }
}

/// Flag, else variable, else config file, else built-in.
fn pick(
    flag: Option<&String>,
    var: &Option<String>,
    from_file: &Option<String>,
    base: Option<String>,
) -> Option<String> {
    flag.cloned()
        .or_else(|| var.clone())
        .or_else(|| from_file.clone())
        .or(base)
}

/// The settings that come from variables alone. None of them fails here: an unusable value
/// is either ignored, as it always was (the timeouts), or carried to where it is used (the
/// store).
struct FromVariables {
    client_secret: Option<Secret>,
    token: TokenSource,
    store: StoreChoice,
    http_timeout: Duration,
    state_dir: Option<PathBuf>,
    browser: BrowserChoice,
}

impl FromVariables {
    fn of(vars: &Variables, cfg: &Config, attended: bool) -> FromVariables {
        FromVariables {
            client_secret: vars.client_secret.clone(),
            token: match &vars.access_token {
                Some(token) => TokenSource::Variable(token.clone()),
                None => TokenSource::Store,
            },
            store: store_choice(vars, cfg, attended),
            // Clamped: 1e-308 would time every request out at once, 1e18 is "never".
            http_timeout: seconds(vars.http_timeout.as_deref())
                .filter(|s| *s > 0.0 && s.is_finite())
                .and_then(|s| Duration::try_from_secs_f64(s.clamp(0.1, 86_400.0)).ok())
                .unwrap_or(DEFAULT_HTTP_TIMEOUT),
            state_dir: vars.state_dir.as_ref().map(PathBuf::from),
            browser: BrowserChoice {
                command: vars.browser.clone(),
                has_display: cfg!(any(target_os = "macos", target_os = "windows")) || vars.display,
            },
        }
    }
}

/// A number of seconds as the timeout variables take it ("30", "0.5"); None if not a number.
const DEFAULT_LEDGER_TIMEOUT: Duration = Duration::from_secs(10);

/// `HSM_LEDGER_TIMEOUT` (already checked to be in range by `check_numbers`), else 10 s.
fn ledger_timeout(vars: &Variables) -> Duration {
    seconds(vars.ledger_timeout.as_deref())
        .and_then(|s| Duration::try_from_secs_f64(s.clamp(MIN_SECONDS, MAX_SECONDS)).ok())
        .unwrap_or(DEFAULT_LEDGER_TIMEOUT)
}

fn seconds(text: Option<&str>) -> Option<f64> {
    text?.parse::<f64>().ok()
}

fn store_choice(vars: &Variables, cfg: &Config, attended: bool) -> StoreChoice {
    let chosen = vars
        .credential_store
        .as_deref()
        .or(cfg.credential_store.as_deref());
    match chosen {
        None | Some("keychain") => StoreChoice::Keychain {
            timeout: keychain_timeout(vars.keychain_timeout.as_deref(), attended),
        },
        Some("file") => StoreChoice::File {
            path: vars.credentials_file.as_ref().map(PathBuf::from),
        },
        Some("etcd") => StoreChoice::Etcd(Box::new(etcd_settings(vars, cfg))),
        Some(other) => StoreChoice::Unknown(other.to_string()),
    }
}

fn etcd_settings(vars: &Variables, cfg: &Config) -> EtcdSettings {
    let endpoints = match &vars.etcd_endpoints {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
        None => cfg.etcd_endpoints.clone().unwrap_or_default(),
    };
    let path = |v: &Option<String>| v.as_ref().map(PathBuf::from);
    EtcdSettings {
        endpoints,
        prefix: vars
            .etcd_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_ETCD_PREFIX.to_string()),
        user: vars.etcd_user.clone(),
        password: vars.etcd_password.clone(),
        ca_file: path(&vars.etcd_ca_file),
        cert_file: path(&vars.etcd_cert_file),
        key_file: path(&vars.etcd_key_file),
        timeout: seconds(vars.etcd_timeout.as_deref())
            .filter(|s| *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or(DEFAULT_ETCD_TIMEOUT),
        store_key: vars.store_key.clone(),
        state_dir: path(&vars.state_dir),
    }
}

/// A locked desktop keyring shows an unlock prompt and the call waits for it: long enough for
/// a person at a terminal to answer, short when no one is there to (cron, CI, scripts).
fn keychain_timeout(variable: Option<&str>, attended: bool) -> Duration {
    if let Some(secs) = seconds(variable).filter(|s| s.is_finite())
        && let Ok(d) = Duration::try_from_secs_f64(secs.clamp(0.1, 86_400.0))
    {
        return d;
    }
    if attended {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(20)
    }
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
    // Port 0 would bind a random port the authorization server cannot know: the redirect
    // could never arrive.
    if url.port().is_none_or(|p| p == 0) {
        return Err(CliError::usage(format!(
            "redirect URI `{value}` needs an explicit port (not 0), e.g. http://127.0.0.1:8765/callback"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(env: Option<&str>) -> Selection {
        Selection {
            env: env.map(str::to_string),
            ..Selection::default()
        }
    }

    fn vars() -> Variables {
        Variables::default()
    }

    #[test]
    fn production_is_the_default() {
        let s = resolve_with(
            &global(None),
            &Overrides::default(),
            &Config::default(),
            &vars(),
        )
        .unwrap();
        assert_eq!(s.env, "production");
        assert!(!s.env_chosen);
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
        let s = resolve_with(&global(None), &Overrides::default(), &cfg, &vars()).unwrap();
        assert_eq!(s.env, "staging");
        assert!(s.env_chosen, "default_env chooses");
        assert_eq!(s.client_id.as_deref(), Some("from-file"));
        assert_eq!(s.scope, "s1");
        let o = Overrides {
            client_id: Some("from-flag".into()),
            ..Default::default()
        };
        let s = resolve_with(&global(Some("staging")), &o, &cfg, &vars()).unwrap();
        assert_eq!(s.client_id.as_deref(), Some("from-flag"));
    }

    #[test]
    fn custom_env_needs_all_urls() {
        let cfg = config::parse("[env.acme]\nauthorize_url = \"https://a/x\"\n").unwrap();
        let err =
            resolve_with(&global(Some("acme")), &Overrides::default(), &cfg, &vars()).unwrap_err();
        assert!(err.message.contains("no token url"), "{}", err.message);
    }

    #[test]
    fn empty_env_and_profile_count_as_unset() {
        let mut g = global(Some(""));
        g.profile = Some(String::new());
        let s = resolve_with(&g, &Overrides::default(), &Config::default(), &vars()).unwrap();
        assert_eq!(s.account(), "production/default");
    }

    #[test]
    fn unknown_env_is_a_usage_error() {
        let err = resolve_with(
            &global(Some("nope")),
            &Overrides::default(),
            &Config::default(),
            &vars(),
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
        assert!(parse_redirect_uri("http://127.0.0.1:0/callback").is_err());
    }

    /// The raw variables as `{:?}` shows them (a `dbg!`, a test's failure message): every
    /// secret among them a fingerprint, never its value.
    #[test]
    fn the_variables_debug_output_holds_no_secret() {
        let v = Variables {
            client_secret: Some(Secret::new("client-secret-value")),
            access_token: Some(Secret::new("access-token-value")),
            ledger_password: Some(Secret::new("ledger-password-value")),
            etcd_password: Some(Secret::new("etcd-password-value")),
            store_key: Some(Secret::new("store-key-value")),
            ..vars()
        };
        let shown = format!("{v:?}");
        assert!(!shown.contains("-value"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn variables_become_typed_values_and_bad_ones_fail_only_where_used() {
        let v = Variables {
            access_token: Some(Secret::new("at")),
            credential_store: Some("vault".into()),
            http_timeout: Some("0.5".into()),
            browser: Some(("firefox".into(), ev::BROWSER)),
            ..vars()
        };
        let s = resolve_with(&global(None), &Overrides::default(), &Config::default(), &v).unwrap();
        assert_eq!(s.token, TokenSource::Variable(Secret::new("at")));
        assert_eq!(s.store, StoreChoice::Unknown("vault".into()));
        assert_eq!(s.http_timeout, Duration::from_millis(500));
        assert_eq!(s.browser.command, Some(("firefox".into(), ev::BROWSER)));
        for bad in ["soon", "0", "-3", "inf", "NaN", "", "1e9"] {
            let v = Variables {
                http_timeout: Some(bad.into()),
                credential_store: Some("file".into()),
                ..vars()
            };
            let err = resolve_with(&global(None), &Overrides::default(), &Config::default(), &v)
                .unwrap_err();
            assert_eq!(err.exit, crate::error::Exit::Usage, "{bad}");
            assert_eq!(
                err.message,
                format!(
                    "HSM_HTTP_TIMEOUT must be a number of seconds from 0.1 to 86400 (got `{bad}`)"
                )
            );
        }
        for (set, name) in [
            (
                Variables {
                    keychain_timeout: Some("abc".into()),
                    ..vars()
                },
                "HSM_KEYCHAIN_TIMEOUT",
            ),
            (
                Variables {
                    etcd_timeout: Some("-1".into()),
                    ..vars()
                },
                "HSM_ETCD_TIMEOUT",
            ),
        ] {
            let err = resolve_with(
                &global(None),
                &Overrides::default(),
                &Config::default(),
                &set,
            )
            .unwrap_err();
            assert!(err.message.starts_with(name), "{}", err.message);
        }
        assert_eq!(keychain_timeout(Some("1"), true), Duration::from_secs(1));
        assert_eq!(
            keychain_timeout(Some("0"), false),
            Duration::from_millis(100)
        );
        assert_eq!(keychain_timeout(None, true), Duration::from_secs(120));
        assert_eq!(keychain_timeout(None, false), Duration::from_secs(20));
    }

    #[test]
    fn the_etcd_store_takes_variables_over_the_config_file() {
        let cfg =
            config::parse("credential_store = \"etcd\"\netcd_endpoints = [\"https://cfg:2379\"]\n")
                .unwrap();
        let s = resolve_with(&global(None), &Overrides::default(), &cfg, &vars()).unwrap();
        let StoreChoice::Etcd(e) = s.store else {
            panic!("{:?}", s.store)
        };
        assert_eq!(e.endpoints, ["https://cfg:2379"]);
        assert_eq!(e.prefix, DEFAULT_ETCD_PREFIX);
        assert_eq!(e.timeout, DEFAULT_ETCD_TIMEOUT);
        assert_eq!(e.store_key, None);
        let v = Variables {
            etcd_endpoints: Some("http://127.0.0.1:1, http://127.0.0.1:2".into()),
            etcd_timeout: Some("2.5".into()),
            store_key: Some(Secret::new("k")),
            etcd_password: Some(Secret::new("pw")),
            ..vars()
        };
        let s = resolve_with(&global(None), &Overrides::default(), &cfg, &v).unwrap();
        let StoreChoice::Etcd(e) = s.store else {
            panic!("{:?}", s.store)
        };
        assert_eq!(e.endpoints, ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        assert_eq!(e.timeout, Duration::from_millis(2500));
        assert_eq!(e.store_key, Some(Secret::new("k")));
        assert!(!format!("{e:?}").contains("pw"), "the password is redacted");
        let v = Variables {
            credential_store: Some("file".into()),
            ..vars()
        };
        let s = resolve_with(&global(None), &Overrides::default(), &cfg, &v).unwrap();
        assert_eq!(s.store, StoreChoice::File { path: None });
    }

    #[test]
    fn names_are_restricted() {
        assert!(check_name("profile", "work-1").is_ok());
        assert!(check_name("profile", "a/b").is_err());
        assert!(check_name("profile", "").is_err());
    }

    proptest::proptest! {
        /// Timeouts of any text (inf, NaN, 1e30, negative): a usable duration, never a panic.
        #[test]
        fn any_timeout_text(text in proptest::prelude::any::<String>(), n in proptest::prelude::any::<f64>()) {
            for value in [text.clone(), n.to_string()] {
                let vars = Variables {
                    http_timeout: Some(value.clone()),
                    ..Variables::default()
                };
                let local = FromVariables::of(&vars, &Config::default(), false);
                proptest::prop_assert!(!local.http_timeout.is_zero());
                let _ = keychain_timeout(Some(&value), false);
            }
        }
    }
}
