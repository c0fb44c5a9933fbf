#!/usr/bin/python3
"""An HTTP device as Google's Cloud IoT Core sample (cloudiot_http_example.py) wrote one.

create_jwt, publish_message and get_config are the sample's, with two changes a migration makes:
the base URL points at the replacement and `verify=` trusts its CA; and, as the sample's gateway
variant did, a `gateway_info` that goes into the body (publish) or the query (config).

Reads a plan as JSON on stdin: base_url, ca, project_id, cloud_region, registry_id and `steps`,
each {label, op: event|state|config, device_id, key_file, algorithm, message?, version?,
gateway_info?}. Prints one JSON line per step: label, status, body and the error-reason header.
A refused request is reported, not raised: the test asserts on it.
"""
import base64
import datetime
import json
import sys

import jwt
import requests


def create_jwt(project_id, private_key_file, algorithm):
    token = {
        "iat": datetime.datetime.now(tz=datetime.timezone.utc),
        "exp": datetime.datetime.now(tz=datetime.timezone.utc) + datetime.timedelta(minutes=60),
        "aud": project_id,
    }
    with open(private_key_file, "r") as f:
        private_key = f.read()
    return jwt.encode(token, private_key, algorithm=algorithm)


def publish_message(message, message_type, base_url, project_id, cloud_region, registry_id, device_id, jwt_token, ca, gateway_info=None):
    headers = {
        "authorization": f"Bearer {jwt_token}",
        "content-type": "application/json",
        "cache-control": "no-cache",
    }
    url_suffix = "publishEvent" if message_type == "event" else "setState"
    publish_url = ("{}/projects/{}/locations/{}/registries/{}/devices/{}:{}").format(
        base_url, project_id, cloud_region, registry_id, device_id, url_suffix
    )
    msg_bytes = base64.urlsafe_b64encode(message.encode("utf-8"))
    if message_type == "event":
        body = {"binary_data": msg_bytes.decode("ascii")}
    else:
        body = {"state": {"binary_data": msg_bytes.decode("ascii")}}
    if gateway_info:
        body["gateway_info"] = gateway_info
    return requests.post(publish_url, data=json.dumps(body), headers=headers, verify=ca)


def get_config(version, message_type, base_url, project_id, cloud_region, registry_id, device_id, jwt_token, ca, gateway_query=""):
    headers = {
        "authorization": f"Bearer {jwt_token}",
        "content-type": "application/json",
        "cache-control": "no-cache",
    }
    basepath = "{}/projects/{}/locations/{}/registries/{}/devices/{}/"
    template = basepath + "config?local_version={}"
    config_url = template.format(base_url, project_id, cloud_region, registry_id, device_id, version) + gateway_query
    return requests.get(config_url, headers=headers, verify=ca)


def main():
    plan = json.load(sys.stdin)
    common = (plan["base_url"], plan["project_id"], plan["cloud_region"], plan["registry_id"])
    for step in plan["steps"]:
        token = create_jwt(plan["project_id"], step["key_file"], step["algorithm"])
        info = step.get("gateway_info")
        if step["op"] == "config":
            query = ""
            if info and "delegated_device_id" in info:
                query = "&gatewayInfo.delegatedDeviceId=" + info["delegated_device_id"]
            elif info and "gateway_id" in info:
                query = "&gatewayInfo.gatewayId=" + info["gateway_id"]
            resp = get_config(step.get("version", 0), "config", *common, step["device_id"], token, plan["ca"], query)
        else:
            resp = publish_message(step["message"], step["op"], *common, step["device_id"], token, plan["ca"], info)
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        print(json.dumps({
            "label": step["label"],
            "status": resp.status_code,
            "body": body,
            "reason": resp.headers.get("x-bridgehead-error-reason"),
        }), flush=True)


if __name__ == "__main__":
    main()
