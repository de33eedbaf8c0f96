//! The account directory: registration, profile and password management, and
//! the views of an account the API shows.
//!
//! Logins are an email or a mainland mobile number; passwords are argon2id
//! hashes, checked for strength (zxcvbn) before they are accepted. Hashing runs
//! on the blocking pool: it is deliberately slow and must not stall the server.

use serde_json::json;

use super::password;
use super::{Accounts, ProfileInput, RegisterInput};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::service_error::ServiceError;
use crate::store::accounts::{self as rows, AccountRow};
use crate::store::now_ms;

/// An email or phone number, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Email(String),
    Phone(String),
}

impl Login {
    /// Lower-cases emails; strips spaces, dashes and a +86 prefix from phones.
    pub fn parse(raw: &str) -> Option<Login> {
        let raw = raw.trim();
        if raw.contains('@') {
            let email = raw.to_lowercase();
            let (local, domain) = email.split_once('@')?;
            let valid = !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && email.len() <= 254
                && !email.chars().any(char::is_whitespace);
            return valid.then_some(Login::Email(email));
        }
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits
            .strip_prefix("+86")
            .or_else(|| digits.strip_prefix("0086"))
            .unwrap_or(&digits)
            .to_string();
        let mainland_mobile = digits.len() == 11
            && digits.starts_with('1')
            && digits.chars().all(|c| c.is_ascii_digit())
            && matches!(digits.as_bytes()[1], b'3'..=b'9');
        mainland_mobile.then_some(Login::Phone(digits))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Login::Email(s) | Login::Phone(s) => s,
        }
    }
}

const BAD_LOGIN: Text = Text::new(
    "Enter an email address or an 11-digit mobile number.",
    "请输入邮箱地址或 11 位手机号码。",
);
const LOGIN_TAKEN: Text = Text::new(
    "An account with this email or phone number already exists.",
    "该邮箱或手机号已注册。",
);
const WRONG_PASSWORD: Text = Text::new("The current password is wrong.", "当前密码不正确。");

