//! Everything the sandbox remembers: authorization codes, token families, contacts, counters
//! and pending faults. Plain synchronous data behind one mutex; no lock is held across an await.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};

use super::faults::FaultQueue;
use super::pkce::pkce_matches;
use super::traffic::{ArrivalWindow, TokenBucket};

pub(crate) const SCOPE: &str = "partner_api_v2";
pub(crate) const DEFAULT_AGENT: &str = "agent@sandbox.test";

#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) access_ttl: Duration,
    pub(crate) code_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) max_contacts: usize,
    /// The stored contacts' total size (their JSON): a count alone let 300 creates with 1 MB
    /// fields take 451 MB.
    pub(crate) max_contact_bytes: usize,
    /// Live codes plus live tokens; beyond it the sandbox refuses to issue more until some expire.
    pub(crate) max_live_credentials: usize,
}

impl Limits {
    /// The lifetime is clamped to ten years: `Instant + ttl` must not overflow.
    pub(crate) fn with_access_ttl(access_ttl: Duration) -> Self {
        Limits {
            access_ttl: access_ttl.min(Duration::from_secs(10 * 365 * 24 * 3600)),
            code_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            max_contacts: 200_000,
            max_contact_bytes: 256 << 20,
            max_live_credentials: 500_000,
        }
    }
}

/// Who a token acts for. `agent: None` is a user without an agent record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) agent: Option<String>,
    pub(crate) scope: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    pub(crate) token_type: &'static str,
    pub(crate) expires_in: u64,
    pub(crate) refresh_token: String,
    pub(crate) scope: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct Counters {
    pub(crate) codes_issued: u64,
    pub(crate) code_exchanges: u64,
    pub(crate) refreshes: u64,
    pub(crate) reuse_detected: u64,
    pub(crate) families_revoked: u64,
    pub(crate) contacts_created: u64,
    pub(crate) contacts_updated: u64,
    /// PATCH requests to a contact that were accepted (including 204 "no changes"), and the
    /// fields their bodies carried: tests check that updates are minimal.
    pub(crate) update_requests: u64,
    pub(crate) update_fields: u64,
    pub(crate) searches: u64,
    pub(crate) duplicate_external_ids: u64,
    pub(crate) faults_injected: u64,
    pub(crate) requests: u64,
    pub(crate) api_requests: u64,
    pub(crate) token_requests: u64,
    /// `/v2` requests refused with 429 by `--rate-limit` (not the `429` fault).
    pub(crate) rate_limited: u64,
    /// `/v2` requests being handled now (body read, answer not yet returned), the most at once
    /// and the most arrivals in any one-second window; the last two since start or
    /// `POST /__sandbox/stats/reset`. Rate-limited requests count as arrivals and in flight.
    pub(crate) api_in_flight: u64,
    pub(crate) api_in_flight_peak: u64,
    pub(crate) api_max_per_second: u64,
}

/// Why a code exchange failed; all are `invalid_grant` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeError {
    Unknown,
    Expired,
    Reused,
    RedirectMismatch,
    VerifierMismatch,
    VerifierMissing,
    VerifierUnexpected,
}

