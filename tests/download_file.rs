//! `CompletedExport::download_to` against the fake: content, size check, resume, stall, URL
//! refresh, cleanup, credentials, the temporary file, redirects, empty exports and progress.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mangrove::download::Downloaded;
use mangrove::testing::StorageFault;
use mangrove::{CompletedExport, ExportError, ExportFormat};

#[path = "common/fake.rs"]
mod fake;
use fake::{completed_projects, expected_projects, tiny};

/// File names in `dir`.
/// Downloads `completed` (a CSV of `rows` projects) to a temporary directory and checks that the
/// file holds exactly the rendered rows.
async fn download_checked(completed: &CompletedExport, rows: u64) -> Downloaded {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    let file = completed.download_to(&path).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected_projects(rows, ExportFormat::Csv)
    );
    file
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn clean_download_matches_the_rendered_file() {
    for (format, file_format, name) in [
        (ExportFormat::Csv, ExportFormat::Csv, "projects.csv"),
        (ExportFormat::Json, ExportFormat::Json, "projects.json"),
    ] {
        let (fake, completed) = completed_projects(300, format, tiny()).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let file = completed.download_to(&path).await.unwrap();
        let want = expected_projects(300, file_format);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert_eq!(file.bytes, want.len() as u64);
        assert_eq!(Some(file.bytes), completed.file_size_bytes());
        assert_eq!((file.resumes, file.url_refreshes, file.restarts), (0, 0, 0));
        assert_eq!(entries(dir.path()), [name], "nothing but the file");
        assert_eq!(fake.journal().downloads().len(), 1);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_gets_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let (_fake, completed) = completed_projects(5, ExportFormat::Csv, tiny()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    completed.download_to(&path).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_ne!(mode, 0o600, "not the temporary file's 0600");
    assert_eq!(mode & 0o600, 0o600, "owner can read and write");
}

#[tokio::test]
async fn an_existing_file_is_replaced() {
    let (_fake, completed) = completed_projects(10, ExportFormat::Csv, tiny()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    std::fs::write(&path, b"old contents that are longer than nothing").unwrap();
    completed.download_to(&path).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected_projects(10, ExportFormat::Csv)
    );
}

#[tokio::test]
async fn short_content_length_is_a_size_mismatch_and_nothing_is_kept() {
    let (fake, completed) = completed_projects(200, ExportFormat::Csv, tiny()).await;
    let size = completed.file_size_bytes().unwrap();
    fake.storage()
        .inject(StorageFault::WrongContentLength(-100), 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    match completed.download_to(&path).await {
        Err(ExportError::SizeMismatch { expected, actual }) => {
            assert_eq!(expected, size);
            assert_eq!(actual, size - 100);
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    assert!(
        entries(dir.path()).is_empty(),
        "no file, no temporary file: {:?}",
        entries(dir.path())
    );
}

// A Content-Length larger than the file: the body breaks off, the resume finds nothing more to
// fetch (416 with the true size), and the file is complete and correct.
#[tokio::test]
async fn long_content_length_is_resumed_to_the_true_end() {
    let (fake, completed) = completed_projects(200, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::WrongContentLength(1000), 1);
    let file = download_checked(&completed, 200).await;
    assert_eq!(file.resumes, 1);
    let downloads = fake
        .journal()
        .downloads()
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(downloads.len(), 2);
    assert_eq!(downloads[1].status, 416);
}

#[tokio::test]
async fn truncated_body_is_resumed_with_range_and_if_range() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(100_000), 1);
    let file = download_checked(&completed, 2000).await;
    assert_eq!(file.resumes, 1);
    let journal = fake.journal();
    let downloads = journal.downloads();
    assert_eq!(downloads.len(), 2);
    assert_eq!(downloads[0].header("range"), None);
    assert_eq!(downloads[1].header("range"), Some("bytes=100000-"));
    let if_range = downloads[1]
        .header("if-range")
        .expect("If-Range on the resume");
    assert!(
        if_range.starts_with('"') && if_range.ends_with('"'),
        "a strong ETag: {if_range}"
    );
    assert_eq!(downloads[1].status, 206);
}

#[tokio::test]
async fn reset_connection_is_resumed() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Json, tiny()).await;
    fake.storage().inject(StorageFault::DropAfter(300_000), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    let file = completed.download_to(&path).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected_projects(2000, ExportFormat::Json)
    );
    assert_eq!(file.resumes, 2);
    let journal = fake.journal();
    let resumes: Vec<_> = journal.downloads().into_iter().skip(1).collect();
    assert!(
        resumes.iter().all(|r| r.header("if-range").is_some()),
        "{resumes:?}"
    );
}

// The host ignores Range on the resume but the ETag is the same: the download skips the bytes it
// has (a changed file restarts instead: download_stream.rs).
#[tokio::test]
async fn ignored_range_skips_the_repeated_start() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(50_000), 1);
    fake.storage().inject(StorageFault::IgnoreRange, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    let file = completed.download_to(&path).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected_projects(2000, ExportFormat::Csv),
        "skipped, not appended"
    );
    assert_eq!((file.resumes, file.restarts), (1, 0));
}

