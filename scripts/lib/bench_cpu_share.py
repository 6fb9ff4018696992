"""The functions as Lambda runs them: at the CPU share Lambda gives each memory size
(MB / 1769 of one core), through the cgroup CPU controller, with the cold path users
meet - secrets over HTTPS, PostgreSQL over TLS with certificate checks and SCRAM.
Run by scripts/bench after bench_measure.py; adds its figures to the same JSON file.

    BENCH_PG_BASE      superuser URL of the PostgreSQL cluster (TCP, SCRAM), no database
    BENCH_PG_BIN       PostgreSQL's bin directory
    BENCH_PG_CA        the CA that signed the cluster's and the TLS emulator's certificates
    BENCH_TLS_ENDPOINT the Secrets Manager emulator behind TLS (https://localhost:port)
    BENCH_MB, BENCH_STARTS  optional: the memory sizes ("128 256 512 1024 1769") and
                       cold starts per size (21), for a quicker look

What this models: the CPU time a cold start and an invocation take, and the wall time
they take when a scheduler quota allows only the share of a core Lambda allocates.
What it cannot: Lambda's init phase (reported to run with more CPU than the share), the
network distance to Secrets Manager and Neon (here everything is on loopback, so wall
times are CPU plus throttling), Firecracker's own overhead, and arm64 (this is x86_64).
"""
import json
import os
import statistics
import subprocess
import sys
import time

from bench_lambda import Runtime, apigw, create_secrets, free_port, lambda_env, request, wait_for

SIZES = [int(mb) for mb in os.environ.get("BENCH_MB", "128 256 512 1024 1769").split()]
PERIOD_US = 100_000  # the CFS default; Lambda does not publish its own period
STARTS = int(os.environ.get("BENCH_STARTS", "21"))
WARM = 200
LOGINS = 15
TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
PG = os.environ["BENCH_PG_BASE"]
CA = os.environ["BENCH_PG_CA"]
JWT = "benchmark-secret-of-at-least-32-bytes!!"


class Cgroup:
    """One cgroup with a CPU quota and its own usage counter (v1 or v2)."""

    def __init__(self, name, mb):
        self.v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        quota = int(PERIOD_US * mb / 1769)
        if self.v2:
            self.cpu = self.acct = f"/sys/fs/cgroup/{name}"
            os.makedirs(self.cpu, exist_ok=True)
            write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu", ignore=True)
            write(f"{self.cpu}/cpu.max", f"{quota} {PERIOD_US}")
        else:
            self.cpu = f"/sys/fs/cgroup/cpu/{name}"
            self.acct = f"/sys/fs/cgroup/cpuacct/{name}" if os.path.isdir("/sys/fs/cgroup/cpuacct") else self.cpu
            for d in {self.cpu, self.acct}:
                os.makedirs(d, exist_ok=True)
            write(f"{self.cpu}/cpu.cfs_period_us", str(PERIOD_US))
            write(f"{self.cpu}/cpu.cfs_quota_us", str(quota))

    def launcher(self, binary):
        """The command that runs `binary` inside this cgroup from its first instruction:
        a shell joins and execs it (~1 ms, counted). Python's preexec_fn would do the
        same from a forked copy of this process, which added ~20 ms to every start."""
        joins = "; ".join(f'echo $$ > "{d}/cgroup.procs"' for d in sorted({self.cpu, self.acct}))
        return ["/bin/sh", "-c", f'{joins}; exec "$0"', binary]

    def cpu_ms(self):
        if self.v2:
            stat = open(f"{self.acct}/cpu.stat").read()
            return int(stat.split("usage_usec")[1].split()[0]) / 1000
        return int(open(f"{self.acct}/cpuacct.usage").read()) / 1e6

    def remove(self):
        for d in {self.cpu, self.acct}:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.01)


def write(path, value, ignore=False):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        if not ignore:
            raise


