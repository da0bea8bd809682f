//! One download over as many HTTP requests as it takes: it resumes after interruptions, fetches
//! a fresh URL when the storage host refuses one, and starts again when the file changed (see the
//! [module docs](super#resume-refresh-restart)). The rules it follows are in [`super::resume`].

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, IF_RANGE, RANGE};
use reqwest::StatusCode;

use super::download_to::{Downloaded, ProgressFn};
use super::layout::layout;
use super::resume::{
    check_limit, check_size, content_range, may_resume, must_restart, on_status, resume_wait,
    strong_etag, OnStatus,
};
use crate::error::ExportError;
use crate::export::CompletedExport;
use crate::open_enum::ExportFormat;
use crate::redact::scrub;
use crate::settings::DownloadPolicy;
use crate::wire::{header_str, read_into, retry_after};

/// Bytes of a storage error body read for the error message: enough for an S3 or GCS XML error
/// (its code and message), little enough that a huge or endless error page costs nothing.
const ERROR_BODY: usize = 2048;

/// One download over as many requests as it takes.
pub(super) struct Transfer {
    export: CompletedExport,
    /// Whether the consumer can take back bytes: a file can be truncated and written again, a
    /// stream cannot take back the bytes it handed out.
    restartable: bool,
    progress: Option<ProgressFn>,
    /// The current pre-signed URL (refreshed when the host refuses it).
    url: String,
    response: Option<reqwest::Response>,
    /// The strong `ETag` of the version of the file being read, for `If-Range`.
    etag: Option<String>,
    content_type: Option<String>,
    /// The size the storage host declared.
    total: Option<u64>,
    /// What was handed to the consumer so far; `bytes` is the position of the next byte.
    sofar: Downloaded,
    /// Leading bytes of the current body that were handed out already (a host that ignored
    /// `Range` sends the file from its start).
    skip: u64,
    /// A fresh URL was fetched and has not delivered a byte yet.
    refreshed: bool,
    /// The whole file was handed out. The consumer stops at the first error, so only the end of
    /// the file sets it.
    finished: bool,
}

impl Transfer {
    pub(super) fn new(export: CompletedExport, restartable: bool) -> Self {
        Transfer {
            url: export.download_url.clone(),
            export,
            restartable,
            progress: None,
            response: None,
            etag: None,
            content_type: None,
            total: None,
            sofar: Downloaded::default(),
            skip: 0,
            refreshed: false,
            finished: false,
        }
    }

    pub(super) fn export(&self) -> &CompletedExport {
        &self.export
    }

    pub(super) fn set_progress(&mut self, progress: ProgressFn) {
        self.progress = Some(progress);
    }

    /// How the download went so far.
    pub(super) fn downloaded(&self) -> &Downloaded {
        &self.sofar
    }

    /// Whether an answer's body is open.
    pub(super) fn has_body(&self) -> bool {
        self.response.is_some()
    }

    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next bytes, or `None` at the end of a complete file.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, ExportError> {
        while !self.finished {
            let Some(response) = self.response.as_mut() else {
                self.open().await?;
                continue;
            };
            match response.chunk().await {
                Ok(Some(mut chunk)) => {
                    let skip = self.skip.min(chunk.len() as u64);
                    let _ = chunk.split_to(skip as usize);
                    self.skip -= skip;
                    if chunk.is_empty() {
                        continue;
                    }
                    // Checked before the bytes are handed out: nothing past the limit leaves.
                    let bytes = self.sofar.bytes.saturating_add(chunk.len() as u64);
                    check_limit(bytes, self.policy().max_file_bytes)?;
                    self.sofar.bytes = bytes;
                    self.refreshed = false;
                    check_size(self.sofar.bytes, self.export.file_size_bytes, false)?;
                    self.report();
                    return Ok(Some(chunk));
                }
                Ok(None) => {
                    self.response = None;
                    let received = self.sofar.bytes;
                    match self.total.filter(|&total| received < total) {
                        Some(total) => {
                            let why = format!("the body ended after {received} of {total} bytes");
                            self.interrupted(why.into(), None).await?;
                        }
                        None => self.complete()?,
                    }
                }
                Err(e) => {
                    self.response = None;
                    // `without_url`: the error's text must not carry the signed URL.
                    self.interrupted(Box::new(e.without_url()), None).await?;
                }
            }
        }
        Ok(None)
    }

