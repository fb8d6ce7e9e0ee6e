//! What one attempt at a request came to, and whether the same request may be sent again.
//! One table for every HTTP caller (the API client, `hsm api`, the token requests, the etcd
//! gateway), so that two commands sending the same method never disagree:
//!
//! | what happened                                   | idempotent | not idempotent (POST, PATCH) |
//! |-------------------------------------------------|------------|------------------------------|
//! | not sent (the connection failed)                | resend     | resend                       |
//! | 429, or 503 with `Retry-After` (nothing done)   | resend     | resend                       |
//! | sent and the answer lost (a timeout, a reset)   | resend     | never                        |
//! | any other 5xx (a gateway's 502/504 may follow   | resend     | never                        |
//! | the application's work)                         |            |                              |
//! | any other answer                                | never      | never                        |
//!
//! Idempotent is RFC 9110 §9.2.2: GET, HEAD, PUT, DELETE, OPTIONS, TRACE, plus requests a
//! caller knows change nothing (a search sent as POST). A create that may have been stored is
//! never resent blindly: import and sync look it up through the ledger instead.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::http::Why;

/// What one attempt came to.
#[derive(Debug)]
pub enum Attempt<A> {
    /// The connection failed: nothing left this machine.
    NotSent(Why),
    /// Sent, but the answer was lost (a timeout, a reset): the server may have acted on it.
    Lost(Why),
    /// The server answered (any status).
    Answered(A),
}

impl<A> Attempt<A> {
    /// A send that failed: a failed connection means nothing was sent; any later failure,
    /// that the request may have reached the server.
    pub fn failed(e: &reqwest::Error) -> Attempt<A> {
        let why = Why::of(e);
        if e.is_connect() {
            Attempt::NotSent(why)
        } else {
            Attempt::Lost(why)
        }
    }

    pub fn map<B>(self, f: impl FnOnce(A) -> B) -> Attempt<B> {
        match self {
            Attempt::NotSent(why) => Attempt::NotSent(why),
            Attempt::Lost(why) => Attempt::Lost(why),
            Attempt::Answered(a) => Attempt::Answered(f(a)),
        }
    }

    pub fn as_ref(&self) -> Attempt<&A> {
        match self {
            Attempt::NotSent(why) => Attempt::NotSent(why.clone()),
            Attempt::Lost(why) => Attempt::Lost(why.clone()),
            Attempt::Answered(a) => Attempt::Answered(a),
        }
    }
}

/// What an answer says about resending: its status and whether it carried `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: StatusCode,
    pub retry_after: Option<Duration>,
}

impl Status {
    /// 429, or 503 with `Retry-After`: the server's word that it did not act.
    pub fn nothing_done(self) -> bool {
        self.code == StatusCode::TOO_MANY_REQUESTS
            || (self.code == StatusCode::SERVICE_UNAVAILABLE && self.retry_after.is_some())
    }
}

/// Whether sending a request twice may have a different effect from sending it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Twice is the same as once.
    Idempotent,
    /// A second copy may act again: a create stored twice, a refresh token spent twice.
    Once,
}

impl Effect {
    /// By method (RFC 9110 §9.2.2).
    pub fn of(method: &Method) -> Effect {
        let idempotent = matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        );
        if idempotent {
            Effect::Idempotent
        } else {
            Effect::Once
        }
    }

    /// The table above: whether a request with this effect may be sent again after this
    /// attempt. The caller still asks its backoff whether a retry is left.
    pub fn may_resend(self, attempt: &Attempt<Status>) -> bool {
        match attempt {
            Attempt::NotSent(_) => true,
            Attempt::Answered(status) if status.nothing_done() => true,
            Attempt::Lost(_) => self == Effect::Idempotent,
            Attempt::Answered(status) => {
                status.code.is_server_error() && self == Effect::Idempotent
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(code: u16, retry_after: Option<u64>) -> Attempt<Status> {
        Attempt::Answered(Status {
            code: StatusCode::from_u16(code).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    fn resent(method: Method, attempt: &Attempt<Status>) -> bool {
        Effect::of(&method).may_resend(attempt)
    }

    #[test]
    fn what_was_never_sent_or_not_done_is_resent_for_every_method() {
        for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
            assert!(resent(method.clone(), &Attempt::NotSent("refused".into())));
            assert!(resent(method.clone(), &answered(429, None)), "{method}");
            assert!(resent(method.clone(), &answered(503, Some(1))), "{method}");
        }
    }

    #[test]
    fn after_a_lost_answer_or_an_ambiguous_5xx_only_idempotent_methods_are_resent() {
        let lost = Attempt::Lost("timed out".into());
        let ambiguous = [
            lost,
            answered(500, None),
            answered(502, None),
            answered(503, None),
            answered(504, None),
        ];
        for attempt in &ambiguous {
            for method in [
                Method::GET,
                Method::HEAD,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ] {
                assert!(resent(method.clone(), attempt), "{method} {attempt:?}");
            }
            assert!(!resent(Method::POST, attempt), "POST {attempt:?}");
            assert!(!resent(Method::PATCH, attempt), "PATCH {attempt:?}");
        }
    }

    #[test]
    fn other_answers_are_never_resent() {
        for code in [200, 204, 400, 401, 404, 409, 422] {
            assert!(!resent(Method::GET, &answered(code, Some(1))), "{code}");
            assert!(!resent(Method::POST, &answered(code, None)), "{code}");
        }
    }
}
