//! The marketplace example as a library: the demo host (users, orders, toy login) and the
//! application router, so tests can start the whole server in process.
//!
//! The binary (`cargo run -p marketplace`) wires it to a store and a listener.
#![forbid(unsafe_code)]

pub mod demo;
pub mod host;
pub mod mailbox;
pub mod moderation;
pub mod orders;
pub mod serve;

/// The root README's Rust examples, compiled and run as doctests here, where every crate
/// of the workspace is a dependency, so the embedding guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;
