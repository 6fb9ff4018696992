"""The measurements behind docs/BENCHMARKS.md; run by scripts/bench, which provides the
database, the Secrets Manager emulator, the release binaries and the environment below.
Writes every figure to the JSON file named by its one argument; bench_report.py turns
that into docs/BENCHMARKS.md.

    BENCH_PG_BASE    superuser URL of the PostgreSQL cluster, without a database
    BENCH_PG_BIN     PostgreSQL's bin directory (psql, pgbench)
    BENCH_WORK       a scratch directory
    BENCH_FUNCTIONS  the HTTP Lambda functions, space-separated (lambda_functions --http)
    BENCH_SIZES      JSON {arch: {function: bytes}} of the release bootstraps
    BENCH_ARGON2_MS  one argon2id verification, in ms
    BENCH_SECONDS    seconds per load-test cell (5)

Everything runs on this machine over loopback, with bounded request counts and times.
"""
import base64
import hashlib
import hmac
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

from bench_lambda import Runtime, apigw, create_secrets, free_port, lambda_env, request, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PG = os.environ["BENCH_PG_BASE"]  # superuser URL without a database
PG_BIN = os.environ["BENCH_PG_BIN"]
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
JWT = "benchmark-secret-of-at-least-32-bytes!!"
DATA_KEY = base64.b64encode(b"benchmark-data-key-of-32-bytes!!").decode()
FUNCTIONS = os.environ["BENCH_FUNCTIONS"].split()
results = {}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def psql(db, sql):
    return run([os.path.join(PG_BIN, "psql"), f"{PG}/{db}", "-qAtc", sql]).strip()


# --- the warm API --------------------------------------------------------------------

def wrk(url, concurrency, script):
    threads = min(2, concurrency)
    out = run(["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{SECONDS}s", "--latency", "-s", script, url])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(non2xx.group(1)) if non2xx else 0}


def lua(path, method, token=None, body=None):
    lines = [f'wrk.method = "{method}"', 'wrk.headers["content-type"] = "application/json"']
    if token:
        lines.append(f'wrk.headers["authorization"] = "Bearer {token}"')
    if body is not None:
        lines.append(f"wrk.body = [[{json.dumps(body)}]]")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def pgbench(db, concurrency, *args):
    out = run([os.path.join(PG_BIN, "pgbench"), "-n", "-c", str(concurrency), "-j", str(min(2, concurrency)),
               "-T", str(SECONDS), "-M", "extended", *args, f"{PG}/{db}"])
    return float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))


