//! Abuse limits over HTTP: per-user send and typing rates (429 with `Retry-After`), a
//! configured body limit (413), and an attacker at its limit not slowing anyone else down.
//! The WebSocket limits (connections per user, frame size, frame rate, typing frames) are in
//! `ws.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode, header};
use chat_axum::RateLimit;
use chat_core::Limits;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn typing_too_often_gets_429_with_retry_after_per_user() {
    let app = TestApp::build(Limits::default(), 256, |api| {
        api.with_typing_rate_limit(RateLimit::per_minute(3))
    });
    let direct = app.direct(0, 1).await;
    let path = format!("/conversations/{direct}/typing");
    for _ in 0..3 {
        let answer = app.call(Method::POST, &path, Some(0), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    let limited = app.call(Method::POST, &path, Some(0), None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    let retry_after: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.json["message"], "Too many requests.");
    // Another user in the same conversation has a budget of their own.
    let other = app.call(Method::POST, &path, Some(1), None).await;
    assert_eq!(other.status, StatusCode::OK, "{other:?}");
    // Sending is not typing: its own budget (none here).
    app.message(0, &direct, "still sends").await;
}

#[tokio::test]
async fn a_configured_body_limit_answers_413() {
    let mut limits = Limits::default();
    limits.request_body_max_bytes = 1024;
    let app = TestApp::build(limits, 256, |api| api);
    let direct = app.direct(0, 1).await;
    let path = format!("/conversations/{direct}/messages");
    let fits = app.post(&path, 0, json!({"body": "x".repeat(900)})).await;
    assert_eq!(fits.status, StatusCode::CREATED, "{fits:?}");
    let too_big = app.post(&path, 0, json!({"body": "x".repeat(2000)})).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE, "{too_big:?}");
    assert_eq!(too_big.json["message"], "The request body is too large.");
}

/// An attacker floods sends from many tasks until it is refused; meanwhile another user's
/// sends, within that user's own budget, all succeed, in order, in a generous time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_at_its_limit_does_not_hold_up_other_users() {
    let app = Arc::new(TestApp::build(Limits::default(), 4096, |api| {
        api.with_send_rate_limit(RateLimit::per_second(5).with_burst(10))
    }));
    let flooded = app.direct(0, 1).await;
    let quiet = app.direct(2, 3).await;
    let started = Instant::now();
    let mut attackers = Vec::new();
    for task in 0..8 {
        let app = Arc::clone(&app);
        let path = format!("/conversations/{flooded}/messages");
        attackers.push(tokio::spawn(async move {
            let (mut created, mut limited) = (0, 0);
            for n in 0..100 {
                let answer = app.post(&path, 0, json!({"body": format!("spam {task} {n}")})).await;
                match answer.status {
                    StatusCode::CREATED => created += 1,
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert!(answer.headers.contains_key(header::RETRY_AFTER), "{answer:?}");
                        limited += 1;
                    }
                    other => panic!("attacker got {other}: {answer:?}"),
                }
            }
            (created, limited)
        }));
    }
    let victim = {
        let app = Arc::clone(&app);
        let path = format!("/conversations/{quiet}/messages");
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..10 {
                let answer = app.post(&path, 2, json!({"body": format!("order question {n}")})).await;
                statuses.push(answer.status);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            statuses
        })
    };
    let statuses = victim.await.expect("victim task");
    let victim_done = started.elapsed();
    let (mut created, mut limited) = (0, 0);
    for attacker in attackers {
        let (c, l) = attacker.await.expect("attacker task");
        created += c;
        limited += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("flood: {created} created, {limited} refused in {elapsed:.2}s; victim done in {victim_done:?}");
    assert!(
        statuses.iter().all(|status| *status == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert!(victim_done < Duration::from_secs(10), "victim took {victim_done:?}");
    assert!(limited > 0, "the attacker was never refused");
    assert_eq!(created + limited, 800);
    // The burst plus what the rate refilled while the flood ran (and one for rounding).
    let allowed = 10.0 + 5.0 * elapsed + 1.0;
    assert!(
        f64::from(created) <= allowed,
        "{created} sends got through in {elapsed:.2}s"
    );
    // The victim's messages are all there, dense, from the victim.
    let history = app.get(&format!("/conversations/{quiet}/messages"), 3).await;
    let data = history.json["data"].as_array().expect("messages");
    assert_eq!(data.len(), 10);
    for (index, message) in data.iter().enumerate() {
        assert_eq!(message["seq"], index + 1);
        assert_eq!(message["sender"]["uuid"], "u2");
    }
    // And the flood stored exactly what was acknowledged.
    let flood = app
        .get(&format!("/conversations/{flooded}/messages?limit=100"), 1)
        .await;
    assert_eq!(flood.json["data"].as_array().map(Vec::len), Some(created as usize));
}