impl CodeError {
    pub(crate) fn description(self) -> &'static str {
        match self {
            CodeError::Unknown => "The authorization code is invalid.",
            CodeError::Expired => "The authorization code has expired.",
            CodeError::Reused => {
                "The authorization code has already been used; tokens issued from it are revoked."
            }
            CodeError::RedirectMismatch => {
                "The redirect_uri does not match the one used in the authorization request."
            }
            CodeError::VerifierMismatch => "The code_verifier does not match the code_challenge.",
            CodeError::VerifierMissing => {
                "The code_verifier is required: the authorization request carried a code_challenge."
            }
            CodeError::VerifierUnexpected => {
                "A code_verifier was sent but the authorization request carried no code_challenge."
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshError {
    Unknown,
    /// An already-rotated token came back: its whole family is now revoked.
    Reused,
    ScopeChanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CapacityFull;

#[derive(Debug)]
struct PendingCode {
    redirect_uri: String,
    challenge: Option<String>,
    grant: Grant,
    expires_at: Instant,
}

/// A redeemed (or burnt) code, kept a while so a second use can revoke what the first gave.
#[derive(Debug)]
struct SpentCode {
    family: Option<u64>,
    forget_at: Instant,
}

#[derive(Debug)]
struct AccessToken {
    family: u64,
    grant: Grant,
    expires_at: Instant,
}

#[derive(Debug)]
struct RefreshToken {
    family: u64,
    grant: Grant,
    rotated: bool,
    expires_at: Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredContact {
    pub(crate) agent: String,
    pub(crate) seq: u64,
    /// The contact as returned by the API, `id` and `slug` included.
    pub(crate) fields: Map<String, Value>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) limits: Limits,
    codes: HashMap<String, PendingCode>,
    spent_codes: HashMap<String, SpentCode>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    /// Live families and the access-token lifetime each was issued with.
    families: HashMap<u64, Duration>,
    next_family: u64,
    /// The nonces of consent forms shown and not yet submitted, with when they were shown.
    form_nonces: HashMap<String, Instant>,
    contacts: HashMap<String, StoredContact>,
    /// The JSON size of the contacts as created.
    contact_bytes: usize,
    external_ids: HashSet<(String, String)>,
    next_seq: u64,
    last_prune: Option<Instant>,
    pub(crate) counters: Counters,
    pub(crate) faults: FaultQueue,
    /// `--rate-limit`, when given.
    pub(crate) bucket: Option<TokenBucket>,
    arrivals: ArrivalWindow,
}

const FORM_NONCE_TTL: Duration = Duration::from_secs(600);

/// A random, URL-safe token with a recognisable prefix: 43 base64url chars of 32 random bytes.
pub(crate) fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    // Without the OS's random numbers there is no safe token to issue; the oauth2 helper used
    // before panicked the same way.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A contact id: a random (version 4) UUID, as the real API's ids look. Ids are not secrets;
/// they only need to be unique and unguessable enough that one agent cannot stumble on
/// another's contacts.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl State {
    pub(crate) fn new(limits: Limits) -> Self {
        State {
            limits,
            codes: HashMap::new(),
            spent_codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            families: HashMap::new(),
            next_family: 1,
            form_nonces: HashMap::new(),
            contacts: HashMap::new(),
            contact_bytes: 0,
            external_ids: HashSet::new(),
            next_seq: 1,
            last_prune: None,
            counters: Counters::default(),
            faults: FaultQueue::default(),
            bucket: None,
            arrivals: ArrivalWindow::default(),
        }
    }

    /// A `/v2` request arrives: it is counted in flight (until [`State::api_departure`]) and
    /// takes a token when there is a bucket; `Err` is the wait until one is there.
    pub(crate) fn api_arrival(&mut self, now: Instant) -> Result<(), Duration> {
        let counters = &mut self.counters;
        counters.api_max_per_second = self.arrivals.arrive(now);
        counters.api_in_flight += 1;
        counters.api_in_flight_peak = counters.api_in_flight_peak.max(counters.api_in_flight);
        let taken = self.bucket.as_mut().map_or(Ok(()), |b| b.try_take(now));
        counters.rate_limited += u64::from(taken.is_err());
        taken
    }

    pub(crate) fn api_departure(&mut self) {
        self.counters.api_in_flight = self.counters.api_in_flight.saturating_sub(1);
    }

    /// Restarts the peak from the requests in flight now, and the busiest second from none.
    pub(crate) fn reset_pace_stats(&mut self) {
        self.counters.api_in_flight_peak = self.counters.api_in_flight;
        self.counters.api_max_per_second = 0;
        self.arrivals.reset();
    }

    fn live_credentials(&self) -> usize {
        self.codes.len() + self.access.len() + self.refresh.len()
    }

    fn ensure_capacity(&mut self, now: Instant) -> Result<(), CapacityFull> {
        self.prune(now);
        if self.live_credentials() >= self.limits.max_live_credentials {
            return Err(CapacityFull);
        }
        Ok(())
    }

    pub(crate) fn issue_code(
        &mut self,
        redirect_uri: &str,
        challenge: Option<&str>,
        grant: Grant,
        now: Instant,
    ) -> Result<String, CapacityFull> {
        self.ensure_capacity(now)?;
        let code = new_secret("sbx_ac_");
        self.codes.insert(
            code.clone(),
            PendingCode {
                redirect_uri: redirect_uri.to_owned(),
                challenge: challenge.map(str::to_owned),
                grant,
                expires_at: now + self.limits.code_ttl,
            },
        );
        self.counters.codes_issued += 1;
        Ok(code)
    }

    /// Redeems a code once. Any attempt burns it; a second attempt revokes the tokens the
    /// first one issued (RFC 6749 §4.1.2).
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
        now: Instant,
    ) -> Result<TokenResponse, CodeError> {
        if let Some(spent) = self.spent_codes.get(code) {
            if let Some(family) = spent.family {
                self.counters.reuse_detected += 1;
                self.revoke_family(family);
            }
            return Err(CodeError::Reused);
        }
        let pending = self.codes.remove(code).ok_or(CodeError::Unknown)?;
        let forget_at = now + Duration::from_secs(600).max(self.limits.code_ttl);
        self.spent_codes.insert(
            code.to_owned(),
            SpentCode {
                family: None,
                forget_at,
            },
        );
        check_code(&pending, redirect_uri, verifier, now)?;
        let ttl = self.limits.access_ttl;
        let family = self.new_family(ttl);
        if let Some(spent) = self.spent_codes.get_mut(code) {
            spent.family = Some(family);
        }
        self.counters.code_exchanges += 1;
        Ok(self.issue_pair(family, pending.grant, ttl, now))
    }

    /// Strict rotation: the presented token dies, a new pair is born in the same family.
    /// A rotated token presented again revokes the whole family.
    pub(crate) fn refresh(
        &mut self,
        refresh_token: &str,
        scope: Option<&str>,
        now: Instant,
    ) -> Result<TokenResponse, RefreshError> {
        let token = self
            .refresh
            .get_mut(refresh_token)
            .ok_or(RefreshError::Unknown)?;
        if token.expires_at <= now {
            return Err(RefreshError::Unknown);
        }
        let family = token.family;
        if token.rotated {
            self.counters.reuse_detected += 1;
            self.revoke_family(family);
            return Err(RefreshError::Reused);
        }
        if scope.is_some_and(|s| s != token.grant.scope) {
            return Err(RefreshError::ScopeChanged);
        }
        token.rotated = true;
        let grant = token.grant.clone();
        let ttl = self
            .families
            .get(&family)
            .copied()
            .unwrap_or(self.limits.access_ttl);
        self.counters.refreshes += 1;
        Ok(self.issue_pair(family, grant, ttl, now))
    }

    /// A new login without the browser: for tests of the API side and its error paths.
    pub(crate) fn mint(
        &mut self,
        grant: Grant,
        access_ttl: Duration,
        now: Instant,
    ) -> Result<TokenResponse, CapacityFull> {
        self.ensure_capacity(now)?;
        let family = self.new_family(access_ttl);
        Ok(self.issue_pair(family, grant, access_ttl, now))
    }

    /// Whether a live refresh token has this SHA-256 (lowercase hex). `hsm status` asks, so it
    /// can tell a session this sandbox issued from one an earlier run issued (a restarted
    /// sandbox forgets every session), without spending or even sending the token.
    pub(crate) fn knows_refresh_digest(&self, digest_hex: &str, now: Instant) -> bool {
        use sha2::Digest;
        self.refresh.iter().any(|(token, t)| {
            let digest = sha2::Sha256::digest(token.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            !t.rotated && t.expires_at > now && hex == digest_hex
        })
    }

    /// The grant behind a live access token.
    pub(crate) fn authenticate(&self, access_token: &str, now: Instant) -> Option<&Grant> {
        self.access
            .get(access_token)
            .filter(|t| t.expires_at > now)
            .map(|t| &t.grant)
    }

    /// Revokes the family a refresh token (rotated or not) belongs to. False if unknown.
    pub(crate) fn revoke_family_of(&mut self, refresh_token: &str) -> bool {
        match self.refresh.get(refresh_token).map(|t| t.family) {
            Some(family) => {
                self.revoke_family(family);
                true
            }
            None => false,
        }
    }

    /// Revokes every token and pending code. Returns how many families died.
    pub(crate) fn revoke_everything(&mut self) -> usize {
        let families: Vec<u64> = self.families.keys().copied().collect();
        for family in &families {
            self.revoke_family(*family);
        }
        self.codes.clear();
        self.access.clear();
        self.refresh.clear();
        families.len()
    }

    fn new_family(&mut self, access_ttl: Duration) -> u64 {
        let family = self.next_family;
        self.next_family += 1;
        self.families.insert(family, access_ttl);
        family
    }

    fn revoke_family(&mut self, family: u64) {
        if self.families.remove(&family).is_some() {
            self.counters.families_revoked += 1;
        }
        self.access.retain(|_, t| t.family != family);
        self.refresh.retain(|_, t| t.family != family);
    }

    fn issue_pair(
        &mut self,
        family: u64,
        grant: Grant,
        access_ttl: Duration,
        now: Instant,
    ) -> TokenResponse {
        let access_token = new_secret("sbx_at_");
        let refresh_token = new_secret("sbx_rt_");
        let scope = grant.scope.clone();
        self.access.insert(
            access_token.clone(),
            AccessToken {
                family,
                grant: grant.clone(),
                expires_at: now + access_ttl,
            },
        );
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                family,
                grant,
                rotated: false,
                expires_at: now + self.limits.refresh_ttl,
            },
        );
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: access_ttl.as_secs(),
            refresh_token,
            scope,
        }
    }

