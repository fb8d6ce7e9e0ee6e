//! Command-line definitions: plain clap data, no I/O.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env_vars as ev;

#[derive(Debug, Parser)]
#[command(
    name = "hsm",
    version,
    long_version = LONG_VERSION,
    about = "Talk to the HealthSherpa for Medicare Partner API v2 from a terminal, scripts and CI",
    after_long_help = crate::manual::exit_status_help(),
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// `hsm --version`: the version, the commit and its date, stamped by build.rs.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HSM_BUILD_COMMIT"),
    " ",
    env!("HSM_BUILD_DATE"),
    ")"
);

const GLOBAL: &str = "Global options";

/// The environments every hsm knows (SPEC: production, staging, sandbox).
pub const BUILT_IN_ENVS: [&str; 3] = ["production", "staging", "sandbox"];

/// A parser for `--env` / `--profile`: any name, but with the usual ones as the values that
/// completion scripts offer (the help already names them in words).
#[derive(Clone)]
pub struct NameWithSuggestions(pub &'static [&'static str]);

impl clap::builder::TypedValueParser for NameWithSuggestions {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            self.0
                .iter()
                .map(|name| clap::builder::PossibleValue::new(*name)),
        ))
    }
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Environment to use: production, staging, sandbox, or one defined in the config file
    #[arg(long, global = true, value_name = "NAME", env = ev::HSM_ENV, hide_env_values = true, help_heading = GLOBAL,
          value_parser = NameWithSuggestions(&BUILT_IN_ENVS),
          hide_possible_values = true)]
    pub env: Option<String>,

    /// Credential profile within the environment
    #[arg(long, global = true, value_name = "NAME", env = ev::HSM_PROFILE, hide_env_values = true, help_heading = GLOBAL,
          value_parser = NameWithSuggestions(&["default"]),
          hide_possible_values = true)]
    pub profile: Option<String>,

    /// Config file to read instead of the platform default
    #[arg(long, global = true, value_name = "PATH", env = ev::HSM_CONFIG, hide_env_values = true, help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// Trace each HTTP exchange on stderr, with secrets redacted
    #[arg(short = 'v', long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,

    /// Print only results and errors
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
}

impl GlobalArgs {
    /// The environment, profile and config file chosen, for the settings layer (which never
    /// sees clap's types).
    pub fn selection(&self) -> crate::settings::Selection {
        crate::settings::Selection {
            env: self.env.clone(),
            profile: self.profile.clone(),
            config: self.config.clone(),
        }
    }
}

/// On commands that use no environment, profile or config (sandbox, completions, webhooks
/// listen): `--env`, `--profile` and `--config` are hidden and refused rather than silently
/// ignored. Same ids and types as the global flags, so clap does not add those here.
#[derive(Debug, Clone, Default, Args)]
pub struct NoSession {
    /// Refused: this command uses no environment
    #[arg(long, hide = true, value_name = "NAME", value_parser = unused_here::<String>("--env"))]
    env: Option<String>,
    /// Refused: this command uses no credential profile
    #[arg(long, hide = true, value_name = "NAME", value_parser = unused_here::<String>("--profile"))]
    profile: Option<String>,
    /// Refused: this command reads no config file
    #[arg(long, hide = true, value_name = "PATH", value_parser = unused_here::<PathBuf>("--config"))]
    config: Option<PathBuf>,
}

