//! The Contact schema of the Partner API v2 and its validation. Being written.