def warm_api(work):
    psql("postgres", "CREATE DATABASE bench")
    env = {**os.environ, "DATABASE_URL": f"{PG}/bench?sslmode=disable"}
    run([os.path.join(TARGET, "release", "ops"), "migrate"], env=env)
    psql("bench", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    port = free_port()
    api = subprocess.Popen([os.path.join(TARGET, "release", "local-api")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**env, "JWT_SECRET": JWT, "PORT": str(port), "DB_POOL_SIZE": "32", "RUST_LOG": "warn",
                                "DATA_KEY": DATA_KEY, "MAIL_DIR": os.path.join(work, "mail")})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/api/health")
        creds = {"email": "bench@example.com", "password": "benchmark-password"}
        _, reg = request(base, "POST", "/api/auth/register", {"name": "Bench", **creds})
        token = reg["data"]["access_token"]
        for i in range(50):
            _, p = request(base, "POST", "/api/patients", {"name": f"Patient {i}", "date_of_birth": "1980-01-01"}, token)
        patient = p["data"]["id"]
        owner = p["data"]["owner_id"]
        clinician = large_clinic(base)
        mrn, doctor, versioned = fhir_search_data(base, clinician)
        glass_patient = emergency_grant(base, clinician)
        # A patient read 200 times before the cells run: its access log is a page of 20
        # of its 200 events, in a trail the cells fill with other patients' reads (one
        # patient's share of the trail, as in a clinic; a patient who is most of the
        # trail makes the planner walk the month's primary key instead, see
        # docs/BENCHMARKS.md).
        _, logged = request(base, "POST", "/api/patients", {"name": "Logged", "date_of_birth": "1980-01-01"}, token)
        logged = logged["data"]["id"]
        for _ in range(200):
            request(base, "GET", f"/api/patients/{logged}", None, token)

        scenarios = {
            "GET /api/patients/{id}": (f"{base}/api/patients/{patient}", lua(f"{work}/get.lua", "GET", token)),
            "GET /api/patients (20)": (f"{base}/api/patients", lua(f"{work}/list.lua", "GET", token)),
            "POST /api/patients": (f"{base}/api/patients", lua(f"{work}/create.lua", "POST", token, {"name": "Load", "date_of_birth": "1990-05-05"})),
            "POST /api/auth/login": (f"{base}/api/auth/login", lua(f"{work}/login.lua", "POST", None, creds)),
            # A clinician's list in an organization of 10,000 patients, with 100 organizations
            # and 100,000 patients in the table: the access piece walks the organization's
            # index under the keyset (docs/DEVELOPMENT.md, "Access: one composed piece").
            "GET /api/patients (clinician, org of 10,000)": (f"{base}/api/patients", lua(f"{work}/clinic.lua", "GET", clinician)),
            # A restricted chart of that organization read under a live emergency grant:
            # the reach adds the grant probe, the audit event names the grant.
            "GET /api/patients/{id} (under an emergency grant)": (
                f"{base}/api/patients/{glass_patient}", lua(f"{work}/glass.lua", "GET", clinician)),
            # A page (20) of a patient's access log: the newest events about it, with
            # their actors' names.
            "GET /api/patients/{id}/access-log": (
                f"{base}/api/patients/{logged}/access-log", lua(f"{work}/access-log.lua", "GET", token)),
            # The same patient as FHIR: the read plus its doctors, typed serialisation.
            "GET /api/fhir/Patient/{id}": (f"{base}/api/fhir/Patient/{patient}", lua(f"{work}/fhir-get.lua", "GET", token)),
            # FHIR searches as the clinician of the organization of 10,000, every patient
            # with an MRN. By identifier and by doctor, the reach is probed per candidate;
            # by a name part, a birth-date range and _summary=count, the whole reach is walked
            # (filters its sources cannot see); _include adds the page's doctors.
            "FHIR Patient?identifier=system|MRN (clinic of 10,000)": (
                f"{base}/api/fhir/Patient?identifier=urn:bench:mrn%7C{mrn}", lua(f"{work}/fhir-mrn.lua", "GET", clinician)),
            "FHIR Patient?general-practitioner (clinic of 10,000)": (
                f"{base}/api/fhir/Patient?general-practitioner=Practitioner/{doctor}", lua(f"{work}/fhir-gp.lua", "GET", clinician)),
            "FHIR Patient?given=...&birthdate=ge... (clinic of 10,000)": (
                f"{base}/api/fhir/Patient?given=patient&birthdate=ge1979", lua(f"{work}/fhir-given.lua", "GET", clinician)),
            "FHIR Patient?_summary=count (clinic of 10,000)": (
                f"{base}/api/fhir/Patient?_summary=count", lua(f"{work}/fhir-count.lua", "GET", clinician)),
            "FHIR Patient?_include=Patient:general-practitioner (clinic of 10,000)": (
                f"{base}/api/fhir/Patient?_include=Patient:general-practitioner", lua(f"{work}/fhir-include.lua", "GET", clinician)),
            # A patient's history of 10 versions, one page.
            "FHIR Patient/{id}/_history (10 versions)": (
                f"{base}/api/fhir/Patient/{versioned}/_history", lua(f"{work}/fhir-history.lua", "GET", clinician)),
        }
        # By request, then by concurrency ("1", "32", "128": JSON's keys are strings).
        warm = {}
        for name, (url, script) in scenarios.items():
            for c in (1, 32, 128):
                warm.setdefault(name, {})[str(c)] = wrk(url, c, script)
        results["warm"] = warm

        # The same SQL one GET-by-id runs (read + audit insert, one statement), through
        # pgbench with the same protocol (unnamed extended-protocol statements) and clients.
        with open(f"{work}/get.sql", "w") as f:
            f.write(patient_read_sql(patient, owner, session_of(token)))
        psql("postgres", "CREATE DATABASE pgbench_ceiling")
        run([os.path.join(PG_BIN, "pgbench"), "-i", "-q", "-s", "10", f"{PG}/pgbench_ceiling"])
        results["pgbench_same_sql"] = pgbench("bench", 32, "-f", f"{work}/get.sql")
        results["pgbench_select_only"] = pgbench("pgbench_ceiling", 32, "-S")
        results["versions_write"] = versions_write(work, patient, owner, session_of(token))

        # Statements per request, counted by Postgres.
        trips = {}
        kinds = {
            "register": lambda i: request(base, "POST", "/api/auth/register", {"name": "R", "email": f"r{i}@example.com", "password": "benchmark-password"}),
            "login": lambda i: request(base, "POST", "/api/auth/login", creds),
            "create patient": lambda i: request(base, "POST", "/api/patients", {"name": "T", "date_of_birth": "1990-01-01"}, token),
            "get patient": lambda i: request(base, "GET", f"/api/patients/{patient}", None, token),
            "list patients": lambda i: request(base, "GET", "/api/patients", None, token),
            "update patient": lambda i: request(base, "PUT", f"/api/patients/{patient}", {"notes": f"n{i}"}, token),
            "list doctors": lambda i: request(base, "GET", "/api/doctors", None, token),
            "me": lambda i: request(base, "GET", "/api/auth/me", None, token),
            "fhir read patient": lambda i: request(base, "GET", f"/api/fhir/Patient/{patient}", None, token),
            "fhir search patients": lambda i: request(base, "GET", "/api/fhir/Patient?_count=20", None, token),
        }
        for kind, call in kinds.items():
            psql("bench", "SELECT pg_stat_statements_reset()")
            for i in range(20):
                call(i)
            calls = int(psql("bench", "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = "
                                       "(SELECT oid FROM pg_database WHERE datname = 'bench') AND query NOT LIKE '%pg_stat_statements%'"))
            trips[kind] = calls / 20
        results["round_trips"] = trips
        results["mfa_login"] = mfa_logins(base)
    finally:
        api.terminate()
        api.wait()


def large_clinic(base):
    """A clinician (their token) in the largest of 100 organizations: 10,000 of its
    100,000 patients, each organization with its own owner who created its patients."""
    _, reg = request(base, "POST", "/api/auth/register",
                     {"name": "Clinician", "email": "clinician@example.com", "password": "benchmark-password"})
    run([os.path.join(PG_BIN, "psql"), f"{PG}/bench", "-qX", "-v", "ON_ERROR_STOP=1", "-f",
         os.path.join(os.path.dirname(os.path.abspath(__file__)), "large_clinic.sql")])
    return reg["data"]["access_token"]


def fhir_search_data(base, clinician):
    """Every patient of the benchmark gets an MRN (the trigger indexes them); one of the
    clinic's patients gets a doctor and 10 versions. The MRN of one of the clinic's
    patients, the doctor, and the versioned patient."""
    psql("bench", "UPDATE patients SET identifiers = jsonb_build_array(jsonb_build_object("
                  "'system', 'urn:bench:mrn', 'value', 'MRN-' || substr(id::text, 25)))")
    psql("bench", "ANALYZE")
    _, page = request(base, "GET", "/api/patients?limit=2", None, clinician)
    first, second = (item for item in page["data"]["items"])
    _, doctor = request(base, "POST", "/api/doctors", {"name": "Dr Bench", "specialization": "GP"}, clinician)
    status, _ = request(base, "POST", "/api/mappings", {"patient_id": first["id"], "doctor_id": doctor["data"]["id"]},
                        clinician)
    assert status == 201, f"the mapping was not made: {status}"
    for i in range(9):
        request(base, "PUT", f"/api/patients/{second['id']}", {"phone": f"+1 555 010{i}"}, clinician)
    return first["identifiers"][0]["value"], doctor["data"]["id"], second["id"]


def versions_write(work, patient, owner, session):
    """The composed statement of PUT /api/patients/{id} (a notes change), through pgbench
    at 1 and 8 clients, with the version-keeping trigger (migrations/0012) on and off in
    three interleaved rounds: what keeping versions costs an update. tx/s, by state."""
    values = {"id": patient, "actor": owner, "session": session, "idle_minutes": "60",
              "audit_action": "patient.update", "audit_resource_type": "patient", "audit_resource": patient,
              "request_id": "pgbench", "source_ip": "127.0.0.1", "notes_sent": "true", "notes": "pgbench notes",
              "phone_sent": "false", "email_sent": "false", "address_sent": "false", "organization_sent": "false"}
    with open(f"{work}/update.sql", "w") as f:
        f.write(composed_sql("functions/patients/src/sql/update.sql", values))
    figures = {}
    for _ in range(3):
        for state in ("on", "off"):
            psql("bench", f"ALTER TABLE patients {'ENABLE' if state == 'on' else 'DISABLE'} TRIGGER patients_keep_version")
            for c in (1, 8):
                figures.setdefault(state, {}).setdefault(str(c), []).append(pgbench("bench", c, "-f", f"{work}/update.sql"))
    psql("bench", "ALTER TABLE patients ENABLE TRIGGER patients_keep_version")
    return {state: {c: statistics.median(runs) for c, runs in by_c.items()} for state, by_c in figures.items()}


def emergency_grant(base, clinician):
    """One of the large organization's patients, restricted, with a live 4-hour grant
    the clinician opened: its id."""
    _, page = request(base, "GET", "/api/patients?limit=1", None, clinician)
    patient = page["data"]["items"][0]["id"]
    psql("bench", f"UPDATE patients SET restricted = true, notes = 'restricted history' WHERE id = '{patient}'")
    status, _ = request(base, "POST", f"/api/patients/{patient}/emergency-access",
                        {"reason": "Benchmark: unconscious in the ER", "minutes": 240,
                         "password": "benchmark-password"}, clinician)
    assert status == 201, f"the emergency grant was not opened: {status}"
    return patient


def session_of(token):
    """The session an access token names (its `sid` claim)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def totp(secret_b32, step):
    """RFC 6238 with SHA-1 and 6 digits, for the MFA login cell."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def mfa_logins(base, users=20):
    """Sign-in time with MFA on: the password step plus the code step, once for each of
    `users` accounts (a TOTP code is accepted once per 30-second step, so one account
    cannot sign in repeatedly), next to the same accounts' password step alone."""
    both, password_only = [], []
    for i in range(users):
        creds = {"email": f"mfa{i}@example.com", "password": "benchmark-password"}
        _, reg = request(base, "POST", "/api/auth/register", {"name": "M", **creds})
        token = reg["data"]["access_token"]
        _, started = request(base, "POST", "/api/auth/mfa/totp", {}, token)
        secret = started["data"]["secret"]
        step = int(time.time()) // 30
        request(base, "POST", "/api/auth/mfa/totp/confirm", {"code": totp(secret, step)}, token)
        began = time.perf_counter()
        _, challenge = request(base, "POST", "/api/auth/login", creds)
        middle = time.perf_counter()
        status, _ = request(base, "POST", "/api/auth/mfa/verify",
                            {"mfa_token": challenge["data"]["mfa_token"], "code": totp(secret, step + 1)})
        done = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"MFA login answered {status}")
        both.append((done - began) * 1000)
        password_only.append((middle - began) * 1000)
    return {"p50": statistics.median(both), "password_step_p50": statistics.median(password_only), "users": users}