#[tokio::test]
async fn interruptions_beyond_the_policy_fail_and_leave_no_file() {
    let (fake, completed) =
        completed_projects(2000, ExportFormat::Csv, tiny().max_resumes(2)).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(10_000), 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    match completed.download_to(&path).await {
        Err(ExportError::Interrupted {
            received, attempts, ..
        }) => {
            assert_eq!(received, 30_000);
            assert_eq!(attempts, 3);
        }
        other => panic!("expected Interrupted, got {other:?}"),
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[tokio::test(start_paused = true)]
async fn stalled_body_times_out_and_is_resumed() {
    let policy = tiny().read_timeout(Duration::from_secs(30));
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, policy).await;
    fake.storage()
        .inject(StorageFault::Stall { after: 70_000 }, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    let started = tokio::time::Instant::now();
    let real = std::time::Instant::now();
    let file = completed.download_to(&path).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected_projects(2000, ExportFormat::Csv)
    );
    assert_eq!(file.resumes, 1);
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "waited the read time-out (virtual)"
    );
    assert!(real.elapsed() < Duration::from_secs(10), "no real waiting");
    let journal = fake.journal();
    assert_eq!(journal.downloads()[1].header("range"), Some("bytes=70000-"));
}

#[tokio::test]
async fn server_errors_are_resumed() {
    let (fake, completed) = completed_projects(50, ExportFormat::Csv, tiny()).await;
    let body = mangrove::testing::FaultBody::Html;
    fake.storage()
        .inject(StorageFault::Status { status: 503, body }, 2);
    let dir = tempfile::tempdir().unwrap();
    let file = completed
        .download_to(dir.path().join("p.csv"))
        .await
        .unwrap();
    assert_eq!(file.resumes, 2);
}

#[tokio::test]
async fn server_errors_beyond_the_policy_keep_their_status() {
    let (fake, completed) = completed_projects(50, ExportFormat::Csv, tiny().max_resumes(1)).await;
    let body = mangrove::testing::FaultBody::Html;
    fake.storage()
        .inject(StorageFault::Status { status: 503, body }, 2);
    let dir = tempfile::tempdir().unwrap();
    let err = completed
        .download_to(dir.path().join("p.csv"))
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Interrupted { .. }), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503), "{err}");
    assert!(err.is_server_error() && !err.is_timeout(), "{err}");
}

