//! `hsm login`: the authorization-code flow with PKCE through the browser and a loopback
//! listener, as one readable function.

pub mod browser;
pub mod loopback;
pub mod oauth;
pub mod pages;
mod preflight;
mod store;

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use url::Url;

use crate::credentials::{self, ClientSecret, SecretStore};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::secret::{self, Secret};
use crate::settings::{EnvSettings, TokenSource};
use loopback::Callback;
use oauth::{ClientCredentials, TokenError};

pub struct LoginOptions {
    /// The config file in use (or where one would be read), for the no-client-id error.
    pub config_file: String,
    pub client_secret_stdin: bool,
    pub no_browser: bool,
    pub timeout: Duration,
}

pub async fn login(settings: &EnvSettings, opts: &LoginOptions, printer: Printer) -> Result<()> {
    let client_id = settings
        .client_id
        .clone()
        .ok_or_else(|| no_client_id(settings, &opts.config_file))?;
    // Read stdin early only for a piped secret: a reader started now would steal the line
    // typed at the no-echo prompt, which reads the same terminal.
    let mut stdin_lines = StdinLines::new(opts.client_secret_stdin);

    // The store comes first: a login must never be thrown away for want of a place to keep it.
    let (store, chose_file) = store::open(settings, !opts.client_secret_stdin, printer)?;
    store.probe()?;
    // A network or proxy problem fails now, in seconds, not after the wait for the browser.
    preflight::token_endpoint_reachable(settings).await?;
    let secret = client_secret(
        settings,
        &client_id,
        store.as_ref(),
        opts,
        &mut stdin_lines,
        printer,
    )?;

    let listener = loopback::bind(&settings.redirect_uri)?;
    let creds = ClientCredentials {
        client_id: &client_id,
        client_secret: &secret.value,
    };
    let auth = oauth::authorization(
        &creds,
        &settings.authorize_url,
        &settings.token_url,
        &settings.redirect_uri,
        &settings.scope,
    );
    let (callback_rx, _listening) = listener.start(auth.state.secret().to_string());
    let interrupt = crate::interrupt::Interrupt::install();

    let can_paste = opts.no_browser || printer.can_prompt();
    show_login_url(settings, &auth.url, opts.no_browser, can_paste, printer);
    let pasted = stdin_lines.take_for_paste(can_paste);

    let callback = wait_for_redirect(callback_rx, pasted, interrupt, opts.timeout, printer).await?;
    let outcome = finish(
        settings,
        &creds,
        &auth,
        store.as_ref(),
        &callback.params,
        &secret,
        printer,
    )
    .await;
    match &outcome {
        Ok(()) => callback.respond(200, pages::success(&settings.env, &settings.profile)),
        Err(e) => callback.respond(400, pages::failure(&e.message)),
    }
    outcome?;
    printer.status(&format!(
        "Logged in to {} as profile {}; tokens stored in {}.",
        settings.env,
        settings.profile,
        store.in_words()
    ));
    if chose_file {
        store::say_how_to_keep_it(printer);
    }
    if matches!(settings.token, TokenSource::Variable(_)) {
        printer.warn(&format!(
            "{} is set: other commands keep using that token instead of this login until it is unset",
            ev::HSM_ACCESS_TOKEN
        ));
    }
    Ok(())
}

/// Print the login URL, and open it in a browser unless told not to. Where no browser can
/// open here (`--no-browser`, no display, e.g. over SSH), say exactly how to finish: from a
/// browser on any machine, by pasting the address it lands on, or through an SSH tunnel.
fn show_login_url(
    settings: &EnvSettings,
    url: &Url,
    no_browser: bool,
    can_paste: bool,
    printer: Printer,
) {
    printer.prompt(&format!(
        "Open this URL in a browser to log in to {} (profile {}):\n\n  {}\n",
        settings.env, settings.profile, url
    ));
    let opened = if no_browser {
        None
    } else {
        Some(browser::open(url.as_str(), &settings.browser))
    };
    match opened {
        Some(browser::Opened::Launched(how)) => {
            printer.status(&format!("Opened {how}; waiting for the login to finish..."));
            return;
        }
        Some(browser::Opened::Skipped(why)) => {
            printer.status(&format!("Not opening a browser here ({why})."))
        }
        Some(browser::Opened::Failed(why)) => printer.warn(&why),
        None => {}
    }
    let callback = settings.redirect_uri.as_str().trim_end_matches('/');
    let port = settings.redirect_uri.port().unwrap_or(8765);
    if can_paste {
        printer.prompt(&format!(
            "No browser here? Open the URL above in a browser on any machine and approve; it then goes to\n\
             {callback}?code=..., a page that fails to load there (that is fine): paste the URL it was\n\
             redirected to, from the address bar, here and press Enter.\n\
             Or log in through an SSH tunnel from your own machine: ssh -L {port}:127.0.0.1:{port} THIS-HOST"
        ));
    } else {
        printer.prompt(&format!(
            "Waiting for the browser to come back to {callback} (from another machine: ssh -L {port}:127.0.0.1:{port} THIS-HOST)."
        ));
    }
}