def composed_sql(template, values):
    """The statement a template runs, as the code composes it (tests/examples/statement.rs
    prints it), with `values` inlined for pgbench (a name not given is NULL)."""
    out = run(["cargo", "run", "--quiet", "--locked", "-p", "api-tests", "--example", "statement", "--", template])
    statement = json.loads(out)
    # pgbench gets it on one line, so comment lines go.
    sql = "\n".join(line for line in statement["sql"].splitlines() if not line.lstrip().startswith("--"))
    # Highest position first, so $1 does not match the start of $10.
    for n in range(len(statement["names"]), 0, -1):
        name, pg_type = statement["names"][n - 1], statement["types"][n - 1]
        value = "NULL" if values.get(name) is None else f"'{values[name]}'"
        sql = sql.replace(f"${n}", f"{value}::{pg_type}")
    return sql.replace("\n", " ") + ";\n"


def patient_read_sql(patient, owner, session):
    """The statement GET /api/patients/{id} runs, for `owner` reading `patient`, with its
    values inlined for pgbench. A first-party token: no SMART app limits the reach."""
    return composed_sql("functions/patients/src/sql/read.sql", {
        "id": patient, "actor": owner, "sees_all": "false", "edits_all": "false",
        "session": session, "idle_minutes": "60", "touch_session": "true",
        "audit_action": "patient.read", "audit_resource_type": "patient", "audit_resource": patient,
        "request_id": "pgbench", "source_ip": "127.0.0.1"})


