//! The shape of every `--json` output: one typed struct per output, so a field cannot change
//! name without the compiler, the checked-in schemas (`docs/json/*.schema.json`, generated
//! from these types by the test below) and the test that validates real output against them
//! all noticing. Commands fill these in and render them two ways: as text for people, or
//! with `Printer::json` / `Printer::json_line`. Field order is the order of the output.

use serde::Serialize;

#[cfg(test)]
use schemars::JsonSchema;

/// `hsm token show|refresh --json`: the session as stored, or the token `HSM_ACCESS_TOKEN`
/// provides.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema))]
#[serde(untagged)]
pub enum TokenReport {
    Stored(StoredToken),
    Provided(ProvidedToken),
}

/// A session in a credential store. Tokens are masked.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct StoredToken {
    pub env: String,
    pub profile: String,
    /// `keychain`, `file` or `etcd`.
    pub store: &'static str,
    /// Where in that store (the keychain service, the file's path, the etcd endpoints).
    pub location: String,
    pub client_id: String,
    pub token_url: String,
    pub scope: Option<String>,
    pub token_type: String,
    /// RFC 3339, or null when the server gave no expiry.
    pub expires: Option<String>,
    /// Seconds from now (negative once expired); null when there is no expiry.
    pub expires_in: Option<i64>,
    /// `valid`, `expiring (refreshes on next use)`, `expired (refreshes on next use)` or `expired`.
    pub status: &'static str,
    /// Whether `--check` asked the server.
    pub checked: bool,
    pub refreshable: bool,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the record was last written, RFC 3339.
    pub updated: String,
}

/// The token `HSM_ACCESS_TOKEN` provides, used as is.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct ProvidedToken {
    pub env: String,
    pub profile: String,
    /// Always `environment`.
    pub store: &'static str,
    /// The variable's name.
    pub source: &'static str,
    /// `provided`, or `valid` after `--check`.
    pub status: &'static str,
    pub access_token: String,
    /// Always false.
    pub refreshable: bool,
    /// Present (true) after `--check`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<bool>,
}

/// One row of `hsm status --json` (an array of them).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct StatusRow {
    pub env: String,
    pub profile: String,
    /// `environment`, `keychain`, `file` or `etcd`.
    pub store: String,
    pub location: String,
    /// Whether this is the store in use (a file store listed beside the keychain is not).
    pub in_use: bool,
    /// Absent when the record could not be read (the status says why).
    #[serde(flatten)]
    pub session: Option<SessionFacts>,
    pub usable: bool,
    pub status: String,
}

/// What a readable record says about its session.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema))]
pub struct SessionFacts {
    pub scope: Option<String>,
    /// RFC 3339, or null.
    pub expires: Option<String>,
    /// Seconds from now (negative once expired), or null.
    pub expires_in: Option<i64>,
    pub refreshable: bool,
}

/// `hsm ledger status --json`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct LedgerStatus {
    /// Where the ledger is (`sqlite:PATH` or a `postgres://` URL without its password).
    pub ledger: String,
    pub exists: bool,
    pub realms: Vec<crate::ledger::RealmCounts>,
}

/// `hsm contacts sync --dry-run --json`: the plan, one object.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct SyncPlan {
    /// External ids that would be created.
    pub create: Vec<String>,
    pub update: Vec<PlannedUpdate>,
    pub unchanged: u64,
    /// External ids sent before with an unknown outcome: looked up first.
    pub check: Vec<String>,
    pub invalid: u64,
    /// External ids the ledger knows that the file lacks (never deleted).
    pub missing: Vec<String>,
    pub ledger: String,
}

/// A row a sync would update.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct PlannedUpdate {
    pub external_id: String,
    /// The names of the fields that would be sent (no values).
    pub fields: Vec<String>,
    /// Whether every field is sent, because the ledger only knew the contact from an adopted file.
    pub adopted: bool,
}

/// `hsm contacts sync --json`: the summary, one line (also kept as the run's summary in the ledger).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct SyncSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub found: u64,
    pub failed: u64,
    pub unknown: u64,
    pub invalid: u64,
    pub missing: usize,
    pub missing_external_ids: Vec<String>,
    pub unknown_external_ids: Vec<String>,
    pub interrupted: bool,
    pub ledger: String,
}

