//! Command-line definitions: plain clap data, no I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::env_vars as ev;

#[derive(Debug, Parser)]
#[command(
    name = "hsm",
    version,
    about = "Talk to the HealthSherpa for Medicare Partner API v2 from a terminal, scripts and CI",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Environment to use: production, staging, sandbox, or one defined in the config file
    #[arg(long, global = true, value_name = "NAME", env = ev::HSM_ENV)]
    pub env: Option<String>,

    /// Credential profile within the environment
    #[arg(long, global = true, value_name = "NAME", env = ev::HSM_PROFILE)]
    pub profile: Option<String>,

    /// Config file to read instead of the platform default
    #[arg(long, global = true, value_name = "PATH", env = ev::HSM_CONFIG)]
    pub config: Option<PathBuf>,

    /// Trace each HTTP exchange on stderr, with secrets redacted
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,

    /// Print only results and errors
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in through the browser and keep the tokens in the OS keychain
    Login(LoginArgs),
    /// Remove the stored credentials of this environment and profile
    Logout,
    /// Inspect, refresh or print the access token
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a local emulator of the Partner API v2 for trying hsm and testing scripts
    Sandbox(SandboxArgs),
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
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show the stored session: environment, profile, store, scope, expiry, status (tokens masked)
    Show(JsonFlag),
    /// Refresh the access token now and store the rotated refresh token
    Refresh(JsonFlag),
    /// Print the access token (refreshed if needed) to stdout
    Print,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SandboxArgs {
    /// Port to listen on at 127.0.0.1 (0 picks a free one)
    #[arg(long, value_name = "PORT", default_value_t = 8787)]
    pub port: u16,

    /// Lifetime of issued access tokens, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub access_ttl: u64,

    /// Approve every authorization request without showing the consent page
    #[arg(long)]
    pub auto_approve: bool,

    /// Delay every API response by this many milliseconds (a realistic network latency)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Inject faults: ENDPOINT:KIND[=ARG][xCOUNT], e.g. `contacts:429x3`, `token:html500`,
    /// `contacts:delay=2000x1`, `token:malformed` (repeatable)
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
}
