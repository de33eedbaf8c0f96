//! Real-name verification (Q 5.11.1.2): a person submits name and ID-card
//! number, an organisation its name and unified social credit code, each with
//! document images; an operator approves or rejects with a reason.
//!
//! Numbers are validated (check digits), encrypted at rest, findable for
//! duplicates only through a keyed hash, and shown masked unless the viewer
//! holds the `account/read_id_number` permission.

use serde_json::json;

use super::identity_documents as docs;
use super::{Accounts, VerificationInput};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::profiles::{self as rows, VerificationRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Accounts {
    pub async fn submit_verification(
        &self,
        caller: &Caller,
        input: VerificationInput,
    ) -> Result<VerificationRow, ServiceError> {
        let locale = caller.locale;
        let account = self.signed_in_account(caller).await?;
        let number = input.number.trim().to_uppercase();
        let valid = match input.kind.as_str() {
            "PERSON" => docs::validate_id_card(&number),
            "ORGANISATION" => docs::validate_credit_code(&number),
            _ => {
                return Err(ServiceError::reject(
                    "INVALID_KIND",
                    &["input", "kind"],
                    Text::new("Choose PERSON or ORGANISATION.", "请选择个人或组织。"),
                    locale,
                ));
            }
        };
        if let Err(e) = valid {
            return Err(ServiceError::reject(
                "INVALID_NUMBER",
                &["input", "number"],
                e.text(),
                locale,
            ));
        }
        let legal_name = input.legal_name.trim().to_string();
        if legal_name.is_empty() || legal_name.chars().count() > 100 {
            return Err(ServiceError::reject(
                "INVALID_NAME",
                &["input", "legalName"],
                Text::new(
                    "Enter the legal name (1–100 characters).",
                    "请填写法定名称（1–100 个字符）。",
                ),
                locale,
            ));
        }
        if input.document_ids.is_empty() || input.document_ids.len() > 10 {
            return Err(ServiceError::reject(
                "DOCUMENTS_REQUIRED",
                &["input", "documentIds"],
                Text::new("Attach 1–10 document images.", "请上传 1–10 张证件图片。"),
                locale,
            ));
        }
        if let Some(previous) = rows::latest_verification_of(&self.store, &account.id).await?
            && previous.status != "REJECTED"
        {
            return Err(ServiceError::reject(
                "ALREADY_SUBMITTED",
                &[],
                Text::new(
                    "A verification is already pending or approved.",
                    "已有待审核或已通过的实名认证。",
                ),
                locale,
            ));
        }
        let lookup = self.cipher.lookup_hash(&number);
        if rows::number_claimed_by_other(&self.store, &lookup, &account.id).await? {
            return Err(ServiceError::reject(
                "NUMBER_IN_USE",
                &["input", "number"],
                Text::new(
                    "This number is already verified for another account.",
                    "该证件号码已用于其他账号的认证。",
                ),
                locale,
            ));
        }
        let row = VerificationRow {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            kind: input.kind,
            legal_name,
            number_cipher: self
                .cipher
                .encrypt(&number)
                .map_err(|e| ServiceError::Internal(format!("encrypting an ID number: {e}")))?,
            number_lookup: lookup,
            number_masked: docs::mask_id_number(&number),
            document_ids: serde_json::to_string(&input.document_ids)
                .unwrap_or_else(|_| "[]".into()),
            status: "PENDING".into(),
            reason: None,
            reviewed_by: None,
            reviewed_at: None,
            submitted_at: now_ms(),
        };
        let mut tx = self.store.begin().await?;
        rows::insert_verification(&mut tx, &row).await?;
        AuditEvent::new(caller, "verification.submit", "verification", Some(&row.id))
            .after(&audit_state(&row))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn review_verification(
        &self,
        caller: &Caller,
        id: &str,
        decision: Decision,
        reason: Option<String>,
    ) -> Result<VerificationRow, ServiceError> {
        let locale = caller.locale;
        let before = rows::verification(&self.store, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let reason = reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if decision == Decision::Reject && reason.is_none() {
            return Err(ServiceError::reject(
                "REASON_REQUIRED",
                &["input", "reason"],
                Text::new(
                    "Give the applicant a reason for the rejection.",
                    "驳回时请填写原因。",
                ),
                locale,
            ));
        }
        let status = match decision {
            Decision::Approve => "APPROVED",
            Decision::Reject => "REJECTED",
        };
        let now = now_ms();
        let reviewer = caller.actor.audit_name();
        let mut tx = self.store.begin().await?;
        if !rows::decide_verification(&mut tx, id, status, reason.as_deref(), &reviewer, now)
            .await?
        {
            return Err(ServiceError::reject(
                "NOT_PENDING",
                &[],
                Text::new(
                    "This verification has already been decided.",
                    "该认证已审核。",
                ),
                locale,
            ));
        }
        let mut after = before.clone();
        after.status = status.into();
        after.reason = reason;
        after.reviewed_by = Some(reviewer);
        after.reviewed_at = Some(now);
        AuditEvent::new(caller, "verification.review", "verification", Some(id))
            .before(&audit_state(&before))
            .after(&audit_state(&after))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn latest_verification_of(
        &self,
        account_id: &str,
    ) -> Result<Option<VerificationRow>, ServiceError> {
        Ok(rows::latest_verification_of(&self.store, account_id).await?)
    }

    pub async fn verifications_by_status(
        &self,
        status: &str,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<VerificationRow>, ServiceError> {
        Ok(rows::verifications_by_status(&self.store, status, after, limit).await?)
    }

    /// The full number, for a viewer allowed to see it.
    pub fn reveal_number(&self, row: &VerificationRow) -> Result<String, ServiceError> {
        self.cipher.decrypt(&row.number_cipher).map_err(|_| {
            ServiceError::Internal("an ID number does not decrypt with the configured key".into())
        })
    }
}

/// Only the masked number ever reaches the audit log.
fn audit_state(v: &VerificationRow) -> serde_json::Value {
    json!({
        "accountId": v.account_id,
        "kind": v.kind,
        "legalName": v.legal_name,
        "number": v.number_masked,
        "status": v.status,
        "reason": v.reason,
    })
}