/// A value parser that refuses every value: the flag has no meaning on this command. (Of the
/// global flag's type: clap copies a value given before the subcommand, or by HSM_ENV,
/// HSM_PROFILE or HSM_CONFIG, down to the same id here, where nothing reads it.)
fn unused_here<T>(flag: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone {
    move |_| {
        Err(format!(
            "{flag} has no effect on this command (it uses no environment, profile or config file)"
        ))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in through the browser and keep the tokens in the OS keychain
    #[command(after_long_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Remove the stored credentials of this environment and profile
    Logout,
    /// List every stored session: environment, profile, store, expiry, whether it refreshes
    #[command(after_long_help = STATUS_NOTE)]
    Status(JsonFlag),
    /// Inspect, refresh or print the access token
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create, update, search, bulk-import and sync contacts
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// The ledger of what hsm has sent: status, a contact's history, verify, export, adopt
    #[command(subcommand, after_long_help = LEDGER_EXAMPLES)]
    Ledger(LedgerCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    #[command(after_long_help = COMPLETION_EXAMPLES)]
    Completions {
        /// The shell to complete for
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
        #[command(flatten)]
        no_session: NoSession,
    },
    /// Run a local emulator of the Partner API v2 for trying hsm and testing scripts
    #[command(after_long_help = SANDBOX_EXAMPLES)]
    Sandbox(SandboxArgs),
    /// Call any API endpoint with the session (like `gh api`); the answer's body on stdout
    #[command(after_long_help = API_EXAMPLES)]
    Api(ApiArgs),
    /// Receive HealthSherpa's submission webhooks (like `stripe listen`)
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// The names the completion scripts offer for --env or --profile, one per line
    #[command(name = "__complete", hide = true)]
    Complete {
        /// What to list
        #[arg(value_name = "KIND")]
        kind: CompleteKind,
    },
}

impl Command {
    /// Whether the command was asked for JSON (`--json`), so that an error is JSON too.
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Status(flag) => flag.json,
            Command::Token(TokenCommand::Show(args)) => args.json,
            Command::Token(TokenCommand::Refresh(flag)) => flag.json,
            Command::Token(TokenCommand::Print) => false,
            Command::Contacts(cmd) => match cmd {
                ContactsCommand::Create(args) => args.data.json,
                ContactsCommand::Update(args) => args.data.json,
                ContactsCommand::Search(args) => args.json,
                ContactsCommand::Import(args) => args.json,
                ContactsCommand::Sync(args) => args.json,
            },
            Command::Webhooks(WebhooksCommand::Listen(args)) => args.json,
            Command::Ledger(LedgerCommand::Status(flag)) => flag.json,
            Command::Ledger(LedgerCommand::History(args)) => args.json,
            Command::Ledger(_) => false,
            Command::Login(_)
            | Command::Logout
            | Command::Completions { .. }
            | Command::Sandbox(_)
            | Command::Api(_)
            | Command::Complete { .. } => false,
        }
    }
}

/// What `hsm __complete` lists.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompleteKind {
    Env,
    Profile,
}

const API_EXAMPLES: &str = "Examples:
  hsm api contacts -f 'contact[external_id]=CRM1' -f 'contact[first_name]=John' \\
                   -f 'contact[last_name]=Doe'
  hsm api -X PATCH /v2/contacts/3f1c9a2e-... --input change.json
  hsm api contacts/search --input - < query.json | jq .data.contact.id
  hsm api -X PATCH contacts/3f1c9a2e-... -f 'contact[zip]=94103' --include