    /// Drops expired codes and tokens, at most once a second so a busy sandbox does not rescan
    /// its maps on every request.
    pub(crate) fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_prune = Some(now);
        self.codes.retain(|_, c| c.expires_at > now);
        self.spent_codes.retain(|_, c| c.forget_at > now);
        self.access.retain(|_, t| t.expires_at > now);
        self.refresh.retain(|_, t| t.expires_at > now);
    }

    #[cfg(test)]
    fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    /// A copy of any agent's contact (the webhook admin endpoint fills events from it).
    pub(crate) fn contact(&self, id: &str) -> Option<Map<String, Value>> {
        self.contacts.get(id).map(|c| c.fields.clone())
    }

    /// A nonce for one consent form. At most 10,000 are outstanding (the oldest goes), each
    /// for ten minutes: a form posted from anywhere else, or twice, is refused.
    pub(crate) fn issue_form_nonce(&mut self, now: Instant) -> String {
        self.form_nonces
            .retain(|_, shown| now.duration_since(*shown) < FORM_NONCE_TTL);
        if self.form_nonces.len() >= 10_000
            && let Some(oldest) = self
                .form_nonces
                .iter()
                .min_by_key(|(_, shown)| **shown)
                .map(|(n, _)| n.clone())
        {
            self.form_nonces.remove(&oldest);
        }
        let nonce = new_secret("");
        self.form_nonces.insert(nonce.clone(), now);
        nonce
    }

    /// Spend a consent form's nonce: true once, for a nonce this sandbox issued in time.
    pub(crate) fn spend_form_nonce(&mut self, nonce: &str, now: Instant) -> bool {
        self.form_nonces
            .remove(nonce)
            .is_some_and(|shown| now.duration_since(shown) < FORM_NONCE_TTL)
    }

    pub(crate) fn contact_mut(&mut self, id: &str) -> Option<&mut StoredContact> {
        self.contacts.get_mut(id)
    }

    /// Stores a new contact for `agent`. Returns None when the store is full.
    pub(crate) fn insert_contact(
        &mut self,
        agent: &str,
        fields: Map<String, Value>,
    ) -> Option<&StoredContact> {
        let size = serde_json::to_string(&fields).map_or(0, |t| t.len());
        if self.contacts.len() >= self.limits.max_contacts
            || self.contact_bytes.saturating_add(size) > self.limits.max_contact_bytes
        {
            return None;
        }
        let id = fields.get("id").and_then(Value::as_str)?.to_owned();
        self.contact_bytes += size;
        if let Some(external_id) = fields.get("external_id").and_then(Value::as_str)
            && !self
                .external_ids
                .insert((agent.to_owned(), external_id.to_owned()))
        {
            self.counters.duplicate_external_ids += 1;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.counters.contacts_created += 1;
        let contact = StoredContact {
            agent: agent.to_owned(),
            seq,
            fields,
        };
        Some(self.contacts.entry(id).or_insert(contact))
    }

    /// The agent's oldest contact for which `matches` holds.
    pub(crate) fn find_contact(
        &self,
        agent: &str,
        matches: impl Fn(&Map<String, Value>) -> bool,
    ) -> Option<&StoredContact> {
        self.contacts
            .values()
            .filter(|c| c.agent == agent && matches(&c.fields))
            .min_by_key(|c| c.seq)
    }
}

