//! The atomic file writer behind [`download_to`](crate::CompletedExport::download_to): the bytes go
//! to a temporary file next to the target, written by a thread of its own, synced and renamed
//! once complete, so the target never holds a partial file, even after a power loss.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::download_to::Downloaded;
use super::transfer::Transfer;
use crate::error::ExportError;

/// Bytes per write to disk: large writes keep the system calls few (a 500 MB file is 500 of
/// them), and 1 MiB is still a small buffer.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Chunks queued for the writer thread before the download waits for the disk. The network's
/// chunks are small (16 KiB or so), so this only evens out short stalls of the disk; it bounds
/// what a slow disk makes the download hold in memory.
const WRITE_QUEUE: usize = 16;
/// How often the writer asks the kernel to start writing the file back to disk (Linux). Without
/// it, the `fsync` before the rename would write the whole file at once, seconds for 500 MB;
/// with it, the disk writes while the network delivers and the `fsync` finds little left (when
/// it came in, `benches/download.rs` measured 491 MiB at 1.15-1.19× curl's speed, fsync
/// included). 16 MiB: often enough that little is left at the end, rarely enough that the calls
/// cost nothing.
const WRITEBACK_EVERY: i64 = 16 * 1024 * 1024;

/// What the download task sends the writer thread, with the transfer's restart count: when it
/// changes, the file started over, and the writer truncates what it wrote.
#[derive(Debug)]
enum Block {
    Bytes(Bytes, u32),
    /// Every byte has arrived and the size matched: sync, rename to the path, sync the directory.
    Commit(tempfile::TempPath, PathBuf, u32),
}

/// Downloads `transfer` to `path` through a temporary file (see the module docs).
pub(super) async fn to_file(
    mut transfer: Transfer,
    path: PathBuf,
) -> Result<Downloaded, ExportError> {
    let io_error = |source| ExportError::Io {
        path: path.clone(),
        source,
    };
    // `temp` removes the file when dropped (on an error, or when the download is dropped), even
    // while the writer thread holds it open.
    let target = path.clone();
    let (file, temp) = tokio::task::spawn_blocking(move || create_temp(&target))
        .await
        .map_err(|e| io_error(io::Error::other(e)))?
        .map_err(io_error)?;
    let (blocks, queue) = mpsc::channel::<Block>(WRITE_QUEUE);
    // A plain thread, not `spawn_blocking`: a blocking task as long as the transfer would keep
    // tokio's paused test clock from auto-advancing (stall time-outs could never fire in tests).
    let (done, writer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mangrove-download-writer".into())
        .spawn(move || {
            let _ = done.send(write_blocks(file, queue));
        })
        .map_err(io_error)?;
    let fetched: Result<(), ExportError> = async {
        while let Some(chunk) = transfer.next().await? {
            let block = Block::Bytes(chunk, transfer.downloaded().restarts);
            if blocks.send(block).await.is_err() {
                break; // the writer stopped; its result says why
            }
        }
        Ok(())
    }
    .await;
    if fetched.is_ok() {
        let commit = Block::Commit(temp, path.clone(), transfer.downloaded().restarts);
        let _ = blocks.send(commit).await;
    }
    drop(blocks);
    let written = writer
        .await
        .unwrap_or_else(|_| Err(io::Error::other("the writer panicked")));
    // A fetch error is the cause; else the writer's (disk full, …), which also stops the fetch.
    fetched?;
    written.map_err(io_error)?;
    Ok(transfer.downloaded().clone())
}

/// The writer thread: writes blocks in order until `Commit`. The file is synced before the
/// rename, so a power loss cannot leave a partial file under its final name.
fn write_blocks(file: std::fs::File, mut queue: mpsc::Receiver<Block>) -> io::Result<()> {
    use std::io::Seek as _;
    let mut file = io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut written: i64 = 0;
    let mut flushed: i64 = 0;
    let mut restarts = 0;
    while let Some(block) = queue.blocking_recv() {
        let (Block::Bytes(_, seen) | Block::Commit(_, _, seen)) = block;
        if seen != restarts {
            // The download started over from byte 0: so does the file.
            restarts = seen;
            file.rewind()?;
            file.get_ref().set_len(0)?;
            written = 0;
            flushed = 0;
        }
        match block {
            Block::Bytes(bytes, _) => {
                file.write_all(&bytes)?;
                written += bytes.len() as i64;
                if written - flushed >= WRITEBACK_EVERY {
                    start_writeback(file.get_ref(), flushed, written - flushed);
                    flushed = written;
                }
            }
            Block::Commit(temp, path, _) => {
                file.flush()?;
                file.get_ref().sync_all()?;
                temp.persist(&path).map_err(|e| e.error)?;
                // Best effort: the new name survives a power loss too.
                #[cfg(unix)]
                let _ = std::fs::File::open(parent_dir(&path)).and_then(|d| d.sync_all());
                return Ok(());
            }
        }
    }
    Err(io::Error::other("the download stopped before its end"))
}

/// Starts writing `len` bytes from `offset` back to disk without waiting (Linux
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that the `sync_all` before the rename finds
/// little left to write and the download keeps close to the network's speed. Best effort.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: i64, len: i64) {
    use std::os::fd::AsRawFd as _;
    // SAFETY: the descriptor is open for the call's duration; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: i64, _len: i64) {}

/// The directory `path` goes in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    dir.unwrap_or(Path::new("."))
}

