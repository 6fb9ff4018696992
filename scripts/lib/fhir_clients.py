"""The FHIR API as outside tools meet it: fhirpy (a FHIR client nobody here wrote)
creates, reads, searches with paging, updates and deletes Patients and reads
Practitioners, Organizations, and every FHIR resource the server sends back - including Bundles,
the CapabilityStatement and OperationOutcomes - is parsed with the R4B models of
fhir.resources, plus the FHIR JSON rules those models let through (no nulls, empty
strings, arrays or objects; codes from their value sets; nothing coerced).

    [FHIR_RESPONSES_DIR=DIR] python3 fhir_clients.py http://127.0.0.1:PORT

With FHIR_RESPONSES_DIR, each body is also saved there as it came, one file a response
named by its order, method, path and status (007-GET-Patient_<id>-200.json), for the R4
validators of fhir_validate.js. Exits non-zero, naming the check, on the first failure.
"""

import datetime
import itertools
import json
import os
import re
import sys
import urllib.parse
import uuid

import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitioner import Practitioner
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as OutcomeError
from fhirpy.base.exceptions import ResourceNotFound

import rest_calls
from rest_calls import rest

MODELS = {m.get_resource_type(): m for m in (Bundle, CapabilityStatement, OperationOutcome, Organization, Patient,
                                             Practitioner)}
# Required bindings the generated models carry only as metadata, or not at all.
ISSUE_TYPES = {
    "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown", "expired",
    "forbidden", "suppressed", "processing", "not-supported", "duplicate", "multiple-matches", "not-found",
    "deleted", "too-long", "code-invalid", "extension", "too-costly", "business-rule", "conflict", "transient",
    "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled", "informational",
}
# The models' metadata for CapabilityStatement.format is not a value set.
UNBOUND = {("CapabilityStatement", "format")}
validated = {"responses": 0}
RESPONSES_DIR = os.environ.get("FHIR_RESPONSES_DIR")
saved = itertools.count(1)


