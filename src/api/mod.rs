//! Partner API v2 calls: the client and the contact endpoints.

mod client;
pub mod contacts;
mod error;

pub use client::{Api, RawRequest, RawResponse};
pub use error::{ApiError, Failure};
