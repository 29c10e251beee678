//! An event is rendered once for all its recipients: a message to a group of the largest
//! size, with every member connected, costs one directory batch (the members' profiles
//! render the answer, `message.created` and `conversation.updated`), never one per socket,
//! and every socket still gets its own unread count from its own row.

use serde_json::Value;

use crate::common::{GROUP_USERS, TestApp};
use crate::ws::{connect, next_json, serve};

/// The next frame of type `kind` on `socket`, skipping others.
async fn next_of(socket: &mut crate::ws::Socket, kind: &str) -> Value {
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_message_is_rendered_once_for_every_socket() {
    let app = TestApp::new();
    let members: Vec<usize> = (1..GROUP_USERS).collect();
    let group = app.group(0, &members).await;
    let addr = serve(&app).await;
    let mut sockets = Vec::with_capacity(GROUP_USERS);
    for user in 0..GROUP_USERS {
        sockets.push(connect(addr, user).await);
    }

    for (sender, round) in [(0usize, 1u64), (1, 2)] {
        let calls = app.profile_calls();
        let sent = app.message(sender, &group, &format!("round {round}")).await;
        for (user, socket) in sockets.iter_mut().enumerate() {
            let created = next_of(socket, "message.created").await;
            assert_eq!(created["data"]["uuid"], sent["uuid"]);
            assert_eq!(created["data"]["sender"]["uuid"], format!("u{sender}"));
            let updated = next_of(socket, "conversation.updated").await;
            let data = &updated["data"];
            // Round 1: u0 sent; round 2: u1 sent. Each reads its own count.
            let expected = match (round, user) {
                (_, user) if user == sender => 0,
                (2, 0) => 1,
                (round, _) => round,
            };
            assert_eq!(
                data["unread_count"], expected,
                "unread_count of u{user} in round {round}"
            );
            assert_eq!(data["participants"].as_array().map(Vec::len), Some(GROUP_USERS));
        }
        assert_eq!(
            app.profile_calls() - calls,
            1,
            "one directory batch renders the answer and both events for every socket"
        );
    }
}
