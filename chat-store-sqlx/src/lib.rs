//! Placeholder crate; its store or router arrives in its own issue.
#![forbid(unsafe_code)]
