"""The functions through SAM's own emulator, as `scripts/sam-local check` runs them.

    python3 scripts/lib/sam_local_check.py WORKDIR SAM_ARGS...

SAM_ARGS are what every `sam local` command gets (template, --env-vars, image). First
`sam local invoke`, a fresh container each time: every HTTP function answers the warmup,
an EventBridge scheduled event and an API Gateway request from events/; the operator
migrates and maintains; the export worker takes an invoke for a job it does not find. Then `sam local start-api`: register, create a patient, read it,
an unknown path and a wrong method, each answered in the envelope. Every step is bounded
in time; the first failure stops the check with what SAM printed.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVOKE_SECONDS = 180
WARMED = {"warmup": "done", "database": "ok"}

# Per HTTP function: an API Gateway event and the status our code answers it with
# (without a token, a protected route is 401 in the envelope: the function answered).
REQUESTS = {
    "AuthFunction": ("auth-register.json", 201),
    "PatientsFunction": ("patients-list.json", 401),
    "DoctorsFunction": ("doctors-list.json", 401),
    "MappingsFunction": ("mappings-list.json", 401),
    "AdminFunction": ("admin-users.json", 401),
    "FhirFunction": ("fhir-metadata.json", 200),
}


def fail(message, output=""):
    print(f"sam-local check: {message}", file=sys.stderr)
    if output:
        print(output[-4000:], file=sys.stderr)
    sys.exit(1)


def invoke(sam_args, function, event):
    """The function's answer to one event, through `sam local invoke`."""
    started = time.monotonic()
    try:
        done = subprocess.run(["sam", "local", "invoke", function, "-e", os.path.join(ROOT, "events", event), *sam_args],
                              capture_output=True, text=True, timeout=INVOKE_SECONDS, cwd=ROOT)
    except subprocess.TimeoutExpired:
        fail(f"{function} did not answer {event} within {INVOKE_SECONDS} s")
    # SAM prints the function's answer as the last line of stdout; its own and the
    # function's logs go to stderr.
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        fail(f"{function} gave no JSON answer to {event} (exit {done.returncode})", done.stdout + done.stderr)
    print(f"    {function:<17} {event:<22} {time.monotonic() - started:5.1f} s")
    return answer, done.stderr


def check_invokes(sam_args):
    for function, (event, status) in REQUESTS.items():
        for warmup in ("warmup.json", "scheduled.json"):
            answer, log = invoke(sam_args, function, warmup)
            if answer != WARMED:
                fail(f"{function} answered {warmup} with {answer}", log)
        answer, log = invoke(sam_args, function, event)
        body = json.loads(answer.get("body") or "null")
        if answer.get("statusCode") != status:
            fail(f"{function} answered {event} with {answer.get('statusCode')}, not {status}: {body}", log)
        expected = "CapabilityStatement" if function == "FhirFunction" else None
        if expected and body.get("resourceType") != expected or not expected and "status" not in body:
            fail(f"{function} answered {event} outside its format: {body}", log)
        if "REPORT RequestId" not in log:
            fail(f"no REPORT line from AWS's emulator for {function}", log)
    operator_events = (("operator-migrate.json", "migrations:"), ("operator-maintain.json", "audit partitions"),
                       ("operator-deliver-mail.json", "mail:"))
    for event, words in operator_events:
        answer, log = invoke(sam_args, "OperatorFunction", event)
        if not answer.get("ok") or words not in answer.get("message", ""):
            fail(f"OperatorFunction answered {event} with {answer}", log)
    # The export worker starts (its database and bucket configured) and finds no such job.
    answer, log = invoke(sam_args, "ExportFunction", "export-unknown-job.json")
    if answer.get("ended") != "NotClaimed":
        fail(f"ExportFunction answered export-unknown-job.json with {answer}", log)


def request(base, method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=INVOKE_SECONDS) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def expect(answer, status, envelope, what, log_path):
    code, body = answer
    if code != status or not isinstance(body, dict) or body.get("status") != envelope:
        with open(log_path) as log:
            fail(f"start-api: {what} answered {code} {body}, not {status} {envelope}; SAM's log:", log.read())
    print(f"    start-api {what:<34} {code} {envelope}")
    return body


def check_start_api(work, sam_args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(work, "start-api.log"), "w")
    server = subprocess.Popen(["sam", "local", "start-api", "--host", "127.0.0.1", "--port", str(port), *sam_args],
                              stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    fail("sam local start-api did not start", open(log.name).read())
                time.sleep(0.5)
        user = {"name": "Walk Through", "email": "walk@example.com", "password": "correct horse battery"}
        token = expect(request(base, "POST", "/api/auth/register", user), 201, "created", "register", log.name)["data"]["access_token"]
        patient = {"name": "Grace Hopper", "date_of_birth": "1906-12-09"}
        created = expect(request(base, "POST", "/api/patients", patient, token), 201, "created", "create a patient", log.name)
        read = expect(request(base, "GET", f"/api/patients/{created['data']['id']}", None, token), 200, "success",
                      "read it back", log.name)
        if read["data"]["name"] != patient["name"]:
            fail(f"start-api: read back {read['data']}")
        expect(request(base, "GET", "/api/nothing-here"), 404, "not_found", "an unknown path ($default)", log.name)
        expect(request(base, "PATCH", "/api/patients", {}, token), 405, "invalid", "a wrong method", log.name)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main():
    work, sam_args = sys.argv[1], sys.argv[2:]
    started = time.monotonic()
    print("==> sam local invoke: every function, a fresh container each time")
    check_invokes(sam_args)
    print(f"    {time.monotonic() - started:.0f} s")
    started = time.monotonic()
    print("==> sam local start-api: a short walk through the API")
    check_start_api(work, sam_args)
    print(f"    {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
