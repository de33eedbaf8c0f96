//! Webhook subscriptions: a retailer's or supplier's system names a URL and
//! the event kinds it wants from one market (Q 4.1.2), and gets a signing
//! secret, shown once. Who may do this is the guard's business (`webhook`
//! read/write in the market); this service keeps the rules: http(s) URLs
//! only, sensible kinds, secrets sealed at rest and never logged, every
//! change audited.

use std::sync::Arc;

use serde_json::json;

use super::signing::SecretBox;
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::config::Config;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::webhooks::{self as rows, AttemptRow, DeliveryRow, SubscriptionRow};
use crate::store::{Store, now_ms};

/// Longest URL accepted.
const MAX_URL_LEN: usize = 2_048;
/// Most kinds one subscription may list.
const MAX_KINDS: usize = 50;

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    secrets: Arc<SecretBox>,
}

/// A subscription as its administrators see it (never with the secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub market_code: String,
    pub url: String,
    /// `["*"]` for every kind.
    pub event_kinds: Vec<String>,
    pub active: bool,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Subscription {
    pub fn wants(&self, kind: &str) -> bool {
        self.active && self.event_kinds.iter().any(|k| k == "*" || k == kind)
    }
}

/// A new subscription and its secret, which exists in plain text only here.
#[derive(Clone, PartialEq)]
pub struct NewSubscription {
    pub subscription: Subscription,
    pub secret: String,
}

impl std::fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscription")
            .field("subscription", &self.subscription)
            .field("secret", &"****")
            .finish()
    }
}

/// One line of the delivery log, with its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub row: DeliveryRow,
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub attempt: i64,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

pub(crate) fn from_row(row: &SubscriptionRow) -> Subscription {
    Subscription {
        id: row.id.clone(),
        market_code: row.market_code.clone(),
        url: row.url.clone(),
        event_kinds: serde_json::from_str(&row.event_kinds).unwrap_or_default(),
        active: row.active != 0,
        created_by: row.created_by.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn state(s: &Subscription) -> serde_json::Value {
    json!({
        "market": s.market_code,
        "url": s.url,
        "eventKinds": s.event_kinds,
        "active": s.active,
    })
}

/// An http(s) URL with a host and no credentials in it.
pub fn check_url(raw: &str) -> Result<reqwest::Url, Text> {
    let bad = Text::new(
        "Give an http:// or https:// URL with a host, without a user name or password.",
        "请填写以 http:// 或 https:// 开头、包含主机名且不含用户名和密码的地址。",
    );
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_URL_LEN {
        return Err(bad);
    }
    let url = reqwest::Url::parse(raw).map_err(|_| bad)?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    if ok { Ok(url) } else { Err(bad) }
}

/// `*`, or dotted lower-case words like `order.paid`.
fn check_kinds(kinds: &[String]) -> Result<Vec<String>, Text> {
    let bad = Text::new(
        "List the event kinds to receive, such as order.paid, or * for all (at most 50).",
        "请列出要接收的事件类型，例如 order.paid，或用 * 表示全部（最多 50 个）。",
    );
    let mut out: Vec<String> = kinds.iter().map(|k| k.trim().to_string()).collect();
    out.sort();
    out.dedup();
    if out.is_empty() || out.len() > MAX_KINDS {
        return Err(bad);
    }
    let well_formed = |k: &str| {
        k == "*"
            || (k.len() <= 64
                && k.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                }))
    };
    if !out.iter().all(|k| well_formed(k)) {
        return Err(bad);
    }
    if out.iter().any(|k| k == "*") {
        out = vec!["*".to_string()];
    }
    Ok(out)
}

impl Webhooks {
    pub fn new(store: Store, config: &Config) -> Result<Self, ServiceError> {
        let key = crate::accounts::security_key(config)?;
        let secrets = SecretBox::from_engine_key(&key).map_err(|_| {
            ServiceError::Internal("security.id_number_key must be base64 of 32 bytes".into())
        })?;
        Ok(Self {
            store,
            secrets: Arc::new(secrets),
        })
    }