def fail(message):
    print(f"FHIR client check failed: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def json_rules(node, path, problems):
    if node is None:
        problems.append(f"{path}: null")
    elif isinstance(node, str) and not node.strip():
        problems.append(f"{path}: empty string")
    elif isinstance(node, list):
        if not node:
            problems.append(f"{path}: empty array")
        for i, item in enumerate(node):
            json_rules(item, f"{path}[{i}]", problems)
    elif isinstance(node, dict):
        if not node:
            problems.append(f"{path}: empty object")
        for key, value in node.items():
            json_rules(value, f"{path}.{key}", problems)


def codes(model, path, problems):
    cls = type(model)
    for name, field in cls.model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        alias = field.alias or name
        values = value if isinstance(value, list) else [value]
        allowed = (field.json_schema_extra or {}).get("enum_values")
        if allowed and (cls.__name__, alias) not in UNBOUND:
            problems += [f"{path}.{alias}: {v!r} not in {allowed}" for v in values if v not in allowed]
        if cls.__name__ == "OperationOutcomeIssue" and alias == "code" and value not in ISSUE_TYPES:
            problems.append(f"{path}.code: {value!r} is not an IssueType")
        for i, v in enumerate(values):
            if isinstance(v, FHIRAbstractModel):
                codes(v, f"{path}.{alias}[{i}]", problems)


def canonical(node):
    """Instants compared as instants (the models re-write fractions of a second)."""
    if isinstance(node, dict):
        return {k: canonical(v) for k, v in node.items()}
    if isinstance(node, list):
        return [canonical(v) for v in node]
    if isinstance(node, str) and len(node) > 19 and node[4] == "-" and node[10] == "T":
        try:
            return datetime.datetime.fromisoformat(node.replace("Z", "+00:00"))
        except ValueError:
            return node
    return node


def strict(data, where):
    """Parses one resource with its R4B model, strictly; returns the data."""
    kind = data.get("resourceType") if isinstance(data, dict) else None
    check(kind in MODELS, f"{where}: not a resource we expect: {str(data)[:200]}")
    problems = []
    json_rules(data, kind, problems)
    try:
        model = MODELS[kind].model_validate(data)
    except Exception as e:  # pydantic's ValidationError, or fhir_core's KeyError
        fail(f"{where}: fhir.resources refuses the {kind}: {e}")
    codes(model, kind, problems)
    if canonical(json.loads(model.model_dump_json())) != canonical(data):
        problems.append("the model's round trip differs (a value was coerced)")
    check(not problems, f"{where}: {kind}: " + "; ".join(problems))
    validated["responses"] += 1
    return data


def save(response):
    """Keeps the body as the server sent it, named by order, method, path and status."""
    url = urllib.parse.urlsplit(response.url)
    path = url.path.split("/api/fhir/", 1)[-1].replace("/", "_")
    where = f"{path}@{url.query.replace('&', '+')}" if url.query else path
    name = f"{next(saved):03d}-{response.request.method}-{re.sub(r'[^A-Za-z0-9._=+@-]', '_', where)[:150]}"
    with open(os.path.join(RESPONSES_DIR, f"{name}-{response.status_code}.json"), "wb") as f:
        f.write(response.content)


def every_response(response, *args, **kwargs):
    """A requests hook: each body the server sends is checked before the client sees it
    (and saved, with FHIR_RESPONSES_DIR, for the validators of fhir_validate.js)."""
    if response.content:
        if RESPONSES_DIR:
            save(response)
        check(response.headers.get("content-type", "").startswith("application/fhir+json"),
              f"{response.request.method} {response.url}: content type {response.headers.get('content-type')}")
        strict(response.json(), f"{response.request.method} {response.url} ({response.status_code})")
    else:
        check(response.status_code == 204, f"{response.request.method} {response.url}: empty {response.status_code}")


def sign_up(api, email):
    return rest_calls.sign_up(api, email, "fhir-client-password", "FHIR Client")


def main(api):
    base = f"{api}/api/fhir"
    hooks = {"hooks": {"response": [every_response]}, "timeout": 10}
    run = uuid.uuid4().hex[:8]
    token, other_token = sign_up(api, f"fhir-{run}@example.com"), sign_up(api, f"other-{run}@example.com")
    client = SyncFHIRClient(base, authorization=f"Bearer {token}", requests_config=hooks)
    other = SyncFHIRClient(base, authorization=f"Bearer {other_token}", requests_config=hooks)

    metadata = client.execute("metadata", method="get")
    check(metadata["fhirVersion"] == "4.0.1" and metadata["kind"] == "instance", "CapabilityStatement")

    created = []
    for i in range(5):
        patient = client.resource(
            "Patient",
            name=[{"given": ["Client"], "family": f"Patient{run}{i}"}],
            gender=["female", "male", "other", "unknown", "female"][i],
            birthDate=f"1990-01-0{i + 1}",
            telecom=[{"system": "phone", "value": f"+1 555 010{i}"}, {"system": "email", "value": f"p{i}@example.com"}],
            address=[{"text": f"{i} Example Street\nSpringfield"}],
        )
        patient.save()
        check(patient.id and patient["meta"]["versionId"] == "1", f"create {i}: {patient.serialize()}")
        check(patient["name"][0]["text"] == f"Client Patient{run}{i}", f"create {i}: name {patient['name']}")
        created.append(patient)

    doctor = rest(api, token, "POST", "/api/doctors",
                  {"name": f"Dr Fhir {run}", "specialization": "Cardiology", "license_number": f"L-{run}"})
    rest(api, token, "POST", "/api/mappings", {"patient_id": created[0].id, "doctor_id": doctor["id"]})

    read = client.reference("Patient", created[0].id).to_resource()
    # (fhirpy turns references into objects of its own; serialize() gives the JSON back.)
    doctors = read.serialize()["generalPractitioner"]
    check(doctors == [{"reference": f"Practitioner/{doctor['id']}"}], f"read: {read.serialize()}")
    check(read["gender"] == "female" and read["birthDate"] == "1990-01-01", f"read: {read.serialize()}")

    found = client.resources("Patient").search(name=f"patient{run}").limit(2).fetch_all()
    check(sorted(p.id for p in found) == sorted(p.id for p in created), f"search with paging: {len(found)} found")
    check([p.id for p in found] == [p.id for p in reversed(created)], "search: newest first")
    first_page = client.resources("Patient").search(name=f"patient{run}").limit(2).fetch_raw()
    check(len(first_page["entry"]) == 2 and any(l["relation"] == "next" for l in first_page["link"]), "a next link")
    by_birthdate = client.resources("Patient").search(birthdate="1990-01-03").fetch_all()
    check([p.id for p in by_birthdate] == [created[2].id], "search by birthdate")
    by_gender = client.resources("Patient").search(name=f"patient{run}", gender="female").fetch_all()
    check(sorted(p.id for p in by_gender) == sorted([created[0].id, created[4].id]), "search by gender")
    check(other.resources("Patient").search(name=f"patient{run}").fetch_all() == [], "another user's search")

    # Read-modify-write as fhirpy does it: the whole resource, meta and doctors included.
    read["name"] = [{"text": f"Renamed Patient{run}"}]
    read.save()
    check(read["meta"]["versionId"] == "2" and read["name"][0]["text"] == f"Renamed Patient{run}", "update")
    check(read.serialize()["generalPractitioner"] == doctors, "update keeps the doctors")

    # vread: the version the update replaced, and the current one (Location resolves).
    auth = {"Authorization": f"Bearer {token}"}
    for version, name in (("1", f"Client Patient{run}0"), ("2", f"Renamed Patient{run}")):
        old = requests.get(f"{base}/Patient/{read.id}/_history/{version}", headers=auth, timeout=10,
                           hooks=hooks["hooks"])
        check(old.status_code == 200 and old.json()["meta"]["versionId"] == version
              and old.json()["name"][0]["text"] == name, f"vread {version}: {old.status_code} {old.text}")

    # History: a Bundle of type history, newest first, paged like searches.
    history = client.execute(f"Patient/{read.id}/_history", method="get", params={"_count": 1})
    check(history["type"] == "history" and [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2"]
          and history["entry"][0]["request"]["method"] == "PUT", f"history: {history}")
    older = requests.get(next(l["url"] for l in history["link"] if l["relation"] == "next"), headers=auth,
                         timeout=10, hooks=hooks["hooks"]).json()
    check([e["response"]["status"] for e in older["entry"]] == ["201 Created"], f"history's next page: {older}")

    # Identifiers: searched by system|value, and conditional create answers the match.
    mrn = {"system": "urn:oid:2.16.840.1.113883.19.5", "value": f"MRN-{run}"}
    fed = client.resource("Patient", name=[{"text": f"Fed Patient{run}"}], birthDate="1970-07-07", identifier=[mrn])
    fed.save()
    by_mrn = client.resources("Patient").search(identifier=f"{mrn['system']}|{mrn['value']}").fetch_all()
    check([p.id for p in by_mrn] == [fed.id], "search by identifier")
    conditional = {**auth, "Content-Type": "application/fhir+json",
                   "If-None-Exist": f"identifier={mrn['system']}|{mrn['value']}"}
    again = requests.post(f"{base}/Patient", json=fed.serialize(), headers=conditional, timeout=10,
                          hooks=hooks["hooks"])
    check(again.status_code == 200 and again.json()["id"] == fed.id, f"conditional create: {again.status_code}")
    duplicate = requests.post(f"{base}/Patient", json=fed.serialize(), timeout=10, hooks=hooks["hooks"],
                              headers={**auth, "Content-Type": "application/fhir+json"})
    check(duplicate.status_code == 409, f"a duplicate identifier: {duplicate.status_code}")
    outcome = requests.post(f"{base}/Patient", timeout=10, hooks=hooks["hooks"],
                            json={"resourceType": "Patient", "name": [{"text": f"Outcome{run}"}],
                                  "birthDate": "1971-01-01"},
                            headers={**auth, "Content-Type": "application/fhir+json",
                                     "Prefer": "return=OperationOutcome"})
    check(outcome.status_code == 201 and outcome.json()["issue"][0]["severity"] == "information",
          f"Prefer: return=OperationOutcome: {outcome.text}")

    # _include brings the matches' doctors; _summary=count only counts.
    included = client.execute("Patient", method="get",
                              params={"_id": created[0].id, "_include": "Patient:general-practitioner"})
    check([e["search"]["mode"] for e in included["entry"]] == ["match", "include"]
          and included["entry"][1]["resource"]["id"] == doctor["id"], f"_include: {included}")
    counted = requests.get(f"{base}/Patient", headers=auth, timeout=10, hooks=hooks["hooks"],
                           params={"family": f"patient{run}", "birthdate": ["ge1990-01-01", "le1990-01-05"],
                                   "_summary": "count"}).json()
    check(counted.get("total") == 5 and "entry" not in counted, f"_summary=count: {counted}")
    dated = client.resources("Patient").search(birthdate__ge="1990-01-02", birthdate__lt="1990-01-04",
                                               family=f"patient{run}").fetch_all()
    check(sorted(p.id for p in dated) == sorted([created[1].id, created[2].id]), "birthdate range and family")

    stale = requests.put(f"{base}/Patient/{read.id}", json=read.serialize(), timeout=10,
                         headers={"Authorization": f"Bearer {token}", "If-Match": 'W/"1"',
                                  "Content-Type": "application/fhir+json"}, hooks=hooks["hooks"])
    check(stale.status_code == 412 and stale.json()["issue"][0]["code"] == "conflict", f"stale: {stale.text}")

    try:
        client.resource("Patient", name=[{"text": "Strict"}], birthDate="1990", active=True).save()
        fail("an element we cannot store was accepted")
    except OutcomeError as e:
        expressions = [i.get("expression", [""])[0] for i in e.resource["issue"]]
        check(expressions == ["Patient.active"], f"refusal names the element: {e.resource}")

    try:
        other.reference("Patient", created[1].id).to_resource()
        fail("another user read a patient")
    except ResourceNotFound:
        pass

    created[1].delete()
    try:
        client.reference("Patient", created[1].id).to_resource()
        fail("a deleted patient was read")
    except ResourceNotFound:
        pass

    practitioners = client.resources("Practitioner").search(name=f"fhir {run}").fetch_all()
    check([p.id for p in practitioners] == [doctor["id"]], "Practitioner search")
    practitioner = client.reference("Practitioner", doctor["id"]).to_resource()
    check(practitioner["identifier"][0]["value"] == f"L-{run}", f"Practitioner: {practitioner.serialize()}")
    check(practitioner["qualification"][0]["code"]["text"] == "Cardiology", "Practitioner qualification")

    # An organization's patient: managingOrganization, and the Organization itself.
    org = rest(api, token, "POST", "/api/orgs", {"name": f"Clinic {run}"})
    shared = client.resource("Patient", name=[{"text": f"Clinic Patient{run}"}], birthDate="1985-05-05",
                             managingOrganization={"reference": f"Organization/{org['id']}"})
    shared.save()
    check(shared.serialize()["managingOrganization"] == {"reference": f"Organization/{org['id']}"},
          f"managingOrganization: {shared.serialize()}")
    shared["name"] = [{"text": f"Clinic Patient{run} Renamed"}]
    shared.save()
    check(shared["meta"]["versionId"] == "2", "an organization's patient updates with its reference sent back")
    # A restricted chart carries the R confidentiality label; sending it back changes nothing.
    rest(api, token, "PUT", f"/api/patients/{shared.id}", {"restricted": True})
    labelled = client.reference("Patient", shared.id).to_resource()
    check(labelled["meta"].get("security") == [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
        f"meta.security on a restricted patient: {labelled.serialize()}")
    labelled.save()
    check(rest(api, token, "GET", f"/api/patients/{shared.id}")["restricted"] is True, "still restricted after a PUT")
    organization = client.reference("Organization", org["id"]).to_resource()
    check(organization["name"] == f"Clinic {run}" and organization["active"] is True, f"Organization: {organization}")
    mine = client.resources("Organization").fetch_all()
    check([o.id for o in mine] == [org["id"]], "Organization search: the caller's")
    check(other.resources("Organization").fetch_all() == [], "another user's organizations")
    try:
        other.reference("Organization", org["id"]).to_resource()
        fail("a non-member read an organization")
    except ResourceNotFound:
        pass

    print(f"fhirpy: every interaction as expected; fhir.resources (R4B) accepted all "
          f"{validated['responses']} resources the server sent")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
