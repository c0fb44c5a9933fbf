"""Exchange a Bridgehead service-account key file for an access token, as Python's google-auth
(google.oauth2.service_account.Credentials.refresh) and Go's golang.org/x/oauth2/google do it,
with the standard library only: the RS256 signature comes from the openssl command line.

usage: sa_token_exchange.py KEY_FILE API_BASE RESOURCE_PATH
Prints one JSON object: the token response and the API's answer to GET RESOURCE_PATH with it.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_rs256(private_key_pem, data):
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(private_key_pem)
        return subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", path], input=data, capture_output=True, check=True
        ).stdout
    finally:
        os.unlink(path)


def assertion(info):
    # google-auth: header {"alg","typ","kid"}; claims iat, exp, iss, aud = token_uri, scope; no sub.
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": info["private_key_id"]}
    claims = {"iat": now, "exp": now + 3600, "iss": info["client_email"], "aud": info["token_uri"], "scope": SCOPE}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(sign_rs256(info["private_key"], signing_input.encode("ascii")))


def call(request):
    try:
        with urllib.request.urlopen(request, timeout=10) as res:
            return res.status, json.loads(res.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")


def main():
    key_file, api, resource = sys.argv[1:4]
    with open(key_file) as f:
        info = json.load(f)
    body = urllib.parse.urlencode({"grant_type": GRANT, "assertion": assertion(info)}).encode()
    token_status, token = call(
        urllib.request.Request(
            info["token_uri"], data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST"
        )
    )
    out = {"token_status": token_status, "token": token}
    if token_status == 200:
        headers = {"Authorization": "Bearer " + token["access_token"]}
        out["api_status"], out["api"] = call(urllib.request.Request(api + resource, headers=headers))
    print(json.dumps(out))


main()
