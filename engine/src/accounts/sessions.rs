//! Signing in and staying signed in: captchas, login with lockout, sessions
//! and API tokens.
//!
//! Credentials are opaque random tokens; only their SHA-256 is stored, so a
//! copy of the database does not let anyone sign in. Sessions live in the
//! database, so every node accepts them and a revocation takes effect at once.
//! A session unused for `session_idle_secs` is over.

use serde_json::json;

use super::captcha::{self, Captcha};
use super::directory::{Login, verify_password};
use super::{Accounts, digest, secret_token};
use crate::audit::{AuditEvent, Outcome};
use crate::caller::{Actor, Caller, CredentialProblem};
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::accounts::{self as rows, AccountRow, ApiTokenRow, SessionRow};
use crate::store::now_ms;

/// Session tokens and API tokens are told apart by prefix (and found by secret scanners).
const SESSION_PREFIX: &str = "sjs_";
const API_TOKEN_PREFIX: &str = "sjt_";

/// A captcha as the API serves it.
pub struct IssuedCaptcha {
    pub id: String,
    pub png: Vec<u8>,
    pub expires_at: i64,
}

/// What a successful login returns; the token is shown this once.
pub struct SignedIn {
    pub token: String,
    pub session: SessionRow,
    pub account: AccountRow,
}

const INVALID_CREDENTIALS: Text =
    Text::new("The account or password is wrong.", "账号或密码错误。");
const CAPTCHA_INVALID: Text = Text::new(
    "The captcha is wrong or has expired. Please try a new one.",
    "验证码错误或已过期，请刷新后重试。",
);

impl Accounts {
    pub async fn issue_captcha(&self) -> Result<IssuedCaptcha, ServiceError> {
        let now = now_ms();
        let Captcha { answer, png } = Captcha::generate()
            .map_err(|e| ServiceError::Internal(format!("drawing a captcha: {e}")))?;
        let id = uuid::Uuid::new_v4().to_string();
        let expires_at = now + self.config.captcha_ttl_secs as i64 * 1000;
        rows::insert_captcha(&self.store, &id, &answer, expires_at).await?;
        // Opportunistic clean-up keeps the table small without a timer.
        if rand::random::<u8>() < 8 {
            rows::purge_captchas(&self.store, now).await?;
        }
        Ok(IssuedCaptcha {
            id,
            png,
            expires_at,
        })
    }