#[tokio::test]
async fn other_client_errors_are_final_with_the_hosts_message() {
    let (fake, completed) = completed_projects(50, ExportFormat::Csv, tiny()).await;
    let body = mangrove::testing::FaultBody::Xml(
        "<?xml version=\"1.0\"?><Error><Code>Gone</Code><Message>It went away</Message></Error>"
            .into(),
    );
    fake.storage()
        .inject(StorageFault::Status { status: 410, body }, 1);
    let dir = tempfile::tempdir().unwrap();
    match completed.download_to(dir.path().join("p.csv")).await {
        Err(ExportError::DownloadStatus { status, message }) => {
            assert_eq!(status.as_u16(), 410);
            assert!(message.contains("It went away"), "{message}");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(fake.journal().downloads().len(), 1, "not retried");
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn expired_url_is_refreshed_from_the_status() {
    let (fake, completed) = completed_projects(100, ExportFormat::Csv, tiny()).await;
    let polls = fake.journal().polls_of(completed.id());
    fake.storage().inject(StorageFault::Expired, 1);
    let file = download_checked(&completed, 100).await;
    assert_eq!(file.url_refreshes, 1);
    let journal = fake.journal();
    assert_eq!(
        journal.polls_of(completed.id()),
        polls + 1,
        "one more status GET"
    );
    let downloads = journal.downloads();
    assert_eq!(
        downloads.iter().map(|r| r.status).collect::<Vec<_>>(),
        [403, 200]
    );
}

// The URL expires for real (24 h later on the fake's clock), in the middle of a download.
#[tokio::test]
async fn url_expiring_mid_download_is_refreshed_and_resumed() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(64_000), 1);
    fake.advance(Duration::from_secs(25 * 3600));
    // The first GET is made before the clock moves in real life; here the URL is already stale,
    // so: 403, refresh, 200 cut at 64 000, resume with a Range on the fresh URL.
    let file = download_checked(&completed, 2000).await;
    assert_eq!((file.url_refreshes, file.resumes), (1, 1));
    let journal = fake.journal();
    let downloads = journal.downloads();
    assert_eq!(
        downloads.iter().map(|r| r.status).collect::<Vec<_>>(),
        [403, 200, 206]
    );
    assert_ne!(
        downloads[0].path_and_query, downloads[1].path_and_query,
        "a fresh URL"
    );
    assert_eq!(downloads[2].header("range"), Some("bytes=64000-"));
}

#[tokio::test]
async fn expiry_on_resume_is_refreshed_and_continues_where_it_was() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(80_000), 1);
    fake.storage().inject(StorageFault::Expired, 1);
    let file = download_checked(&completed, 2000).await;
    let journal = fake.journal();
    let downloads = journal.downloads();
    assert_eq!(
        downloads.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 403, 206]
    );
    assert_eq!(downloads[2].header("range"), Some("bytes=80000-"));
    assert_eq!((file.url_refreshes, file.resumes, file.restarts), (1, 1, 0));
}

#[tokio::test]
async fn a_fresh_url_refused_again_is_final() {
    let (fake, completed) = completed_projects(20, ExportFormat::Csv, tiny()).await;
    fake.storage().inject(StorageFault::Expired, 2);
    let dir = tempfile::tempdir().unwrap();
    match completed.download_to(dir.path().join("p.csv")).await {
        Err(ExportError::DownloadStatus { status, message }) => {
            assert_eq!(status.as_u16(), 403);
            assert!(
                message.contains("Request has expired") && message.contains("fresh"),
                "{message}"
            );
        }
        other => panic!("expected Status 403, got {other:?}"),
    }
    assert_eq!(fake.journal().downloads().len(), 2);
}

#[tokio::test]
async fn cleaned_up_export_is_expired() {
    let (fake, completed) = completed_projects(20, ExportFormat::Csv, tiny()).await;
    fake.advance(Duration::from_secs(8 * 24 * 3600));
    let dir = tempfile::tempdir().unwrap();
    match completed.download_to(dir.path().join("p.csv")).await {
        Err(ExportError::Expired { id }) => assert_eq!(id, completed.id()),
        other => panic!("expected Expired, got {other:?}"),
    }
    let journal = fake.journal();
    let statuses: Vec<u16> = journal
        .requests_to("get_export")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses.last(), Some(&404));
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn the_api_token_never_reaches_the_storage_host() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    fake.storage().inject(StorageFault::Expired, 1);
    fake.storage().inject(StorageFault::TruncateAfter(1000), 1);
    fake.storage().inject(StorageFault::Redirect, 1);
    let dir = tempfile::tempdir().unwrap();
    completed
        .download_to(dir.path().join("p.csv"))
        .await
        .unwrap();
    let journal = fake.journal();
    assert!(journal.storage.len() >= 4, "{:?}", journal.storage);
    assert!(journal.requests_to_storage_with_authorization().is_empty());
    // The API itself did get the token.
    assert!(journal
        .requests_to("get_export")
        .iter()
        .all(|r| r.authorization().is_some()));
}

#[tokio::test]
async fn redirects_are_followed() {
    let (fake, completed) = completed_projects(300, ExportFormat::Json, tiny()).await;
    fake.storage().inject(StorageFault::Redirect, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    completed.download_to(&path).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected_projects(300, ExportFormat::Json)
    );
    let journal = fake.journal();
    let storage: Vec<(u16, bool)> = journal
        .storage
        .iter()
        .map(|r| (r.status, r.path_and_query.starts_with("/redirected/")))
        .collect();
    assert_eq!(storage, [(302, false), (200, true)]);
}