/// Check the redirect, exchange the code, store the tokens.
async fn finish(
    settings: &EnvSettings,
    creds: &ClientCredentials<'_>,
    auth: &oauth::Authorization,
    store: &dyn SecretStore,
    params: &HashMap<String, String>,
    secret: &ClientSecret,
    printer: Printer,
) -> Result<()> {
    let code = authorization_code(params, auth)?;
    let http = crate::http::client(
        settings.http_timeout,
        settings.ca_file.as_deref(),
        &settings.token_url,
    )?;
    printer.trace(&format!(
        "> POST {} grant_type=authorization_code code={} code_verifier={} client_id={} client_secret={} state={}",
        settings.token_url,
        code.fingerprint(),
        secret::fingerprint(auth.verifier.secret()),
        creds.client_id,
        creds.client_secret.fingerprint(),
        secret::fingerprint(auth.state.secret()),
    ));
    let verifier = oauth2::PkceCodeVerifier::new(auth.verifier.secret().clone());
    let record = oauth::exchange_code(
        &http,
        creds,
        &settings.token_url,
        &settings.redirect_uri,
        &code,
        verifier,
    )
    .await
    .map_err(exchange_error)?;
    printer.trace(&format!(
        "< access token {}, refresh token {}",
        record.access_token.fingerprint(),
        record
            .refresh_token
            .as_ref()
            .map(Secret::fingerprint)
            .unwrap_or_default()
    ));
    credentials::save_record(store, &settings.account(), &record)?;
    if secret.store_it {
        store.set(
            &credentials::client_secret_account(&settings.env, creds.client_id),
            secret.value.expose(),
        )?;
    }
    Ok(())
}

/// The code of a redirect that belongs to this login, or why there is none.
fn authorization_code(
    params: &HashMap<String, String>,
    auth: &oauth::Authorization,
) -> Result<Secret> {
    // A redirect with a foreign state is refused whatever it says; an error redirect may
    // lack the state (some servers drop it), but a code never may.
    let state = params.get("state").map(String::as_str);
    let state_ok = state.is_some_and(|s| constant_time_eq(s, auth.state.secret()));
    let mismatch = || {
        CliError::auth(
            "the redirect carried a state that does not match this login; it was refused (possible cross-site request)",
        )
        .with_hint("run `hsm login` again, and use only the URL it prints")
    };
    if state.is_some() && !state_ok {
        return Err(mismatch());
    }
    if let Some(error) = params.get("error") {
        let desc = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        let what = if error == "access_denied" {
            "the login was denied in the browser".to_string()
        } else {
            format!("the authorization server refused the login ({error})")
        };
        return Err(
            CliError::auth(format!("{what}{desc}")).with_hint("run `hsm login` again to retry")
        );
    }
    if !state_ok {
        return Err(mismatch());
    }
    params
        .get("code")
        .filter(|c| !c.is_empty())
        .map(|c| Secret::new(c.as_str()))
        .ok_or_else(|| CliError::auth("the redirect carried no authorization code"))
}

/// Whether the redirect's `state` is ours, in time that does not depend on where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn exchange_error(e: TokenError) -> CliError {
    let exit_auth = matches!(e, TokenError::Refused { .. });
    let err = if exit_auth {
        CliError::auth(e.to_string())
    } else {
        CliError::network(e.to_string())
    }
    .with_causes(e.causes());
    match e {
        TokenError::Refused { ref error, .. } if error == "invalid_client" => {
            err.with_hint("check the client id and secret (HSM_CLIENT_SECRET, or re-enter it with --client-secret-stdin)")
        }
        TokenError::Transport(crate::retry::Attempt::NotSent(ref m))
            if crate::http::is_certificate_error(m) =>
        {
            err.with_hint(crate::http::CA_HINT)
        }
        _ => err.with_hint("nothing was stored; run `hsm login` again"),
    }
}