def secrets():
    """Two secrets in the emulator; the binaries read both at every cold start."""
    return create_secrets(os.environ["AWS_ENDPOINT_URL"], {"DATABASE_SECRET_ARN": json.dumps({"url": f"{PG}/bench?sslmode=disable"}),
                                                           "JWT_SECRET_ARN": JWT})


def start_once(binary, extra):
    """One cold start: (process start -> first poll, first event -> answer) in ms."""
    # The first event opens the database connection: a warmup does, and answers.
    runtime = Runtime([{"warmup": True}])
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=lambda_env(runtime, extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runtime.done.wait(30)
    proc.kill()
    proc.wait()
    runtime.close()
    return (runtime.first_poll - started) * 1000, (runtime.answered[0][0] - runtime.served[0]) * 1000


def cold_starts(arch_dir, starts=21):
    with_secrets = secrets()
    plain = {"DATABASE_URL": f"{PG}/bench?sslmode=disable", "JWT_SECRET": JWT}
    out = {}
    for name in FUNCTIONS:
        binary = os.path.join(arch_dir, name, "bootstrap")
        runs = [start_once(binary, with_secrets) for _ in range(starts)]
        env_only = [start_once(binary, plain)[0] for _ in range(starts)]
        out[name] = {"init": statistics.median(r[0] for r in runs), "first": statistics.median(r[1] for r in runs),
                     "init_env": statistics.median(env_only)}
    results["cold"] = out


def memory(arch_dir, token, patient):
    """RSS of a function serving the same read 1,000 times: the REST read and the FHIR one."""
    reads = {"patients": "/api/patients/{id}", "fhir": "/api/fhir/Patient/{id}"}
    results["memory"] = {name: {"path": path, **memory_of(os.path.join(arch_dir, name, "bootstrap"), path.replace("{id}", patient), token)}
                         for name, path in reads.items()}


def memory_of(binary, path, token):
    runtime = Runtime([apigw(path, token) for _ in range(1000)])
    env = lambda_env(runtime, {"DATABASE_URL": f"{PG}/bench?sslmode=disable", "JWT_SECRET": JWT})
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss_at = {}
    while not runtime.done.is_set():
        n = len(runtime.answered)
        if n >= 100 and 100 not in rss_at:
            rss_at[100] = rss_kib(proc.pid)
        time.sleep(0.005)
    rss_at[1000] = rss_kib(proc.pid)
    ok = sum(1 for _, body in runtime.answered if b'"statusCode":200' in body)
    proc.kill()
    proc.wait()
    runtime.close()
    return {"after_100": rss_at[100], "after_1000": rss_at[1000], "ok": ok}


def rss_kib(pid):
    status = open(f"/proc/{pid}/status").read()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) for k in ("VmRSS", "VmHWM")}


