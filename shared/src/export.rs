//! Bulk export's moving parts that the FHIR function and the export worker share: where
//! the files go (`EXPORT_BUCKET`, through `crate::s3`), how big they get, and how a job
//! is handed to a worker (`Dispatch`).
//!
//! On AWS the FHIR function starts the `export` function with an asynchronous invoke
//! (`X-Amz-Invocation-Type: Event`): no queue to pay for while idle, and Lambda's own
//! event queue keeps and retries the invoke. The job row stays the truth either way: a
//! lost or failed invoke is started again by the next status poll that finds the job
//! without a live worker (functions/fhir/src/export.rs). Locally and in tests the same
//! worker runs in the server's process (`Exports::run_here`).

use std::sync::{Arc, OnceLock};

use hyper::body::Bytes;
use uuid::Uuid;

use crate::aws::Target;
use crate::config_error::ConfigError;
use crate::s3::Bucket;
use crate::signed::{AwsClient, error_code};

/// Bulk export's settings (docs/CONFIGURATION.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// `EXPORT_BUCKET`: where the files go. Unset: bulk export is off.
    pub bucket: String,
    /// `EXPORT_FUNCTION`: the Lambda that runs the worker. Unset: it runs in this process.
    pub function: Option<String>,
    /// `EXPORT_FILE_BYTES` (default 4 MiB): a file is closed past this size and the next
    /// one begun. A file is read back through a Lambda behind API Gateway's HTTP API,
    /// whose answer may not pass 6 MB (as base64: 4/3 of the file), and which cannot
    /// stream.
    pub file_bytes: usize,
    /// `EXPORT_PART_BYTES` (default 5 MiB, S3's least): what the worker holds before it
    /// uploads a part. Its memory is about one part, whatever the export's size.
    pub part_bytes: usize,
    /// `EXPORT_BATCH` (default 1000): rows per read of the database.
    pub batch: i64,
}

pub const MIB: usize = 1024 * 1024;

impl ExportConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let value = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        let Some(bucket) = value("EXPORT_BUCKET") else { return Ok(None) };
        let number =
            |key: &str, default: usize, least: usize| -> Result<usize, ConfigError> {
                match value(key) {
                    None => Ok(default),
                    Some(v) => v.trim().parse::<usize>().ok().filter(|n| *n >= least).ok_or_else(|| {
                        ConfigError(format!("{key} must be a whole number of at least {least}, got {v:?}"))
                    }),
                }
            };
        Ok(Some(Self {
            bucket,
            function: value("EXPORT_FUNCTION"),
            file_bytes: number("EXPORT_FILE_BYTES", 4 * MIB, 1024)?,
            part_bytes: number("EXPORT_PART_BYTES", 5 * MIB, 1024)?,
            batch: number("EXPORT_BATCH", 1000, 1)? as i64,
        }))
    }
}

/// The S3 key of a job's file number `seq`, as the worker holding `lease` writes it: a
/// worker that lost its lease never overwrites the file of the one that took over.
pub fn file_key(job: Uuid, lease: Uuid, seq: i32) -> String {
    format!("exports/{job}/{lease}/{seq}.ndjson")
}

/// Runs the worker for a job, in this process (it spawns and returns at once).
pub type Worker = Arc<dyn Fn(Uuid) + Send + Sync>;

/// How a job reaches a worker.
enum Dispatch {
    /// An asynchronous invoke of this function.
    Lambda { client: Box<AwsClient>, function: String },
    /// The worker `run_here` installed (none yet: jobs wait for a status poll after it is).
    Here(OnceLock<Worker>),
}

pub struct Exports {
    pub config: ExportConfig,
    pub bucket: Bucket,
    dispatch: Dispatch,
}

impl Exports {
    pub fn new(config: ExportConfig) -> Result<Self, ConfigError> {
        let bucket = Bucket::from_env(&config.bucket)?;
        let dispatch = match &config.function {
            Some(function) => Dispatch::Lambda {
                client: Box::new(AwsClient::new(Target::from_env("AWS_ENDPOINT_URL_LAMBDA")?, "lambda", "lambda")?),
                function: function.clone(),
            },
            None => Dispatch::Here(OnceLock::new()),
        };
        Ok(Self { config, bucket, dispatch })
    }

    /// Runs jobs in this process with `worker` (the local server, the tests). Ignored
    /// where jobs go to a Lambda, or a worker is installed already.
    pub fn run_here(&self, worker: Worker) {
        if let Dispatch::Here(slot) = &self.dispatch {
            let _ = slot.set(worker);
        }
    }

    /// Hands the job to a worker. An error leaves the job queued for the next poll.
    pub async fn start(&self, job: Uuid) -> Result<(), String> {
        match &self.dispatch {
            Dispatch::Here(slot) => match slot.get() {
                Some(worker) => {
                    worker(job);
                    Ok(())
                }
                None => Err("no export worker runs in this process".into()),
            },
            Dispatch::Lambda { client, function } => {
                let path = format!("/2015-03-31/functions/{}/invocations", encode_path_segment(function));
                let body = Bytes::from(serde_json::json!({ "export": job }).to_string());
                let headers = [("x-amz-invocation-type", "Event".to_owned())];
                let answer = client.send(http::Method::POST, &path, &headers, body).await?;
                match answer.status.as_u16() {
                    // 202: queued by Lambda. 200: an emulator that ran it there and then
                    // (cargo lambda's) - done either way.
                    200 | 202 => Ok(()),
                    _ => Err(format!("Lambda Invoke failed: {}", error_code(&answer))),
                }
            }
        }
    }
}

/// A function name or ARN as one path segment (an ARN's colons are kept, as the SDKs do).
fn encode_path_segment(text: &str) -> String {
    text.bytes().fold(String::new(), |mut out, b| {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Option<ExportConfig>, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ExportConfig::from_lookup(&|key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn export_is_off_without_a_bucket_and_sized_for_lambda_by_default() {
        assert_eq!(config(&[]).unwrap(), None);
        let on = config(&[("EXPORT_BUCKET", "exports")]).unwrap().unwrap();
        assert_eq!((on.file_bytes, on.part_bytes, on.batch, on.function), (4 * MIB, 5 * MIB, 1000, None));
        for bad in [("EXPORT_FILE_BYTES", "12"), ("EXPORT_PART_BYTES", "-1"), ("EXPORT_BATCH", "0")] {
            let err = config(&[("EXPORT_BUCKET", "exports"), bad]).unwrap_err();
            assert!(err.0.contains(bad.0), "{err}");
        }
    }

    #[test]
    fn keys_and_function_names_are_as_s3_and_lambda_expect() {
        let job = Uuid::nil();
        let nil = "00000000-0000-0000-0000-000000000000";
        assert_eq!(file_key(job, job, 3), format!("exports/{nil}/{nil}/3.ndjson"));
        assert_eq!(
            encode_path_segment("arn:aws:lambda:eu-west-1:1:function:x"),
            "arn:aws:lambda:eu-west-1:1:function:x"
        );
        assert_eq!(encode_path_segment("a b"), "a%20b");
    }
}
