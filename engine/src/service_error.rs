//! What a service call can answer besides success. The API layer turns each
//! variant into what the client sees: `Rejected` into a payload's `userErrors`,
//! the rest into a top-level error with a stable code.

use crate::api::{ApiError, ErrorCode, UserError};
use crate::caller::CredentialProblem;
use crate::i18n::{Locale, Text};
use crate::media::MediaStoreError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No valid credential: the client should sign in (again).
    #[error("unauthenticated")]
    Unauthenticated(Option<CredentialProblem>),
    /// Signed in, but the policy does not allow it (already audited).
    #[error("forbidden")]
    Forbidden,
    /// Nothing with that id exists, or the caller may not know it does.
    #[error("not found")]
    NotFound,
    /// A business rule said no; nothing was changed.
    #[error("rejected: {0:?}")]
    Rejected(Vec<UserError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The media store (directory or bucket) could not keep or give a file.
    #[error(transparent)]
    MediaStore(#[from] MediaStoreError),
    /// A broken invariant or an unusable component; logged, shown as internal.
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A single business-rule refusal in the caller's language.
    pub fn reject(code: &'static str, field: &[&str], text: Text, locale: Locale) -> Self {
        ServiceError::Rejected(vec![UserError {
            code,
            field: field.iter().map(|s| s.to_string()).collect(),
            message: text.pick(locale).to_string(),
        }])
    }

    /// The top-level error for anything that is not a user error.
    pub fn into_api(self) -> ApiError {
        match self {
            ServiceError::Unauthenticated(problem) => {
                let err = ApiError::new(ErrorCode::Unauthenticated);
                match problem {
                    Some(CredentialProblem::Expired) => err.with_text(Text::new(
                        "Your session has expired. Please sign in again.",
                        "登录已过期，请重新登录。",
                    )),
                    Some(CredentialProblem::Revoked) => err.with_text(Text::new(
                        "This credential has been revoked.",
                        "该凭证已被撤销。",
                    )),
                    Some(CredentialProblem::Unknown) => {
                        err.with_text(Text::new("The credential is not valid.", "凭证无效。"))
                    }
                    None => err,
                }
            }
            ServiceError::Forbidden => ApiError::new(ErrorCode::Forbidden),
            ServiceError::NotFound => ApiError::new(ErrorCode::NotFound),
            ServiceError::Rejected(errors) => {
                // Reached only where a field has no payload to carry user errors.
                let detail = errors.iter().map(|e| e.code).collect::<Vec<_>>().join(", ");
                ApiError::new(ErrorCode::BadUserInput).with_detail(detail)
            }
            ServiceError::Store(e) => e.into(),
            ServiceError::MediaStore(e) => {
                tracing::error!(error = %e, "media store failed");
                ApiError::new(ErrorCode::MediaStoreUnavailable)
            }
            ServiceError::Internal(what) => {
                tracing::error!(%what, "internal error");
                ApiError::new(ErrorCode::InternalServerError)
            }
        }
    }
}
