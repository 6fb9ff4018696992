//! One ndjson file of an export as it is written: lines gathered into a part, each part
//! uploaded as it fills (an S3 multipart upload), so the worker holds about one part
//! whatever the file's size; and, for a Patient file, who is in it, for the audit events
//! its commit writes.

use hyper::body::Bytes;
use shared::s3::{Bucket, Part};
use uuid::Uuid;

/// What a part may hold past `part_bytes`: the line that filled it (a resource's JSON is
/// a few KiB; a longer one only makes the buffer grow once).
const LINE_ROOM: usize = 64 * 1024;

/// A file being written.
#[derive(Default)]
pub struct File {
    pub seq: i32,
    pub key: String,
    /// `Patient` or `Practitioner`.
    pub kind: &'static str,
    upload: Option<String>,
    parts: Vec<Part>,
    buffer: Vec<u8>,
    pub bytes: usize,
    pub count: i32,
    /// The patients in it, with how each was reached and its organization (the audit's).
    pub patients: Vec<Uuid>,
    pub accesses: Vec<String>,
    pub organizations: Vec<Option<Uuid>>,
}

impl File {
    pub fn new(seq: i32, key: String, kind: &'static str) -> Self {
        Self { seq, key, kind, ..Self::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds one resource's line; uploads a part once `part_bytes` are held.
    pub async fn push(&mut self, bucket: &Bucket, line: &[u8], part_bytes: usize) -> Result<(), String> {
        if self.buffer.capacity() == 0 {
            // A part's room at once, not grown by doubling: each part is then one
            // allocation of one size, which the allocator reuses, where doubling left
            // freed blocks of every size behind and the worker's memory crept up with
            // the export's (docs/SCALE.md).
            self.buffer.reserve_exact(part_bytes + LINE_ROOM);
        }
        self.buffer.extend_from_slice(line);
        self.buffer.push(b'\n');
        self.bytes += line.len() + 1;
        self.count += 1;
        if self.buffer.len() >= part_bytes {
            self.upload_part(bucket).await?;
        }
        Ok(())
    }

    async fn upload_part(&mut self, bucket: &Bucket) -> Result<(), String> {
        let upload = match &self.upload {
            Some(upload) => upload.clone(),
            None => {
                let content_type = [("content-type", "application/fhir+ndjson".to_owned())];
                let upload = bucket.create_upload(&self.key, &content_type).await?;
                self.upload = Some(upload.clone());
                upload
            }
        };
        let number = self.parts.len() as u32 + 1;
        let bytes = Bytes::from(std::mem::take(&mut self.buffer));
        let part = bucket.upload_part(&self.key, &upload, number, bytes, false).await?;
        self.parts.push(part);
        Ok(())
    }

    /// Uploads what is held as the last part and completes the upload: the object
    /// appears whole. (Empty files are never written: the caller commits no file.)
    pub async fn complete(&mut self, bucket: &Bucket) -> Result<(), String> {
        if !self.buffer.is_empty() || self.parts.is_empty() {
            self.upload_part(bucket).await?;
        }
        let upload = self.upload.take().ok_or("a file with no upload to complete")?;
        bucket.complete_upload(&self.key, &upload, &self.parts).await
    }

    /// Gives up the file: its upload aborted, or the object deleted if it was completed
    /// (its commit found the job gone). Best effort: the bucket's lifecycle rule ends
    /// whatever this misses.
    pub async fn discard(self, bucket: &Bucket, completed: bool) {
        let result = match (&self.upload, completed) {
            (_, true) => bucket.delete(&self.key).await,
            (Some(upload), false) => bucket.abort_upload(&self.key, upload).await,
            (None, false) => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "an export's unfinished file was left to the bucket's lifecycle rule");
        }
    }
}
