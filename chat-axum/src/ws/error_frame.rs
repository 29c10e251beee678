//! A rejected client frame as the `error` frame the client receives.

use crate::error::ApiError;
use crate::ws::frames::ErrorFrame;

/// The `error` frame for a rejected client frame: its message and, for validation errors,
/// the fields; an internal error is logged here.
pub(super) fn error_frame(error: ApiError) -> String {
    let message = error.message();
    let errors = match error {
        ApiError::Validation(errors) => Some(errors.fields().clone()),
        ApiError::Internal(source) => {
            tracing::error!(error = %source, "websocket frame failed");
            None
        }
        _ => None,
    };
    let frame = ErrorFrame {
        kind: "error",
        message,
        errors,
    };
    serde_json::to_string(&frame).unwrap_or_else(|_| "{\"type\":\"error\"}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_frames_carry_fields() {
        let text = error_frame(ApiError::invalid("conversation_uuid", "must be a valid UUID"));
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["type"], "error");
        assert_eq!(value["errors"]["conversation_uuid"][0], "must be a valid UUID");
    }
}
