"""The Lambda side of the benchmarks, shared by bench_measure.py and bench_cpu_share.py:
a minimal Lambda Runtime API (hands out events, times the first poll and each answer),
the environment a function binary gets on Lambda, API Gateway events, secrets in the
local Secrets Manager, and JSON requests to the local API (to set up what they read)."""
import http.server
import json
import os
import socket
import threading
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def create_secrets(endpoint, values, context=None):
    """Each value as a new secret in the Secrets Manager at `endpoint`; returns
    {variable: ARN} for the variables the functions read."""
    arns = {}
    for variable, value in values.items():
        body = json.dumps({"Name": f"bench/{variable}-{uuid.uuid4()}", "SecretString": value}).encode()
        req = urllib.request.Request(endpoint, data=body, method="POST", headers={
            "X-Amz-Target": "secretsmanager.CreateSecret", "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0"})
        with urllib.request.urlopen(req, context=context) as r:
            arns[variable] = json.loads(r.read())["ARN"]
    return arns


def request(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url)
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


class Runtime:
    """Hands out `events` one per poll, timing the first poll and each answer."""

    def __init__(self, events, hold_after=None):
        """With `hold_after`, the poll after that many answers waits for `release()`
        (and `held` is set), so a measurement can begin between two invocations."""
        self.events = list(events)
        self.first_poll = None
        self.served = []
        self.answered = []
        self.done = threading.Event()
        self.hold_after = hold_after
        self.held = threading.Event()
        self.go = threading.Event()
        runtime = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                # Headers and body go out as two writes: with Nagle on, the second waits
                # for the client's delayed ACK, adding ~40 ms to every event.
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                if runtime.first_poll is None:
                    runtime.first_poll = time.perf_counter()
                if runtime.hold_after is not None and len(runtime.answered) == runtime.hold_after and not runtime.go.is_set():
                    runtime.held.set()
                    runtime.go.wait()
                if not runtime.events:
                    runtime.done.set()
                    time.sleep(3600)  # park the runtime until it is killed
                    return
                body = json.dumps(runtime.events.pop(0)).encode()
                self.send_response(200)
                for k, v in {"Lambda-Runtime-Aws-Request-Id": str(uuid.uuid4()),
                             "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                             "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                             "Content-Type": "application/json", "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                runtime.served.append(time.perf_counter())
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = self.rfile.read(length)
                runtime.answered.append((time.perf_counter(), payload))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def release(self):
        self.go.set()

    def close(self):
        self.server.shutdown()


def lambda_env(runtime, extra):
    return {**os.environ, "AWS_LAMBDA_RUNTIME_API": runtime.address, "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "RUST_LOG": "warn", **extra}


def apigw(path, token=None, method="GET", body=None):
    with open(os.path.join(ROOT, "events", "health.json")) as f:
        event = json.load(f)
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    if token:
        event["headers"]["authorization"] = f"Bearer {token}"
    if body is not None:
        event["headers"]["content-type"] = "application/json"
        event["body"] = json.dumps(body)
    return event
