//! Fault injection: `ENDPOINT:KIND[=ARG][xCOUNT]` specs, parsed at start-up or at run time, and
//! handed out to the next matching requests in the order they were given.

use std::fmt;
use std::time::Duration;

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Authorize,
    Token,
    Create,
    Update,
    Search,
    /// Any `/v2` route.
    Api,
    /// Any route outside the admin area.
    Any,
}

/// The endpoint a request was routed to, as far as faults are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Authorize,
    Token,
    Create,
    Update,
    Search,
    /// A route that only `any` faults reach (unknown paths, the quote page).
    Other,
}

impl Target {
    pub(crate) fn matches(self, endpoint: Endpoint) -> bool {
        use Endpoint as E;
        match self {
            Target::Any => true,
            Target::Api => matches!(endpoint, E::Create | E::Update | E::Search),
            Target::Authorize => endpoint == E::Authorize,
            Target::Token => endpoint == E::Token,
            Target::Create => endpoint == E::Create,
            Target::Update => endpoint == E::Update,
            Target::Search => endpoint == E::Search,
        }
    }
}

/// What happens to a request that draws the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 429 with `Retry-After: secs` and a `rate_limited` JSON envelope.
    RateLimited { retry_after_secs: u64 },
    /// This status with the usual body for it: HTML for 5xx, JSON envelope for 4xx, or HTML
    /// whatever the status when `html` is set (`html502`); with `Retry-After` when given
    /// (`503=SECS`). The request is not processed.
    Status {
        code: u16,
        html: bool,
        retry_after_secs: Option<u64>,
    },
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// 200 with a truncated JSON body; the request is not processed.
    Malformed,
    /// 200 with an HTML login page; the request is not processed.
    Html,
    /// Process the request, wait, then drop the connection without answering.
    Lost(Duration),
    /// Process the request (a create is stored, a refresh token rotated), then answer this
    /// status with the gateway's HTML page instead of the real answer (`commit-then-502`).
    CommitThenStatus(u16),
    /// Process the request, then drop the connection at once (`commit-then-lost`).
    CommitThenLost,
}

/// One `--fault` spec: which requests it hits, what they get, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub(crate) target: Target,
    pub(crate) kind: Kind,
    /// How many more requests get this fault.
    pub(crate) remaining: u32,
}

/// Why a fault spec was refused; the message names the spec and the expected form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) const SPEC_HELP: &str = "expected ENDPOINT:KIND[=ARG][xCOUNT], ENDPOINT one of authorize, token, \
create, update, search, api (or contacts), any; KIND one of 429[=SECS], NNN[=SECS], htmlNNN, delay=MS, \
malformed, html, lost=MS, commit-then-NNN, commit-then-lost";

/// Longest delay a fault may ask for: long enough for any client timeout test, short enough
/// that a typo does not hang a CI job for hours.
const MAX_DELAY_MS: u64 = 600_000;

impl std::error::Error for SpecError {}

impl Fault {
    /// Parses `ENDPOINT:KIND[=ARG][xCOUNT]`, e.g. `contacts:429x3` or `token:html500`.
    pub fn parse(spec: &str) -> Result<Fault, SpecError> {
        let bad = |why: &str| SpecError(format!("invalid fault `{spec}`: {why}; {SPEC_HELP}"));
        let (endpoint, rest) = spec
            .trim()
            .split_once(':')
            .ok_or_else(|| bad("missing `:`"))?;
        let target = parse_target(endpoint).ok_or_else(|| bad("unknown endpoint"))?;
        let (kind_text, count) = split_count(rest).map_err(&bad)?;
        let kind = parse_kind(kind_text).map_err(|why| bad(&why))?;
        Ok(Fault {
            target,
            kind,
            remaining: count,
        })
    }
}

pub(crate) fn parse_all<S: AsRef<str>>(specs: &[S]) -> Result<Vec<Fault>, SpecError> {
    specs.iter().map(|s| Fault::parse(s.as_ref())).collect()
}

