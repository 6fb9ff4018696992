//! The real function binaries under cargo lambda's Runtime API emulator
//! (`cargo lambda watch --only-lambda-apis`), invoked with `cargo lambda invoke` and the
//! event files in `events/`. Needs `cargo lambda` on PATH and the binaries built, both of
//! which `scripts/test` sees to.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

/// A running emulator; killed with everything it started when dropped.
pub struct Emulator {
    port: u16,
    _watch: Child,
    functions: Vec<Child>,
}

/// Where cargo put the workspace's binaries (next to this test executable's `deps/`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run the tests through scripts/test, which builds it", path.display());
    path
}

pub fn event(file: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/").to_string() + file;
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect("event JSON")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Emulator {
    pub async fn start() -> Self {
        let port = free_port();
        let watch = Command::new("cargo")
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("cargo lambda is not on PATH: run the tests through scripts/test");
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Self { port, _watch: watch, functions: Vec::new() };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the cargo lambda emulator did not start on port {port}");
    }

    /// Where the emulator serves Lambda's invoke API (`AWS_ENDPOINT_URL_LAMBDA`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts a function binary polling this emulator under `name`, with `env` on top of
    /// the Lambda variables. Database and JWT variables not given are removed, so nothing
    /// leaks in from the test process.
    pub fn spawn(&mut self, binary_name: &str, name: &str, env: &[(&str, &str)]) -> &mut Child {
        let mut command = Command::new(binary(binary_name));
        for key in ["DATABASE_URL", "JWT_SECRET", "DATABASE_SECRET_ARN", "JWT_SECRET_ARN"] {
            command.env_remove(key);
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{}/.rt/{name}", self.port))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        self.functions.push(command.spawn().expect("starting a function binary"));
        self.functions.last_mut().expect("just pushed")
    }

    /// `cargo lambda invoke`; the function's answer, or the invoke's error output.
    pub async fn invoke(&self, name: &str, payload: &Value) -> Result<Value, String> {
        let output = Command::new("cargo")
            .args(["lambda", "invoke", name, "-A", "127.0.0.1", "-P", &self.port.to_string(), "-o", "json"])
            .args(["--data-ascii", &payload.to_string()])
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), output)
            .await
            .map_err(|_| format!("invoking {name} timed out"))?
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        serde_json::from_slice(&output.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
    }
}

/// An API Gateway response's status and parsed JSON body.
pub fn http_answer(response: &Value) -> (u16, Value) {
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let body = serde_json::from_str(response["body"].as_str().expect("body")).expect("JSON body");
    (status, body)
}
