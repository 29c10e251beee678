//! chat-axum through its router: every endpoint, errors, authorization, the OpenAPI document
//! and live events over a real WebSocket.

mod abuse;
mod attachments;
mod authorization;
mod blocks;
mod common;
mod export;
mod fan_out;
mod fuzz;
mod hostile;
mod http;
mod logs;
mod mass_assignment;
mod message_features;
mod message_policy;
mod module_graph;
mod mute;
mod openapi;
mod platforms;
mod reports;
#[cfg(feature = "webhook")]
mod webhook;
mod ws;
mod ws_frames;
