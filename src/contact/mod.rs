//! The Contact of the Partner API v2: its fields and their validation, shared by the client
//! commands and the sandbox.

pub mod input;
pub mod schema;