PATH is relative to the environment's API base (`contacts`, `/contacts` and `/v2/contacts`
are the same); a URL is accepted only on the API's own host. The method is GET, or POST when
-f or --input gives a body. The session is refreshed as for every command. Exit status: 0 for
2xx, 4 for 401 (after one refresh), 3 for other 4xx, 5 for 5xx or no answer. A POST or PATCH
whose answer is lost is never sent again. Values given with -f are visible to other users of
this machine (in the process list): pass personal data with --input - instead.
A body from a file is --input FILE, as in gh api; @FILE is only for contacts create and
update, whose --data also takes inline JSON (--data @contact.json).";

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Path under the API base (`contacts`, `/v2/contacts/ID`), or a URL on the API's host
    #[arg(value_name = "PATH")]
    pub path: String,
    /// HTTP method (default GET, or POST when -f or --input gives a body)
    #[arg(short = 'X', long, value_name = "METHOD")]
    pub method: Option<String>,
    /// The body from FILE as is, or - for stdin (gh api's --input: a file name without @;
    /// inline bodies are built with -f)
    #[arg(long, value_name = "FILE|-", conflicts_with = "fields")]
    pub input: Option<String>,
    /// A string field of the JSON body, KEY=VALUE; nested keys as contact[first_name]=John,
    /// arrays as key[]=value (repeatable; with GET, query parameters instead)
    #[arg(short = 'f', long = "raw-field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// A request header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Print the status line and the response headers before the body
    #[arg(short = 'i', long)]
    pub include: bool,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Receive submission events: check the API key, keep or hand on each event once, answer
    #[command(after_long_help = LISTEN_NOTE)]
    Listen(ListenArgs),
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    #[command(flatten)]
    pub no_session: NoSession,

    /// Address to listen on; another than 127.0.0.1 only behind a TLS reverse proxy
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,

    /// Port to listen on (0 picks a free one)
    #[arg(long, value_name = "PORT", default_value_t = 8788)]
    pub port: u16,

    /// The path HealthSherpa posts to; other paths get 404
    #[arg(long, value_name = "PATH", default_value = "/webhooks/healthsherpa")]
    pub path: String,

    /// Append each new event to this JSON Lines file (fsync'd, created 0600); it is also the
    /// record of events already received, read at start so redeliveries are not kept twice
    #[arg(long, value_name = "FILE.jsonl")]
    pub output: Option<PathBuf>,

    /// Run CMD for each new event, the event on its stdin (`sh -c CMD`; `cmd /C` on Windows);
    /// exit 0 acknowledges it, anything else (or --timeout) answers 500 so it is sent again
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// POST each new event to URL (https, or http on loopback); a 2xx acknowledges it
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,

    /// Seconds --exec and --forward-to may take per event
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    pub timeout: Duration,

    /// One JSON line per event on stdout (no personal data), for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// OAuth client id (overrides the config file and HSM_CLIENT_ID)
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// Read the client secret from the first line of stdin and keep it in the credential store
    #[arg(long)]
    pub client_secret_stdin: bool,

    /// Redirect URI registered for the client (a loopback http:// URL)
    #[arg(long, value_name = "URI")]
    pub redirect_uri: Option<String>,

    /// OAuth scope to request
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,

    /// Do not open a browser: print the URL and accept the pasted redirect URL on stdin
    #[arg(long)]
    pub no_browser: bool,

    /// Seconds to wait for the browser to come back
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds)]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)
    Show(ShowArgs),
    /// Refresh the access token now and store the rotated refresh token
    Refresh(JsonFlag),
    /// Print the access token (refreshed if needed) to stdout
    Print,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// Check the session with the server (one read-only API call; refreshes first if needed);
    /// without it, "valid" means only "not expired" by the stored expiry
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SandboxArgs {
    #[command(flatten)]
    pub no_session: NoSession,

    /// Port to listen on at 127.0.0.1 (0 picks a free one)
    #[arg(long, value_name = "PORT", default_value_t = 8787)]
    pub port: u16,

    /// Lifetime of issued access tokens, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    pub access_ttl: u64,

    /// Approve every authorization request without showing the consent page
    #[arg(long)]
    pub auto_approve: bool,

    /// Delay every API response by this many milliseconds (a realistic network latency)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Answer 429 with Retry-After beyond N requests per second over /v2 (a token bucket of N,
    /// refilled at N per second), to try a client's pacing against a rate-limited API
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_limit: Option<u32>,

    /// Inject faults (repeatable): ENDPOINT:KIND[=ARG][xCOUNT]. ENDPOINT: authorize, token, create,
    /// update, search, api (all of /v2), any. KIND: NNN[=SECS], htmlNNN, 429[=SECS], html,
    /// malformed, delay=MS, lost=MS, commit-then-NNN, commit-then-lost. E.g. `token:500`,
    /// `create:429=2x3`, `api:delay=2000`, `create:lost=5000`, `create:commit-then-502`
    #[arg(long = "fault", value_name = "SPEC", value_parser = hsm_sandbox::Fault::parse)]
    pub faults: Vec<hsm_sandbox::Fault>,

    /// Deliver submission webhooks to this http:// URL (e.g. `hsm webhooks listen`'s); queue
    /// one with POST /__sandbox/webhooks/submission
    #[arg(long, value_name = "URL", value_parser = hsm_sandbox::WebhookUrl::parse, help_heading = WEBHOOKS)]
    pub webhook_url: Option<hsm_sandbox::WebhookUrl>,

    /// The X-API-Key the deliveries carry (default: HSM_WEBHOOK_API_KEY; prefer the variable,
    /// as other users can read a command line)
    #[arg(long, value_name = "KEY", value_parser = secret, requires = "webhook_url", help_heading = WEBHOOKS)]
    pub webhook_api_key: Option<crate::secret::Secret>,

    /// Multiply the retry schedule of failed deliveries (20 s, 10 min, 1 h) by F, e.g. 0.01
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = retry_scale, help_heading = WEBHOOKS)]
    pub webhook_retry_scale: f64,

    /// Also send a submission event for every contact created, a second after its creation
    #[arg(long, requires = "webhook_url", help_heading = WEBHOOKS)]
    pub webhook_on_create: bool,
}

