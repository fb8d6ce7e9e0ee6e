//! Every environment variable hsm reads, in one place (copied into the README table). They
//! are read by the settings layer (`settings.rs`) and by clap's `env` attributes, nowhere else.

pub const HSM_ENV: &str = "HSM_ENV";
pub const HSM_PROFILE: &str = "HSM_PROFILE";
pub const HSM_CONFIG: &str = "HSM_CONFIG";
pub const HSM_AUTHORIZE_URL: &str = "HSM_AUTHORIZE_URL";
pub const HSM_TOKEN_URL: &str = "HSM_TOKEN_URL";
pub const HSM_API_URL: &str = "HSM_API_URL";
pub const HSM_CLIENT_ID: &str = "HSM_CLIENT_ID";
pub const HSM_CLIENT_SECRET: &str = "HSM_CLIENT_SECRET";
pub const HSM_REDIRECT_URI: &str = "HSM_REDIRECT_URI";
pub const HSM_ACCESS_TOKEN: &str = "HSM_ACCESS_TOKEN";
/// `keychain` (default), `file` or `etcd`.
pub const HSM_CREDENTIAL_STORE: &str = "HSM_CREDENTIAL_STORE";
pub const HSM_CREDENTIALS_FILE: &str = "HSM_CREDENTIALS_FILE";
/// The etcd store (`HSM_CREDENTIAL_STORE=etcd`): comma-separated client URLs.
pub const HSM_ETCD_ENDPOINTS: &str = "HSM_ETCD_ENDPOINTS";
/// Key prefix of the etcd store (default `/hsm/`).
pub const HSM_ETCD_PREFIX: &str = "HSM_ETCD_PREFIX";
/// etcd user and password (password auth, optional).
pub const HSM_ETCD_USER: &str = "HSM_ETCD_USER";
pub const HSM_ETCD_PASSWORD: &str = "HSM_ETCD_PASSWORD";
/// TLS to etcd: the CA that signed its certificates, and a client certificate and key (PEM).
pub const HSM_ETCD_CA_FILE: &str = "HSM_ETCD_CA_FILE";
pub const HSM_ETCD_CERT_FILE: &str = "HSM_ETCD_CERT_FILE";
pub const HSM_ETCD_KEY_FILE: &str = "HSM_ETCD_KEY_FILE";
/// Seconds any etcd call may take, failover included (default 10).
pub const HSM_ETCD_TIMEOUT: &str = "HSM_ETCD_TIMEOUT";
/// 32 random bytes, base64: seals the records of a shared store (required for etcd).
pub const HSM_STORE_KEY: &str = "HSM_STORE_KEY";
/// Program to open the login URL with, before `BROWSER`.
pub const HSM_BROWSER: &str = "HSM_BROWSER";
pub const BROWSER: &str = "BROWSER";
/// Overrides the directory for lock files (default: the platform cache dir) and, under its
/// `sync/`, the sync state (default: the platform state dir).
pub const HSM_STATE_DIR: &str = "HSM_STATE_DIR";

/// Where the ledger of what hsm has sent lives: `sqlite:PATH` (default
/// `STATE_DIR/ledger.sqlite3`) or `postgres://USER@HOST:PORT/DB`.
pub const HSM_LEDGER: &str = "HSM_LEDGER";
/// Seconds a ledger connection or a busy ledger may hold a command up (default 10).
pub const HSM_LEDGER_TIMEOUT: &str = "HSM_LEDGER_TIMEOUT";
/// The password of a PostgreSQL ledger's user (never in `HSM_LEDGER` itself).
pub const HSM_LEDGER_PASSWORD: &str = "HSM_LEDGER_PASSWORD";
/// TLS to a PostgreSQL ledger: the CA that signed the server's certificate (PEM).
pub const HSM_LEDGER_CA_FILE: &str = "HSM_LEDGER_CA_FILE";
/// libpq's password file, read for a PostgreSQL ledger when `HSM_LEDGER_PASSWORD` is unset
/// (default `~/.pgpass`).
pub const PGPASSFILE: &str = "PGPASSFILE";

/// Base URL of the sandbox for the built-in `sandbox` environment (default http://127.0.0.1:8787).
pub const HSM_SANDBOX_URL: &str = "HSM_SANDBOX_URL";
/// Seconds one HTTP request may take (default 30).
pub const HSM_HTTP_TIMEOUT: &str = "HSM_HTTP_TIMEOUT";
/// A PEM file of extra CA certificates to trust (a corporate TLS-inspecting proxy's CA).
pub const HSM_CA_FILE: &str = "HSM_CA_FILE";
/// The API key HealthSherpa sends in `X-API-Key` to `hsm webhooks listen` (required there), and
/// the key `hsm sandbox --webhook-url` sends unless `--webhook-api-key` gives one.
pub const HSM_WEBHOOK_API_KEY: &str = "HSM_WEBHOOK_API_KEY";
/// Seconds a keychain call may take (default 120 at a terminal, 20 otherwise).
pub const HSM_KEYCHAIN_TIMEOUT: &str = "HSM_KEYCHAIN_TIMEOUT";
/// Any of these tells that a browser can be shown (an X or Wayland display, or WSL, where the
/// platform opener hands the URL to the Windows browser).
pub const DISPLAY_VARS: [&str; 4] = [
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "WSL_DISTRO_NAME",
    "WSL_INTEROP",
];
