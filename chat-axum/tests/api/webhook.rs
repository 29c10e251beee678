//! The webhook notifier against a real HTTP receiver on a local port, fed by the worker
//! from the memory store: what arrives verifies, a tampered body does not, transient
//! failures are retried within the call and a refused notification fails alone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use chat_axum::webhook::{
    ID_HEADER, SIGNATURE_HEADER, SignatureError, WebhookError, WebhookNotifier, verify_signature,
};
use chat_core::NotificationWorker;
use chat_core::testing::MemoryStore;
use chat_core::testing::fixtures::Fixture;

const SECRET: &[u8] = b"whsec-test-secret";

/// One request as received.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    signature: String,
    body: Bytes,
}

/// How the receiver answers the nth request (from 1) of an id.
type Answer = dyn Fn(&str, usize) -> StatusCode + Send + Sync;

/// The receiver: records every request and answers by `answer(id, nth request of that id)`.
#[derive(Clone)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Answer>,
}

impl Receiver {
    fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header(ID_HEADER);
    let nth = {
        let mut received = receiver
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        received.push(Received {
            id: id.clone(),
            signature: header(SIGNATURE_HEADER),
            body,
        });
        received.iter().filter(|one| one.id == id).count()
    };
    (receiver.answer)(&id, nth)
}

