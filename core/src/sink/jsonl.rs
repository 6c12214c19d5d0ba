//! Append-only JSON-lines file with size-based rotation (`events.jsonl` → `events.jsonl.1` ...).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::{Sink, SinkBatch, SinkError};

#[derive(Debug)]
struct FileState {
    file: Option<File>,
    size: u64,
    /// Whether the open file is a regular file, the only kind that is rotated: a device,
    /// FIFO or terminal (`/dev/stdout`, `/dev/null`, a named pipe) is written to as a
    /// stream, never renamed away (as root, that rename would replace the device node).
    rotates: bool,
}

/// Writes one event per line. When a write would take the file past `max_bytes`, the file is
/// rotated first, keeping `max_files` old files. Delivery is at-least-once: a batch retried
/// after a partial write may repeat lines (`messageId` identifies them).
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    max_bytes: u64,
    max_files: u32,
    state: Mutex<FileState>,
}

impl JsonLinesSink {
    /// `max_bytes = 0` disables rotation.
    pub fn new(path: impl Into<PathBuf>, max_bytes: u64, max_files: u32) -> Self {
        Self {
            path: path.into(),
            max_bytes,
            max_files,
            state: Mutex::new(FileState {
                file: None,
                size: 0,
                rotates: false,
            }),
        }
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&self) -> std::io::Result<()> {
        if self.max_files == 0 {
            return fs::remove_file(&self.path);
        }
        let oldest = self.rotated(self.max_files);
        if oldest.exists() {
            fs::remove_file(&oldest)?;
        }
        for n in (1..self.max_files).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))
    }

    fn write_batch(&self, state: &mut FileState, text: &[u8]) -> std::io::Result<()> {
        let needed = text.len() as u64;
        if state.rotates
            && self.max_bytes > 0
            && state.size > 0
            && state.size + needed > self.max_bytes
        {
            state.file = None;
            self.rotate()?;
            state.size = 0;
        }
        let file = match &mut state.file {
            Some(f) => f,
            None => {
                if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs::create_dir_all(dir)?;
                }
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                let metadata = f.metadata()?;
                state.size = metadata.len();
                state.rotates = metadata.is_file();
                state.file.insert(f)
            }
        };
        file.write_all(text)?;
        state.size += needed;
        Ok(())
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> &str {
        "jsonl"
    }

    fn deliver(&self, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
        let mut text = Vec::with_capacity(batch.events.iter().map(|e| e.json.len() + 1).sum());
        for line in batch.json_lines() {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        let mut state = self
            .state
            .lock()
            .map_err(|_| SinkError::permanent("jsonl sink lock poisoned"))?;
        self.write_batch(&mut state, &text).map_err(|e| {
            // Reopen on the next attempt: the handle may be stale (file moved, disk swapped).
            state.file = None;
            SinkError::retryable(format!("writing {}: {e}", self.path.display()))
        })
    }

    fn flush(&self, _timeout: Duration) -> Result<(), SinkError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| SinkError::permanent("jsonl sink lock poisoned"))?;
        if let Some(f) = &mut state.file {
            f.sync_data().map_err(|e| {
                SinkError::retryable(format!("syncing {}: {e}", self.path.display()))
            })?;
        }
        Ok(())
    }

    /// The client shut down: the file is closed (a client that replaced this one at run
    /// time has its own handle; a later write would reopen it).
    fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.file = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_releases_the_file_and_a_later_write_reopens_it() {
        let dir = std::env::temp_dir().join(format!("sonde-jsonl-close-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("e.jsonl");
        let sink = JsonLinesSink::new(&path, 0, 0);
        let events = [crate::sink::BufferedEvent {
            seq: 1,
            enqueued_ms: 0,
            json: "{\"event\":\"A\"}".into(),
        }];
        let batch = SinkBatch {
            id: 1,
            attempt: 1,
            events: &events,
        };
        sink.deliver(&batch).expect("written");
        sink.close();
        assert!(sink.state.lock().expect("lock").file.is_none());
        sink.deliver(&batch).expect("reopened");
        assert_eq!(
            std::fs::read_to_string(&path)
                .expect("read")
                .lines()
                .count(),
            2
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    use crate::sink::BufferedEvent;

    /// A path that is not a regular file is a stream: past `max_bytes` it is written to
    /// as before, never renamed away. Checked through a link to `/dev/null` so that a
    /// failure renames the link in a scratch folder, not the device.
    #[cfg(unix)]
    #[test]
    fn a_device_is_never_rotated() {
        let dir = std::env::temp_dir().join(format!("sonde-jsonl-device-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch folder");
        let path = dir.join("null.jsonl");
        std::os::unix::fs::symlink("/dev/null", &path).expect("link");
        let sink = five_lines_of_30_bytes(&path);
        assert!(!sink.rotated(1).exists(), "the device was rotated");
        let link = fs::symlink_metadata(&path).expect("the link is still there");
        assert!(link.file_type().is_symlink());
        let _ = fs::remove_dir_all(&dir);
    }

    fn batch_of(lines: &[&str]) -> Vec<BufferedEvent> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| BufferedEvent {
                seq: i as u64 + 1,
                enqueued_ms: 0,
                json: (*l).into(),
            })
            .collect()
    }

    /// A sink rotating at 40 bytes, keeping two files, after five batches of one 30-byte line.
    fn five_lines_of_30_bytes(path: &Path) -> JsonLinesSink {
        let sink = JsonLinesSink::new(path, 40, 2);
        let events = batch_of(&[r#"{"n":1,"pad":"xxxxxxxxxxxx"}"#]);
        for id in 0..5 {
            sink.deliver(&SinkBatch {
                id,
                attempt: 1,
                events: &events,
            })
            .expect("written");
        }
        sink
    }

    #[test]
    fn appends_and_rotates_by_size() {
        let dir = std::env::temp_dir().join(format!("sonde-jsonl-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("events.jsonl");
        let sink = five_lines_of_30_bytes(&path);
        sink.flush(Duration::from_secs(1)).unwrap();
        // Each line is 30 bytes: one per file, current + 2 rotated kept.
        let current = fs::read_to_string(&path).unwrap();
        assert_eq!(current.lines().count(), 1);
        assert!(sink.rotated(1).exists());
        assert!(sink.rotated(2).exists());
        assert!(!sink.rotated(3).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
