//! Attachments on the wire: uploads streamed and sniffed whatever the client claims, the
//! size limit, downloads by members only with safe headers, ranges and ETags, and sending
//! uploads with a message.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bytes::Bytes;
use chat_axum::ChatApi;
use chat_core::testing::fixtures::sample_png;
use chat_core::{AllowedTypes, ChatServices, Limits};
use futures_util::Stream;
use serde_json::{Value, json};

use crate::common::{TestApp, TokenAuth, token};

/// `POST /conversations/{conversation}/attachments?name=…` as `user` with `bytes`, claiming
/// `claimed` as its type.
async fn upload(
    app: &TestApp,
    conversation: &str,
    user: usize,
    name: &str,
    claimed: &str,
    bytes: Vec<u8>,
) -> crate::common::Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/conversations/{conversation}/attachments?name={name}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token(user)))
        .header(header::CONTENT_TYPE, claimed)
        .body(Body::from(bytes))
        .expect("request");
    app.send(request).await
}

async fn download(
    app: &TestApp,
    url: &str,
    user: usize,
    extra: &[(header::HeaderName, &str)],
) -> crate::common::Answer {
    let mut builder = Request::builder()
        .method(Method::GET)
        .uri(url)
        .header(header::AUTHORIZATION, format!("Bearer {}", token(user)));
    for (name, value) in extra {
        builder = builder.header(name, *value);
    }
    app.send(builder.body(Body::empty()).expect("request")).await
}

fn executable() -> Vec<u8> {
    let mut bytes = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
    bytes.resize(2048, 0);
    bytes
}

/// An app whose services accept `allowed`, or have no object store at all (`None`).
fn app_with(allowed: Option<AllowedTypes>) -> TestApp {
    let base = TestApp::new();
    let services: ChatServices = match allowed {
        Some(allowed) => base.api.services().clone().with_allowed_types(allowed),
        None => ChatServices::new(base.api.services().store().clone(), base.directory.clone()),
    };
    let api = ChatApi::new(services, Arc::new(TokenAuth));
    TestApp {
        router: chat_axum::router(api.clone()),
        api,
        directory: base.directory,
        objects: base.objects,
    }
}