fn parse_target(text: &str) -> Option<Target> {
    Some(match text {
        "authorize" => Target::Authorize,
        "token" => Target::Token,
        "create" => Target::Create,
        "update" => Target::Update,
        "search" => Target::Search,
        "api" | "contacts" => Target::Api,
        "any" => Target::Any,
        _ => return None,
    })
}

/// Splits a trailing `xCOUNT` off the kind; COUNT defaults to 1.
fn split_count(text: &str) -> Result<(&str, u32), &'static str> {
    match text.rsplit_once('x') {
        Some((kind, count)) if !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()) => {
            match count.parse::<u32>() {
                Ok(n) if n >= 1 => Ok((kind, n)),
                _ => Err("COUNT must be a whole number from 1"),
            }
        }
        _ => Ok((text, 1)),
    }
}

fn parse_kind(text: &str) -> Result<Kind, String> {
    let (name, arg) = match text.split_once('=') {
        Some((name, arg)) => (name, Some(arg)),
        None => (text, None),
    };
    match (name, arg) {
        ("429", arg) => Ok(Kind::RateLimited {
            retry_after_secs: arg
                .map(|a| parse_number(a, "Retry-After seconds", 86_400))
                .transpose()?
                .unwrap_or(1),
        }),
        ("delay", Some(ms)) => Ok(Kind::Delay(parse_ms(ms)?)),
        ("lost", Some(ms)) => Ok(Kind::Lost(parse_ms(ms)?)),
        ("delay" | "lost", None) => Err(format!("`{name}` needs =MS")),
        ("malformed", None) => Ok(Kind::Malformed),
        ("commit-then-lost", None) => Ok(Kind::CommitThenLost),
        (name, None) if name.starts_with("commit-then-") => {
            Ok(Kind::CommitThenStatus(parse_status(&name[12..])?))
        }
        ("html", None) => Ok(Kind::Html),
        (name, None) if name.starts_with("html") => Ok(Kind::Status {
            code: parse_status(&name[4..])?,
            html: true,
            retry_after_secs: None,
        }),
        (name, arg) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Kind::Status {
                code: parse_status(name)?,
                html: false,
                retry_after_secs: arg
                    .map(|a| parse_number(a, "Retry-After seconds", 86_400))
                    .transpose()?,
            })
        }
        (name, Some(_)) => Err(format!("`{name}` takes no =ARG")),
        _ => Err("unknown KIND".into()),
    }
}

fn parse_status(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(code) if (400..=599).contains(&code) => Ok(code),
        _ => Err("a status fault must be 400 to 599".into()),
    }
}

fn parse_ms(text: &str) -> Result<Duration, String> {
    parse_number(text, "MS", MAX_DELAY_MS).map(Duration::from_millis)
}

fn parse_number(text: &str, what: &str, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("{what} must be a whole number up to {max}")),
    }
}

/// Hands out faults: the first spec, in the order given, that matches and has uses left.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    faults: Vec<Fault>,
}

impl FaultQueue {
    pub(crate) fn set(&mut self, faults: Vec<Fault>) {
        self.faults = faults;
    }