    /// The end of the file: checks the size and reports the last progress.
    fn complete(&mut self) -> Result<(), ExportError> {
        self.finished = true;
        check_size(self.sofar.bytes, self.export.file_size_bytes, true)?;
        self.report();
        Ok(())
    }

    /// One request; afterwards a body is open, or the caller asks again (after a resume or a
    /// fresh URL), or the file is complete.
    pub(super) async fn open(&mut self) -> Result<(), ExportError> {
        // An export that says it is over the limit is not fetched at all.
        if let Some(size) = self.export.file_size_bytes {
            check_limit(size, self.policy().max_file_bytes)?;
        }
        if must_restart(self.sofar.bytes, self.etag.is_some()) {
            self.rewind()?;
        }
        let mut request = self.export.handle.client.state().download.get(&self.url);
        if let Some(etag) = self.etag.as_deref().filter(|_| self.sofar.bytes > 0) {
            // `If-Range`: the rest of this version of the file, or (if it changed) all of the new
            // one as a `200`, never a range of another version.
            request = request
                .header(RANGE, format!("bytes={}-", self.sofar.bytes))
                .header(IF_RANGE, etag);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return self.interrupted(Box::new(e.without_url()), None).await,
        };
        match response.status() {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT => self.accept(response).await,
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let whole = format!("bytes */{}", self.sofar.bytes);
                if header_str(response.headers(), CONTENT_RANGE) == Some(whole.as_str()) {
                    // The previous body declared more than the file holds; the file is complete.
                    return self.complete();
                }
                self.rewind()?;
                let why = "the storage host cannot serve the rest of the file (416)";
                self.interrupted(why.into(), None).await
            }
            status => {
                // Read before the body is: a busy host says how long to wait (`Retry-After`).
                let asked = retry_after(response.headers());
                let error = self.status_error(response).await;
                match on_status(status, self.refreshed) {
                    OnStatus::Refresh => self.refresh(status, error).await,
                    OnStatus::Resume => self.interrupted(Box::new(error), asked).await,
                    OnStatus::Fail => Err(error),
                }
            }
        }
    }

    /// What was handed out cannot be continued: a file starts again from byte 0, a stream (whose
    /// bytes the caller has) ends with `Changed`.
    fn rewind(&mut self) -> Result<(), ExportError> {
        if !self.restartable {
            return Err(ExportError::Changed {
                received: self.sofar.bytes,
            });
        }
        if self.sofar.bytes > 0 {
            tracing::info!(export_id = %self.export.id(), received = self.sofar.bytes, "the file changed on the storage host or Range was ignored; starting again from byte 0");
            self.sofar.restarts = self.sofar.restarts.saturating_add(1);
        }
        self.sofar.bytes = 0;
        self.skip = 0;
        self.etag = None;
        Ok(())
    }

    /// A `200` (the whole file) or a `206` (from where its `Content-Range` says). A body of
    /// another version of the file (`ETag`) than the bytes handed out makes the transfer rewind.
    async fn accept(&mut self, response: reqwest::Response) -> Result<(), ExportError> {
        let headers = response.headers();
        let etag = strong_etag(headers);
        let (first, total) = if response.status() == StatusCode::OK {
            (0, response.content_length())
        } else {
            let value = header_str(headers, CONTENT_RANGE);
            let Some((first, size)) = value.and_then(content_range) else {
                let value = value.map_or("none".to_owned(), |v| self.scrub(v));
                let message = format!("a 206 answer without a usable Content-Range (got {value})");
                return Err(ExportError::InvalidDownload { message });
            };
            (first, size.or(self.total))
        };
        if let Some(total) = total {
            // A host that declares more than the limit is not read at all.
            check_limit(total, self.policy().max_file_bytes)?;
        }
        if self.sofar.bytes > 0 && (etag.is_none() || etag != self.etag) {
            self.rewind()?;
            if first > 0 {
                // `If-Range` should have prevented this: the host does not honour it.
                let why = "the file changed on the storage host";
                return self.interrupted(why.into(), None).await;
            }
        }
        if first > self.sofar.bytes {
            let message = format!("asked for byte {} but got from {first}", self.sofar.bytes);
            return Err(ExportError::InvalidDownload { message });
        }
        self.skip = self.sofar.bytes - first;
        self.etag = etag;
        self.total = total;
        if let Some(content_type) = header_str(headers, CONTENT_TYPE) {
            self.content_type = Some(content_type.to_owned());
        }
        self.response = Some(response);
        self.report();
        Ok(())
    }

    /// The storage host refused the URL (`403`, usually expired) or lost the file (`404`): read
    /// the export's status for a fresh URL.
    async fn refresh(&mut self, status: StatusCode, error: ExportError) -> Result<(), ExportError> {
        let id = self.export.id();
        tracing::info!(export_id = %id, %status, "URL refused ({error}); fetching a fresh one");
        let snapshot = self.export.export().status().await?;
        let url = snapshot.raw.download_url.filter(|u| !u.is_empty());
        self.url = url.ok_or_else(|| ExportError::InvalidResponse {
            id: self.export.id().to_owned(),
            message: format!("HTTP {status} for the download_url, and no new one"),
        })?;
        self.refreshed = true;
        self.sofar.url_refreshes = self.sofar.url_refreshes.saturating_add(1);
        Ok(())
    }

    /// An interruption: wait (at least what the host `asked`, capped) and let the caller resume,
    /// or give up with [`ExportError::Interrupted`].
    async fn interrupted(
        &mut self,
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
        asked: Option<Duration>,
    ) -> Result<(), ExportError> {
        let (max_resumes, first_wait) = (self.policy().max_resumes, self.policy().resume_backoff);
        let resumable = may_resume(self.restartable, self.etag.is_some(), self.sofar.bytes);
        if !resumable || self.sofar.resumes >= max_resumes {
            return Err(ExportError::Interrupted {
                received: self.sofar.bytes,
                attempts: self.sofar.resumes.saturating_add(1),
                source,
            });
        }
        self.sofar.resumes += 1;
        let wait = resume_wait(first_wait, self.sofar.resumes, asked);
        tracing::info!(
            export_id = %self.export.id(),
            received = self.sofar.bytes,
            resume = self.sofar.resumes,
            ?wait,
            "download interrupted ({source}); resuming"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn policy(&self) -> &DownloadPolicy {
        &self.export.handle.client.state().download_policy
    }

    fn report(&self) {
        if let Some(callback) = &self.progress {
            callback(self.sofar.bytes, self.export.file_size_bytes.or(self.total));
        }
    }

    /// The records layout of the file (see [`layout`]).
    pub(super) fn layout(&self) -> Result<ExportFormat, ExportError> {
        let content_type = self.content_type.as_deref();
        let (format, url) = (self.export.format.as_ref(), &self.export.download_url);
        layout(format, url, content_type, |text| self.scrub(text))
    }

    /// Text from the storage host (or derived from the URL), safe to put in an error.
    fn scrub(&self, text: &str) -> String {
        scrub(text, &[&self.url, &self.export.download_url])
    }

    /// A [`ExportError::DownloadStatus`] with the start of the body (scrubbed) and a hint. Reads
    /// at most [`ERROR_BODY`] bytes for at most the read time-out, so that a huge or trickling
    /// error page cannot hold the download.
    async fn status_error(&self, mut response: reqwest::Response) -> ExportError {
        let status = response.status();
        // After redirects: another URL that may carry a signature of its own.
        let final_url = response.url().to_string();
        let mut body = Vec::new();
        let read = read_into(&mut response, ERROR_BODY, &mut body);
        let _ = tokio::time::timeout(self.policy().read_timeout, read).await;
        let said = String::from_utf8_lossy(&body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut said = scrub(&said, &[&self.url, &self.export.download_url, &final_url]);
        if said.is_empty() {
            said = status.canonical_reason().unwrap_or("no message").to_owned();
        }
        let hint = match status.as_u16() {
            403 | 404 => "; a fresh download URL was refused too: start a new export",
            408 | 429 | 500..=599 => "; the storage host kept failing: try again later",
            _ => "",
        };
        ExportError::DownloadStatus {
            status,
            message: format!("{said}{hint}"),
        }
    }
}