fn check_code(
    pending: &PendingCode,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: Instant,
) -> Result<(), CodeError> {
    if pending.expires_at <= now {
        return Err(CodeError::Expired);
    }
    if pending.redirect_uri != redirect_uri {
        return Err(CodeError::RedirectMismatch);
    }
    match (pending.challenge.as_deref(), verifier) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(CodeError::VerifierMismatch),
        (Some(_), None) => Err(CodeError::VerifierMissing),
        (None, Some(_)) => Err(CodeError::VerifierUnexpected),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIRECT: &str = "http://127.0.0.1:9/cb";

    fn agent_grant() -> Grant {
        Grant {
            agent: Some(DEFAULT_AGENT.into()),
            scope: SCOPE.into(),
        }
    }

    fn state() -> State {
        State::new(Limits::with_access_ttl(Duration::from_secs(60)))
    }

    #[test]
    fn code_expires_after_its_ttl() {
        let mut s = state();
        let t0 = Instant::now();
        let code = s
            .issue_code(REDIRECT, None, agent_grant(), t0)
            .expect("capacity");
        let late = t0 + s.limits.code_ttl;
        assert_eq!(
            s.redeem_code(&code, REDIRECT, None, late).err(),
            Some(CodeError::Expired)
        );
    }

    #[test]
    fn code_reuse_revokes_the_tokens_it_gave() {
        let mut s = state();
        let now = Instant::now();
        let code = s
            .issue_code(REDIRECT, None, agent_grant(), now)
            .expect("capacity");
        let pair = s
            .redeem_code(&code, REDIRECT, None, now)
            .expect("first use");
        assert!(s.authenticate(&pair.access_token, now).is_some());
        assert_eq!(
            s.redeem_code(&code, REDIRECT, None, now).err(),
            Some(CodeError::Reused)
        );
        assert!(s.authenticate(&pair.access_token, now).is_none());
        assert_eq!(
            s.refresh(&pair.refresh_token, None, now).err(),
            Some(RefreshError::Unknown)
        );
    }

    #[test]
    fn refresh_rotation_and_reuse_detection() {
        let mut s = state();
        let now = Instant::now();
        let first = s
            .mint(agent_grant(), Duration::from_secs(5), now)
            .expect("capacity");
        let second = s
            .refresh(&first.refresh_token, None, now)
            .expect("rotation");
        assert_eq!(second.expires_in, 5, "the family keeps its access ttl");
        assert_eq!(
            s.refresh(&first.refresh_token, None, now).err(),
            Some(RefreshError::Reused)
        );
        assert!(s.authenticate(&second.access_token, now).is_none());
        assert_eq!(
            s.refresh(&second.refresh_token, None, now).err(),
            Some(RefreshError::Unknown)
        );
        assert_eq!(
            (s.counters.reuse_detected, s.counters.families_revoked),
            (1, 1)
        );
    }

    #[test]
    fn access_tokens_expire_and_are_pruned() {
        let mut s = state();
        let now = Instant::now();
        let pair = s
            .mint(agent_grant(), Duration::from_secs(1), now)
            .expect("capacity");
        let later = now + Duration::from_secs(2);
        assert!(s.authenticate(&pair.access_token, later).is_none());
        s.prune(later);
        assert!(s.access.is_empty());
    }

    #[test]
    fn credentials_are_capped() {
        let mut s = state();
        s.limits.max_live_credentials = 2;
        let now = Instant::now();
        assert!(s.mint(agent_grant(), Duration::from_secs(1), now).is_ok());
        assert_eq!(
            s.mint(agent_grant(), Duration::from_secs(1), now).err(),
            Some(CapacityFull)
        );
    }

    #[test]
    fn contacts_are_capped_and_duplicates_counted() {
        let mut s = state();
        s.limits.max_contacts = 2;
        let contact = |id: &str| {
            let mut map = Map::new();
            map.insert("id".into(), Value::String(id.into()));
            map.insert("external_id".into(), Value::String("X".into()));
            map
        };
        assert!(s.insert_contact("a", contact("1")).is_some());
        assert!(s.insert_contact("a", contact("2")).is_some());
        assert!(s.insert_contact("a", contact("3")).is_none());
        assert_eq!(s.contact_count(), 2);
        assert_eq!(s.counters.duplicate_external_ids, 1);
    }

    #[test]
    fn contacts_are_capped_by_bytes_too() {
        let mut s = state();
        s.limits.max_contact_bytes = 3_000;
        let big = |id: &str| {
            let mut map = Map::new();
            map.insert("id".into(), Value::String(id.into()));
            map.insert("drugs".into(), Value::String("x".repeat(1_000)));
            map
        };
        assert!(s.insert_contact("a", big("1")).is_some());
        assert!(s.insert_contact("a", big("2")).is_some());
        assert!(
            s.insert_contact("a", big("3")).is_none(),
            "over 3,000 bytes"
        );
        assert_eq!(s.contact_count(), 2);
    }

    #[test]
    fn ids_and_secrets_look_right() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_ne!(id, new_id());
        let secret = new_secret("sbx_at_");
        assert!(secret.len() >= 32 + 7);
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
