//! The audit trail (SEC-1): every write and every security event, with who,
//! what, where from, before/after and the outcome.
//!
//! Services build an [`AuditEvent`] next to the change it describes and append
//! it in the same transaction, so a change without its record (or a record of
//! a change that rolled back) cannot exist. Before/after states are built from
//! views that carry no secrets: password hashes are never in them and ID
//! numbers only masked.

use serde_json::Value;

use crate::caller::Caller;
use crate::store::audit::{self, AuditFilter, AuditRecord};
use crate::store::{Store, StoreError, Tx, now_ms};

/// How an audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused for a business reason (wrong password, captcha, validation).
    Failure,
    /// Refused by authorisation: a security event.
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::Failure => "FAILURE",
            Outcome::Denied => "DENIED",
        }
    }
}

/// One event on its way into the log.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    record: AuditRecord,
}

impl AuditEvent {
    pub fn new(caller: &Caller, action: &str, object_type: &str, object_id: Option<&str>) -> Self {
        Self {
            record: AuditRecord {
                id: 0,
                at: now_ms(),
                actor: caller.actor.audit_name(),
                action: action.to_string(),
                object_type: object_type.to_string(),
                object_id: object_id.map(str::to_string),
                market_code: None,
                before_state: None,
                after_state: None,
                source_address: caller.source_address.clone(),
                request_id: caller.request_id.clone(),
                outcome: Outcome::Success.as_str().to_string(),
            },
        }
    }

    /// Names the actor explicitly (a login is made by an anonymous caller on
    /// behalf of the account it names).
    pub fn actor(mut self, name: String) -> Self {
        self.record.actor = name;
        self
    }

    pub fn market(mut self, code: Option<&str>) -> Self {
        self.record.market_code = code.map(str::to_string);
        self
    }

    pub fn before(mut self, state: &Value) -> Self {
        self.record.before_state = Some(state.to_string());
        self
    }

    pub fn after(mut self, state: &Value) -> Self {
        self.record.after_state = Some(state.to_string());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.record.outcome = outcome.as_str().to_string();
        self
    }

    /// The record, for a caller that appends several at once.
    pub fn into_record(self) -> AuditRecord {
        self.record
    }

    /// Appends with the change it describes.
    pub async fn append(self, tx: &mut Tx) -> Result<(), StoreError> {
        audit::append(tx, &self.record).await
    }

    /// Appends on its own (security events, refusals). A failure to record is
    /// logged, never hidden: the caller's answer does not depend on it.
    pub async fn append_alone(self, store: &Store) {
        if let Err(e) = audit::append_alone(store, &self.record).await {
            tracing::error!(error = %e, action = %self.record.action, "could not write an audit record");
        }
    }
}

/// Searches the log, newest first.
pub async fn search(
    store: &Store,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    audit::search(store, filter, before_id, limit).await
}