const WEBHOOKS: &str = "Webhooks";

fn secret(text: &str) -> Result<crate::secret::Secret, std::convert::Infallible> {
    Ok(crate::secret::Secret::new(text))
}

fn retry_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1000.0).contains(&f) => Ok(f),
        _ => Err("expected a number from 0 to 1000".into()),
    }
}

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Create a contact (POST /v2/contacts); prints its id
    #[command(after_long_help = CREATE_EXAMPLES)]
    Create(CreateArgs),
    /// Update some fields of a contact (PATCH /v2/contacts/ID)
    #[command(after_long_help = UPDATE_NOTE)]
    Update(UpdateArgs),
    /// Find a contact by Medicare number, or by name plus birth date, email or phone
    Search(SearchArgs),
    /// Create contacts from a CSV or JSON Lines file, resumably
    #[command(after_long_help = IMPORT_EXAMPLES)]
    Import(ImportArgs),
    /// Keep contacts in step with a CRM export: create new rows, PATCH changed fields only
    #[command(after_long_help = SYNC_EXAMPLES)]
    Sync(SyncArgs),
}

const SYNC_EXAMPLES: &str = "Examples:
  hsm contacts sync crm-export.csv                   # nightly: create new rows, PATCH changed fields
  hsm contacts sync crm-export.csv --dry-run         # the plan: to create, to update (which fields), missing
  hsm contacts sync crm-export.csv --skip-invalid    # send the valid rows, list the invalid ones
The file is the desired state, keyed by external_id, read and validated whole before anything is
sent (an invalid row or a repeated external id: exit 2, nothing sent, unless --skip-invalid). A
row the ledger does not know is created; a row whose fields changed since they were last sent is
PATCHed with those fields only (never external_id); an unchanged row sends nothing; rows gone
from the file are listed, never deleted. What was sent is read from the ledger (hsm ledger
status), which import and create write too: a sync after an import of the same rows sends nothing
for them. After a crash or Ctrl-C, run the same command again; a request whose outcome is
unknown is looked up (hsm contacts search) before anything is sent for that row, and a failed
look-up keeps it unknown.";

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// CSV (.csv, header row of field names) or JSON Lines (.jsonl) file, or - for stdin
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Most requests in flight at once; hsm adapts between 1 and this to the server's pace
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Send at most N requests per second (your quota); without it, hsm learns the pace
    /// from the server's 429 answers
    #[arg(long, value_name = "N", value_parser = requests_per_second)]
    pub rate: Option<f64>,
    /// Print the plan (to create, to update with which fields, to look up, missing) and send
    /// nothing; the real run does exactly this
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary (or, with --dry-run, the plan) as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Send the valid rows and list the invalid ones (default: one invalid row refuses the run)
    #[arg(long)]
    pub skip_invalid: bool,
    /// Send again the rows whose earlier request has an unknown outcome when a search answered
    /// and found nothing (a failed search never lets a row go out again)
    #[arg(long)]
    pub resend_unknown: bool,
    /// Input format when it cannot be told from the file name
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<InputFormat>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

