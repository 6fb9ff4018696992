//! One S3 bucket, through the few calls bulk export needs: a multipart upload (create,
//! upload a part, complete, abort), a read and a delete of one object, and - for local
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

/// A part uploaded: its number and the ETag S3 gave it, which completing names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    pub etag: String,
}

impl Bucket {
    /// `name` in the region and endpoint of the environment (`AWS_ENDPOINT_URL_S3`,
    /// else `AWS_ENDPOINT_URL`).
    pub fn from_env(name: &str) -> Result<Self, ConfigError> {
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(ConfigError(format!("EXPORT_BUCKET {name:?} is not an S3 bucket name")));
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

    /// Starts a multipart upload of `key`; answers its upload id.
    pub async fn create_upload(&self, key: &str, content_type: &str) -> Result<String, String> {
        let path = format!("{}?uploads", self.path(key));
        let headers = [("content-type", content_type.to_owned())];
        let answer = self
            .client
            .send(http::Method::POST, &path, &headers, Bytes::new())
            .await
            .map_err(|e| format!("S3 CreateMultipartUpload: {e}"))?;
        if !answer.status.is_success() {
            return Err(format!("S3 CreateMultipartUpload failed: {}", error_code(&answer)));
        }
        xml_element(&answer.body, "UploadId").ok_or_else(|| "S3 CreateMultipartUpload answered no UploadId".into())
    }

    /// Uploads part `number` (from 1) of an upload. Every part but the last must be at
    /// least 5 MiB on S3.
    pub async fn upload_part(&self, key: &str, upload: &str, number: u32, bytes: Bytes) -> Result<Part, String> {
        let path = format!("{}?partNumber={number}&uploadId={}", self.path(key), encode_query(upload));
        let answer = self.call(http::Method::PUT, path, bytes, "UploadPart").await?;
        let etag = answer.headers.get(http::header::ETAG).and_then(|v| v.to_str().ok());
        let etag = etag.ok_or("S3 UploadPart answered no ETag")?.to_owned();
        Ok(Part { number, etag })
    }

    /// Completes an upload from its parts, in order: the object appears whole, or not.
    pub async fn complete_upload(&self, key: &str, upload: &str, parts: &[Part]) -> Result<(), String> {
        let mut body = String::from("<CompleteMultipartUpload>");
        for part in parts {
            let etag = part.etag.replace('&', "&amp;").replace('"', "&quot;");
            body += &format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>", part.number);
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

    /// Deletes an object; deleting one that is not there succeeds, as on S3.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        self.call(http::Method::DELETE, self.path(key), Bytes::new(), "DeleteObject").await.map(drop)
    }

    /// Creates the bucket if it is not there: for moto, in tests and `scripts/dev` (on
    /// AWS the bucket is the stack's).
    pub async fn ensure_exists(&self) -> Result<(), String> {
        let answer = self
            .client
            .send(http::Method::PUT, &self.prefix, &[], Bytes::new())
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