/// `hsm contacts import --json`: the summary, one line (also kept as the run's summary in the ledger).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct ImportSummary {
    pub created: u64,
    pub skipped: u64,
    pub found: u64,
    pub invalid: u64,
    pub refused: u64,
    pub failed: u64,
    pub unknown: u64,
    pub unknown_external_ids: Vec<String>,
    pub interrupted: bool,
    /// The report's path.
    pub report: String,
}

/// `hsm contacts import --show-report --json`: one line per row, its last outcome.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct ReportRow {
    pub row: u64,
    /// The input file's line where the row starts (absent in reports of older versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub status: RowStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `hsm webhooks listen --json`: one line per submission, identifiers only (no personal data),
/// whatever `-v` says.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(JsonSchema), schemars(deny_unknown_fields))]
pub struct WebhookLine {
    /// Always `submission`.
    pub event: &'static str,
    /// `taken`, `duplicate` (a redelivery, answered 200 and not kept twice) or `failed` (500).
    pub outcome: &'static str,
    /// The HTTP status hsm answered.
    pub status: u16,
    pub confirmation_number: String,
    pub submitted_at: String,
    /// `medicare_application.cms_plan_id` as the sender wrote it, or null when absent.
    pub cms_plan_id: serde_json::Value,
    /// `contact.id` as the sender wrote it, or null when absent.
    pub contact_id: serde_json::Value,
    /// `contact.external_id` as the sender wrote it, or null when absent.
    pub contact_external_id: serde_json::Value,
}

/// A row's last outcome as `--show-report` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    Created,
    /// Created by an earlier run: not sent again.
    Skipped,
    /// An unknown outcome a search showed had been created.
    Found,
    Failed,
    Invalid,
    /// Sent, and no answer recorded.
    Unknown,
}

impl RowStatus {
    pub fn word(self) -> &'static str {
        match self {
            RowStatus::Created => "created",
            RowStatus::Skipped => "skipped",
            RowStatus::Found => "found",
            RowStatus::Failed => "failed",
            RowStatus::Invalid => "invalid",
            RowStatus::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    //! The checked-in schemas are generated from the types above. `UPDATE_GENERATED=1 cargo
    //! test --lib shapes` rewrites them; review the diff and commit it. `tests/it/json_schema.rs`
    //! validates real output against them.

    use std::path::PathBuf;

    use schemars::{JsonSchema, generate::SchemaSettings};

    use super::*;

    /// Every `--json` output: its schema file under `docs/json/`, and the schema.
    fn outputs() -> Vec<(&'static str, schemars::Schema)> {
        fn schema<T: JsonSchema>() -> schemars::Schema {
            // What hsm writes: an `Option` field is there (null or not) unless it is skipped.
            SchemaSettings::draft2020_12()
                .for_serialize()
                .into_generator()
                .into_root_schema_for::<T>()
        }
        vec![
            ("token", schema::<TokenReport>()),
            ("status", schema::<Vec<StatusRow>>()),
            ("ledger-status", schema::<LedgerStatus>()),
            ("ledger-history", schema::<Vec<crate::ledger::Event>>()),
            ("sync-plan", schema::<SyncPlan>()),
            ("sync", schema::<SyncSummary>()),
            ("import", schema::<ImportSummary>()),
            ("import-report", schema::<ReportRow>()),
            ("webhook", schema::<WebhookLine>()),
            ("error", schema::<crate::output::ErrorReport>()),
        ]
    }

    // The test reads UPDATE_GENERATED itself; reading variables only in settings.rs is the
    // product's rule.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn checked_in_schemas_match_the_types() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/json");
        let updating = std::env::var_os("UPDATE_GENERATED").is_some();
        let mut problems = Vec::new();
        for (name, schema) in outputs() {
            let path = dir.join(format!("{name}.schema.json"));
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if updating {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                problems.push(format!("{} is stale or missing", path.display()));
            }
        }
        assert!(
            problems.is_empty(),
            "{}\nrun `UPDATE_GENERATED=1 cargo test --lib shapes` and commit the result",
            problems.join("\n")
        );
    }
}