const LEDGER_EXAMPLES: &str = "Examples:
  hsm ledger status                                  # where it is; per realm: contacts, runs
  hsm ledger history CRM123 --env sandbox            # what hsm did to CRM123, and when
  hsm ledger verify                                  # integrity and consistency: ok, or exit 6
  hsm ledger export > ledger-backup.jsonl            # a backup, one contact a line
  hsm ledger adopt crm-export.csv.report.jsonl       # after an import by an earlier hsm
The ledger (HSM_LEDGER=sqlite:PATH, default STATE_DIR/ledger.sqlite3) holds, per realm (API
URL, client id, profile, and the sandbox's instance) and external id: the contact id, a salted
digest of each field as last sent, and the request in flight. It holds no field value.";

const ADOPT_NOTE: &str = "Examples:
  hsm ledger adopt crm-export.csv.report.jsonl       # an import report of an earlier hsm
  hsm ledger adopt ~/.local/state/hsm/sync/production.default.jsonl   # its sync state
  hsm ledger adopt ledger-backup.jsonl               # the output of `hsm ledger export`
FILE seeds the realm of this environment and profile, so nothing it names is created again:
contacts it records as created are adopted with their id (their fields unknown: the next
sync sends each field once); rows whose outcome it left unknown are looked up before anything
is sent for them. An export's contacts are adopted only into the realm they were written in
(run adopt with that realm's --env and --profile); their digests are kept when that realm of
this ledger holds nothing yet, else dropped. Contacts the ledger already knows are left as
they are. The summary: adopted, already known, unknown.";

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Where the ledger is; per realm: contacts, requests in flight or unknown, runs, last run
    Status(JsonFlag),
    /// What hsm did to one contact in this realm, and when: command, fields by name, outcome
    History(HistoryArgs),
    /// Check the ledger's integrity and consistency: prints ok, or exits 6 when damaged
    Verify,
    /// Write every contact of every realm as JSON Lines on stdout (a backup for `adopt`)
    Export,
    /// Seed this realm from an import report or sync state of an earlier hsm, or an export
    #[command(after_long_help = ADOPT_NOTE)]
    Adopt(AdoptArgs),
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The contact's external id
    #[arg(value_name = "EXTERNAL_ID")]
    pub external_id: String,
    /// Print the events as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// An import report (FILE.report.jsonl), a sync state of an earlier hsm, or an export
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Seconds to wait for another hsm writing to this realm (default: refuse at once)
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = seconds)]
    pub wait: Duration,
}

const LOGIN_EXAMPLES: &str = "Examples:
  hsm login --env staging                      # opens the browser; approve; done
  hsm login --env sandbox                      # against `hsm sandbox` in another terminal
  hsm login --no-browser                       # open the URL elsewhere, paste the redirect URL back
  printf '%s' \"$SECRET\" | hsm login --client-secret-stdin --client-id my-client
  HSM_CREDENTIAL_STORE=file hsm login          # no keychain here: keep tokens in a 0600 file
Tokens go to the OS keychain (service hsm, account ENV/PROFILE); the client secret is asked
once, without echo, and kept there too.";

const STATUS_NOTE: &str = "Exit status: 0 when at least one listed session is usable (valid, or
refreshable), 4 when none is, 6 when the credential store cannot be read.
Commands that need a session use, when no environment is chosen (--env, HSM_ENV,
default_env), the only environment with a stored session for the profile; with several,
they ask you to choose.";

const SANDBOX_EXAMPLES: &str = "Examples:
  hsm sandbox                                  # then, in another terminal: hsm login --env sandbox
  hsm sandbox --auto-approve --port 0          # for CI: no consent page, a free port (printed)
  curl -s -o /dev/null -w '%{redirect_url}\\n' 'AUTHORIZE_URL'
Without a browser: run the sandbox with --auto-approve and `hsm login --env sandbox
--no-browser`, then pass the authorize URL it prints to the curl line above; it prints the
redirect URL to paste back into hsm login.
The sandbox keeps everything in memory: after a restart it knows no session (run hsm login
--env sandbox again) and no contact.";