/// `.<name>.<random>.part` next to `path` (the same file system, so the rename is atomic), with
/// a new file's usual permissions (not `tempfile`'s 0600: the result is an ordinary file).
fn create_temp(path: &Path) -> io::Result<(std::fs::File, tempfile::TempPath)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{}.", name.to_string_lossy());
    builder.prefix(&prefix).suffix(".part");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    Ok(builder.tempfile_in(parent_dir(path))?.into_parts())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dirs() {
        assert_eq!(parent_dir(Path::new("a.csv")), Path::new("."));
        assert_eq!(parent_dir(Path::new("out/a.csv")), Path::new("out"));
        assert_eq!(parent_dir(Path::new("/a.csv")), Path::new("/"));
    }

    #[test]
    fn the_temporary_file_is_next_to_the_target_and_removed_on_drop() {
        let dir = tempfile::tempdir().expect("a directory");
        let (_, temp) = create_temp(&dir.path().join("p.csv")).expect("created");
        let name = temp
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(".p.csv.") && name.ends_with(".part"),
            "{name}"
        );
        assert_eq!(temp.parent(), Some(dir.path()));
        let kept = temp.to_path_buf();
        drop(temp);
        assert!(!kept.exists());
        let error = create_temp(&dir.path().join("..")).expect_err("no file name");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn blocks_are_written_in_order_truncated_on_a_restart_and_committed() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("p.csv");
        let (file, temp) = create_temp(&path).expect("created");
        let (blocks, queue) = mpsc::channel(8);
        for block in [
            Block::Bytes(Bytes::from_static(b"old "), 0),
            Block::Bytes(Bytes::from_static(b"new "), 1),
            Block::Bytes(Bytes::from_static(b"file"), 1),
            Block::Commit(temp, path.clone(), 1),
        ] {
            blocks.try_send(block).expect("room");
        }
        write_blocks(file, queue).expect("written");
        assert_eq!(std::fs::read(&path).expect("the file"), b"new file");
        assert_eq!(std::fs::read_dir(dir.path()).expect("a listing").count(), 1);
    }

    #[test]
    fn no_commit_is_an_error() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("p.csv");
        let (file, _temp) = create_temp(&path).expect("created");
        let (blocks, queue) = mpsc::channel(8);
        blocks
            .try_send(Block::Bytes(Bytes::from_static(b"part"), 0))
            .expect("room");
        drop(blocks);
        assert!(write_blocks(file, queue).is_err());
        assert!(!path.exists());
    }
}