#[tokio::test]
async fn the_type_is_sniffed_from_the_bytes_whatever_the_client_claims() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let photo = upload(
        &app,
        &conversation,
        0,
        "bike.png",
        "application/pdf",
        sample_png(800, 600),
    )
    .await;
    assert_eq!(photo.status, StatusCode::CREATED, "{photo:?}");
    let data = &photo.json["data"];
    assert_eq!(data["content_type"], "image/png");
    assert_eq!(
        (data["width"].as_u64(), data["height"].as_u64()),
        (Some(800), Some(600))
    );
    assert_eq!(data["name"], "bike.png");
    assert_eq!(data["size"].as_u64(), Some(sample_png(800, 600).len() as u64));
    let lies = [
        ("photo.png", "image/png", executable()),
        (
            "invoice.pdf",
            "application/pdf",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0".to_vec(),
        ),
        (
            "page.png",
            "image/png",
            b"<!DOCTYPE html><script>alert(document.cookie)</script>".to_vec(),
        ),
        (
            "logo.png",
            "image/png",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
        ),
    ];
    for (name, claimed, bytes) in lies {
        let answer = upload(&app, &conversation, 0, name, claimed, bytes).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {answer:?}");
        assert!(answer.json["errors"]["file"].is_array(), "{name}: {answer:?}");
    }
    // A name never says more than the bytes: text named `.html` downloads as `.html.txt`;
    // a name hiding its extension behind a bidi override is refused.
    let page = upload(
        &app,
        &conversation,
        0,
        "invoice.html",
        "text/html",
        b"Total: 40 EUR".to_vec(),
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{page:?}");
    assert_eq!(page.json["data"]["content_type"], "text/plain");
    assert_eq!(page.json["data"]["name"], "invoice.html.txt");
    let hidden = upload(
        &app,
        &conversation,
        0,
        "photo%E2%80%AEgnp.bat",
        "image/png",
        sample_png(1, 1),
    )
    .await;
    assert_eq!(hidden.status, StatusCode::UNPROCESSABLE_ENTITY, "{hidden:?}");
    assert!(hidden.json["errors"]["name"].is_array(), "{hidden:?}");
    let missing_name = Request::builder()
        .method(Method::POST)
        .uri(format!("/conversations/{conversation}/attachments"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
        .body(Body::from(sample_png(1, 1)))
        .expect("request");
    let answer = app.send(missing_name).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.json["errors"]["name"].is_array(), "{answer:?}");
    let objects = object_store::ObjectStore::list(app.objects.as_ref(), None);
    let stored: Vec<_> = futures_util::TryStreamExt::try_collect::<Vec<_>>(objects)
        .await
        .expect("list");
    assert_eq!(stored.len(), 2, "refused uploads leave no bytes: {stored:?}");
}

#[tokio::test]
async fn svg_and_html_are_never_served_inline_even_when_allowed() {
    let app = app_with(Some(AllowedTypes::new([
        "image/png",
        "image/svg+xml",
        "text/html",
        "text/plain",
    ])));
    let conversation = app.direct(0, 1).await;
    let svg = upload(
        &app,
        &conversation,
        0,
        "logo.svg",
        "image/svg+xml",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
    )
    .await;
    assert_eq!(svg.status, StatusCode::CREATED, "{svg:?}");
    let html = upload(
        &app,
        &conversation,
        0,
        "page.html",
        "text/html",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    assert_eq!(html.status, StatusCode::CREATED, "{html:?}");
    let png = upload(&app, &conversation, 0, "ok.png", "image/png", sample_png(2, 2)).await;
    for (answer, expected_type, disposition) in [
        (&svg, "image/svg+xml", "attachment"),
        (&html, "text/html", "attachment"),
        (&png, "image/png", "inline"),
    ] {
        let url = answer.json["data"]["url"].as_str().expect("url");
        let got = download(&app, url, 0, &[]).await;
        assert_eq!(got.status, StatusCode::OK, "{got:?}");
        let headers = &got.headers;
        assert_eq!(headers[header::CONTENT_TYPE], expected_type);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
        assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "{csp}");
        let shown = headers[header::CONTENT_DISPOSITION].to_str().expect("disposition");
        assert!(shown.starts_with(disposition), "{expected_type}: {shown}");
    }
}

#[tokio::test]
async fn only_members_upload_and_download_and_strangers_get_the_same_404() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let theirs = upload(&app, &conversation, 2, "x.png", "image/png", sample_png(1, 1)).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{theirs:?}");
    let photo = upload(&app, &conversation, 0, "bike.png", "image/png", sample_png(4, 3)).await;
    let url = photo.json["data"]["url"].as_str().expect("url").to_owned();
    let unknown = format!("/conversations/{conversation}/attachments/{}", uuid::Uuid::now_v7());
    let missing = download(&app, &unknown, 0, &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let stranger = download(&app, &url, 2, &[]).await;
    let before_sent = download(&app, &url, 1, &[]).await;
    for answer in [&stranger, &before_sent] {
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
        assert_eq!(answer.text, missing.text, "indistinguishable from a missing id");
    }
    assert_eq!(
        download(&app, &url, 0, &[]).await.status,
        StatusCode::OK,
        "the uploader sees it"
    );
    let unauthenticated = app.call(Method::GET, &url, None, None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);

    let sent = app
        .post(
            &format!("/conversations/{conversation}/messages"),
            0,
            json!({"body": "", "attachment_ids": [photo.json["data"]["uuid"]]}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    assert_eq!(sent.json["data"]["body"], "");
    let attached = &sent.json["data"]["attachments"][0];
    assert_eq!(attached["url"], url.as_str());
    assert_eq!(
        (attached["width"].as_u64(), attached["height"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(
        download(&app, &url, 1, &[]).await.status,
        StatusCode::OK,
        "the other member once sent"
    );
    assert_eq!(
        download(&app, &url, 2, &[]).await.text,
        missing.text,
        "still nothing for a stranger"
    );
    let again = app
        .post(
            &format!("/conversations/{conversation}/messages"),
            1,
            json!({"body": "mine now", "attachment_ids": [photo.json["data"]["uuid"]]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{again:?}");
    assert!(again.json["errors"]["attachment_ids"].is_array());
    let history = app.get(&format!("/conversations/{conversation}/messages"), 1).await;
    let messages = history.json["data"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["attachments"][0]["uuid"], photo.json["data"]["uuid"]);
}

#[tokio::test]
async fn downloads_answer_ranges_and_etags() {
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let text: Vec<u8> = (0..1000).map(|i| b'a' + (i % 26) as u8).collect();
    let file = upload(&app, &conversation, 0, "notes.txt", "text/plain", text.clone()).await;
    assert_eq!(file.json["data"]["content_type"], "text/plain");
    let url = file.json["data"]["url"].as_str().expect("url");
    let whole = download(&app, url, 0, &[]).await;
    assert_eq!(whole.text.as_bytes(), text.as_slice());
    assert!(
        whole.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("cd")
            .starts_with("attachment")
    );
    let part = download(&app, url, 0, &[(header::RANGE, "bytes=10-19")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.text.as_bytes(), &text[10..20]);
    assert_eq!(part.headers[header::CONTENT_RANGE], "bytes 10-19/1000");
    let tail = download(&app, url, 0, &[(header::RANGE, "bytes=-5")]).await;
    assert_eq!(tail.text.as_bytes(), &text[995..]);
    let past = download(&app, url, 0, &[(header::RANGE, "bytes=5000-")]).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers[header::CONTENT_RANGE], "bytes */1000");
    let etag = whole.headers[header::ETAG].to_str().expect("etag").to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    assert_eq!(
        whole.headers[header::CACHE_CONTROL],
        "private, no-cache",
        "revalidated, so a delete shows at once"
    );
    let cached = download(&app, url, 0, &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers[header::ETAG].to_str().expect("etag"), etag);
    let weak = format!("W/{etag}");
    assert_eq!(
        download(&app, url, 0, &[(header::IF_NONE_MATCH, &weak)]).await.status,
        StatusCode::NOT_MODIFIED
    );
    assert!(cached.text.is_empty());
}

/// A body of `total` bytes made on the fly in 64 KiB chunks, counting what was pulled.
struct CountedBody {
    left: u64,
    pulled: Arc<AtomicU64>,
}

impl Stream for CountedBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let size = self.left.min(64 * 1024);
        self.left -= size;
        self.pulled.fetch_add(size, Ordering::SeqCst);
        let mut chunk = vec![b'x'; size as usize];
        if self.pulled.load(Ordering::SeqCst) == size {
            chunk[..8].copy_from_slice(b"%PDF-1.7");
        }
        Poll::Ready(Some(Ok(Bytes::from(chunk))))
    }
}

fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn past_the_limit_the_upload_stops_with_413_and_nothing_stays() {
    let mut limits = Limits::default();
    limits.attachment_max_bytes = 1000;
    let app = TestApp::build(limits, 256, |api| api);
    let conversation = app.direct(0, 1).await;
    let mut at_limit = b"%PDF-1.7\n".to_vec();
    at_limit.resize(1000, b' ');
    assert_eq!(
        upload(&app, &conversation, 0, "a.pdf", "application/pdf", at_limit.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    at_limit.push(b' ');
    let over = upload(&app, &conversation, 0, "b.pdf", "application/pdf", at_limit).await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{over:?}");
    let objects: Vec<_> =
        futures_util::TryStreamExt::try_collect::<Vec<_>>(object_store::ObjectStore::list(app.objects.as_ref(), None))
            .await
            .expect("list");
    assert_eq!(objects.len(), 1, "the refused upload left no bytes");

    // 100 MiB against the default 10 MiB limit, with no Content-Length to refuse early:
    // the server reads to the limit and stops; it never holds the body.
    let app = TestApp::new();
    let conversation = app.direct(0, 1).await;
    let pulled = Arc::new(AtomicU64::new(0));
    let body = CountedBody {
        left: 100 * 1024 * 1024,
        pulled: pulled.clone(),
    };
    let before = resident_kib();
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/conversations/{conversation}/attachments?name=big.pdf"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
        .body(Body::from_stream(body))
        .expect("request");
    let answer = app.send(request).await;
    let after = resident_kib();
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{answer:?}");
    let limit = Limits::default().attachment_max_bytes;
    let read = pulled.load(Ordering::SeqCst);
    assert!(
        read <= limit + 64 * 1024,
        "read {read} bytes of a 100 MiB body past a {limit} limit"
    );
    if let (Some(before), Some(after)) = (before, after) {
        eprintln!("100 MiB upload refused at the 10 MiB limit: read {read} bytes, RSS {before} -> {after} KiB");
        assert!(
            after.saturating_sub(before) < 64 * 1024,
            "RSS grew by {} KiB",
            after - before
        );
    }
    let objects: Vec<_> =
        futures_util::TryStreamExt::try_collect::<Vec<_>>(object_store::ObjectStore::list(app.objects.as_ref(), None))
            .await
            .expect("list");
    assert!(objects.is_empty(), "the aborted upload left no bytes");

    // A declared Content-Length past the limit is refused before a byte is read.
    let declared = Request::builder()
        .method(Method::POST)
        .uri(format!("/conversations/{conversation}/attachments?name=big.pdf"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token(0)))
        .header(header::CONTENT_LENGTH, (limit + 1).to_string())
        .body(Body::from(vec![0u8; 16]))
        .expect("request");
    assert_eq!(app.send(declared).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn without_an_object_store_attachments_answer_501() {
    let app = app_with(None);
    let conversation = app.direct(0, 1).await;
    let answer = upload(&app, &conversation, 0, "a.png", "image/png", sample_png(1, 1)).await;
    assert_eq!(answer.status, StatusCode::NOT_IMPLEMENTED, "{answer:?}");
    let message: &Value = &answer.json["message"];
    assert!(
        message.as_str().is_some_and(|text| text.contains("ttachments")),
        "{answer:?}"
    );
}

/// A signer as a host on S3 would write one around `object_store`'s `Signer`.
#[derive(Debug)]
struct FakeS3;

#[async_trait::async_trait]
impl chat_core::DownloadSigner for FakeS3 {
    async fn signed_url(
        &self,
        path: &object_store::path::Path,
        ttl: std::time::Duration,
    ) -> chat_core::ChatResult<String> {
        Ok(format!("https://bucket.test/{path}?expires={}", ttl.as_secs()))
    }
}

#[tokio::test]
async fn with_a_signer_members_are_redirected_to_a_signed_url_and_strangers_are_not() {
    let base = TestApp::new();
    let services = base
        .api
        .services()
        .clone()
        .with_attachment_signer(Arc::new(FakeS3), std::time::Duration::from_secs(300));
    let api = ChatApi::new(services, Arc::new(TokenAuth));
    let app = TestApp {
        router: chat_axum::router(api.clone()),
        api,
        directory: base.directory,
        objects: base.objects,
    };
    let conversation = app.direct(0, 1).await;
    let photo = upload(&app, &conversation, 0, "bike.png", "image/png", sample_png(2, 2)).await;
    let id = photo.json["data"]["uuid"].as_str().expect("uuid").to_owned();
    let url = photo.json["data"]["url"].as_str().expect("url").to_owned();
    let redirected = download(&app, &url, 0, &[]).await;
    assert_eq!(redirected.status, StatusCode::TEMPORARY_REDIRECT, "{redirected:?}");
    assert_eq!(
        redirected.headers[header::CACHE_CONTROL],
        "no-store",
        "a redirect must not outlive its signature"
    );
    assert_eq!(
        redirected.headers[header::LOCATION],
        format!("https://bucket.test/attachments/{id}?expires=300").as_str()
    );
    assert_eq!(
        download(&app, &url, 2, &[]).await.status,
        StatusCode::NOT_FOUND,
        "no URL for a stranger"
    );
    assert_eq!(
        download(&app, &url, 1, &[]).await.status,
        StatusCode::NOT_FOUND,
        "nor before it is sent"
    );
}

#[tokio::test]
async fn uploads_past_the_hourly_budget_are_429_and_refused_ones_do_not_count() {
    let mut limits = Limits::default();
    limits.uploads_per_hour = 2;
    let app = TestApp::build(limits, 256, |api| api);
    let conversation = app.direct(0, 1).await;
    let refused = upload(&app, &conversation, 0, "x.exe", "image/png", executable()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for n in 0..2 {
        let accepted = upload(
            &app,
            &conversation,
            0,
            &format!("{n}.png"),
            "image/png",
            sample_png(1, 1),
        )
        .await;
        assert_eq!(accepted.status, StatusCode::CREATED, "upload {n}: {accepted:?}");
    }
    let limited = upload(&app, &conversation, 0, "2.png", "image/png", sample_png(1, 1)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    let wait: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=1800).contains(&wait), "{wait}");
    let other = upload(&app, &conversation, 1, "theirs.png", "image/png", sample_png(1, 1)).await;
    assert_eq!(other.status, StatusCode::CREATED, "the budget is per user");
}