const COMPLETION_EXAMPLES: &str = "Install:
  bash:        hsm completions bash > ~/.local/share/bash-completion/completions/hsm
  zsh:         hsm completions zsh > \"${fpath[1]}/_hsm\"
  fish:        hsm completions fish > ~/.config/fish/completions/hsm.fish
  powershell:  hsm completions powershell >> $PROFILE
  elvish:      hsm completions elvish >> ~/.config/elvish/rc.elv";

const LISTEN_NOTE: &str = "Examples:
  export HSM_WEBHOOK_API_KEY=...                      # the key you gave HealthSherpa
  hsm webhooks listen --output events.jsonl
  hsm webhooks listen --exec './enroll.sh' --forward-to http://127.0.0.1:3000/hooks
  hsm webhooks listen --bind 0.0.0.0 --port 8788 --json   # behind Caddy or nginx (TLS)
Answers: 401 without the key or with another, 400 for a body that is not a submission
(`medicare_application` and `contact` objects), 413 over 1 MiB, 200 once every sink has taken
the event (--forward-to, then --exec, then --output), else 500 so HealthSherpa sends it again.
An event already taken (same confirmation_number and submitted_at) is answered 200 and not
handed on again; --output is the record of them across restarts (without it, this process
remembers). With no sink, events are shown and acknowledged, not kept. Ctrl-C finishes the
requests in flight and exits 0; a second Ctrl-C stops at once (exit 130).";

const CREATE_EXAMPLES: &str = "Examples:
  hsm contacts create --external-id CRM123 --first-name John --last-name Doe
  hsm contacts create --data @contact.json --zip 94103
  echo '{\"external_id\":\"CRM9\",\"first_name\":\"A\",\"last_name\":\"B\",\"drugs\":[]}' | hsm contacts create --data -
