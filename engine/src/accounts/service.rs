//! The accounts service: what it holds, and the inputs its operations take.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::identity_documents::IdNumberCipher;
use crate::authz::Authz;
use crate::config::{AccountsConfig, Config};
use crate::i18n::Locale;
use crate::service_error::ServiceError;
use crate::store::Store;

/// Accounts, sessions, tokens, addresses and real-name verification.
#[derive(Clone)]
pub struct Accounts {
    pub(super) store: Store,
    pub(super) authz: Authz,
    pub(super) config: AccountsConfig,
    pub(super) cipher: Arc<IdNumberCipher>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

pub struct RegisterInput {
    /// Email or mainland mobile number.
    pub login: String,
    pub password: String,
    pub display_name: String,
    pub locale: Option<Locale>,
}

pub struct ProfileInput {
    pub display_name: Option<String>,
    pub locale: Option<Locale>,
}

pub struct AddressInput {
    pub recipient: String,
    pub phone: String,
    pub region: String,
    pub detail: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub is_default: bool,
}

pub struct VerificationInput {
    /// `PERSON` or `ORGANISATION`.
    pub kind: String,
    pub legal_name: String,
    pub number: String,
    /// Upload ids of the document images.
    pub document_ids: Vec<String>,
}

impl Accounts {
    pub fn new(store: Store, authz: Authz, config: &Config) -> Result<Self, ServiceError> {
        Ok(Self {
            store,
            authz,
            config: config.accounts.clone(),
            cipher: Arc::new(id_number_cipher(config)?),
        })
    }
}

/// The configured ID-number key, or one kept in a file under the data directory.
fn id_number_cipher(config: &Config) -> Result<IdNumberCipher, ServiceError> {
    let key = security_key(config)?;
    IdNumberCipher::from_base64_key(key.trim()).map_err(|_| {
        ServiceError::Internal("security.id_number_key must be base64 of 32 bytes".into())
    })
}

/// The engine's key for secrets at rest (base64 of 32 bytes): configured as
/// `security.id_number_key`, or kept in a file under the data directory.
/// Other secrets (webhook signing secrets) derive their own keys from it.
pub fn security_key(config: &Config) -> Result<String, ServiceError> {
    Ok(if config.security.id_number_key.is_empty() {
        key_file(&config.data_dir.join("id_number.key"))?
    } else {
        config.security.id_number_key.clone()
    })
}

fn key_file(path: &Path) -> Result<String, ServiceError> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(existing);
    }
    let key: [u8; 32] = rand::random();
    let encoded = STANDARD.encode(key);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ServiceError::Internal(format!("creating {}: {e}", dir.display())))?;
    }
    write_private(path, &encoded)
        .map_err(|e| ServiceError::Internal(format!("writing {}: {e}", path.display())))?;
    tracing::warn!(path = %path.display(), "created an ID-number key file; give every node the same key via security.id_number_key");
    Ok(encoded)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// A random secret with a recognisable prefix: `bytes` of entropy, base64url.
pub fn secret_token(prefix: &str, bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// SHA-256, hex: how tokens and codes are stored. They carry enough entropy
/// that a fast hash is the right one (argon2 is for low-entropy passwords).
pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random key in the format `security.id_number_key` takes.
pub fn random_key() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

impl Accounts {
    pub fn min_password_score(&self) -> u8 {
        self.config.min_password_score
    }

    /// Creates a platform administrator from the command line (audited as the operator).
    pub async fn create_platform_admin(
        &self,
        email: &str,
        name: Option<&str>,
        password: String,
    ) -> Result<crate::store::accounts::AccountRow, ServiceError> {
        let operator = crate::caller::Caller::operator();
        let account = self
            .register(
                &operator,
                RegisterInput {
                    login: email.to_string(),
                    password,
                    display_name: name.unwrap_or(email).to_string(),
                    locale: None,
                },
            )
            .await?;
        self.authz
            .grant_role(&format!("user:{}", account.id), "platform_admin", "*")
            .await
            .map_err(|e| ServiceError::Internal(format!("granting platform_admin: {e}")))?;
        crate::audit::AuditEvent::new(&operator, "role.assign", "account", Some(&account.id))
            .market(Some("*"))
            .after(&serde_json::json!({ "role": "platform_admin", "market": "*" }))
            .append_alone(&self.store)
            .await;
        Ok(account)
    }
}
