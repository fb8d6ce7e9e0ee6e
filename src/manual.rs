//! The sections of the `hsm(1)` man page that clap cannot derive from the definitions: exit
//! status, environment, files and examples. The test generator (`tests/it/generated.rs`)
//! renders them into `man/hsm.1`; the README says the same at more length, and its table of
//! environment variables is generated from the same list (`env_vars::DOCUMENTED`).

use crate::env_vars::DOCUMENTED;

/// One man page section: its title and its entries (a term, then what it means).
pub struct Section {
    pub title: &'static str,
    pub entries: Vec<(String, String)>,
}

/// The sections in their order; ENVIRONMENT from the one list of variables.
pub fn sections() -> Vec<Section> {
    let fixed = |title, entries: &[(&str, &str)]| Section {
        title,
        entries: entries
            .iter()
            .map(|(term, text)| (term.to_string(), text.to_string()))
            .collect(),
    };
    let environment = DOCUMENTED
        .iter()
        .map(|d| (d.names.join(", "), man_sentence(d.meaning)))
        .collect();
    vec![
        fixed("EXIT STATUS", EXIT_STATUS),
        Section {
            title: "ENVIRONMENT",
            entries: environment,
        },
        fixed("FILES", FILES),
        fixed("EXAMPLES", EXAMPLES),
    ]
}

/// A meaning as the man page writes it: a sentence, without Markdown's backticks (one that
/// begins with a code word keeps its case).
fn man_sentence(meaning: &str) -> String {
    let plain = meaning.replace('`', "");
    if meaning.starts_with('`') {
        return format!("{plain}.");
    }
    let mut chars = plain.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

/// The README's table of environment variables (between its `env-vars` markers).
pub fn environment_markdown() -> String {
    let mut table = String::from("| variable | meaning |\n|---|---|\n");
    for d in DOCUMENTED {
        let names: Vec<String> = d.names.iter().map(|n| format!("`{n}`")).collect();
        // A `|` inside a cell would end it.
        let meaning = d.meaning.replace('|', "\\|");
        table.push_str(&format!("| {} | {meaning} |\n", names.join(", ")));
    }
    table
}

const EXIT_STATUS: &[(&str, &str)] = &[
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
];

const FILES: &[(&str, &str)] = &[
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
        "~/.local/state/hsm/ledger.sqlite3",
        "The ledger (SQLite, WAL): per realm and external id, the contact id, salted digests of the fields as last sent and requests in flight (no field values); mode 0600 in a private directory. hsm ledger status, history, verify, export, adopt. Honours XDG_STATE_HOME, HSM_STATE_DIR and HSM_LEDGER.",
    ),
    (
        "~/.local/state/hsm/sync/ENV.PROFILE.jsonl",
        "The state and journal of hsm contacts sync: external ids, contact ids and salted digests of what was sent (no field values); mode 0600. Honours XDG_STATE_HOME.",
    ),
];

const EXAMPLES: &[(&str, &str)] = &[
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
];

/// The EXIT STATUS section as `hsm --help` shows it, so the help, the man page and the README
/// (whose table a test compares with it) say the same.
pub fn exit_status_help() -> String {
    let mut text = String::from("Exit status:");
    for (code, meaning) in EXIT_STATUS {
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