    pub(crate) fn clear(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn pending(&self) -> &[Fault] {
        &self.faults
    }

    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<Kind> {
        let index = self
            .faults
            .iter()
            .position(|f| f.target.matches(endpoint))?;
        let fault = &mut self.faults[index];
        let kind = fault.kind;
        fault.remaining = fault.remaining.saturating_sub(1);
        if fault.remaining == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Fault {
        Fault::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            parse("token:429").kind,
            Kind::RateLimited {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            parse("contacts:429=7x3"),
            Fault {
                target: Target::Api,
                kind: Kind::RateLimited {
                    retry_after_secs: 7
                },
                remaining: 3
            }
        );
        assert_eq!(
            parse("create:503").kind,
            Kind::Status {
                code: 503,
                html: false,
                retry_after_secs: None
            }
        );
        assert_eq!(
            parse("create:503=2x3").kind,
            Kind::Status {
                code: 503,
                html: false,
                retry_after_secs: Some(2)
            }
        );
        assert_eq!(
            parse("create:commit-then-502x2"),
            Fault {
                target: Target::Create,
                kind: Kind::CommitThenStatus(502),
                remaining: 2
            }
        );
        assert_eq!(parse("token:commit-then-lost").kind, Kind::CommitThenLost);
        assert_eq!(
            parse("token:html500").kind,
            Kind::Status {
                code: 500,
                html: true,
                retry_after_secs: None
            }
        );
        assert_eq!(parse("search:404x2").remaining, 2);
        assert_eq!(
            parse("any:delay=250").kind,
            Kind::Delay(Duration::from_millis(250))
        );
        assert_eq!(
            parse("create:lost=100x2"),
            Fault {
                target: Target::Create,
                kind: Kind::Lost(Duration::from_millis(100)),
                remaining: 2
            }
        );
        assert_eq!(parse("update:malformed").kind, Kind::Malformed);
        assert_eq!(parse("authorize:html").kind, Kind::Html);
        assert_eq!(parse("api:malformedx4").remaining, 4);
    }

    #[test]
    fn refuses_bad_specs() {
        for bad in [
            "",
            "token",
            "tokens:429",
            "token:",
            "token:200",
            "token:600",
            "token:42",
            "token:delay",
            "token:delay=abc",
            "token:lost=-1",
            "token:429x0",
            "token:malformed=1",
            "token:teapot",
            "token:429=1x",
            "token:delay=99999999999",
            "token:htmlx",
            "token:commit-then-",
            "token:commit-then-200",
            "token:commit-then-lost=5",
            "token:503=x",
        ] {
            let err = Fault::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("ENDPOINT:KIND"), "{bad}: {err}");
        }
    }

    #[test]
    fn queue_hands_out_faults_in_order_and_counts_down() {
        let mut q = FaultQueue::default();
        q.set(parse_all(&["create:500x2", "api:429", "any:html"]).expect("valid specs"));
        assert_eq!(q.take(Endpoint::Token), Some(Kind::Html));
        assert_eq!(
            q.take(Endpoint::Search),
            Some(Kind::RateLimited {
                retry_after_secs: 1
            })
        );
        assert_eq!(
            q.take(Endpoint::Create),
            Some(Kind::Status {
                code: 500,
                html: false,
                retry_after_secs: None
            })
        );
        assert_eq!(
            q.take(Endpoint::Create),
            Some(Kind::Status {
                code: 500,
                html: false,
                retry_after_secs: None
            })
        );
        assert_eq!(q.take(Endpoint::Create), None);
        assert!(q.pending().is_empty());
    }

    proptest::proptest! {
        /// Any text, and any ENDPOINT:KIND[=ARG][xCOUNT] shape: parsed or refused, no panic.
        #[test]
        fn any_spec_is_parsed_or_refused_without_panicking(
            text in proptest::prelude::any::<String>(),
            endpoint in proptest::sample::select(vec!["token", "create", "api", "any", "x"]),
            kind in proptest::sample::select(vec!["429", "503", "html", "delay", "lost", "commit-then-", "commit-then-lost", "malformed", ""]),
            arg in proptest::option::of(proptest::prelude::any::<u64>()),
            count in proptest::option::of(proptest::prelude::any::<u64>()),
        ) {
            let _ = Fault::parse(&text);
            let mut spec = format!("{endpoint}:{kind}");
            if let Some(a) = arg {
                spec.push_str(&format!("={a}"));
            }
            if let Some(c) = count {
                spec.push_str(&format!("x{c}"));
            }
            if let Ok(fault) = Fault::parse(&spec) {
                proptest::prop_assert!(fault.remaining >= 1);
            }
        }
    }

    #[test]
    fn targets_match_their_endpoints_only() {
        assert!(Target::Api.matches(Endpoint::Update));
        assert!(!Target::Api.matches(Endpoint::Token));
        assert!(!Target::Api.matches(Endpoint::Other));
        assert!(Target::Any.matches(Endpoint::Other));
        assert!(!Target::Create.matches(Endpoint::Search));
    }
}