# --- the run --------------------------------------------------------------------------

def machine():
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    mem = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1)) // 1024 // 1024
    return f"{os.cpu_count()} cores ({cpu.group(1) if cpu else platform.machine()}), {mem} GiB, Linux {platform.release()}"


def main():
    out = sys.argv[1]
    work = os.environ["BENCH_WORK"]
    results["functions"] = FUNCTIONS
    results["seconds"] = SECONDS
    results["sizes"] = json.loads(os.environ["BENCH_SIZES"])
    results["argon2_ms"] = float(os.environ["BENCH_ARGON2_MS"])
    warm_api(work)
    x86_dir = os.path.join(TARGET, "lambda-x86_64")
    cold_starts(x86_dir)
    # a token and a patient for the memory run
    _, login = request_login()
    memory(x86_dir, login["token"], login["patient"])
    results["login_burst"] = login_burst_memory(work)
    results["measured_at"] = datetime.now(timezone.utc).isoformat()
    results["machine"] = machine()
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")


def login_burst_memory(work):
    """Peak RSS (VmHWM) of a fresh local server under a burst of 32, then 256, concurrent
    logins (wrk, SECONDS each), with the logins/s and answers other than 200. Each argon2
    hash holds 19 MiB; hashing on one thread per core keeps the peak at a few of those."""
    port = free_port()
    api = subprocess.Popen([os.path.join(TARGET, "release", "local-api")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "DATABASE_URL": f"{PG}/bench?sslmode=disable", "JWT_SECRET": JWT,
                                "PORT": str(port), "DB_POOL_SIZE": "32", "RUST_LOG": "warn"})
    base = f"http://127.0.0.1:{port}"
    creds = {"email": "bench@example.com", "password": "benchmark-password"}
    try:
        wait_for(base + "/api/health")
        burst = {"idle_kib": rss_kib(api.pid)["VmHWM"]}
        script = lua(f"{work}/login-burst.lua", "POST", None, creds)
        for c in (32, 256):
            cell = wrk(f"{base}/api/auth/login", c, script)
            burst[str(c)] = {"rps": cell["rps"], "non2xx": cell["non2xx"], "peak_kib": rss_kib(api.pid)["VmHWM"]}
        return burst
    finally:
        api.terminate()
        api.wait()


def request_login():
    port = free_port()
    api = subprocess.Popen([os.path.join(TARGET, "release", "local-api")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "DATABASE_URL": f"{PG}/bench?sslmode=disable", "JWT_SECRET": JWT, "PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/api/health")
        _, login = request(base, "POST", "/api/auth/login", {"email": "bench@example.com", "password": "benchmark-password"})
        token = login["data"]["access_token"]
        _, page = request(base, "GET", "/api/patients?limit=1", None, token)
        return 200, {"token": token, "patient": page["data"]["items"][0]["id"]}
    finally:
        api.terminate()
        api.wait()


if __name__ == "__main__":
    main()