/// Wait for the browser's redirect, a pasted redirect URL, Ctrl-C or the deadline.
async fn wait_for_redirect(
    mut from_browser: tokio::sync::oneshot::Receiver<Callback>,
    mut pasted: Option<mpsc::Receiver<String>>,
    mut interrupt: crate::interrupt::Interrupt,
    timeout: Duration,
    printer: Printer,
) -> Result<Callback> {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let paste = async {
            match pasted.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cb = &mut from_browser => {
                return cb.map_err(|_| CliError::network("the loopback listener stopped unexpectedly"));
            }
            line = paste => match line {
                Some(line) => match Url::parse(line.trim()) {
                    Ok(url) if url.query_pairs().any(|(k, _)| k == "code" || k == "error") => {
                        return Ok(Callback::from_pasted(&url));
                    }
                    _ if line.trim().is_empty() => continue,
                    _ => {
                        printer.prompt("That is not the redirect URL (it has no code); paste the whole address from the browser's location bar:");
                        continue;
                    }
                },
                None => pasted = None,
            },
            _ = interrupt.recv() => return Err(CliError::interrupted()),
            _ = &mut deadline => {
                return Err(CliError::network(format!(
                    "timed out after {} s waiting for the browser to come back",
                    timeout.as_secs()
                ))
                .with_hint("run `hsm login` again (--timeout SECS to wait longer), or --no-browser to paste the redirect URL"));
            }
        }
    }
}

/// The client secret (see `credentials::client_secret` for the order), else a prompt without
/// echo when a terminal is attached. Never a flag value.
fn client_secret(
    settings: &EnvSettings,
    client_id: &str,
    store: &dyn SecretStore,
    opts: &LoginOptions,
    stdin: &mut StdinLines,
    printer: Printer,
) -> Result<ClientSecret> {
    let piped = || {
        if !opts.client_secret_stdin {
            return Ok(None);
        }
        let line = stdin
            .next_line()
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| CliError::usage("--client-secret-stdin: stdin held no secret"))?;
        Ok(Some(Secret::new(line.trim())))
    };
    if let Some(known) = credentials::client_secret(settings, client_id, store, piped)? {
        return Ok(known);
    }
    if printer.can_prompt() {
        printer.prompt(&secret_context(settings, client_id, store));
        let v = rpassword::prompt_password(format!("Client secret for {client_id}: "))
            .map_err(|e| CliError::usage(format!("cannot read the client secret: {e}")))?;
        if v.trim().is_empty() {
            return Err(CliError::usage("no client secret entered"));
        }
        return Ok(ClientSecret {
            value: Secret::new(v.trim()),
            store_it: true,
        });
    }
    Err(CliError::usage(format!("no client secret for client `{client_id}`")).with_hint(format!(
        "set {} or pipe it with --client-secret-stdin; it is kept in the credential store afterwards",
        ev::HSM_CLIENT_SECRET
    )))
}

/// What the secret is, where it will be kept, and that it is asked once: said before the
/// no-echo prompt.
fn secret_context(settings: &EnvSettings, client_id: &str, store: &dyn SecretStore) -> String {
    format!(
        "hsm needs the client secret of your OAuth client `{client_id}` ({}), issued by HealthSherpa\n\
         with the client id. It is asked once: hsm keeps it in {} and reads it from there next time\n\
         (or set {} / pipe it with --client-secret-stdin). Input is hidden.",
        settings.env,
        store.in_words(),
        ev::HSM_CLIENT_SECRET
    )
}

/// Where client ids come from, in two lines: what it is, and where to put it.
fn no_client_id(settings: &EnvSettings, config_file: &str) -> CliError {
    let env = &settings.env;
    CliError::usage(format!(
        "no client id for environment `{env}`: HealthSherpa issues one (with a secret) when a partner registers an OAuth client whose redirect URI is {}",
        settings.redirect_uri
    ))
    .with_hint(format!(
        "add `client_id = \"...\"` under [env.{env}] in {config_file}, or pass --client-id / set {}; see \"Before you log in to HealthSherpa\" in the README (try --env sandbox meanwhile)",
        ev::HSM_CLIENT_ID
    ))
}

/// Lines of stdin, read on a thread of their own so that waiting for a paste never blocks
/// the redirect, Ctrl-C or the timeout.
struct StdinLines {
    rx: Option<std::sync::mpsc::Receiver<String>>,
}

impl StdinLines {
    fn new(read: bool) -> StdinLines {
        if !read {
            return StdinLines { rx: None };
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Bounded: a line longer than any secret or URL (stdin from /dev/zero) ends it.
            let mut stdin = std::io::stdin().lock();
            while let Ok(Some(line)) = crate::bounded::read_line(&mut stdin, crate::bounded::LINE) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StdinLines { rx: Some(rx) }
    }

    fn next_line(&mut self) -> Option<String> {
        self.rx.as_ref()?.recv().ok()
    }

    /// Hand the remaining lines to the async side, starting a reader if none runs yet.
    fn take_for_paste(&mut self, wanted: bool) -> Option<mpsc::Receiver<String>> {
        if !wanted {
            return None;
        }
        if self.rx.is_none() {
            *self = StdinLines::new(true);
        }
        let sync_rx = self.rx.take()?;
        let (tx, rx) = mpsc::channel(4);
        std::thread::spawn(move || {
            while let Ok(line) = sync_rx.recv() {
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        Some(rx)
    }
}
