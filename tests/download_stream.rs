//! `bytes_stream`, `reader` and `records` against the fake: resume without restarting, a file that
//! changes mid-stream, typed records in both formats, bad rows, empty exports, progress.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use mangrove::records::RecordError;
use mangrove::testing::{data, Collection, FaultBody, StorageFault};
use mangrove::{types, CompletedExport, ExportError, ExportFormat};
use tokio::io::AsyncReadExt;

#[path = "common/fake.rs"]
mod fake;
use fake::{completed_projects, expected_projects, tiny};

async fn collect(completed: &CompletedExport) -> Result<Vec<u8>, ExportError> {
    let chunks: Vec<bytes::Bytes> = completed.bytes_stream().try_collect().await?;
    Ok(chunks.concat())
}

/// The storage key of an export's file (the fake's naming).
fn key(completed: &CompletedExport, ext: &str) -> String {
    format!("exports/{}.{ext}", completed.id())
}

#[tokio::test]
async fn stream_equals_the_rendered_file() {
    let (fake, completed) = completed_projects(1000, ExportFormat::Csv, tiny()).await;
    assert_eq!(
        collect(&completed).await.unwrap(),
        expected_projects(1000, ExportFormat::Csv)
    );
    assert!(fake
        .journal()
        .requests_to_storage_with_authorization()
        .is_empty());
}

#[tokio::test]
async fn stream_resumes_with_range_after_a_cut() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Json, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(123_456), 1);
    fake.storage().inject(StorageFault::DropAfter(50_000), 1);
    assert_eq!(
        collect(&completed).await.unwrap(),
        expected_projects(2000, ExportFormat::Json)
    );
    let journal = fake.journal();
    let downloads = journal.downloads();
    assert_eq!(downloads.len(), 3);
    assert_eq!(downloads[1].header("range"), Some("bytes=123456-"));
    assert!(downloads[1].header("if-range").is_some());
}

// The host ignores Range on the resume but the ETag is the same: the stream skips what it had
// already handed out instead of repeating it.
#[tokio::test]
async fn stream_skips_the_repeated_start_when_range_is_ignored() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(40_000), 1);
    fake.storage().inject(StorageFault::IgnoreRange, 1);
    assert_eq!(
        collect(&completed).await.unwrap(),
        expected_projects(2000, ExportFormat::Csv)
    );
    let statuses: Vec<u16> = fake
        .journal()
        .downloads()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 200]);
}

// The file is replaced on the storage host (new ETag) while being streamed: the stream cannot
// take back what it handed out, so it ends with Changed.
#[tokio::test]
async fn file_changing_mid_stream_ends_the_stream() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    let size = completed.file_size_bytes().unwrap();
    fake.storage()
        .inject(StorageFault::TruncateAfter(30_000), 1);
    let mut stream = completed.bytes_stream();
    let mut got = 0;
    while got < 30_000 {
        got += stream.try_next().await.unwrap().unwrap().len();
    }
    // Same size, other bytes: only the ETag tells the versions apart.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2");
    std::fs::write(&path, vec![b'x'; size as usize]).unwrap();
    fake.storage()
        .put(&key(&completed, "csv"), path, "text/csv");
    match stream.try_next().await {
        Err(ExportError::Changed { received }) => {
            assert_eq!(received, 30_000)
        }
        other => panic!("expected Changed, got {other:?}"),
    }
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );
}

// The same change during download_to: the file starts over and ends as the new version.
#[tokio::test(start_paused = true)]
async fn file_changing_mid_download_restarts_the_file() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    let size = completed.file_size_bytes().unwrap();
    fake.storage()
        .inject(StorageFault::Stall { after: 30_000 }, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    let task = tokio::spawn({
        let (completed, path) = (completed.clone(), path.clone());
        async move { completed.download_to(&path).await }
    });
    // On the paused clock this returns once the download sits in its stall.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replacement = dir.path().join("v2");
    std::fs::write(&replacement, vec![b'x'; size as usize]).unwrap();
    fake.storage()
        .put(&key(&completed, "csv"), replacement, "text/csv");
    let file = task.await.unwrap().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), vec![b'x'; size as usize]);
    assert_eq!((file.resumes, file.restarts), (1, 1));
}

#[tokio::test]
async fn reader_reads_the_whole_file() {
    let (fake, completed) = completed_projects(500, ExportFormat::Json, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(10_000), 1);
    let mut bytes = Vec::new();
    completed.reader().read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes, expected_projects(500, ExportFormat::Json));
}

