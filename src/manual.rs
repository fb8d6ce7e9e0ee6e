//! The sections of the `hsm(1)` man page that clap cannot derive from the definitions: exit
//! status, environment, files and examples. The test generator (`tests/it/generated.rs`)
//! renders them into `man/hsm.1`; the README says the same at more length.

/// One man page section: its title and its entries (a term, then what it means).
pub struct Section {
    pub title: &'static str,
    pub entries: &'static [(&'static str, &'static str)],
}

pub const SECTIONS: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        entries: &[
            ("0", "Success."),
            ("1", "Unexpected failure (a bug)."),
            (
                "2",
                "Usage or invalid input (bad flag, invalid field, bad file, bad config): nothing was sent for it. In a bulk run (hsm contacts import, or sync --skip-invalid) the invalid rows were not sent and the valid ones were; the summary counts both. Also: another hsm is writing to the same server and login (see --wait).",
            ),
            (
                "3",
                "The API refused the request (4xx other than authentication); its message is shown.",
            ),
            (
                "4",
                "Authentication required: not logged in, login denied, or the session can no longer be refreshed. hsm status: no usable session.",
            ),
            (
                "5",
                "Network error, timeout or server error (5xx) after retries; also a login port in use, or a token endpoint that cannot be reached.",
            ),
            (
                "6",
                "Credential store or ledger error: no OS keychain on this machine, keychain locked, file store unsafe or corrupt, etcd unavailable or without quorum, HSM_STORE_KEY missing or wrong; the ledger damaged (see hsm ledger verify), unreachable, or in a directory others can write to.",
            ),
            ("130", "Interrupted (Ctrl-C)."),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        entries: &[
            (
                "HSM_ENV, HSM_PROFILE, HSM_CONFIG",
                "Environment, profile and config file (as --env, --profile, --config). With no environment chosen, commands use the only environment with a stored session.",
            ),
            (
                "HSM_AUTHORIZE_URL, HSM_TOKEN_URL, HSM_API_URL",
                "Override the endpoints of the selected environment.",
            ),
            (
                "HSM_CLIENT_ID, HSM_CLIENT_SECRET, HSM_REDIRECT_URI",
                "Override the OAuth client and its redirect URI.",
            ),
            (
                "HSM_ACCESS_TOKEN",
                "Use this bearer token as is (no store, no refresh), for CI.",
            ),
            (
                "HSM_CREDENTIAL_STORE",
                "keychain (default), file (a 0600 file, for machines without a keychain) or etcd (one session shared by several machines).",
            ),
            ("HSM_CREDENTIALS_FILE", "Path of the file store."),
            (
                "HSM_ETCD_ENDPOINTS, HSM_ETCD_PREFIX",
                "The etcd store: client URLs, comma-separated, and the key prefix (default /hsm/).",
            ),
            (
                "HSM_ETCD_USER, HSM_ETCD_PASSWORD",
                "etcd password auth (both or neither).",
            ),
            (
                "HSM_ETCD_CA_FILE, HSM_ETCD_CERT_FILE, HSM_ETCD_KEY_FILE",
                "TLS to etcd: its CA, and a client certificate and key (PEM).",
            ),
            (
                "HSM_ETCD_TIMEOUT",
                "Seconds any etcd call may take, failover included (default 10).",
            ),
            (
                "HSM_STORE_KEY",
                "32 random bytes, base64 (head -c32 /dev/urandom | base64): seals the etcd store's records.",
            ),
            (
                "HSM_BROWSER, BROWSER",
                "The program that opens the login URL.",
            ),
            (
                "HSM_SANDBOX_URL",
                "Base URL of hsm sandbox for --env sandbox (default http://127.0.0.1:8787).",
            ),
            (
                "HSM_HTTP_TIMEOUT",
                "Seconds one HTTP request may take (default 30).",
            ),
            (
                "HSM_KEYCHAIN_TIMEOUT",
                "Seconds a keychain call may take (default 120 at a terminal, 20 otherwise).",
            ),
            (
                "HSM_WEBHOOK_API_KEY",
                "The API key hsm webhooks listen requires in X-API-Key (and hsm sandbox --webhook-url sends by default).",
            ),
            (
                "HSM_STATE_DIR",
                "Directory of the refresh lock files; the sync state goes in its sync/ subdirectory.",
            ),
            (
                "HSM_CA_FILE",
                "Extra CA certificates (PEM) to trust, e.g. a TLS-inspecting proxy's.",
            ),
            (
                "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
                "Proxies, with curl's rules.",
            ),
        ],
    },
    Section {
        title: "FILES",
        entries: &[
            (
                "~/.config/hsm/config.toml",
                "Configuration: default_env and [env.NAME] tables (client_id, redirect_uri, URLs, scope, ca_file). Never a secret; hsm never writes it. Honours XDG_CONFIG_HOME.",
            ),
            (
                "~/.local/share/hsm/credentials.json",
                "The file store, when HSM_CREDENTIAL_STORE=file: mode 0600, written atomically. Honours XDG_DATA_HOME.",
            ),
            (
                "~/.cache/hsm/locks/",
                "Refresh locks, one per environment and profile.",
            ),
            (
                "FILE.report.jsonl",
                "The report and journal of hsm contacts import FILE.",
            ),
            (
                "~/.local/state/hsm/sync/ENV.PROFILE.jsonl",
                "The state and journal of hsm contacts sync: external ids, contact ids and salted digests of what was sent (no field values); mode 0600. Honours XDG_STATE_HOME.",
            ),
        ],
    },
    Section {
        title: "EXAMPLES",
        entries: &[
            (
                "hsm sandbox & hsm login --env sandbox",
                "Try hsm against the bundled emulator: no registration needed.",
            ),
            (
                "hsm login --env staging",
                "Log in to staging (needs the client id HealthSherpa issued, in the config file).",
            ),
            (
                "HSM_CREDENTIAL_STORE=file hsm login --env staging",
                "On a server without a keychain: keep the tokens in a 0600 file.",
            ),
            (
                "ssh -L 8765:127.0.0.1:8765 server",
                "Over SSH, forward the login's redirect port, then run hsm login on the server and open its URL locally.",
            ),
            (
                "hsm status",
                "Every stored session, its store, expiry and whether it refreshes.",
            ),
            (
                "hsm token show --check",
                "The session, checked with the server.",
            ),
            (
                "hsm contacts create --external-id CRM123 --first-name John --last-name Doe",
                "Create a contact; prints its id.",
            ),
            (
                "hsm contacts import crm.csv; hsm contacts import crm.csv --show-report",
                "Bulk create, then list each row's outcome (also when some rows were invalid: that is exit 2).",
            ),
            (
                "hsm contacts sync crm.csv --dry-run && hsm contacts sync crm.csv",
                "Keep contacts in step with a CRM export: see the plan, then create new rows and PATCH changed fields.",
            ),
            (
                "hsm api -X PATCH contacts/ID -f 'contact[zip]=94103'",
                "Call any endpoint with the session.",
            ),
        ],
    },
];

/// The EXIT STATUS section as `hsm --help` shows it, so the help, the man page and the README
/// (whose table a test compares with it) say the same.
pub fn exit_status_help() -> String {
    let section = SECTIONS
        .iter()
        .find(|s| s.title == "EXIT STATUS")
        .expect("the EXIT STATUS section");
    let mut text = String::from("Exit status:");
    for (code, meaning) in section.entries {
        text.push_str(&format!("\n  {code:<5}"));
        // Wrapped here, with a hanging indent, narrower than clap's own wrapping (which
        // would lose the indent).
        let mut width = 7;
        for (i, word) in meaning.split(' ').enumerate() {
            if i > 0 && width + 1 + word.len() > 88 {
                text.push_str("\n       ");
                width = 7;
            } else if i > 0 {
                text.push(' ');
                width += 1;
            }
            text.push_str(word);
            width += word.len();
        }
    }
    text
}
