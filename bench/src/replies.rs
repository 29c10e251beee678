//! Scenario 10: replies and reactions against plain messages (issue 14).
//!
//! Three direct conversations of the same two users get the same number of messages: plain
//! ones; replies quoting the message three before (on the same page, as a thread mostly
//! quotes recent messages); and replies quoting a message a page back (every quote outside
//! the page), both with three reactions each. Measured interleaved, in one run: a send
//! with `reply_to` against a plain send, and a history page of 50 of each conversation.
//! Quotes on the page come from the page; the others cost one store read for the page,
//! and their senders are in the same directory batch. The target is the p99 of the page of
//! far quotes (the worst case) within 1.5x the plain page's.

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
            let (view, _) = services.conversations().start_direct(&ana, input).await.expect("start");
            view.conversation.id
        }
    };
    let (plain, near, far) = (start(1).await, start(2).await, start(3).await);
    let messages = services.messages();
    let mut near_sent: Vec<MessageId> = Vec::with_capacity(MESSAGES);
    let mut far_sent: Vec<MessageId> = Vec::with_capacity(MESSAGES);
    for index in 0..MESSAGES {
        let sender = if index % 2 == 0 { &ana } else { &bo };
        messages
            .send(sender, plain, SendMessage::text(format!("plain {index}")))
            .await
            .expect("plain send");
        for (conversation, sent, back) in [(near, &mut near_sent, 3), (far, &mut far_sent, PAGE)] {
            let mut input = SendMessage::text(format!("reply {index}"));
            if index >= back {
                input = input.replying_to(sent[index - back]);
            }
            let message = messages
                .send(sender, conversation, input)
                .await
                .expect("reply send")
                .message
                .message;
            for (reactor, emoji) in [(&ana, "👍"), (&bo, "👍"), (&bo, "❤️")] {
                messages
                    .react(reactor, conversation, message.id, emoji)
                    .await
                    .expect("react");
            }
            sent.push(message.id);
        }
    }
    let name = backend.name();
    // The reader is delivered up to the newest before measuring, so no page read writes.
    for conversation in [plain, near, far] {
        services
            .store()
            .mark_delivered(&bo, conversation, ReadUpTo::Newest)
            .await
            .expect("deliver");
    }

    let quoted = near_sent[MESSAGES - 1];
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
        &[send_case(plain, None), send_case(near, Some(quoted))],
    )
    .await;
    report.measured("replies", name, "send, plain", &sends[0], false, String::new());
    report.measured("replies", name, "send with reply_to", &sends[1], false, String::new());

    // The pages below the measured sends: messages 151..=200 of each conversation.
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
    let pages = measure::interleaved(
        plan.samples,
        plan.samples / 10,
        &[page_case(plain), page_case(near), page_case(far)],
    )
    .await;
    for conversation in [near, far] {
        let page = messages
            .history(&bo, conversation, Some(MESSAGES as u64 + 1), None, Some(PAGE))
            .await
            .expect("history");
        assert!(
            page.iter().all(|view| {
                view.reply_to.as_ref().is_some_and(|quote| quote.body.is_some()) && view.message.reactions.len() == 2
            }),
            "every message of the measured page is a reply with its quote and reactions"
        );
    }
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
        "history page of 50, replies quoting the page, 3 reactions each",
        &pages[1],
        false,
        "quotes taken from the page".to_owned(),
    );
    report.measured(
        "replies",
        name,
        "history page of 50, replies quoting an older page, 3 reactions each",
        &pages[2],
        false,
        "quotes in one store read".to_owned(),
    );
    report.notes.push(format!(
        "{name}: send with reply_to p50 / plain p50 = {:.2}; history page p99, replies quoting the page / plain = {:.2}",
        sends[1].p50() / sends[0].p50(),
        pages[1].p99() / pages[0].p99()
    ));
    report.target(
        name,
        "history page p99, replies quoting an older page with reactions / plain",
        pages[2].p99() / pages[0].p99(),
        1.5,
        true,
    );
    scenarios::close(store).await;
}