    /// Account + password + captcha. Five wrong passwords in a row lock the
    /// account for a while; every attempt is audited.
    pub async fn login(
        &self,
        caller: &Caller,
        login: &str,
        password: String,
        captcha_id: &str,
        captcha_answer: &str,
        user_agent: Option<String>,
    ) -> Result<SignedIn, ServiceError> {
        let locale = caller.locale;
        let now = now_ms();
        // The captcha is used up first, whatever happens next: one guess per captcha.
        let expected = rows::take_captcha(&self.store, captcha_id, now).await?;
        let captcha_ok = expected
            .as_deref()
            .is_some_and(|expected| captcha::answer_matches(expected, captcha_answer));
        let account = match Login::parse(login) {
            Some(login) => rows::account_by_login(&self.store, login.as_str()).await?,
            None => None,
        };
        let audit = |outcome: Outcome, reason: &str| {
            let event = AuditEvent::new(
                caller,
                "account.login",
                "account",
                account.as_ref().map(|a| a.id.as_str()),
            )
            .after(&json!({ "reason": reason }))
            .outcome(outcome);
            // Attempts on a known account are that account's security events.
            match &account {
                Some(a) => event.actor(format!("account:{}", a.id)),
                None => event,
            }
        };
        if !captcha_ok {
            audit(Outcome::Failure, "captcha")
                .append_alone(&self.store)
                .await;
            return Err(ServiceError::reject(
                "CAPTCHA_INVALID",
                &["input", "captchaAnswer"],
                CAPTCHA_INVALID,
                locale,
            ));
        }
        let Some(account) = account.clone() else {
            // Same work as a real check, so timing does not tell which accounts exist.
            let _ =
                tokio::task::spawn_blocking(move || super::password::dummy_verify(&password)).await;
            audit(Outcome::Failure, "unknown account")
                .append_alone(&self.store)
                .await;
            return Err(ServiceError::reject(
                "INVALID_CREDENTIALS",
                &["input", "password"],
                INVALID_CREDENTIALS,
                locale,
            ));
        };
        if let Some(until) = account.locked_until.filter(|until| *until > now) {
            audit(Outcome::Denied, "locked")
                .append_alone(&self.store)
                .await;
            return Err(self.locked(until - now, locale));
        }
        if !verify_password(password, account.password_hash.clone()).await? {
            let mut tx = self.store.begin().await?;
            let failures = rows::count_login_failure(&mut tx, &account.id).await?;
            let locks = failures >= i64::from(self.config.lockout_threshold);
            let lockout_ms = self.config.lockout_secs as i64 * 1000;
            if locks {
                rows::set_lock(&mut tx, &account.id, Some(now + lockout_ms)).await?;
                AuditEvent::new(caller, "account.lock", "account", Some(&account.id))
                    .after(&json!({ "failedLogins": failures, "lockedForSeconds": self.config.lockout_secs }))
                    .outcome(Outcome::Denied)
                    .append(&mut tx)
                    .await?;
            }
            audit(Outcome::Failure, "wrong password")
                .append(&mut tx)
                .await?;
            tx.commit().await?;
            tracing::info!(account = %account.id, failures, locked = locks, "failed login");
            return Err(if locks {
                self.locked(lockout_ms, locale)
            } else {
                ServiceError::reject(
                    "INVALID_CREDENTIALS",
                    &["input", "password"],
                    INVALID_CREDENTIALS,
                    locale,
                )
            });
        }

        let token = secret_token(SESSION_PREFIX, 32);
        let session = SessionRow {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            created_at: now,
            last_seen_at: now,
            revoked_at: None,
            source_address: caller.source_address.clone(),
            user_agent: user_agent.map(|ua| ua.chars().take(200).collect()),
        };
        let mut tx = self.store.begin().await?;
        rows::set_lock(&mut tx, &account.id, None).await?;
        rows::insert_session(&mut tx, &session, &digest(&token)).await?;
        audit(Outcome::Success, "ok")
            .after(&json!({ "sessionId": session.id }))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(SignedIn {
            token,
            session,
            account,
        })
    }

    fn locked(&self, remaining_ms: i64, locale: crate::i18n::Locale) -> ServiceError {
        let minutes = (remaining_ms + 59_999) / 60_000;
        let message = match locale {
            crate::i18n::Locale::ZhCn => {
                format!("登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试。")
            }
            crate::i18n::Locale::En => format!(
                "Too many failed logins: the account is locked. Try again in {minutes} minute(s)."
            ),
        };
        ServiceError::Rejected(vec![crate::api::UserError {
            code: "ACCOUNT_LOCKED",
            field: vec![],
            message,
        }])
    }

    /// Turns a bearer credential into an actor. Called once per request.
    pub async fn authenticate(&self, credential: &str) -> Result<Actor, CredentialProblem> {
        let now = now_ms();
        let lookup = async {
            if credential.starts_with(SESSION_PREFIX) {
                let Some(session) =
                    rows::session_by_token_hash(&self.store, &digest(credential)).await?
                else {
                    return Ok(Err(CredentialProblem::Unknown));
                };
                if session.revoked_at.is_some() {
                    return Ok(Err(CredentialProblem::Revoked));
                }
                let idle_ms = self.config.session_idle_secs as i64 * 1000;
                if now - session.last_seen_at > idle_ms {
                    return Ok(Err(CredentialProblem::Expired));
                }
                // Touch at most every tenth of the idle window: fewer writes, same expiry.
                if now - session.last_seen_at > (idle_ms / 10).min(30_000) {
                    rows::touch_session(&self.store, &session.id, now).await?;
                }
                Ok(Ok(Actor::Account {
                    account_id: session.account_id,
                    session_id: session.id,
                }))
            } else if credential.starts_with(API_TOKEN_PREFIX) {
                let Some(token) = rows::api_token_by_hash(&self.store, &digest(credential)).await?
                else {
                    return Ok(Err(CredentialProblem::Unknown));
                };
                if token.revoked_at.is_some() {
                    return Ok(Err(CredentialProblem::Revoked));
                }
                rows::touch_api_token(&self.store, &token.id, now).await?;
                Ok(Ok(Actor::ApiToken {
                    token_id: token.id,
                    role: token.role,
                    market: token.market_code,
                }))
            } else {
                Ok(Err(CredentialProblem::Unknown))
            }
        };
        let result: Result<Result<Actor, CredentialProblem>, crate::store::StoreError> =
            lookup.await;
        match result {
            Ok(outcome) => outcome,
            Err(e) => {
                // The database is away: the request continues anonymous, and any
                // guarded field answers with the error the store gives it.
                tracing::warn!(error = %e, "could not check a credential");
                Err(CredentialProblem::Unknown)
            }
        }
    }