impl Accounts {
    /// Creates an account with the customer role everywhere, and audits it.
    pub async fn register(
        &self,
        caller: &Caller,
        input: RegisterInput,
    ) -> Result<AccountRow, ServiceError> {
        let locale = caller.locale;
        let login = Login::parse(&input.login).ok_or_else(|| {
            ServiceError::reject("INVALID_LOGIN", &["input", "login"], BAD_LOGIN, locale)
        })?;
        self.require_strong(
            &input.password,
            &[login.as_str(), &input.display_name],
            locale,
        )?;
        let (email, phone) = match &login {
            Login::Email(e) => (Some(e.clone()), None),
            Login::Phone(p) => (None, Some(p.clone())),
        };
        if rows::login_taken(&self.store, email.as_deref(), phone.as_deref()).await? {
            return Err(ServiceError::reject(
                "LOGIN_TAKEN",
                &["input", "login"],
                LOGIN_TAKEN,
                locale,
            ));
        }
        let hash = hash_password(input.password).await?;
        let now = now_ms();
        let account = AccountRow {
            id: uuid::Uuid::now_v7().to_string(),
            email,
            phone,
            password_hash: hash,
            password_changed_at: now,
            display_name: input.display_name.trim().chars().take(64).collect(),
            locale: input.locale.unwrap_or(locale).tag().to_string(),
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        // A unique index decides a race between two registrations of one login.
        if let Err(e) = rows::insert_account(&mut tx, &account).await {
            return Err(if e.is_unique_violation() {
                ServiceError::reject("LOGIN_TAKEN", &["input", "login"], LOGIN_TAKEN, locale)
            } else {
                e.into()
            });
        }
        AuditEvent::new(caller, "account.register", "account", Some(&account.id))
            .after(&public_state(&account))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.authz
            .grant_role(&format!("user:{}", account.id), "customer", "*")
            .await
            .map_err(|e| ServiceError::Internal(format!("granting the customer role: {e}")))?;
        Ok(account)
    }

    /// Refuses a password below the configured strength, with zxcvbn's advice.
    pub(super) fn require_strong(
        &self,
        candidate: &str,
        user_inputs: &[&str],
        locale: Locale,
    ) -> Result<(), ServiceError> {
        let strength = password::strength(candidate, user_inputs, locale);
        if strength.score >= self.config.min_password_score {
            return Ok(());
        }
        let mut message = match locale {
            Locale::ZhCn => "密码强度不足。".to_string(),
            Locale::En => "The password is too weak.".to_string(),
        };
        if let Some(warning) = &strength.warning {
            message.push(' ');
            message.push_str(warning);
        }
        for suggestion in &strength.suggestions {
            message.push(' ');
            message.push_str(suggestion);
        }
        Err(ServiceError::Rejected(vec![crate::api::UserError {
            code: "PASSWORD_TOO_WEAK",
            field: vec!["input".into(), "password".into()],
            message,
        }]))
    }

    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, ServiceError> {
        Ok(rows::account(&self.store, id).await?)
    }

    /// True when the password is older than the configured maximum age.
    pub fn password_change_recommended(&self, account: &AccountRow) -> bool {
        let max_age_ms = self.config.password_max_age_days as i64 * 86_400_000;
        now_ms() - account.password_changed_at > max_age_ms
    }

    pub async fn update_profile(
        &self,
        caller: &Caller,
        input: ProfileInput,
    ) -> Result<AccountRow, ServiceError> {
        let account = self.signed_in_account(caller).await?;
        let display_name: String = input
            .display_name
            .unwrap_or_else(|| account.display_name.clone())
            .trim()
            .chars()
            .take(64)
            .collect();
        let locale = input
            .locale
            .map(|l| l.tag().to_string())
            .unwrap_or_else(|| account.locale.clone());
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        rows::set_profile(&mut tx, &account.id, &display_name, &locale, now).await?;
        let mut after = account.clone();
        after.display_name = display_name;
        after.locale = locale;
        after.updated_at = now;
        AuditEvent::new(
            caller,
            "account.update_profile",
            "account",
            Some(&account.id),
        )
        .before(&public_state(&account))
        .after(&public_state(&after))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Changes the caller's password and ends their other sessions.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: String,
        new: String,
    ) -> Result<(), ServiceError> {
        let locale = caller.locale;
        let account = self.signed_in_account(caller).await?;
        if !verify_password(current, account.password_hash.clone()).await? {
            AuditEvent::new(
                caller,
                "account.change_password",
                "account",
                Some(&account.id),
            )
            .outcome(crate::audit::Outcome::Failure)
            .append_alone(&self.store)
            .await;
            return Err(ServiceError::reject(
                "WRONG_PASSWORD",
                &["currentPassword"],
                WRONG_PASSWORD,
                locale,
            ));
        }
        let inputs: Vec<&str> = [account.email.as_deref(), account.phone.as_deref()]
            .into_iter()
            .flatten()
            .chain([account.display_name.as_str()])
            .collect();
        self.require_strong(&new, &inputs, locale)
            .map_err(|e| rename_field(e, &["newPassword"]))?;
        let hash = hash_password(new).await?;
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        rows::set_password(&mut tx, &account.id, &hash, now).await?;
        let current_session = match &caller.actor {
            crate::caller::Actor::Account { session_id, .. } => Some(session_id.as_str()),
            _ => None,
        };
        let ended = rows::revoke_sessions_of(&mut tx, &account.id, current_session, now).await?;
        AuditEvent::new(
            caller,
            "account.change_password",
            "account",
            Some(&account.id),
        )
        .after(&json!({ "otherSessionsEnded": ended }))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Staff issue a one-time reset code for an account (e.g. at the service
    /// station counter); it is shown once, to them, and never stored in clear.
    pub async fn issue_password_reset(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<(String, i64), ServiceError> {
        let account = rows::account(&self.store, account_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let code = super::secret_token("", 9)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(10)
            .collect::<String>()
            .to_uppercase();
        let expires_at = now_ms() + self.config.password_reset_ttl_secs as i64 * 1000;
        let mut tx = self.store.begin().await?;
        let id = uuid::Uuid::now_v7().to_string();
        rows::insert_password_reset(
            &mut tx,
            &id,
            &account.id,
            &super::digest(&code),
            &caller.actor.audit_name(),
            expires_at,
        )
        .await?;
        AuditEvent::new(
            caller,
            "account.issue_password_reset",
            "account",
            Some(&account.id),
        )
        .after(&json!({ "resetId": id, "expiresAt": crate::store::rfc3339(expires_at) }))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        Ok((code, expires_at))
    }

    /// Sets a new password with a reset code; every session of the account ends.
    pub async fn reset_password(
        &self,
        caller: &Caller,
        login: &str,
        code: &str,
        new: String,
    ) -> Result<(), ServiceError> {
        let locale = caller.locale;
        let invalid = || {
            ServiceError::reject(
                "RESET_CODE_INVALID",
                &["input", "code"],
                Text::new(
                    "The reset code is wrong or has expired.",
                    "重置码错误或已过期。",
                ),
                locale,
            )
        };
        let Some(login) = Login::parse(login) else {
            return Err(invalid());
        };
        let Some(account) = rows::account_by_login(&self.store, login.as_str()).await? else {
            return Err(invalid());
        };
        self.require_strong(&new, &[login.as_str(), &account.display_name], locale)
            .map_err(|e| rename_field(e, &["input", "newPassword"]))?;
        let hash = hash_password(new).await?;
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        let code = code.trim().to_uppercase();
        if !rows::take_password_reset(&mut tx, &account.id, &super::digest(&code), now).await? {
            drop(tx);
            AuditEvent::new(
                caller,
                "account.reset_password",
                "account",
                Some(&account.id),
            )
            .outcome(crate::audit::Outcome::Failure)
            .append_alone(&self.store)
            .await;
            return Err(invalid());
        }
        rows::set_password(&mut tx, &account.id, &hash, now).await?;
        let ended = rows::revoke_sessions_of(&mut tx, &account.id, None, now).await?;
        AuditEvent::new(
            caller,
            "account.reset_password",
            "account",
            Some(&account.id),
        )
        .after(&json!({ "sessionsEnded": ended }))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller's own account, or `Unauthenticated`.
    pub async fn signed_in_account(&self, caller: &Caller) -> Result<AccountRow, ServiceError> {
        let id = caller
            .actor
            .account_id()
            .ok_or(ServiceError::Unauthenticated(caller.credential_problem))?;
        rows::account(&self.store, id)
            .await?
            .ok_or(ServiceError::Unauthenticated(None))
    }
}

/// What the audit log may keep of an account: no password hash.
pub fn public_state(a: &AccountRow) -> serde_json::Value {
    json!({
        "id": a.id,
        "email": a.email,
        "phone": a.phone.as_deref().map(super::identity_documents::mask_phone),
        "displayName": a.display_name,
        "locale": a.locale,
    })
}

fn rename_field(err: ServiceError, field: &[&str]) -> ServiceError {
    match err {
        ServiceError::Rejected(mut errors) => {
            for e in &mut errors {
                e.field = field.iter().map(|s| s.to_string()).collect();
            }
            ServiceError::Rejected(errors)
        }
        other => other,
    }
}

pub(super) async fn hash_password(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?
        .map_err(|e| ServiceError::Internal(format!("hashing: {e}")))
}

pub(super) async fn verify_password(password: String, phc: String) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(move || password::verify(&password, &phc))
        .await
        .map_err(|e| ServiceError::Internal(format!("verifying task: {e}")))?
        .map_err(|e| ServiceError::Internal(format!("verifying: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_emails_or_mainland_mobiles() {
        assert_eq!(
            Login::parse(" Li.Na@Example.COM "),
            Some(Login::Email("li.na@example.com".into()))
        );
        assert_eq!(
            Login::parse("+86 138-1234-5678"),
            Some(Login::Phone("13812345678".into()))
        );
        for bad in [
            "",
            "li@",
            "@x.cn",
            "li@cn",
            "12345",
            "12812345678",
            "1381234567x",
        ] {
            assert_eq!(Login::parse(bad), None, "{bad}");
        }
    }
}
