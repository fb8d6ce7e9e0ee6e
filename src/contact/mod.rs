//! The Contact of the Partner API v2 as the client sees it: its fields and their validation.

pub mod input;
pub mod schema;