    /// Ends the caller's own session.
    pub async fn logout(&self, caller: &Caller) -> Result<(), ServiceError> {
        let Actor::Account { session_id, .. } = &caller.actor else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        self.end_session(caller, session_id, "account.logout").await
    }

    /// Ends one of the caller's sessions (e.g. a lost phone).
    pub async fn revoke_session(
        &self,
        caller: &Caller,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let account = self.signed_in_account(caller).await?;
        match rows::session(&self.store, session_id).await? {
            Some(session) if session.account_id == account.id => {
                self.end_session(caller, session_id, "session.revoke").await
            }
            // Someone else's session is "not found", not "forbidden": ids do not leak.
            _ => Err(ServiceError::NotFound),
        }
    }

    async fn end_session(
        &self,
        caller: &Caller,
        session_id: &str,
        action: &str,
    ) -> Result<(), ServiceError> {
        let mut tx = self.store.begin().await?;
        rows::revoke_session(&mut tx, session_id, now_ms()).await?;
        AuditEvent::new(caller, action, "session", Some(session_id))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller's live sessions, newest first.
    pub async fn my_sessions(
        &self,
        caller: &Caller,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<SessionRow>, ServiceError> {
        let account = self.signed_in_account(caller).await?;
        let live_since = now_ms() - self.config.session_idle_secs as i64 * 1000;
        Ok(rows::sessions_of(&self.store, &account.id, live_since, before, limit).await?)
    }

    /// Creates an API token with one role in one market; returns it once.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        name: &str,
        role: &str,
        market: &str,
        may_grant_platform_roles: bool,
    ) -> Result<(String, ApiTokenRow), ServiceError> {
        let locale = caller.locale;
        let creator = self.signed_in_account(caller).await?;
        if !crate::authz::ROLES.contains(&role) {
            return Err(ServiceError::reject(
                "UNKNOWN_ROLE",
                &["input", "role"],
                Text::new("There is no such role.", "没有该角色。"),
                locale,
            ));
        }
        if crate::authz::PLATFORM_ROLES.contains(&role) && !may_grant_platform_roles {
            return Err(ServiceError::Forbidden);
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(ServiceError::reject(
                "INVALID_NAME",
                &["input", "name"],
                Text::new(
                    "Give the token a name of 1–80 characters.",
                    "令牌名称须为 1–80 个字符。",
                ),
                locale,
            ));
        }
        let token = secret_token(API_TOKEN_PREFIX, 32);
        let row = ApiTokenRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_string(),
            role: role.to_string(),
            market_code: market.to_string(),
            created_by: creator.id.clone(),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.store.begin().await?;
        rows::insert_api_token(&mut tx, &row, &digest(&token)).await?;
        AuditEvent::new(caller, "api_token.create", "api_token", Some(&row.id))
            .market(Some(market))
            .after(&json!({ "name": row.name, "role": row.role, "market": row.market_code }))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.authz
            .grant_role(&format!("token:{}", row.id), role, market)
            .await
            .map_err(|e| ServiceError::Internal(format!("granting the token's role: {e}")))?;
        Ok((token, row))
    }

    /// Revokes an API token; it stops working on the next request.
    pub async fn revoke_api_token(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ApiTokenRow, ServiceError> {
        let token = rows::api_token(&self.store, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let mut tx = self.store.begin().await?;
        rows::revoke_api_token(&mut tx, id, now_ms()).await?;
        AuditEvent::new(caller, "api_token.revoke", "api_token", Some(id))
            .market(Some(&token.market_code))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.authz
            .revoke_role(&format!("token:{id}"), &token.role, &token.market_code)
            .await
            .map_err(|e| ServiceError::Internal(format!("removing the token's role: {e}")))?;
        Ok(token)
    }

    pub async fn api_token(&self, id: &str) -> Result<Option<ApiTokenRow>, ServiceError> {
        Ok(rows::api_token(&self.store, id).await?)
    }
}
