"""SMART on FHIR as OAuth clients nobody here wrote meet it (API.md Part 4):

- authlib's OAuth2Session does a standalone launch - authorization code with PKCE S256 -
  through our authorize page (sign-in, consent, the patient picker, driven as a browser
  would post them), then refreshes, and reuses an old refresh token;
- PyJWT's PyJWKClient verifies the ID token with the key it fetches from our jwks_uri;
- authlib's private_key_jwt does Backend Services (client_credentials) with an RS384 key
  given inline and an ES384 key served from a jwks_uri of the client's own, then
  introspects and revokes.

    python3 smart_clients.py http://127.0.0.1:PORT

Exits non-zero, naming the check, on the first failure.
"""

import html.parser
import http.server
import json
import sys
import threading
import time
import uuid

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from joserfc.jwk import ECKey, RSAKey

import rest_calls
from rest_calls import rest

REDIRECT = "http://localhost:5555/callback"
PASSWORD = "smart-client-password"


def fail(message):
    print(f"SMART client check failed: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


class FiveMinuteAssertion(PrivateKeyJWT):
    """authlib's private_key_jwt with a 4-minute `exp` and a fresh `jti` per request:
    authlib signs `exp = now + 3600` by default, and Backend Services (like our token
    endpoint) refuses an assertion that lives over 5 minutes."""

    def sign(self, auth, token_endpoint):
        key = auth.client_secret
        now = int(time.time())
        return private_key_jwt_sign(key, client_id=auth.client_id, token_endpoint=token_endpoint,
                                    claims={"exp": now + 240, "jti": generate_token(36)},
                                    header=self.headers, alg=self.alg, issued_at=now)


class Forms(html.parser.HTMLParser):
    """The page's one form: its action and every named input (hidden or not)."""

    def __init__(self):
        super().__init__()
        self.action, self.inputs = None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        elif tag in ("input", "button") and attrs.get("name"):
            self.inputs.setdefault(attrs["name"], []).append(attrs.get("value"))


def form_of(response, step):
    check(response.status_code == 200, f"{step}: {response.status_code} {response.text[:300]}")
    check(response.headers.get("content-type", "").startswith("text/html"), f"{step}: not HTML")
    forms = Forms()
    forms.feed(response.text)
    check(forms.action == "/api/auth/oauth/authorize", f"{step}: form action {forms.action}")
    return forms.inputs


def post_step(browser, api, step, fields):
    return browser.post(f"{api}/api/auth/oauth/authorize", data=fields, allow_redirects=False, timeout=10)


def sign_up(api, email):
    return rest_calls.sign_up(api, email, PASSWORD, "SMART Client")


def standalone_launch(api, fhir, config, org, email, patient, bystander):
    app = rest(api, config["owner"], "POST", f"/api/orgs/{org}/apps", {
        "name": "authlib chart viewer", "redirect_uris": [REDIRECT],
        "scopes": "openid fhirUser launch/patient offline_access patient/Patient.rs",
    })
    scope = "openid launch/patient offline_access patient/Patient.rs"
    session = OAuth2Session(app["client_id"], redirect_uri=REDIRECT, scope=scope, code_challenge_method="S256",
                            token_endpoint_auth_method="none")
    verifier = generate_token(64)
    url, state = session.create_authorization_url(config["authorization_endpoint"], code_verifier=verifier,
                                                  aud=fhir)
    browser = requests.Session()
    sign_in = form_of(browser.get(url, timeout=10), "the sign-in page")
    check({"email", "password", "csrf_token"} <= sign_in.keys(), f"sign-in fields: {sorted(sign_in)}")
    consent = form_of(post_step(browser, api, "sign-in", {
        "csrf_token": sign_in["csrf_token"][0], "email": email, "password": PASSWORD,
    }), "the consent page")
    check(consent.get("decision") == ["approve", "deny"], f"consent buttons: {consent}")
    picker = form_of(post_step(browser, api, "consent", {
        "csrf_token": consent["csrf_token"][0], "decision": "approve",
    }), "the patient picker")
    check({patient, bystander} <= set(picker.get("patient", [])), f"the picker lists both: {picker}")
    redirected = post_step(browser, api, "picker", {"csrf_token": picker["csrf_token"][0], "patient": patient})
    check(redirected.status_code in (302, 303), f"picker: {redirected.status_code} {redirected.text[:300]}")
    location = redirected.headers["location"]
    check(location.startswith(REDIRECT + "?"), f"redirected to {location}")

    token = session.fetch_token(config["token_endpoint"], authorization_response=location, code_verifier=verifier,
                                state=state)
    check(token.get("patient") == patient, f"the launch patient: {token}")
    check(set(token["scope"].split()) == set(scope.split()), f"granted scope: {token['scope']}")
    check(token.get("refresh_token") and token.get("id_token"), f"refresh and ID tokens: {sorted(token)}")

    signing_key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token["id_token"])
    claims = jwt.decode(token["id_token"], signing_key.key, algorithms=["RS256"], audience=app["client_id"],
                        issuer=fhir)
    check(claims.get("sub"), f"ID token claims: {claims}")

    read = session.get(f"{fhir}/Patient/{patient}", timeout=10)
    check(read.status_code == 200 and read.json()["id"] == patient, f"read: {read.status_code} {read.text}")
    other = session.get(f"{fhir}/Patient/{bystander}", timeout=10)
    check(other.status_code == 404, f"another patient under a launch: {other.status_code}")
    listed = session.get(f"{fhir}/Patient", timeout=10).json()
    check([e["resource"]["id"] for e in listed.get("entry", [])] == [patient], f"search: {listed}")
    off_fhir = session.get(f"{api}/api/patients/{patient}", timeout=10)
    check(off_fhir.status_code == 401, f"a SMART token off FHIR: {off_fhir.status_code}")

    old_refresh = token["refresh_token"]
    renewed = session.refresh_token(config["token_endpoint"])
    check(renewed["refresh_token"] != old_refresh, "refresh rotates the refresh token")
    check(session.get(f"{fhir}/Patient/{patient}", timeout=10).status_code == 200, "read after refresh")
    reused = requests.post(config["token_endpoint"], timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": app["client_id"],
    })
    check(reused.status_code == 400 and reused.json()["error"] == "invalid_grant", f"reuse: {reused.text}")
    ended = session.get(f"{fhir}/Patient/{patient}", timeout=10)
    check(ended.status_code == 401, f"reuse ends the grant: {ended.status_code}")


