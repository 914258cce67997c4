//! JSON-lines file sink: one record per line in `DIR/audit-YYYY-MM-DD.jsonl`, rotated when the
//! date changes or the file would exceed `max_bytes` (`audit-YYYY-MM-DD.1.jsonl`, …). Files are
//! created with mode 0600 and flushed with `sync_data` before a batch counts as exported.

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{ExportError, ExportRecord, Sink};

/// The file sink.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    max_bytes: u64,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    day: String,
    index: u32,
    size: u64,
    file: tokio::fs::File,
}

fn io(e: std::io::Error) -> ExportError {
    ExportError::Io(e.kind().to_string())
}

impl FileSink {
    /// A sink writing into `dir` (created if absent), rotating at `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            max_bytes: max_bytes.max(1024),
            current: None,
        }
    }

    fn path(&self, day: &str, index: u32) -> PathBuf {
        if index == 0 {
            self.dir.join(format!("audit-{day}.jsonl"))
        } else {
            self.dir.join(format!("audit-{day}.{index}.jsonl"))
        }
    }

    async fn open(&self, day: &str, mut index: u32) -> Result<Current, ExportError> {
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        loop {
            let path = self.path(day, index);
            let size = tokio::fs::metadata(&path)
                .await
                .map(|m| m.len())
                .unwrap_or(0);
            if size < self.max_bytes {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                return Ok(Current {
                    day: day.to_owned(),
                    index,
                    size,
                    file: tokio::fs::File::from_std(file),
                });
            }
            index += 1;
        }
    }

    async fn file_for(&mut self, day: &str, len: u64) -> Result<&mut Current, ExportError> {
        let rotate = match &self.current {
            None => Some(0),
            Some(c) if c.day != day => Some(0),
            Some(c) if c.size > 0 && c.size + len > self.max_bytes => Some(c.index + 1),
            Some(_) => None,
        };
        if let Some(index) = rotate {
            if let Some(old) = self.current.take() {
                old.file.sync_data().await.map_err(io)?;
            }
            self.current = Some(self.open(day, index).await?);
        }
        self.current
            .as_mut()
            .ok_or_else(|| ExportError::Io("no file".into()))
    }
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        "file"
    }

    async fn export(&mut self, batch: &[ExportRecord]) -> Result<(), ExportError> {
        for r in batch {
            let line = format!(
                "{{\"seq\":{},\"hash\":\"{}\",\"event\":{}}}\n",
                r.seq, r.hash, r.event
            );
            let day = r.recorded.get(..10).unwrap_or("unknown").to_owned();
            let cur = self.file_for(&day, line.len() as u64).await?;
            cur.file.write_all(line.as_bytes()).await.map_err(io)?;
            cur.size += line.len() as u64;
        }
        if let Some(c) = self.current.as_mut() {
            c.file.sync_data().await.map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, day: &str) -> ExportRecord {
        ExportRecord {
            seq,
            hash: "ab".into(),
            recorded: format!("{day}T10:00:00Z"),
            event: format!(
                "{{\"resourceType\":\"AuditEvent\",\"n\":\"{}\"}}",
                "x".repeat(300)
            ),
        }
    }

    #[tokio::test]
    async fn rotates_by_size_and_date() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path(), 1024);
        let batch: Vec<_> = (1..=5).map(|s| rec(s, "2026-11-25")).collect();
        sink.export(&batch).await.unwrap();
        sink.export(&[rec(6, "2026-11-26")]).await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "audit-2026-11-25.1.jsonl",
                "audit-2026-11-25.2.jsonl",
                "audit-2026-11-25.jsonl",
                "audit-2026-11-26.jsonl"
            ],
            "two ~350-byte lines fit in 1024 bytes"
        );
        let all: String = names
            .iter()
            .map(|n| std::fs::read_to_string(dir.path().join(n)).unwrap())
            .collect();
        let seqs: Vec<u64> = all
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![1, 2, 3, 4, 5, 6], "every record exactly once");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(&names[0]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
        // a restarted sink appends to the current file instead of truncating it
        let mut again = FileSink::new(dir.path(), 1024);
        again.export(&[rec(7, "2026-11-26")]).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("audit-2026-11-26.jsonl"))
                .unwrap()
                .lines()
                .count(),
            2
        );
    }
}