#[tokio::test]
async fn reader_errors_carry_the_export_error() {
    let (fake, completed) = completed_projects(500, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::WrongContentLength(-10), 1);
    let mut bytes = Vec::new();
    let e = completed
        .reader()
        .read_to_end(&mut bytes)
        .await
        .unwrap_err();
    let inner = e.get_ref().and_then(|e| e.downcast_ref::<ExportError>());
    assert!(
        matches!(inner, Some(ExportError::SizeMismatch { .. })),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Records.

#[tokio::test]
async fn csv_and_json_records_decode_into_projects() {
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        let (fake, completed) = completed_projects(300, format.clone(), tiny()).await;
        // A cut in the middle of the file is invisible to the records.
        fake.storage()
            .inject(StorageFault::TruncateAfter(33_333), 1);
        let projects: Vec<types::Project> = completed
            .records()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(projects.len(), 300, "{format:?}");
        for (i, project) in projects.iter().enumerate() {
            let row = data::row(Collection::Projects, i as u64);
            assert_eq!(
                serde_json::json!(project.id),
                row["id"],
                "{format:?} row {i}"
            );
            assert_eq!(
                project.name.as_deref(),
                row["name"].as_str(),
                "{format:?} row {i}"
            );
            let credit_types = row["credit_types"].as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(
                project.credit_types.len(),
                credit_types,
                "{format:?} row {i}"
            );
        }
        assert_eq!(fake.journal().downloads().len(), 2);
    }
}

/// A row type that cannot hold every id: rows with an id above 255 are bad rows.
#[derive(Debug, serde::Deserialize)]
struct SmallId {
    id: u8,
    #[allow(dead_code)]
    name: Option<String>,
}

#[tokio::test]
async fn bad_rows_are_reported_and_the_stream_goes_on() {
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        let (_fake, completed) = completed_projects(300, format.clone(), tiny()).await;
        let items: Vec<Result<SmallId, RecordError>> =
            completed.records().await.unwrap().collect().await;
        assert_eq!(items.len(), 300, "{format:?}");
        let bad: Vec<u64> = items
            .iter()
            .filter_map(|r| match r {
                Err(RecordError::Row { row, .. }) => Some(*row),
                Err(e) => panic!("{format:?}: unexpected {e}"),
                Ok(_) => None,
            })
            .collect();
        assert_eq!(bad, (256..=300).collect::<Vec<u64>>(), "{format:?}");
        let good: Vec<u8> = items
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.id)
            .collect();
        assert_eq!(good, (1..=255).collect::<Vec<u8>>(), "{format:?}");
    }
}

#[tokio::test]
async fn a_short_file_ends_the_records_with_the_download_error() {
    let (fake, completed) = completed_projects(300, ExportFormat::Json, tiny()).await;
    fake.storage()
        .inject(StorageFault::WrongContentLength(-5000), 1);
    let items: Vec<Result<types::Project, RecordError>> =
        completed.records().await.unwrap().collect().await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(last.is_fatal());
    assert!(
        matches!(
            last,
            RecordError::Download(ExportError::SizeMismatch { .. })
        ),
        "{last:?}"
    );
    assert_eq!(last.status(), None);
}

#[tokio::test]
async fn empty_exports_have_no_records() {
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        let (_fake, completed) = completed_projects(0, format.clone(), tiny()).await;
        let projects: Vec<types::Project> = completed
            .records()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(projects.is_empty(), "{format:?}");
    }
}

#[tokio::test]
async fn records_of_a_cleaned_up_export_is_expired() {
    let (fake, completed) = completed_projects(10, ExportFormat::Csv, tiny()).await;
    fake.advance(Duration::from_secs(8 * 24 * 3600));
    match completed.records::<types::Project>().await {
        Err(ExportError::Expired { .. }) => {}
        other => panic!("expected Expired, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_resume_ends_the_records_with_its_http_status() {
    let (fake, completed) = completed_projects(300, ExportFormat::Csv, tiny()).await;
    fake.storage().inject(StorageFault::TruncateAfter(5000), 1);
    fake.storage().inject(
        StorageFault::Status {
            status: 403,
            body: FaultBody::Empty,
        },
        20,
    );
    let items: Vec<Result<types::Project, RecordError>> =
        completed.records().await.unwrap().collect().await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(last.is_fatal());
    let RecordError::Download(e) = last else {
        panic!("expected Download, got {last:?}");
    };
    assert!(
        matches!(
            e,
            ExportError::DownloadStatus { status, .. } if status.as_u16() == 403
        ),
        "{e:?}"
    );
    // `RecordError::status` is the `ExportError`'s: the storage host's 403.
    assert_eq!(last.status(), e.status());
    assert_eq!(last.status().map(|s| s.as_u16()), Some(403));
}