/// A receiver on a free local port answering by `answer`; its URL.
async fn serve(answer: impl Fn(&str, usize) -> StatusCode + Send + Sync + 'static) -> (Receiver, String) {
    let receiver = Receiver {
        received: Arc::default(),
        answer: Arc::new(answer),
    };
    let app = axum::Router::new()
        .route("/hooks/chat", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks/chat", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

/// Three recipients of one sender's messages, each with a notification due now.
async fn three_due() -> Fixture {
    let mut fx = Fixture::new(Arc::new(MemoryStore::new()), 4);
    fx.services = fx.services.clone().with_notifications(Duration::ZERO);
    for recipient in 1..4 {
        let conversation = fx.direct(0, recipient).await;
        fx.send(0, conversation, &format!("hello {recipient}")).await;
    }
    fx
}

fn notifier(url: &str) -> WebhookNotifier {
    WebhookNotifier::new(url, SECRET.to_vec())
        .expect("webhook")
        .with_retries(2, Duration::from_millis(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_arrives_signed_and_a_tampered_body_does_not_verify() {
    let fx = three_due().await;
    let (receiver, url) = serve(|_, _| StatusCode::NO_CONTENT).await;
    let worker = NotificationWorker::new(fx.services.clone(), Arc::new(notifier(&url)));
    let report = worker.run_once().await.expect("round");
    assert_eq!((report.claimed, report.delivered, report.failed), (3, 3, 0));

    let received = receiver.received();
    assert_eq!(received.len(), 3, "one POST per notification");
    let now = chrono::Utc::now().timestamp();
    let mut recipients = Vec::new();
    for one in &received {
        assert_eq!(verify_signature(SECRET, &one.signature, &one.body, now, 300), Ok(()));
        let json: serde_json::Value = serde_json::from_slice(&one.body).expect("a JSON body");
        assert_eq!(
            json["id"].as_str(),
            Some(one.id.as_str()),
            "the id header names the body"
        );
        recipients.push(json["recipient_uuid"].as_str().unwrap_or_default().to_owned());
        assert_eq!(
            json["conversation"]["unread_count"], 1,
            "rendered for the recipient: {json}"
        );
        let first_body = json["messages"][0]["body"].as_str().unwrap_or_default();
        assert!(first_body.starts_with("hello"), "{json}");
        assert!(
            !one.body.windows(7).any(|window| window == b"pending"),
            "no storage fields on the wire: {json}"
        );
        let mut tampered = one.body.to_vec();
        let at = tampered.len() / 2;
        tampered[at] ^= 1;
        assert_eq!(
            verify_signature(SECRET, &one.signature, &tampered, now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"not the secret", &one.signature, &one.body, now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, &one.signature, &one.body, now + 3600, 300),
            Err(SignatureError::Expired),
            "an old request replayed"
        );
    }
    recipients.sort();
    let expected: Vec<String> = (1..4).map(|index| fx.user(index).user.to_string()).collect();
    assert_eq!(recipients, expected);
    assert_eq!(worker.run_once().await.expect("round").claimed, 0, "all settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_within_the_call_and_a_refusal_fails_alone() {
    let fx = three_due().await;
    // Every id gets a 503 then a 200, except one that is refused with a 400 every time.
    let refused: Arc<Mutex<Option<String>>> = Arc::default();
    let chosen = refused.clone();
    let (receiver, url) = serve(move |id, nth| {
        let mut refused = chosen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if refused.get_or_insert_with(|| id.to_owned()) == id {
            StatusCode::BAD_REQUEST
        } else if nth == 1 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    })
    .await;
    let worker = NotificationWorker::new(fx.services.clone(), Arc::new(notifier(&url)));
    let report = worker.run_once().await.expect("round");
    assert_eq!((report.delivered, report.failed), (2, 1));

    let mut requests: BTreeMap<String, usize> = BTreeMap::new();
    for one in receiver.received() {
        *requests.entry(one.id).or_default() += 1;
    }
    let refused = refused
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .expect("one id was refused");
    assert_eq!(
        requests.remove(&refused),
        Some(1),
        "a 400 is not retried within the call"
    );
    assert_eq!(
        requests.values().copied().collect::<Vec<_>>(),
        vec![2, 2],
        "a 503, then delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_fails_the_batch_for_a_later_retry() {
    let fx = three_due().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/chat", listener.local_addr().expect("address"));
    drop(listener);
    let worker = NotificationWorker::new(fx.services.clone(), Arc::new(notifier(&url)))
        .with_retry_backoff(Duration::ZERO, Duration::ZERO);
    let report = worker.run_once().await.expect("round");
    assert_eq!((report.delivered, report.failed), (0, 3));

    let (receiver, url) = serve(|_, _| StatusCode::OK).await;
    let worker = NotificationWorker::new(fx.services.clone(), Arc::new(notifier(&url)));
    let report = worker.run_once().await.expect("round");
    assert_eq!(
        (report.delivered, report.failed),
        (3, 0),
        "retried once the receiver is up"
    );
    assert_eq!(receiver.received().len(), 3);
}

#[test]
fn bad_settings_are_refused() {
    assert!(matches!(
        WebhookNotifier::new("ftp://example.com/hook", SECRET.to_vec()),
        Err(WebhookError::Url(_))
    ));
    assert!(matches!(
        WebhookNotifier::new("not a url", SECRET.to_vec()),
        Err(WebhookError::Url(_))
    ));
    assert!(matches!(
        WebhookNotifier::new("https://example.com/hook", Vec::new()),
        Err(WebhookError::EmptySecret)
    ));
    let debug = format!("{:?}", notifier("https://example.com/hook?token=abc"));
    assert!(
        !debug.contains("abc") && !debug.contains("whsec"),
        "no secrets in Debug: {debug}"
    );
}

#[test]
fn malformed_signature_headers_are_refused() {
    let body = b"{}";
    let good = WebhookNotifier::signature(SECRET, 100, body);
    assert_eq!(verify_signature(SECRET, &good, body, 100, 0), Ok(()));
    for header in ["", "t=100", "v1=00", "t=soon,v1=00", "t=100,v1=zz"] {
        assert_eq!(
            verify_signature(SECRET, header, body, 100, 300),
            Err(SignatureError::Malformed),
            "{header:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let fx = three_due().await;
    // The receiver redirects to a second route on the same server that counts its requests.
    let followed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = followed.clone();
    let app = axum::Router::new()
        .route(
            "/hooks/chat",
            axum::routing::post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/elsewhere")]) }),
        )
        .route(
            "/elsewhere",
            axum::routing::post(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { StatusCode::OK }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks/chat", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let worker = NotificationWorker::new(fx.services.clone(), Arc::new(notifier(&url)));
    let report = worker.run_once().await.expect("round");
    assert_eq!((report.delivered, report.failed), (0, 3), "a 307 is not a delivery");
    assert_eq!(
        followed.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the Location was not followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_is_cut_at_the_deadline_and_what_was_delivered_counts() {
    let fx = three_due().await;
    // The first request is answered at once; the others hang past the deadline.
    let (receiver, url) = serve(|_, _| StatusCode::OK).await;
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gate = answered.clone();
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::post(move || {
            let gate = gate.clone();
            async move {
                if gate.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                    std::future::pending::<()>().await;
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let slow_url = format!("http://{}/slow", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, slow).await });
    let hasty = notifier(&slow_url)
        .with_concurrency(1)
        .with_deadline(Duration::from_secs(2));
    let worker = NotificationWorker::new(fx.services.clone(), Arc::new(hasty))
        .with_retry_backoff(Duration::ZERO, Duration::ZERO);
    let started = std::time::Instant::now();
    let report = worker.run_once().await.expect("round");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut at the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(
        (report.delivered, report.failed),
        (1, 2),
        "the first counts, the rest fail"
    );

    let worker = NotificationWorker::new(fx.services.clone(), Arc::new(notifier(&url)));
    let report = worker.run_once().await.expect("round");
    assert_eq!(
        (report.delivered, report.failed),
        (2, 0),
        "only the two cut off come again"
    );
    assert_eq!(receiver.received().len(), 2);
}
