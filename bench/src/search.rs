//! Scenario 8: conversation search of a user in 100 and in 10,000 conversations.
//!
//! The loaded inboxes (`load::sled_inbox` / `load::pg_inbox`) are direct conversations of
//! the owner with `p<size>_<index>`. The directory of this scenario matches a query that is
//! a user id to that user (one match, as a name search for one person would), so a search
//! finds exactly one conversation, out of 100 or 10,000. Issue 13 asked that its cost grow
//! with the matches, not with the caller's conversation count: the p99 at 10,000 against the
//! p99 at 100 is the figure (target <= 2, as for the inbox page). A second case searches a
//! title that matches nothing (the title branch alone).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chat_core::{ChatResult, ChatServices, Limits, Profile, TenantId, UserDirectory, UserId};

use crate::env::{Backend, identity};
use crate::load;
use crate::measure;
use crate::report::Report;
use crate::scenarios::{self, Plan};

/// Inbox sizes compared.
pub const SIZES: [usize; 2] = [100, 10_000];

/// Profiles for everyone; a query that is a valid user id matches that user alone.
struct ExactIdDirectory;

#[async_trait]
impl UserDirectory for ExactIdDirectory {
    async fn profiles(&self, _tenant: &TenantId, users: &[UserId]) -> ChatResult<HashMap<UserId, Profile>> {
        Ok(users
            .iter()
            .map(|user| (user.clone(), Profile::new(user.clone(), user.as_str())))
            .collect())
    }

    async fn search(&self, _tenant: &TenantId, query: &str, _limit: usize) -> ChatResult<Vec<UserId>> {
        Ok(UserId::new(query).into_iter().collect())
    }
}

/// Runs the scenario on `backend`.
pub async fn search(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = scenarios::inbox_store(backend, plan, &SIZES, report).await;
    let mut limits = Limits::default();
    limits.conversations_started_per_hour = 0;
    let conversations = ChatServices::new(store.dyn_store(), Arc::new(ExactIdDirectory))
        .with_limits(limits)
        .conversations();
    let name = backend.name();
    let mut p99 = Vec::new();
    for size in SIZES {
        let actor = identity(&load::inbox_user(size));
        // Someone in the middle of the inbox: neither the newest nor the oldest.
        let wanted = format!("p{size}_{}", size / 2);
        let found = conversations.search(&actor, &wanted, None).await.expect("search");
        assert_eq!(found.len(), 1, "one conversation with {wanted}");
        let m = measure::repeat(plan.samples, |_| {
            let (conversations, actor, wanted) = (conversations.clone(), actor.clone(), wanted.clone());
            async move {
                let found = conversations.search(&actor, &wanted, None).await.expect("search");
                assert_eq!(found.len(), 1);
            }
        })
        .await;
        report.measured(
            "search",
            name,
            &format!("search by participant, {size} conversations"),
            &m,
            false,
            "1 match".to_owned(),
        );
        p99.push(m.p99());
        let m = measure::repeat(plan.samples, |_| {
            let (conversations, actor) = (conversations.clone(), actor.clone());
            async move {
                let found = conversations
                    .search(&actor, "no such title", None)
                    .await
                    .expect("search");
                assert!(found.is_empty());
            }
        })
        .await;
        report.measured(
            "search",
            name,
            &format!("search, no match, {size} conversations"),
            &m,
            false,
            "0 matches".to_owned(),
        );
    }
    report.notes.push(format!(
        "{name}: search p99 at {} / at {} conversations = {:.2} (target <= 2)",
        SIZES[1],
        SIZES[0],
        p99[1] / p99[0]
    ));
    scenarios::close(store).await;
}