class JwksServer(http.server.BaseHTTPRequestHandler):
    """A client's own jwks_uri: serves the public JWK Set it is given."""
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def serve_jwks(jwks):
    handler = type("Handler", (JwksServer,), {"body": json.dumps(jwks).encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


def backend_services(api, fhir, config, org, patients):
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rs-1", "alg": "RS384"})
    inline = rest(api, config["owner"], "POST", f"/api/orgs/{org}/apps", {
        "name": "authlib pipeline (inline JWKS)", "backend": True, "confidential": True, "scopes": "system/Patient.rs",
        "jwks": {"keys": [rsa.as_dict(private=False)]},
    })
    ec = ECKey.generate_key("P-384", parameters={"kid": "ec-1", "alg": "ES384"})
    by_uri = rest(api, config["owner"], "POST", f"/api/orgs/{org}/apps", {
        "name": "authlib pipeline (jwks_uri)", "backend": True, "confidential": True, "scopes": "system/Patient.rs",
        "jwks_uri": serve_jwks({"keys": [ec.as_dict(private=False)]}),
    })

    hour_long = OAuth2Session(inline["client_id"], rsa, scope="system/Patient.rs",
                              token_endpoint_auth_method=PrivateKeyJWT(alg="RS384", headers={"kid": "rs-1"}))
    try:
        hour_long.fetch_token(config["token_endpoint"], grant_type="client_credentials")
        fail("authlib's default hour-long assertion was accepted")
    except OAuthError as refused:
        check(refused.error == "invalid_client", f"authlib's default hour-long assertion: {refused}")

    for app, key, alg, kid in ((inline, rsa, "RS384", "rs-1"), (by_uri, ec, "ES384", "ec-1")):
        method = FiveMinuteAssertion(alg=alg, headers={"kid": kid})
        session = OAuth2Session(app["client_id"], key, scope="system/Patient.rs", token_endpoint_auth_method=method,
                                revocation_endpoint_auth_method=method)
        token = session.fetch_token(config["token_endpoint"], grant_type="client_credentials")
        check(token["token_type"].lower() == "bearer" and token["scope"] == "system/Patient.rs", f"{alg}: {token}")
        check("refresh_token" not in token, f"{alg}: no refresh token for client_credentials")
        found = session.get(f"{fhir}/Patient", params={"_count": 50}, timeout=10).json()
        check(sorted(e["resource"]["id"] for e in found.get("entry", [])) == sorted(patients),
              f"{alg}: the organization's patients: {found}")

        introspected = session.introspect_token(config["introspection_endpoint"], token=token["access_token"]).json()
        check(introspected.get("active") is True and introspected.get("client_id") == app["client_id"],
              f"{alg}: introspection: {introspected}")
        revoked = session.revoke_token(config["revocation_endpoint"], token=token["access_token"])
        check(revoked.status_code == 200, f"{alg}: revoke: {revoked.status_code} {revoked.text}")
        after = session.get(f"{fhir}/Patient", timeout=10)
        check(after.status_code == 401, f"{alg}: a revoked token: {after.status_code}")
        introspected = session.introspect_token(config["introspection_endpoint"], token=token["access_token"]).json()
        check(introspected == {"active": False}, f"{alg}: introspection after revocation: {introspected}")


def main(api):
    fhir = f"{api}/api/fhir"
    run = uuid.uuid4().hex[:8]
    email = f"smart-{run}@example.com"
    owner = sign_up(api, email)
    config = requests.get(f"{fhir}/.well-known/smart-configuration", timeout=10).json()
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "introspection_endpoint",
                     "revocation_endpoint"):
        check(config.get(endpoint, "").startswith(api + "/"), f"discovery's {endpoint}: {config}")
    config["owner"] = owner
    org = rest(api, owner, "POST", "/api/orgs", {"name": f"SMART Clinic {run}"})["id"]
    patients = [
        rest(api, owner, "POST", "/api/patients",
             {"name": f"Smart Patient {i}", "date_of_birth": "1980-02-0" + str(i + 1), "organization_id": org})["id"]
        for i in range(2)
    ]
    standalone_launch(api, fhir, config, org, email, patients[0], patients[1])
    backend_services(api, fhir, config, org, patients)
    print("SMART clients: authlib code flow with PKCE, refresh and reuse; PyJWKClient on the ID token; "
          "Backend Services RS384 (inline JWKS) and ES384 (jwks_uri), introspection, revocation: ok")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
