//! Edge cases of the Store contract, checked on PgStore and on the reference store alike.

use std::sync::Arc;

use chat_core::store::NewDirect;
use chat_core::testing::MemoryStore;
use chat_core::testing::fixtures::{fresh_tenant, user_id};
use chat_core::{Identity, Store, Tag, TaggableId};

use crate::common;

/// Tags built without `Tag::new` (as deserialization does) may have empty parts: such a tag
/// is still a tag, never the same key as "no tag".
async fn empty_tag_parts_are_not_no_tag(store: Arc<dyn Store>) {
    let caller = Identity::new(fresh_tenant(), user_id(0));
    let direct = |tag: Option<Tag>| NewDirect {
        counterpart: user_id(1),
        tag,
        metadata: Default::default(),
    };
    let empty = Tag {
        taggable_type: String::new(),
        taggable_id: TaggableId::Str(String::new()),
    };
    let (untagged, created) = store
        .find_or_create_direct(&caller, direct(None))
        .await
        .expect("untagged");
    assert!(created);
    let (tagged, created) = store
        .find_or_create_direct(&caller, direct(Some(empty.clone())))
        .await
        .expect("empty tag");
    assert!(created, "an empty tag is another key than no tag");
    assert_ne!(tagged.conversation.id, untagged.conversation.id);
    assert_eq!(tagged.conversation.tag, Some(empty.clone()));
    let (again, created) = store
        .find_or_create_direct(&caller, direct(Some(empty)))
        .await
        .expect("again");
    assert!(!created);
    assert_eq!(again.conversation.id, tagged.conversation.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_empty_tag_parts_are_not_no_tag() {
    let Some(store) = common::conformance_store().await else {
        return;
    };
    empty_tag_parts_are_not_no_tag(store).await;
}

#[tokio::test]
async fn reference_empty_tag_parts_are_not_no_tag() {
    empty_tag_parts_are_not_no_tag(Arc::new(MemoryStore::new())).await;
}
