//! Scenario 10: replies and reactions against plain messages (issue 14).
//!
//! Two direct conversations of the same two users get the same number of messages: plain
//! ones, and replies (each quoting the message three before it) with three reactions each.
//! Measured interleaved, in one run: a send with `reply_to` against a plain send, and the
//! newest history page of 50 of each conversation. A page of replies costs one more store
//! read (the quoted originals, one call for the page) and their senders in the same
//! directory batch; the target is its p99 within 1.5x the plain page's.

use chat_core::store::ReadUpTo;
use chat_core::{ConversationId, MessageId, SendMessage, StartDirect};
use chat_store_sled::Durability;

use crate::env::{Backend, identity};
use crate::measure;
use crate::report::Report;
use crate::scenarios::{self, Plan, boxed};

/// Messages in each conversation before measuring.
const MESSAGES: usize = 200;
/// The history page measured.
const PAGE: usize = 50;

/// Runs the scenario on `backend`.
pub async fn replies(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = scenarios::fresh(backend, plan, "replies", Durability::Relaxed).await;
    let services = store.services();
    let (ana, bo) = (identity("reply-ana"), identity("reply-bo"));
    let start = |tag: i64| {
        let services = services.clone();
        let (ana, bo) = (ana.clone(), bo.clone());
        async move {
            let tag = chat_core::Tag::new("Bench", tag).expect("tag");
            let input = StartDirect::with(bo.user.clone()).tagged(tag);
            services
                .conversations()
                .start_direct(&ana, input)
                .await
                .expect("start")
                .0
                .conversation
                .id
        }
    };
    let (plain, replies) = (start(1).await, start(2).await);
    let messages = services.messages();
    let mut sent: Vec<MessageId> = Vec::with_capacity(MESSAGES);
    for index in 0..MESSAGES {
        let sender = if index % 2 == 0 { &ana } else { &bo };
        messages
            .send(sender, plain, SendMessage::text(format!("plain {index}")))
            .await
            .expect("plain send");
        let mut input = SendMessage::text(format!("reply {index}"));
        if index >= 3 {
            input = input.replying_to(sent[index - 3]);
        }
        let message = messages
            .send(sender, replies, input)
            .await
            .expect("reply send")
            .message
            .message;
        for (reactor, emoji) in [(&ana, "👍"), (&bo, "👍"), (&bo, "❤️")] {
            messages
                .react(reactor, replies, message.id, emoji)
                .await
                .expect("react");
        }
        sent.push(message.id);
    }
    let name = backend.name();
    // Both readers are delivered up to the newest before measuring, so no page read writes.
    for conversation in [plain, replies] {
        services
            .store()
            .mark_delivered(&bo, conversation, ReadUpTo::Newest)
            .await
            .expect("deliver");
    }

    let quoted = sent[MESSAGES - 1];
    let send_case = |conversation: ConversationId, reply: Option<MessageId>| -> measure::Case {
        let (messages, ana) = (messages.clone(), ana.clone());
        Box::new(move || {
            let (messages, ana) = (messages.clone(), ana.clone());
            boxed(async move {
                let mut input = SendMessage::text("measured");
                input.reply_to = reply;
                messages.send(&ana, conversation, input).await.expect("send");
            })
        })
    };
    let sends = measure::interleaved(
        plan.samples,
        plan.samples / 10,
        &[send_case(plain, None), send_case(replies, Some(quoted))],
    )
    .await;
    report.measured("replies", name, "send, plain", &sends[0], false, String::new());
    report.measured("replies", name, "send with reply_to", &sends[1], false, String::new());

    let page_case = |conversation: ConversationId| -> measure::Case {
        let (messages, bo) = (messages.clone(), bo.clone());
        Box::new(move || {
            let (messages, bo) = (messages.clone(), bo.clone());
            boxed(async move {
                let page = messages
                    .history(&bo, conversation, Some(MESSAGES as u64 + 1), None, Some(PAGE))
                    .await
                    .expect("history");
                assert_eq!(page.len(), PAGE);
            })
        })
    };
    // The pages below the measured sends: the first `MESSAGES` messages of each conversation.
    let pages = measure::interleaved(plan.samples, plan.samples / 10, &[page_case(plain), page_case(replies)]).await;
    let reply_page = messages
        .history(&bo, replies, Some(MESSAGES as u64 + 1), None, Some(PAGE))
        .await
        .expect("history");
    assert!(
        reply_page
            .iter()
            .all(|view| view.reply_to.is_some() && view.message.reactions.len() == 2),
        "every message of the measured page is a reply with reactions"
    );
    report.measured(
        "replies",
        name,
        "history page of 50, plain",
        &pages[0],
        false,
        String::new(),
    );
    report.measured(
        "replies",
        name,
        "history page of 50, replies with 3 reactions each",
        &pages[1],
        false,
        "quotes resolved in one store read".to_owned(),
    );
    report.notes.push(format!(
        "{name}: send with reply_to p50 / plain p50 = {:.2}",
        sends[1].p50() / sends[0].p50()
    ));
    report.target(
        name,
        "history page p99, replies and reactions / plain",
        pages[1].p99() / pages[0].p99(),
        1.5,
        true,
    );
    scenarios::close(store).await;
}
