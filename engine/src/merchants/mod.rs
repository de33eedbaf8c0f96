//! Merchants (MER-1…4): shops selling in a market. Each sees only its own
//! data: services ask [`membership`] before touching a shop's products,
//! documents or orders, next to the data, on top of the casbin role check.

pub mod agreement;
pub mod application;
pub mod credit;
pub mod listings;
pub mod membership;
pub mod qualification;
pub mod review;
pub mod service;
pub mod shop;
