//! Reaching a PostgreSQL ledger: `HSM_LEDGER=postgres://USER@HOST:PORT/DB[?sslmode=verify-full]`,
//! the password from `HSM_LEDGER_PASSWORD` or libpq's password file, TLS (rustls, ring) with
//! the CA of `HSM_LEDGER_CA_FILE` verifying the certificate and the host name. Connecting is
//! bounded by `HSM_LEDGER_TIMEOUT`. No password is ever part of the location hsm shows.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::config::SslMode;

use crate::error::{CliError, Result};
use crate::secret::Secret;
use crate::settings::EnvSettings;

/// A PostgreSQL ledger's address, as `HSM_LEDGER` gives it (no password in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub dbname: String,
    /// `sslmode=verify-full`: TLS, the certificate and the host name verified.
    pub verify_full: bool,
}

impl Target {
    /// Parse `postgres://USER@HOST:PORT/DB[?sslmode=disable|verify-full]`. Errors never
    /// repeat the text, which may hold a password typed into it by mistake.
    pub fn parse(spec: &str) -> Result<Target> {
        let bad = |what: &str| {
            CliError::usage(format!("HSM_LEDGER: {what}")).with_hint(
                "expected postgres://USER@HOST:PORT/DB[?sslmode=verify-full], or sqlite:PATH",
            )
        };
        let url = url::Url::parse(spec).map_err(|_| bad("not a valid postgres:// URL"))?;
        if url.password().is_some() {
            return Err(bad("a password in the URL is refused")
                .with_hint("give it in HSM_LEDGER_PASSWORD (or a PGPASSFILE) instead"));
        }
        let decode =
            |s: &str| percent_decode(s).ok_or_else(|| bad("a part of the URL is not valid UTF-8"));
        let user = decode(url.username())?;
        if user.is_empty() {
            return Err(bad("no user (postgres://USER@HOST:PORT/DB)"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let dbname = decode(url.path().trim_start_matches('/'))?;
        if dbname.is_empty() || dbname.contains('/') {
            return Err(bad("no database name (postgres://USER@HOST:PORT/DB)"));
        }
        let mut verify_full = false;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("sslmode", "verify-full") => verify_full = true,
                ("sslmode", "disable") => verify_full = false,
                ("sslmode", _) => {
                    return Err(bad(
                        "sslmode must be verify-full (TLS, certificate and host name checked) or disable",
                    ));
                }
                _ => return Err(bad("the only parameter understood is sslmode")),
            }
        }
        Ok(Target {
            user,
            host,
            port: url.port().unwrap_or(5432),
            dbname,
            verify_full,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "postgres://{}@{host}:{}/{}",
            self.user, self.port, self.dbname
        )?;
        if self.verify_full {
            f.write_str("?sslmode=verify-full")?;
        }
        Ok(())
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Connect, bounded by `timeout` as a whole (name look-up, TCP, TLS, authentication).
pub async fn connect(
    target: &Target,
    settings: &EnvSettings,
    timeout: Duration,
) -> Result<tokio_postgres::Client> {
    let shown = target.to_string();
    let mut config = tokio_postgres::Config::new();
    config
        .user(&target.user)
        .dbname(&target.dbname)
        .host(&target.host)
        .port(target.port)
        .application_name("hsm")
        .connect_timeout(timeout)
        .keepalives(true);
    if let Some(password) = password(target, settings)? {
        config.password(password.expose());
    }
    let attempt = async {
        if target.verify_full {
            config.ssl_mode(SslMode::Require);
            let tls = super::tls::MakeRustls::new(tls_config(settings)?);
            let (client, connection) = config
                .connect(tls)
                .await
                .map_err(|e| super::pg(&shown, e))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        } else {
            config.ssl_mode(SslMode::Disable);
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| super::pg(&shown, e))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(super::timed_out(&shown, timeout)),
    }
}

/// `HSM_LEDGER_PASSWORD`, else the first matching line of libpq's password file.
fn password(target: &Target, settings: &EnvSettings) -> Result<Option<Secret>> {
    if let Some(p) = &settings.ledger_password {
        return Ok(Some(p.clone()));
    }
    let file = match &settings.pgpassfile {
        Some(f) => f.clone(),
        None => match directories::BaseDirs::new() {
            Some(dirs) => dirs.home_dir().join(".pgpass"),
            None => return Ok(None),
        },
    };
    Ok(pgpass(&file, target))
}

/// libpq's rules: `host:port:db:user:password` lines, `*` matches anything, `\:` and `\\`
/// escape; a file others can read is ignored.
fn pgpass(file: &Path, target: &Target) -> Option<Secret> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(file).ok()?;
        if meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = crate::bounded::read_file(file, crate::bounded::SMALL_FILE).ok()?;
    let text = String::from_utf8(text).ok()?;
    let port = target.port.to_string();
    let wanted = [
        target.host.as_str(),
        port.as_str(),
        target.dbname.as_str(),
        target.user.as_str(),
    ];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = wanted
                .iter()
                .zip(&fields)
                .all(|(want, got)| got == "*" || got == want);
            matches.then(|| Secret::new(fields[4].clone()))
        })
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().unwrap().push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// rustls with ring, trusting only the CA of `HSM_LEDGER_CA_FILE`; the host name of the
/// URL is checked against the certificate (verify-full).
fn tls_config(settings: &EnvSettings) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let ca = settings.ledger_ca_file.as_ref().ok_or_else(|| {
        CliError::usage("HSM_LEDGER: sslmode=verify-full needs HSM_LEDGER_CA_FILE").with_hint(
            "set HSM_LEDGER_CA_FILE to the PEM file of the CA that signed the server's certificate",
        )
    })?;
    let pem = crate::bounded::read_file(ca, crate::bounded::SMALL_FILE).map_err(|e| {
        CliError::usage(format!(
            "HSM_LEDGER_CA_FILE: cannot read {}: {e}",
            ca.display()
        ))
        .with_cause(&e)
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|_| {
            CliError::usage(format!(
                "HSM_LEDGER_CA_FILE: {} is not a PEM certificate file",
                ca.display()
            ))
        })?;
        roots
            .add(cert)
            .map_err(|e| CliError::usage(format!("HSM_LEDGER_CA_FILE: {}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(CliError::usage(format!(
            "HSM_LEDGER_CA_FILE: {} holds no certificate",
            ca.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::usage(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_url_and_refuses_a_password_in_it_without_repeating_it() {
        let t = Target::parse("postgres://hsm@db.example:6543/ledger?sslmode=verify-full").unwrap();
        assert_eq!(
            (
                t.user.as_str(),
                t.host.as_str(),
                t.port,
                t.dbname.as_str(),
                t.verify_full
            ),
            ("hsm", "db.example", 6543, "ledger", true)
        );
        assert_eq!(
            t.to_string(),
            "postgres://hsm@db.example:6543/ledger?sslmode=verify-full"
        );
        assert_eq!(Target::parse("postgresql://u@h/d").unwrap().port, 5432);
        let err = Target::parse("postgres://u:hunter2@h/d").unwrap_err();
        assert!(!format!("{} {:?}", err.message, err.hint).contains("hunter2"));
        for bad in [
            "postgres://h/d",
            "postgres://u@h",
            "postgres://u@h/d?sslmode=prefer",
            "postgres://u@h/d?x=1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:u:nope\n*:5432:d:u:pa\\:ss\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let t = Target::parse("postgres://u@h:5432/d").unwrap();
        assert_eq!(pgpass(&file, &t).unwrap().expose(), "pa:ss");
        let t = Target::parse("postgres://u@h:5433/d").unwrap();
        assert!(pgpass(&file, &t).is_none());
    }
}