--data takes inline JSON, @FILE or - (as curl's -d); hsm api, whose bodies come only from
files, takes --input FILE as gh api does.
Before validation, unambiguous formats are normalised, in flags, --data and import rows alike:
phone punctuation and a leading +1 are dropped (816-555-0166, (816) 555-0166 and
+1 816 555 0166 are all 8165550166), a ZIP+4 keeps its five-digit ZIP (94103-1234 is 94103),
and state codes are upper-cased.";

const UPDATE_NOTE: &str = "Examples:
  hsm contacts update 3f1c9a2e-... --phone '(816) 555-0166' --zip 94103-1234
Only the given fields are sent. Before validation, unambiguous formats are normalised: phone
punctuation and a leading +1 are dropped (816-555-0166, (816) 555-0166 and +1 816 555 0166
are all 8165550166), a ZIP+4 keeps its five-digit ZIP (94103-1234 is 94103), and state codes
are upper-cased.";

const IMPORT_EXAMPLES: &str = "Examples:
  hsm contacts import crm-export.csv                 # report: crm-export.csv.report.jsonl
  hsm contacts import contacts.jsonl --concurrency 16 --report run1.jsonl
  hsm contacts import crm-export.csv --dry-run       # what a run would do; nothing sent
Every row is recorded in the ledger (hsm ledger status) before its request goes out and with
its outcome after: a re-run of the same file, fixed or not, sends only what is left (rows the
ledger holds as created are skipped), and rows whose outcome is unknown are looked up before
anything is sent for them (--resend-unknown sends those a search answered and did not find).
The first invalid or refused rows are shown on stderr (line, external id, field, reason; never
the value); the report (one line per row of this run) is listed by --show-report.
Before validation, unambiguous formats are normalised, in flags, --data and import rows alike:
phone punctuation and a leading +1 are dropped (816-555-0166, (816) 555-0166 and
+1 816 555 0166 are all 8165550166), a ZIP+4 keeps its five-digit ZIP (94103-1234 is 94103),
and state codes are upper-cased.";

#[derive(Debug, Args)]
pub struct DataArgs {
    /// Contact JSON: inline, @FILE for a file (@, as in curl, because --data also takes
    /// inline JSON), or - for stdin; flags override its fields
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub data: Option<String>,

    /// Print the whole API response as JSON
    #[arg(long)]
    pub json: bool,
}

/// How a command that writes waits for another writing to the same realm of the ledger.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// When another hsm is writing to the same server and login, wait up to SECS for it,
    /// then exit 2 naming it (default: 10 for one contact, 0 for import and sync)
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait: Option<u64>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub fields: ContactFields,
    #[command(flatten)]
    pub data: DataArgs,
    /// Create it even though the ledger says this external id was created already
    #[arg(long)]
    pub allow_duplicate: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The contact's HealthSherpa id (as printed by `contacts create`)
    #[arg(value_name = "CONTACT_ID")]
    pub contact_id: String,
    #[command(flatten)]
    pub fields: ContactFields,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Medicare number (searches by it alone)
    #[arg(long, value_name = "NUMBER")]
    pub medicare_number: Option<String>,
    /// First name (with --birth-date, --email or --phone)
    #[arg(long, value_name = "NAME")]
    pub first_name: Option<String>,
    /// Last name (with --birth-date, --email or --phone)
    #[arg(long, value_name = "NAME")]
    pub last_name: Option<String>,
    /// Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD
    #[arg(long, value_name = "DATE")]
    pub birth_date: Option<String>,
    /// Email address
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// Phone number, 10 digits (punctuation and a leading +1 are dropped)
    #[arg(long, value_name = "DIGITS")]
    pub phone: Option<String>,
    /// Print the whole API response as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV (.csv, header row of field names) or JSON Lines (.jsonl) file, or - for stdin
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Most requests in flight at once; hsm adapts between 1 and this to the server's pace
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Send at most N requests per second (your quota); without it, hsm learns the pace
    /// from the server's 429 answers
    #[arg(long, value_name = "N", value_parser = requests_per_second)]
    pub rate: Option<f64>,
    /// The report: one JSON line per row of this run; default FILE.report.jsonl
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Validate every row and say what a run would do (create, skip, look up), sending nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Send again the rows whose earlier outcome is unknown when a search answered and found
    /// nothing (a failed search never lets a row go out again)
    #[arg(long)]
    pub resend_unknown: bool,
    /// Input format when it cannot be told from the file name
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<InputFormat>,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Send nothing: list the last outcome of every row in the report (--report, else
    /// FILE.report.jsonl) as a table, or JSON lines with --json
    #[arg(long, conflicts_with_all = ["dry_run", "resend_unknown", "concurrency", "rate"])]
    pub show_report: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `--rate`: a positive number of requests per second (0.5 is one every two seconds), at most
/// 10,000, which no partner quota comes near.
fn requests_per_second(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of requests per second"))?;
    if !(0.01..=10_000.0).contains(&rate) {
        return Err("expected a rate between 0.01 and 10000 requests per second".to_string());
    }
    Ok(rate)
}

/// Whole seconds, as `--timeout` takes them (0 is refused by the command, with its own message).
fn seconds(text: &str) -> Result<Duration, std::num::ParseIntError> {
    text.parse::<u64>().map(Duration::from_secs)
}

/// The input format of `contacts import`. (No doc comments on the variants: clap would show
/// them, and the help lists only the names.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    Csv,
    #[value(name = "jsonl")]
    JsonLines,
}

impl From<InputFormat> for crate::rows::Format {
    fn from(format: InputFormat) -> Self {
        match format {
            InputFormat::Csv => Self::Csv,
            InputFormat::JsonLines => Self::JsonLines,
        }
    }
}

/// One flag per Contact field, generated from the schema table so the two never drift.
#[derive(Debug, Clone, Default)]
pub struct ContactFields(pub Vec<(&'static str, String)>);

impl clap::FromArgMatches for ContactFields {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let values = crate::contact::schema::FIELDS
            .iter()
            .filter_map(|f| {
                let flag = f.flag?;
                m.get_one::<String>(flag).map(|v| (f.name, v.clone()))
            })
            .collect();
        Ok(ContactFields(values))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for ContactFields {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        crate::contact::schema::FIELDS
            .iter()
            .fold(cmd, |cmd, f| match f.flag {
                Some(flag) => cmd.arg(
                    clap::Arg::new(flag)
                        .long(flag)
                        .value_name("VALUE")
                        .help(f.help)
                        .help_heading("Contact fields"),
                ),
                None => cmd,
            })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}
