//! Bulk work shared by `contacts import` and `contacts sync`: the rows read in batches, what
//! each needs decided from the ledger, one paced send loop with the two-stage Ctrl-C, the
//! progress line, the report and the exit rule.

mod drive;
pub mod plan;
mod progress;
pub mod report;
mod tally;

pub use drive::{Driver, Planned};
pub use tally::Tally;
