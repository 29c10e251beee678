//! One client text frame (`typing`, `read`, `delivered`, `ping`): parsed and run for the
//! caller.

use chat_core::{ConversationId, Identity};

use crate::api::ChatApi;
use crate::error::ApiError;
use crate::extract::parse_json;
use crate::ws::frames::{ClientFrame, ClientFrameKind, frame_text};

/// Parses and runs one client text frame for `me`: the text to answer with, if any, or the
/// rejection (sent to the client as an `error` frame; always a 4xx kind of error unless the
/// store fails).
pub(super) async fn client_frame(api: &ChatApi, me: &Identity, text: &str) -> Result<Option<String>, ApiError> {
    let frame = parse_json::<ClientFrame>(text.as_bytes())?;
    if frame.kind == ClientFrameKind::Ping {
        return Ok(Some(frame_text::<()>("pong", None, None)));
    }
    let Some(conversation) = frame.conversation_uuid.map(ConversationId::from_uuid) else {
        return Err(ApiError::invalid("conversation_uuid", "is required"));
    };
    match frame.kind {
        ClientFrameKind::Typing => {
            if let Some(limiter) = &api.typing_limiter {
                limiter
                    .check(me)
                    .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
            }
            api.services.messages().typing(me, conversation).await?;
        }
        ClientFrameKind::Delivered => {
            api.services
                .conversations()
                .mark_delivered(me, conversation, frame.up_to_seq)
                .await?;
        }
        ClientFrameKind::Read | ClientFrameKind::Ping => {
            api.services
                .conversations()
                .mark_read(me, conversation, frame.up_to_seq)
                .await?;
        }
    }
    Ok(None)
}

/// Arbitrary text and arbitrary JSON thrown at the client frame handler: it never panics
/// and every rejection is a client error (4xx), never a server error.
#[cfg(test)]
mod frames_property {
    use std::sync::Arc;

    use chat_core::testing::MemoryStore;
    use chat_core::{ChatServices, InMemoryDirectory, Profile, StartDirect, TenantId, UserId};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use crate::auth::{AuthRejection, Authenticator};

    struct NoAuth;

    #[async_trait::async_trait]
    impl Authenticator for NoAuth {
        async fn authenticate(&self, _: &axum::http::request::Parts) -> Result<Identity, AuthRejection> {
            Err(AuthRejection::Unauthenticated)
        }
    }

    fn setup(runtime: &tokio::runtime::Runtime) -> (ChatApi, Identity, Uuid) {
        let tenant = TenantId::default();
        let ana = UserId::new("ana").expect("user");
        let bo = UserId::new("bo").expect("user");
        let directory = InMemoryDirectory::new()
            .with_profile(&tenant, Profile::new(ana.clone(), "Ana"))
            .with_profile(&tenant, Profile::new(bo.clone(), "Bo"));
        let services = ChatServices::new(Arc::new(MemoryStore::new()), Arc::new(directory));
        let me = Identity::new(tenant, ana);
        let input = StartDirect {
            counterpart: bo,
            tag: None,
            metadata: Default::default(),
        };
        let (view, _) = runtime
            .block_on(services.conversations().start_direct(&me, input))
            .expect("conversation");
        let api = ChatApi::new(services, Arc::new(NoAuth));
        (api, me, *view.conversation.id.as_uuid())
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(
                |f| serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            ),
            ".{0,40}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,12}", inner, 0..6)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// Frames close to valid ones: known and unknown types, real, random and malformed
    /// conversation ids, any `up_to_seq`, sometimes an extra field.
    fn near_frame(conversation: Uuid) -> impl Strategy<Value = String> {
        let kind = prop_oneof![
            Just(serde_json::json!("typing")),
            Just(serde_json::json!("read")),
            Just(serde_json::json!("delivered")),
            Just(serde_json::json!("ping")),
            json_value(),
        ];
        let id = prop_oneof![
            Just(serde_json::json!(conversation.to_string())),
            any::<u128>().prop_map(|n| serde_json::json!(Uuid::from_u128(n).to_string())),
            json_value(),
        ];
        (
            kind,
            prop::option::of(id),
            prop::option::of(json_value()),
            prop::option::of((".{0,10}", json_value())),
        )
            .prop_map(|(kind, id, seq, extra)| {
                let mut frame = serde_json::Map::new();
                frame.insert("type".into(), kind);
                if let Some(id) = id {
                    frame.insert("conversation_uuid".into(), id);
                }
                if let Some(seq) = seq {
                    frame.insert("up_to_seq".into(), seq);
                }
                if let Some((key, value)) = extra {
                    frame.insert(key, value);
                }
                serde_json::Value::Object(frame).to_string()
            })
    }

    fn check(runtime: &tokio::runtime::Runtime, api: &ChatApi, me: &Identity, text: &str) -> Result<(), TestCaseError> {
        match runtime.block_on(client_frame(api, me, text)) {
            Ok(_) => Ok(()),
            Err(error) => {
                prop_assert!(error.status().is_client_error(), "{text:?} -> {:?}", error.status());
                Ok(())
            }
        }
    }

    fn cases() -> u32 {
        std::env::var("CHAT_PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(512)
    }

    #[test]
    fn arbitrary_text_and_json_frames_are_answered_with_4xx_at_worst() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (api, me, conversation) = setup(&runtime);
        let config = ProptestConfig::with_cases(cases());
        proptest!(config, |(bytes in prop::collection::vec(any::<u8>(), 0..256),
                           value in json_value(),
                           frame in near_frame(conversation))| {
            check(&runtime, &api, &me, &String::from_utf8_lossy(&bytes))?;
            check(&runtime, &api, &me, &value.to_string())?;
            check(&runtime, &api, &me, &frame)?;
        });
    }

    #[test]
    fn valid_frames_are_accepted() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (api, me, conversation) = setup(&runtime);
        for text in [
            r#"{"type":"ping"}"#.to_owned(),
            format!(r#"{{"type":"typing","conversation_uuid":"{conversation}"}}"#),
            format!(r#"{{"type":"read","conversation_uuid":"{conversation}","up_to_seq":3.0}}"#),
            format!(r#"{{"type":"delivered","conversation_uuid":"{conversation}","up_to_seq":2}}"#),
        ] {
            assert!(runtime.block_on(client_frame(&api, &me, &text)).is_ok(), "{text}");
        }
        let stranger = format!(r#"{{"type":"read","conversation_uuid":"{}"}}"#, Uuid::now_v7());
        let error = runtime
            .block_on(client_frame(&api, &me, &stranger))
            .expect_err("not a member");
        assert_eq!(error.status(), axum::http::StatusCode::NOT_FOUND);
    }
}
