//! Who is asking, and from where: what every service call carries so it can
//! authorise, check ownership and write the audit trail.

use crate::i18n::Locale;

/// The authenticated principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// No credential, or one that is no longer valid.
    Anonymous,
    /// A person signed in with a session.
    Account {
        account_id: String,
        session_id: String,
    },
    /// A server-to-server client with an API token scoped to one role in one market.
    ApiToken {
        token_id: String,
        role: String,
        market: String,
    },
    /// The operator at the command line (`shiji admin …`).
    Operator,
    /// The engine acting on its own, e.g. the plugin breaker switching off a
    /// plugin that keeps failing.
    Engine,
}

impl Actor {
    /// The casbin subject, if the actor can hold roles.
    pub fn subject(&self) -> Option<String> {
        match self {
            Actor::Account { account_id, .. } => Some(format!("user:{account_id}")),
            Actor::ApiToken { token_id, .. } => Some(format!("token:{token_id}")),
            Actor::Anonymous | Actor::Operator | Actor::Engine => None,
        }
    }

    /// How the actor appears in the audit log.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Anonymous => "anonymous".into(),
            Actor::Account { account_id, .. } => format!("account:{account_id}"),
            Actor::ApiToken { token_id, .. } => format!("token:{token_id}"),
            Actor::Operator => "operator:cli".into(),
            Actor::Engine => "engine".into(),
        }
    }

    pub fn account_id(&self) -> Option<&str> {
        match self {
            Actor::Account { account_id, .. } => Some(account_id),
            _ => None,
        }
    }
}

/// Why a presented credential was not accepted; the client is told which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialProblem {
    Unknown,
    Expired,
    Revoked,
}

/// The actor plus the request facts the audit log records.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub credential_problem: Option<CredentialProblem>,
    pub source_address: Option<String>,
    pub request_id: Option<String>,
    pub locale: Locale,
}

impl Caller {
    pub fn anonymous() -> Self {
        Self {
            actor: Actor::Anonymous,
            credential_problem: None,
            source_address: None,
            request_id: None,
            locale: Locale::default(),
        }
    }

    pub fn operator() -> Self {
        Self {
            actor: Actor::Operator,
            ..Self::anonymous()
        }
    }

    pub fn system() -> Self {
        Self {
            actor: Actor::Engine,
            ..Self::anonymous()
        }
    }
}
