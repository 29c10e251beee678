//! Scenario 11: attachment uploads (issue 15).
//!
//! A 5 MiB photo uploaded through `AttachmentService::upload` (the record written first,
//! the bytes streamed in 64 KiB pieces as an HTTP body arrives, the head sniffed, parts
//! put as a multipart upload, the record finished), against a plain `put` of the same bytes
//! into the same object store (a local directory, as the example uses), interleaved in one
//! run; each case deletes what it wrote, alike. Reported as MiB/s of each and their ratio.

use std::sync::Arc;

use bytes::Bytes;
use chat_core::testing::fixtures::sample_png;
use chat_core::{StartDirect, Tag};
use chat_store_sled::Durability;
use object_store::{ObjectStoreExt, PutPayload};

use crate::env::{Backend, identity};
use crate::measure;
use crate::report::Report;
use crate::scenarios::{self, Plan, boxed};

/// The file uploaded.
const FILE_BYTES: usize = 5 * 1024 * 1024;
/// The pieces an HTTP body arrives in.
const PIECE: usize = 64 * 1024;

/// Runs the scenario on `backend`.
pub async fn attachments(backend: Backend, plan: &Plan, report: &mut Report) {
    let store = scenarios::fresh(backend, plan, "attachments", Durability::Durable).await;
    let dir = plan.data_dir.join(format!("objects-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("objects directory");
    let objects = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&dir).expect("local object store"));
    let services = store.services().with_attachments(objects.clone());
    let (ana, bo) = (identity("photo-ana"), identity("photo-bo"));
    let input = StartDirect::with(bo.user.clone()).tagged(Tag::new("Bench", 15).expect("tag"));
    let (view, _) = services.conversations().start_direct(&ana, input).await.expect("start");
    let conversation = view.conversation.id;
    let mut photo = sample_png(4000, 3000);
    photo.resize(FILE_BYTES, 0x5a);
    let pieces: Arc<Vec<Bytes>> = Arc::new(photo.chunks(PIECE).map(Bytes::copy_from_slice).collect());
    let whole = Bytes::from(photo);

    // Each case deletes the file it wrote (both alike), so that the page cache and the
    // disk's write-back stay the same from sample to sample.
    let upload: measure::Case = {
        let (services, ana, pieces, objects) = (services.clone(), ana.clone(), pieces.clone(), objects.clone());
        Box::new(move || {
            let (services, ana, pieces, objects) = (services.clone(), ana.clone(), pieces.clone(), objects.clone());
            boxed(async move {
                let body = futures_util::stream::iter(pieces.iter().cloned().map(Ok::<_, std::io::Error>));
                let attachment = services
                    .attachments()
                    .upload(&ana, conversation, "photo.png", body)
                    .await
                    .expect("upload");
                assert_eq!(attachment.size, FILE_BYTES as u64);
                let path = chat_core::Attachment::object_path(attachment.id);
                objects.delete(&path).await.expect("delete");
            })
        })
    };
    let copy: measure::Case = {
        let (objects, whole) = (objects.clone(), whole.clone());
        Box::new(move || {
            let (objects, whole) = (objects.clone(), whole.clone());
            boxed(async move {
                let path = object_store::path::Path::from(format!("copies/{}", uuid::Uuid::now_v7()));
                objects.put(&path, PutPayload::from(whole)).await.expect("put");
                objects.delete(&path).await.expect("delete");
            })
        })
    };
    // What the upload adds to the copy: its two store writes (the record before the bytes,
    // then what they are), each a durable transaction.
    let records: measure::Case = {
        let (store, ana) = (services.store().clone(), ana.clone());
        Box::new(move || {
            let (store, ana) = (store.clone(), ana.clone());
            boxed(async move {
                let begun = store
                    .begin_upload(&ana, conversation, "photo.png")
                    .await
                    .expect("begin");
                let uploaded = chat_core::UploadedFile {
                    content_type: "image/png".to_owned(),
                    size: FILE_BYTES as u64,
                    dimensions: Some((4000, 3000)),
                };
                store.finish_upload(&ana, begun.id, uploaded).await.expect("finish");
            })
        })
    };
    let samples = (plan.samples / 4).max(10);
    let results = measure::interleaved(samples, samples / 5, &[upload, copy, records]).await;
    let name = backend.name();
    let mib = FILE_BYTES as f64 / (1024.0 * 1024.0);
    let rate = |m: &measure::Measured| mib / (m.p50() / 1000.0);
    let (uploaded, copied) = (rate(&results[0]), rate(&results[1]));
    report.measured(
        "attachments",
        name,
        "upload of a 5 MiB photo (record, stream, sniff, finish)",
        &results[0],
        false,
        format!("{uploaded:.0} MiB/s at p50"),
    );
    report.measured(
        "attachments",
        name,
        "plain put of the same 5 MiB into the same object store",
        &results[1],
        false,
        format!("{copied:.0} MiB/s at p50"),
    );
    report.measured(
        "attachments",
        name,
        "the upload's two store writes alone (begin, finish)",
        &results[2],
        false,
        String::new(),
    );
    report.notes.push(format!(
        "{name}: attachment upload {uploaded:.0} MiB/s against a plain copy {copied:.0} MiB/s (p50 of {samples} each, interleaved)"
    ));
    report.target(
        name,
        "upload MiB/s / plain copy MiB/s (5 MiB)",
        uploaded / copied,
        0.5,
        false,
    );
    let _ = std::fs::remove_dir_all(&dir);
    scenarios::close(store).await;
}
