//! Edge cases of the Store contract: unvalidated tags on PgStore and on the reference store.

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
    let Some(test_store) = common::conformance_store().await else {
        return;
    };
    empty_tag_parts_are_not_no_tag(Arc::clone(&test_store.store)).await;
}

/// The reference store (the storage kernel) keeps records in an encoding that checks tags
/// when read back, so it refuses a tag that would not read back, as the validation error
/// `Tag::new` gives, and stores nothing: the conversation stays unstarted.
#[tokio::test]
async fn reference_refuses_a_tag_it_could_not_read_back() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let caller = Identity::new(fresh_tenant(), user_id(0));
    let empty = Tag {
        taggable_type: String::new(),
        taggable_id: TaggableId::Str(String::new()),
    };
    let new = NewDirect {
        counterpart: user_id(1),
        tag: Some(empty.clone()),
        metadata: Default::default(),
    };
    let error = store.find_or_create_direct(&caller, new).await.expect_err("refused");
    assert!(
        error
            .field_errors()
            .is_some_and(|errors| errors.fields().contains_key("taggable_type")),
        "{error:?}"
    );
    let found = store
        .find_direct(&caller, &user_id(1), Some(&empty))
        .await
        .expect("read");
    assert!(found.is_none(), "nothing was stored");
    let stats = store.stats(&caller).await.expect("stats");
    assert_eq!(stats.total_conversations, 0);
}
