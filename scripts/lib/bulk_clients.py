"""Bulk export as the SMART team's client does it, as `scripts/lib/bulk_clients.sh` runs it.

    python3 bulk_clients.py http://127.0.0.1:PORT SMART_FETCH KEEP_DIR

Sets up a clinic (an owner, patients of the clinic with identifiers and a doctor, one
personal patient that is no part of it) and a backend app of the clinic with an RS384
key, then runs `smart-fetch bulk` (SMART Backend Services: smart-configuration, a
signed assertion, the token; kick-off of Group/{clinic}/$export, polls, the files, the
DELETE). Then checks what it saved: every line a Patient of the clinic, each once, none
other, each parsed strictly by fhir.resources (R4B), and each kept as a file in
KEEP_DIR/resources/ for the R4 validators. Exits non-zero, naming the check, on the
first failure.
"""

import glob
import gzip
import json
import os
import subprocess
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from fhir_clients import check, fail, strict
from rest_calls import rest, sign_up

PATIENTS = 40
MRN = "urn:oid:2.16.840.1.113883.19.5"


def backend_key(directory):
    """An RS384 key: its public JWKS (for the registration) and smart-fetch's key file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = "bulk-1"
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    private.update({"kid": kid, "alg": "RS384", "key_ops": ["sign"]})
    public.update({"kid": kid, "alg": "RS384", "use": "sig"})
    path = os.path.join(directory, "backend-key.jwks")
    with open(path, "w") as f:
        json.dump({"keys": [private]}, f)
    os.chmod(path, 0o600)
    return {"keys": [public]}, path


def main(api, smart_fetch, keep):
    owner = sign_up(api, "bulk-owner@example.com", "bulk export owner password", "Bulk Owner")
    clinic = rest(api, owner, "POST", "/api/orgs", {"name": "Bulk Clinic"})["id"]
    expected = set()
    for n in range(PATIENTS):
        body = {"name": f"Patient Number{n}", "date_of_birth": "1960-01-01", "gender": ["female", "male"][n % 2],
                "organization_id": clinic, "notes": "never exported"}
        if n % 3 == 0:
            body["identifiers"] = [{"system": MRN, "value": f"MRN-{n}"}]
        expected.add(rest(api, owner, "POST", "/api/patients", body)["id"])
    doctor = rest(api, owner, "POST", "/api/doctors", {"name": "Dr Bulk", "specialization": "Cardiology"})["id"]
    rest(api, owner, "POST", "/api/mappings", {"patient_id": sorted(expected)[0], "doctor_id": doctor})
    personal = rest(api, owner, "POST", "/api/patients", {"name": "Not Of The Clinic", "date_of_birth": "1970-01-01"})

    jwks, key_file = backend_key(keep)
    app = rest(api, owner, "POST", f"/api/orgs/{clinic}/apps",
               {"name": "Warehouse", "confidential": True, "backend": True, "jwks": jwks,
                "scopes": "system/Patient.rs system/Practitioner.rs"})
    client_id = app["client_id"]

    out = os.path.join(keep, "smart-fetch")
    command = [smart_fetch, "bulk", out, "--fhir-url", f"{api}/api/fhir", "--group", clinic, "--type", "patient",
               "--smart-client-id", client_id, "--smart-key", key_file]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    seconds = time.monotonic() - started
    with open(os.path.join(keep, "smart-fetch.log"), "w") as log:
        log.write(done.stdout + done.stderr)
    check(done.returncode == 0, f"smart-fetch exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    check("Done" in done.stdout, f"smart-fetch did not say it was done:\n{done.stdout[-2000:]}")
    with open(os.path.join(out, ".metadata")) as f:
        metadata = json.load(f)
    check(metadata.get("complete") is True and "bulk-status" not in metadata,
          f"smart-fetch's .metadata says the export is not complete: {metadata}")

    files = sorted(glob.glob(os.path.join(out, "Patient.*.ndjson.gz")))
    check(len(files) >= 2, f"8 KiB files: a clinic of {PATIENTS} comes in several, not {files}")
    check(not glob.glob(os.path.join(out, "error", "*")), "smart-fetch saved error files")
    resources = os.path.join(keep, "resources")
    os.makedirs(resources, exist_ok=True)
    seen = []
    for path in files:
        with gzip.open(path, "rt") as f:
            for number, line in enumerate(f, 1):
                where = f"{os.path.basename(path)} line {number}"
                patient = strict(json.loads(line), where)
                check(patient["resourceType"] == "Patient", f"{where}: {patient['resourceType']}")
                check("never exported" not in line, f"{where}: notes were exported")
                seen.append(patient["id"])
                with open(os.path.join(resources, f"{len(seen):03d}-Patient_{patient['id']}.json"), "w") as out_file:
                    out_file.write(line)
    check(len(seen) == len(set(seen)), "a patient was exported twice")
    check(set(seen) == expected, f"exported {len(seen)}, expected the clinic's {len(expected)}")
    check(personal["id"] not in seen, "a patient of no clinic was exported")

    # smart-fetch sends DELETE on the status URL once it has the files, and says so when
    # that is not answered 202.
    check("Failed to clean up" not in done.stdout + done.stderr, "the export's DELETE was not answered 202")
    print(f"smart-fetch exported {len(seen)} patients in {len(files)} files in {seconds:.1f} s; "
          f"{len(seen)} lines parsed by fhir.resources and kept for the R4 validators")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail("usage: bulk_clients.py API SMART_FETCH KEEP_DIR")
    main(*sys.argv[1:])