    /// Opens a stored secret to sign with.
    pub(crate) fn open_secret(&self, sealed: &str) -> Result<String, ServiceError> {
        self.secrets
            .open(sealed)
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    pub async fn create(
        &self,
        caller: &Caller,
        market: &str,
        url: &str,
        event_kinds: &[String],
    ) -> Result<NewSubscription, ServiceError> {
        let locale = caller.locale;
        if crate::store::markets::find(&self.store, market)
            .await?
            .is_none()
        {
            return Err(ServiceError::reject(
                "MARKET_NOT_FOUND",
                &["market"],
                Text::new("There is no such market.", "没有这个市场。"),
                locale,
            ));
        }
        let url = check_url(url)
            .map_err(|text| ServiceError::reject("INVALID_URL", &["url"], text, locale))?;
        let kinds = check_kinds(event_kinds).map_err(|text| {
            ServiceError::reject("INVALID_EVENT_KINDS", &["eventKinds"], text, locale)
        })?;
        let secret = crate::accounts::secret_token("whsec_", 32);
        let sealed = self
            .secrets
            .seal(&secret)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let now = now_ms();
        let row = SubscriptionRow {
            id: uuid::Uuid::now_v7().to_string(),
            market_code: market.to_string(),
            url: url.to_string(),
            event_kinds: serde_json::to_string(&kinds).unwrap_or_else(|_| "[]".into()),
            secret_encrypted: sealed,
            active: 1,
            created_by: caller.actor.audit_name(),
            created_at: now,
            updated_at: now,
        };
        let subscription = from_row(&row);
        let mut tx = self.store.begin().await?;
        rows::insert_subscription(&mut tx, &row).await?;
        AuditEvent::new(caller, "webhook.create", "webhook", Some(&row.id))
            .market(Some(market))
            .after(&state(&subscription))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(NewSubscription {
            subscription,
            secret,
        })
    }

    pub async fn list(&self, market: &str) -> Result<Vec<Subscription>, ServiceError> {
        Ok(rows::subscriptions_in(&self.store, market, false)
            .await?
            .iter()
            .map(from_row)
            .collect())
    }

    /// The subscription, if it exists in `market` (another market's is not found).
    async fn in_market(&self, market: &str, id: &str) -> Result<SubscriptionRow, ServiceError> {
        rows::find_subscription(&self.store, id)
            .await?
            .filter(|s| s.market_code == market)
            .ok_or(ServiceError::NotFound)
    }

    /// Stops deliveries to a subscription; its log stays readable. Pending
    /// deliveries end as `failed` when they come due.
    pub async fn deactivate(
        &self,
        caller: &Caller,
        market: &str,
        id: &str,
    ) -> Result<(), ServiceError> {
        let row = match self.in_market(market, id).await {
            Ok(row) => row,
            Err(ServiceError::NotFound) => {
                return Err(ServiceError::reject(
                    "NOT_FOUND",
                    &["id"],
                    Text::new(
                        "There is no such webhook subscription in this market.",
                        "该市场没有这个 Webhook 订阅。",
                    ),
                    caller.locale,
                ));
            }
            Err(e) => return Err(e),
        };
        let before = from_row(&row);
        if !before.active {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        rows::deactivate(&mut tx, id, now).await?;
        let after = Subscription {
            active: false,
            updated_at: now,
            ..before.clone()
        };
        AuditEvent::new(caller, "webhook.delete", "webhook", Some(id))
            .market(Some(market))
            .before(&state(&before))
            .after(&state(&after))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of a subscription's delivery log, newest first.
    pub async fn deliveries(
        &self,
        market: &str,
        subscription_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>, ServiceError> {
        self.in_market(market, subscription_id).await?;
        let page = rows::deliveries_of(&self.store, subscription_id, after, limit).await?;
        let ids: Vec<String> = page.iter().map(|d| d.id.clone()).collect();
        let attempts = rows::attempts_of(&self.store, &ids).await?;
        Ok(page
            .into_iter()
            .map(|row| {
                let attempts = attempts
                    .iter()
                    .filter(|a| a.delivery_id == row.id)
                    .map(|a: &AttemptRow| DeliveryAttempt {
                        attempt: a.attempt,
                        at: a.at,
                        status_code: a.status_code,
                        error: a.error.clone(),
                        duration_ms: a.duration_ms,
                    })
                    .collect();
                Delivery { row, attempts }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host_are_taken() {
        assert!(check_url("https://erp.example.com/hooks/shiji").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "",
            "ftp://example.com/x",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_are_dotted_words_or_a_star() {
        assert_eq!(
            check_kinds(&[
                "order.paid".into(),
                "order.paid".into(),
                "payment.failed".into()
            ])
            .unwrap(),
            vec!["order.paid", "payment.failed"]
        );
        assert_eq!(
            check_kinds(&["order.paid".into(), "*".into()]).unwrap(),
            vec!["*"]
        );
        assert!(check_kinds(&[]).is_err());
        assert!(check_kinds(&["Order.Paid".into()]).is_err());
        assert!(check_kinds(&["order..paid".into()]).is_err());
    }

    #[test]
    fn a_subscription_wants_its_kinds_while_active() {
        let mut s = Subscription {
            id: "s".into(),
            market_code: "m".into(),
            url: "http://x".into(),
            event_kinds: vec!["order.paid".into()],
            active: true,
            created_by: "a".into(),
            created_at: 0,
            updated_at: 0,
        };
        assert!(s.wants("order.paid"));
        assert!(!s.wants("order.refunded"));
        s.event_kinds = vec!["*".into()];
        assert!(s.wants("order.refunded"));
        s.active = false;
        assert!(!s.wants("order.paid"));
    }
}