#[tokio::test]
async fn empty_exports() {
    for (format, file_format, want) in [
        (ExportFormat::Csv, ExportFormat::Csv, None),
        (ExportFormat::Json, ExportFormat::Json, Some(&b"[]"[..])),
    ] {
        let (_fake, completed) = completed_projects(0, format, tiny()).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        let file = completed.download_to(&path).await.unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, expected_projects(0, file_format));
        assert_eq!(file.bytes, bytes.len() as u64);
        match want {
            Some(want) => assert_eq!(bytes, want),
            None => assert_eq!(
                bytes.iter().filter(|&&b| b == b'\n').count(),
                1,
                "the header line only"
            ),
        }
    }
}

#[tokio::test]
async fn progress_reaches_the_total() {
    let (fake, completed) = completed_projects(3000, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(200_000), 1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let dir = tempfile::tempdir().unwrap();
    let file = completed
        .download_to(dir.path().join("p.csv"))
        .on_progress(move |bytes, total| sink.lock().unwrap().push((bytes, total)))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    let total = completed.file_size_bytes();
    assert_eq!(seen.first().map(|p| p.0), Some(0));
    assert!(seen.iter().all(|p| p.1 == total));
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "monotonic without restarts"
    );
    let last = seen.last().unwrap();
    assert_eq!(Some(last.0), total);
    assert_eq!(last.0, file.bytes);
    assert_eq!(file.resumes, 1);
    assert!(seen.len() > 5, "{} callbacks", seen.len());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_download_removes_the_temporary_file() {
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, tiny()).await;
    fake.storage()
        .inject(StorageFault::Stall { after: 100_000 }, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.csv");
    let download = tokio::spawn(async move { completed.download_to(&path).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    // While it runs, the bytes go to a hidden temporary file next to the target.
    let names = entries(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with(".p.csv.") && names[0].ends_with(".part"),
        "{names:?}"
    );
    download.abort();
    assert!(
        download.await.unwrap_err().is_cancelled(),
        "still stalled after 5 s"
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[tokio::test]
async fn a_missing_directory_is_an_io_error_naming_the_path() {
    let (_fake, completed) = completed_projects(5, ExportFormat::Csv, tiny()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/p.csv");
    match completed.download_to(&path).await {
        Err(e @ ExportError::Io { .. }) => {
            assert!(e.to_string().contains("no/such/dir/p.csv"), "{e}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn futures_are_send_and_static() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let client = mangrove::Client::builder().token("t").build().unwrap();
    let export = mangrove::Export::attach(&client, "exp_1");
    let _ = export;
    // Compile-time checks of the signatures.
    fn check(c: &CompletedExport) {
        assert_send_static(&c.download_to("x"));
        assert_send_static(&c.bytes_stream());
        assert_send_static(&c.reader());
        assert_send_static(&c.records::<mangrove::types::Project>());
        let download = c.download_to("x").on_progress(|_, _| {});
        assert_send_static(&std::future::IntoFuture::into_future(download));
    }
    let _ = check;
}

#[tokio::test(start_paused = true)]
async fn a_stall_beyond_the_policy_is_a_timeout() {
    let policy = tiny().read_timeout(Duration::from_secs(30)).max_resumes(0);
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, policy).await;
    fake.storage()
        .inject(StorageFault::Stall { after: 70_000 }, 1);
    let dir = tempfile::tempdir().unwrap();
    let err = completed
        .download_to(dir.path().join("p.csv"))
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Interrupted { .. }), "{err:?}");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.status(), None);
}

// The waits between resumes double from `resume_backoff` (on the paused clock: 100 + 200 + 400 ms).
#[tokio::test(start_paused = true)]
async fn resume_waits_double() {
    let policy = tiny().resume_backoff(Duration::from_millis(100));
    let (fake, completed) = completed_projects(2000, ExportFormat::Csv, policy).await;
    fake.storage()
        .inject(StorageFault::TruncateAfter(10_000), 3);
    let started = tokio::time::Instant::now();
    let file = download_checked(&completed, 2000).await;
    let elapsed = started.elapsed();
    assert_eq!(file.resumes, 3);
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_millis(750),
        "{elapsed:?}"
    );
}