def start(binary, mb, env_extra, events, hold_after=None):
    """One cold start of `binary` under the share of `mb`; serves `events`. Returns
    (runtime, process, cgroup) with the process parked after its last event (or held
    after `hold_after` answers)."""
    group = Cgroup(f"healthcare-bench-{mb}-{os.getpid()}-{time.monotonic_ns()}", mb)
    runtime = Runtime(events, hold_after=hold_after)
    env = lambda_env(runtime, {**env_extra, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(mb)})
    started = time.perf_counter()
    proc = subprocess.Popen(group.launcher(binary), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runtime.started = started
    return runtime, proc, group


def stop(runtime, proc, group):
    proc.kill()
    proc.wait()
    runtime.close()
    group.remove()


def cold(binary, mb, env_extra, event):
    """(init ms, first invocation ms, CPU ms at the first answer) of one cold start."""
    runtime, proc, group = start(binary, mb, env_extra, [event])
    if not runtime.done.wait(60):
        stop(runtime, proc, group)
        raise SystemExit(f"{binary} at {mb} MB did not answer")
    cpu = group.cpu_ms()
    (answered, body), = runtime.answered
    stop(runtime, proc, group)
    if b'"statusCode":200' not in body and b'"warmup":"done"' not in body:
        raise SystemExit(f"{binary} at {mb} MB answered {body[:200]!r}")
    return (runtime.first_poll - runtime.started) * 1000, (answered - runtime.served[0]) * 1000, cpu


def warm(binary, mb, env_extra, event, n):
    """After a cold start, `n` invocations: (wall ms of each, CPU ms per invocation)."""
    runtime, proc, group = start(binary, mb, env_extra, [event] * (n + 1), hold_after=1)
    runtime.held.wait(60)
    time.sleep(0.2)  # let the cold start's last work (the answer's flush) finish
    before = group.cpu_ms()
    runtime.release()
    runtime.done.wait(120)
    after = group.cpu_ms()
    walls = [(a[0] - s) * 1000 for s, a in zip(runtime.served[1:], runtime.answered[1:])]
    ok = sum(1 for _, body in runtime.answered[1:] if b'"statusCode":200' in body)
    stop(runtime, proc, group)
    if ok != n:
        raise SystemExit(f"{binary} at {mb} MB: {ok} of {n} warm invocations answered 200")
    return walls, (after - before) / n


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def prepare():
    """A database of its own with one user and one patient; returns (patient, token,
    login body). The token is minted now, so it is fresh for the whole run."""
    psql_bin = os.path.join(os.environ["BENCH_PG_BIN"], "psql")
    subprocess.run([psql_bin, f"{PG}/postgres", "-qc", "CREATE DATABASE cpu_share"], check=True, capture_output=True)
    env = {**os.environ, "DATABASE_URL": f"{PG}/cpu_share?sslmode=disable", "JWT_SECRET": JWT, "RUST_LOG": "warn"}
    subprocess.run([os.path.join(TARGET, "release", "ops"), "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    api = subprocess.Popen([os.path.join(TARGET, "release", "local-api")], env={**env, "PORT": str(port)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/api/health")
        creds = {"email": "cpu@example.com", "password": "cpu-share-password"}
        _, registered = request(base, "POST", "/api/auth/register", {"name": "CPU", **creds})
        token = registered["data"]["access_token"]
        _, created = request(base, "POST", "/api/patients", {"name": "Share", "date_of_birth": "1980-01-01"}, token)
        patient = created["data"]["id"]
        return patient, token, creds
    finally:
        api.terminate()
        api.wait()


def measure(results):
    patient, token, login_body = prepare()
    lambda_dir = os.path.join(TARGET, "lambda-x86_64")
    patients, auth = os.path.join(lambda_dir, "patients", "bootstrap"), os.path.join(lambda_dir, "auth", "bootstrap")
    plain_db = f"{PG}/cpu_share?sslmode=disable"
    tls_db = PG.replace("@127.0.0.1:", "@localhost:") + "/cpu_share?sslmode=require"
    tls_endpoint = os.environ["BENCH_TLS_ENDPOINT"]
    import ssl
    arns = create_secrets(tls_endpoint, {"DATABASE_SECRET_ARN": json.dumps({"url": tls_db}), "JWT_SECRET_ARN": JWT},
                          context=ssl.create_default_context(cafile=CA))
    plain = {"DATABASE_URL": plain_db, "JWT_SECRET": JWT}
    full = {**arns, "AWS_ENDPOINT_URL": tls_endpoint, "AWS_CA_BUNDLE": CA, "DATABASE_CA_FILE": CA}
    get = apigw(f"/api/patients/{patient}", token)
    login = apigw("/api/auth/login", None, "POST", login_body)
    out = {"period_us": PERIOD_US, "starts": STARTS, "warm": WARM, "sizes": {}}
    for mb in SIZES:
        base = [cold(patients, mb, plain, {"warmup": True}) for _ in range(STARTS)]
        tls = [cold(patients, mb, full, get) for _ in range(STARTS)]
        walls, cpu_per = warm(patients, mb, full, get, WARM)
        logins, _ = warm(auth, mb, plain, login, LOGINS)
        med = lambda rows, i: statistics.median(r[i] for r in rows)
        out["sizes"][str(mb)] = {
            "base": {"init": med(base, 0), "first": med(base, 1), "cpu": med(base, 2)},
            "tls": {"init": med(tls, 0), "first": med(tls, 1), "cpu": med(tls, 2),
                    "total": statistics.median(r[0] + r[1] for r in tls)},
            "get": {"p50": percentile(walls, 50), "p99": percentile(walls, 99), "cpu": cpu_per},
            "login": {"p50": percentile(logins, 50)},
        }
        print(f"    {mb:>5} MB: cold CPU {out['sizes'][str(mb)]['base']['cpu']:.1f} ms (env, TCP), "
              f"{out['sizes'][str(mb)]['tls']['cpu']:.1f} ms (HTTPS secrets, TLS+SCRAM); "
              f"GET p50 {percentile(walls, 50):.2f} ms, CPU {cpu_per * 1000:.0f} us; login p50 {percentile(logins, 50):.0f} ms", flush=True)
    results["cpu_share"] = out


def main():
    path = sys.argv[1]
    results = json.load(open(path))
    measure(results)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
