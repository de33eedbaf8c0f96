//! Accounts and identity (ACC-1…7).
//!
//! Pure building blocks, each tested on its own: password hashing and
//! strength, the login captcha, real-name document numbers. On top of them the
//! service: registration and profiles (`directory`), signing in and sessions
//! (`sessions`), the address book, and real-name verification.

pub mod address_book;
pub mod captcha;
pub mod directory;
pub mod identity_documents;
pub mod password;
mod service;
pub mod sessions;
pub mod verification;

pub use service::{
    Accounts, AddressInput, ProfileInput, RegisterInput, VerificationInput, digest, random_key,
    secret_token, security_key,
};
