//! One S3 bucket, through the few calls bulk export and the audit archive need: a
//! multipart upload (create, upload a part, complete, abort), a small object written
//! whole, a read (whole, or as it arrives) and a delete of one object, and - for local
//! set-ups and tests against moto - creating the bucket. Signed and sent by
//! `crate::signed`, like SES; the S3 SDK would be most of a binary.
//!
//! Objects are addressed path-style (`{endpoint}/{bucket}/{key}`) where an endpoint is
//! configured (moto, a VPC endpoint), else virtual-hosted
//! (`https://{bucket}.s3.{region}.amazonaws.com/{key}`), as the SDKs do.

use hyper::body::Bytes;

use crate::aws::Target;
use crate::config_error::ConfigError;
use crate::signed::{Answer, AwsClient, error_code, xml_element};

#[derive(Clone)]
pub struct Bucket {
    client: AwsClient,
    /// The path every key is under: `/{bucket}` (path-style) or empty (virtual-hosted).
    prefix: String,
}

/// A part uploaded: its number, the ETag S3 gave it and, for an upload made with
/// checksums, its SHA-256 (base64), which completing names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub etag: String,
    pub checksum: Option<String>,
}

/// An object's SHA-256 as S3 takes it (`x-amz-checksum-sha256`): base64. S3 needs one (or
/// an MD5) on every write to a bucket with Object Lock.
pub fn checksum(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

impl Bucket {
    /// `name` in the region and endpoint of the environment (`AWS_ENDPOINT_URL_S3`,
    /// else `AWS_ENDPOINT_URL`).
    pub fn from_env(name: &str) -> Result<Self, ConfigError> {
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(ConfigError(format!("{name:?} is not an S3 bucket name")));
        }
        let target = Target::from_env("AWS_ENDPOINT_URL_S3")?;
        let path_style = target.endpoint.is_some();
        let mut client = AwsClient::new(target, "s3", "s3")?;
        let prefix = match path_style {
            true => format!("/{name}"),
            false => {
                // https://s3.{region}.amazonaws.com -> https://{bucket}.s3.{region}.amazonaws.com
                client.endpoint = client.endpoint.replacen("https://", &format!("https://{name}."), 1);
                String::new()
            }
        };
        Ok(Self { client, prefix })
    }

    fn path(&self, key: &str) -> String {
        format!("{}/{}", self.prefix, encode_key(key))
    }

    async fn call(&self, method: http::Method, path: String, body: Bytes, what: &str) -> Result<Answer, String> {
        let answer = self.client.send(method, &path, &[], body).await.map_err(|e| format!("S3 {what}: {e}"))?;
        match answer.status.is_success() {
            true => Ok(answer),
            false => Err(format!("S3 {what} failed: {}", error_code(&answer))),
        }
    }

    /// Starts a multipart upload of `key` with these headers (its content type, and an
    /// archive's retention, storage class and checksum algorithm); answers its upload id.
    pub async fn create_upload(&self, key: &str, headers: &[(&str, String)]) -> Result<String, String> {
        let path = format!("{}?uploads", self.path(key));
        let answer = self
            .client
            .send(http::Method::POST, &path, headers, Bytes::new())
            .await
            .map_err(|e| format!("S3 CreateMultipartUpload: {e}"))?;
        if !answer.status.is_success() {
            return Err(format!("S3 CreateMultipartUpload failed: {}", error_code(&answer)));
        }
        xml_element(&answer.body, "UploadId").ok_or_else(|| "S3 CreateMultipartUpload answered no UploadId".into())
    }

    /// Uploads part `number` (from 1) of an upload, with its SHA-256 when `checksummed`
    /// (an upload started with `x-amz-checksum-algorithm: SHA256`). Every part but the
    /// last must be at least 5 MiB on S3.
    pub async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        number: u32,
        bytes: Bytes,
        checksummed: bool,
    ) -> Result<Part, String> {
        let path = format!("{}?partNumber={number}&uploadId={}", self.path(key), encode_query(upload));
        let sum = checksummed.then(|| checksum(&bytes));
        let headers: Vec<(&str, String)> = sum.iter().map(|c| ("x-amz-checksum-sha256", c.clone())).collect();
        let answer = self
            .client
            .send(http::Method::PUT, &path, &headers, bytes)
            .await
            .map_err(|e| format!("S3 UploadPart: {e}"))?;
        if !answer.status.is_success() {
            return Err(format!("S3 UploadPart failed: {}", error_code(&answer)));
        }
        let etag = answer.headers.get(http::header::ETAG).and_then(|v| v.to_str().ok());
        let etag = etag.ok_or("S3 UploadPart answered no ETag")?.to_owned();
        Ok(Part { number, etag, checksum: sum })
    }

    /// Completes an upload from its parts, in order: the object appears whole, or not.
    pub async fn complete_upload(&self, key: &str, upload: &str, parts: &[Part]) -> Result<(), String> {
        let mut body = String::from("<CompleteMultipartUpload>");
        for part in parts {
            let etag = part.etag.replace('&', "&amp;").replace('"', "&quot;");
            let sum =
                part.checksum.as_ref().map(|c| format!("<ChecksumSHA256>{c}</ChecksumSHA256>")).unwrap_or_default();
            body += &format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag>{sum}</Part>", part.number);
        }
        body += "</CompleteMultipartUpload>";
        let path = format!("{}?uploadId={}", self.path(key), encode_query(upload));
        let answer = self.call(http::Method::POST, path, Bytes::from(body), "CompleteMultipartUpload").await?;
        // S3 can answer 200 and still have failed: the error is then in the body.
        match xml_element(&answer.body, "Code") {
            Some(_) => Err(format!("S3 CompleteMultipartUpload failed: {}", error_code(&answer))),
            None => Ok(()),
        }
    }

    /// Gives up an upload and the parts it holds (a cancelled export, a failed part).
    pub async fn abort_upload(&self, key: &str, upload: &str) -> Result<(), String> {
        let path = format!("{}?uploadId={}", self.path(key), encode_query(upload));
        self.call(http::Method::DELETE, path, Bytes::new(), "AbortMultipartUpload").await.map(drop)
    }

    /// The whole object (`None`: no such key).
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, String> {
        let answer = self
            .client
            .send(http::Method::GET, &self.path(key), &[], Bytes::new())
            .await
            .map_err(|e| format!("S3 GetObject: {e}"))?;
        match answer.status {
            status if status.is_success() => Ok(Some(answer.body)),
            http::StatusCode::NOT_FOUND => Ok(None),
            _ => Err(format!("S3 GetObject failed: {}", error_code(&answer))),
        }
    }

    /// Writes a small object whole, with these headers and its SHA-256 (`x-amz-checksum-sha256`).
    pub async fn put(&self, key: &str, bytes: Bytes, headers: &[(&str, String)]) -> Result<(), String> {
        let mut headers = headers.to_vec();
        // The algorithm named as the SDKs name it: S3 takes the checksum alone, moto (for
        // Object Lock) looks for this header.
        headers.push(("x-amz-sdk-checksum-algorithm", "SHA256".into()));
        headers.push(("x-amz-checksum-sha256", checksum(&bytes)));
        let answer = self
            .client
            .send(http::Method::PUT, &self.path(key), &headers, bytes)
            .await
            .map_err(|e| format!("S3 PutObject: {e}"))?;
        match answer.status.is_success() {
            true => Ok(()),
            false => Err(format!("S3 PutObject failed: {}", error_code(&answer))),
        }
    }

    /// Locks an object in compliance mode until `until` (RFC 3339): no one - the account's
    /// root included - deletes or overwrites that version before then. S3 lets a lock be
    /// lengthened, never shortened.
    pub async fn put_retention(&self, key: &str, until: &str) -> Result<(), String> {
        let body = Bytes::from(format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode>\
             <RetainUntilDate>{until}</RetainUntilDate></Retention>"
        ));
        let headers =
            [("x-amz-sdk-checksum-algorithm", "SHA256".to_owned()), ("x-amz-checksum-sha256", checksum(&body))];
        let path = format!("{}?retention", self.path(key));
        let answer = self
            .client
            .send(http::Method::PUT, &path, &headers, body)
            .await
            .map_err(|e| format!("S3 PutObjectRetention: {e}"))?;
        match answer.status.is_success() {
            true => Ok(()),
            false => Err(format!("S3 PutObjectRetention failed: {}", error_code(&answer))),
        }
    }

    /// Reads an object as it arrives, handing each piece to `each` (memory: a piece).
    pub async fn get_each(&self, key: &str, mut each: impl FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
        use http_body_util::BodyExt;
        let (status, _, mut body) = self
            .client
            .send_streaming(http::Method::GET, &self.path(key), &[])
            .await
            .map_err(|e| format!("S3 GetObject: {e}"))?;
        if !status.is_success() {
            return Err(format!("S3 GetObject failed ({})", status.as_u16()));
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("S3 GetObject: reading the object: {e}"))?;
            if let Some(data) = frame.data_ref() {
                each(data)?;
            }
        }
        Ok(())
    }

    /// An object's headers (`None`: no such key): its retention, storage class, size.
    pub async fn head(&self, key: &str) -> Result<Option<http::HeaderMap>, String> {
        let answer = self
            .client
            .send(http::Method::HEAD, &self.path(key), &[], Bytes::new())
            .await
            .map_err(|e| format!("S3 HeadObject: {e}"))?;
        match answer.status {
            status if status.is_success() => Ok(Some(answer.headers)),
            http::StatusCode::NOT_FOUND => Ok(None),
            status => Err(format!("S3 HeadObject failed ({})", status.as_u16())),
        }
    }

    /// Deletes an object; deleting one that is not there succeeds, as on S3.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        self.call(http::Method::DELETE, self.path(key), Bytes::new(), "DeleteObject").await.map(drop)
    }

    /// Creates the bucket if it is not there, with Object Lock when `locked` (the audit
    /// archive's): for moto, in tests and `scripts/dev` (on AWS the bucket is the stack's).
    pub async fn ensure_exists(&self, locked: bool) -> Result<(), String> {
        let headers: Vec<(&str, String)> =
            if locked { vec![("x-amz-bucket-object-lock-enabled", "true".into())] } else { Vec::new() };
        let answer = self
            .client
            .send(http::Method::PUT, &self.prefix, &headers, Bytes::new())
            .await
            .map_err(|e| format!("S3 CreateBucket: {e}"))?;
        let code = xml_element(&answer.body, "Code");
        match answer.status.is_success() || code.as_deref() == Some("BucketAlreadyOwnedByYou") {
            true => Ok(()),
            false => Err(format!("S3 CreateBucket failed: {}", error_code(&answer))),
        }
    }
}

/// A key in a path: every byte but S3's unreserved ones and `/` percent-encoded.
fn encode_key(key: &str) -> String {
    key.bytes().fold(String::new(), |mut out, b| {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
        out
    })
}

/// A query value: as a key, `/` included.
fn encode_query(value: &str) -> String {
    encode_key(value).replace('/', "%2F")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_query_values_are_encoded_as_s3_signs_them() {
        assert_eq!(encode_key("exports/0190/Patient-1.ndjson"), "exports/0190/Patient-1.ndjson");
        assert_eq!(encode_key("a b+c"), "a%20b%2Bc");
        assert_eq!(encode_query("x/y=z"), "x%2Fy%3Dz");
    }
}
