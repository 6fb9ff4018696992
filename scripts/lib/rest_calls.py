"""The REST calls the outside-client checks (fhir_clients.py, smart_clients.py) make to
set up what they then drive: an account, and the JSON envelope's `data` of a request.
A failed call ends the check, naming the request."""

import sys

import requests


def rest(api, token, method, path, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(method, f"{api}{path}", json=body, timeout=10, headers=headers)
    if response.status_code >= 300:
        sys.exit(f"set-up call failed: {method} {path}: {response.status_code} {response.text}")
    return response.json()["data"]


def sign_up(api, email, password, name):
    """Registers an account; its access token."""
    body = {"name": name, "email": email, "password": password}
    return rest(api, None, "POST", "/api/auth/register", body)["access_token"]
