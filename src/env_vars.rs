//! Every environment variable hsm reads, in one place, with what each means ([`DOCUMENTED`]):
//! the man page's ENVIRONMENT section and the README's table are generated from it (a test in
//! `tests/it/generated.rs` keeps them current). They are read by the settings layer
//! (`settings.rs`) and by clap's `env` attributes, nowhere else.

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
/// Read by reqwest, with curl's rules (hsm passes no proxy of its own).
pub const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"];

/// Variables documented together, and what they mean: one line, in Markdown (backticks
/// for code; the man page shows them without).
pub struct Documented {
    pub names: &'static [&'static str],
    pub meaning: &'static str,
}

/// The list the man page and the README show, in their order.
pub const DOCUMENTED: &[Documented] = &[
    Documented {
        names: &[HSM_ENV, HSM_PROFILE, HSM_CONFIG],
        meaning: "environment, profile and config file (as `--env`, `--profile`, `--config`); with no environment chosen, commands use the only environment with a stored session",
    },
    Documented {
        names: &[HSM_AUTHORIZE_URL, HSM_TOKEN_URL, HSM_API_URL],
        meaning: "override the selected environment's endpoints",
    },
    Documented {
        names: &[HSM_CLIENT_ID, HSM_CLIENT_SECRET, HSM_REDIRECT_URI],
        meaning: "override the OAuth client and its redirect URI",
    },
    Documented {
        names: &[HSM_ACCESS_TOKEN],
        meaning: "use this bearer token as is (no store, no refresh), for CI",
    },
    Documented {
        names: &[HSM_CREDENTIAL_STORE],
        meaning: "`keychain` (default), `file` (a 0600 file, for machines without a keychain) or `etcd` (one session shared by several machines); or `credential_store` at the top of the config file",
    },
    Documented {
        names: &[HSM_CREDENTIALS_FILE],
        meaning: "path of the file store",
    },
    Documented {
        names: &[HSM_ETCD_ENDPOINTS],
        meaning: "the etcd client URLs, comma-separated (or `etcd_endpoints = [...]` in the config file)",
    },
    Documented {
        names: &[HSM_ETCD_PREFIX],
        meaning: "key prefix in etcd (default `/hsm/`)",
    },
    Documented {
        names: &[HSM_ETCD_USER, HSM_ETCD_PASSWORD],
        meaning: "password auth to etcd (both or neither)",
    },
    Documented {
        names: &[HSM_ETCD_CA_FILE, HSM_ETCD_CERT_FILE, HSM_ETCD_KEY_FILE],
        meaning: "TLS to etcd: the CA that signed its certificates (when given, the only one trusted for etcd), and a client certificate and key (PEM)",
    },
    Documented {
        names: &[HSM_ETCD_TIMEOUT],
        meaning: "seconds any etcd call may take, failover included (default 10; 0.1 to 86400, anything else is exit 2)",
    },
    Documented {
        names: &[HSM_STORE_KEY],
        meaning: "32 random bytes, base64, sealing the records of the etcd store (`head -c32 /dev/urandom | base64`)",
    },
    Documented {
        names: &[HSM_BROWSER, BROWSER],
        meaning: "the program that opens the login URL (`%s` is replaced by the URL, else it is appended)",
    },
    Documented {
        names: &DISPLAY_VARS,
        meaning: "on Linux, any of them set tells hsm a browser can be opened for the login; without, it prints the URL to open elsewhere",
    },
    Documented {
        names: &[HSM_SANDBOX_URL],
        meaning: "base URL of the sandbox for `--env sandbox` (default `http://127.0.0.1:8787`)",
    },
    Documented {
        names: &[HSM_HTTP_TIMEOUT],
        meaning: "seconds one HTTP request may take (default 30; 0.1 to 86400, anything else is exit 2)",
    },
    Documented {
        names: &[HSM_STATE_DIR],
        meaning: "directory of the refresh lock files (default `~/.cache/hsm/locks`), of the ledger (default `~/.local/state/hsm/ledger.sqlite3`) and, in its `sync/`, of the sync state",
    },
    Documented {
        names: &[HSM_LEDGER],
        meaning: "where the ledger is: `sqlite:PATH` (default: `ledger.sqlite3` in the state directory) or `postgres://USER@HOST:PORT/DB[?sslmode=verify-full]` (shared by machines; no password in it)",
    },
    Documented {
        names: &[HSM_LEDGER_PASSWORD, PGPASSFILE],
        meaning: "the password of a PostgreSQL ledger's user, else libpq's password file (`PGPASSFILE`, default `~/.pgpass`, used only when not readable by others)",
    },
    Documented {
        names: &[HSM_LEDGER_CA_FILE],
        meaning: "the CA (PEM) that signed a PostgreSQL ledger's certificate; required by `sslmode=verify-full`, the only one trusted for it",
    },
    Documented {
        names: &[HSM_LEDGER_TIMEOUT],
        meaning: "seconds a busy ledger may hold a command up, and a PostgreSQL ledger's connecting and each of its calls may take (default 10; 0.1 to 86400, anything else is exit 2)",
    },
    Documented {
        names: &[HSM_CA_FILE],
        meaning: "extra CA certificates (PEM) to trust, e.g. a TLS-inspecting proxy's",
    },
    Documented {
        names: &[HSM_WEBHOOK_API_KEY],
        meaning: "the API key `hsm webhooks listen` requires in `X-API-Key` (and `hsm sandbox --webhook-url` sends by default)",
    },
    Documented {
        names: &[HSM_KEYCHAIN_TIMEOUT],
        meaning: "seconds a keychain call may take, e.g. waiting for an unlock prompt (default 120 at a terminal, 20 otherwise; 0.1 to 86400, anything else is exit 2)",
    },
    Documented {
        names: &PROXY_VARS,
        meaning: "proxies, with curl's rules",
    },
];

#[cfg(test)]
mod tests {
    use super::DOCUMENTED;

    /// A variable added above and not to `DOCUMENTED` would be missing from the man page and
    /// the README: every name a constant here holds is documented, once.
    #[test]
    fn every_variable_is_documented_once() {
        let source = include_str!("env_vars.rs");
        let code = &source[..source.find("pub struct Documented").unwrap()];
        let quoted: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        assert!(quoted.len() > 40, "{quoted:?}");
        let documented: Vec<&str> = DOCUMENTED.iter().flat_map(|d| d.names).copied().collect();
        for name in &quoted {
            let times = documented.iter().filter(|d| *d == name).count();
            assert_eq!(times, 1, "{name} is documented {times} times");
        }
        assert_eq!(documented.len(), quoted.len());
    }
}
