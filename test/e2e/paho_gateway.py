#!/usr/bin/env python3
"""A Cloud IoT Core gateway as Google's own Python gateway samples wrote it, against Bridgehead.

Driven by test/e2e/gateway-paho.test.ts. The flow follows the samples (cloudiot_mqtt_example.py
gateway commands and the gateway codelab's gateway.py): connect with the gateway's JWT over TLS,
subscribe to the errors topic at QoS 0, attach with '{"authorization" : ""}', subscribe to the
attached device's config (QoS 1) and commands (QoS 0), publish state and telemetry for it, detach
with '{}'.

Every observation is one JSON line on stdout. The script waits for a line on stdin where the test
must act on the cloud side (sending a command, checking a detach). Waits are bounded: a step that
does not complete in time prints {"ev": "fail", ...} and exits 1.

Works with paho-mqtt 1.x and 2.x.
"""

import argparse
import json
import ssl
import sys
import threading

import paho.mqtt.client as mqtt

TIMEOUT_S = 15.0

out_lock = threading.Lock()


def emit(ev, **fields):
    with out_lock:
        sys.stdout.write(json.dumps(dict(ev=ev, **fields), sort_keys=True) + "\n")
        sys.stdout.flush()


def fail(step, **fields):
    emit("fail", step=step, **fields)
    sys.exit(1)


class Observed:
    """What the network thread saw, for the main thread to wait on."""

    def __init__(self):
        self.cond = threading.Condition()
        self.connect_rc = None
        self.disconnected_rc = None
        self.acked = set()
        self.granted = {}
        self.errors = []
        self.messages = []

    def wait(self, pred, step):
        with self.cond:
            if not self.cond.wait_for(pred, timeout=TIMEOUT_S):
                fail(step)


def make_client(client_id):
    # paho 2.x needs the callback API version; 1.x has no such argument.
    try:
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=client_id, protocol=mqtt.MQTTv311)
    except AttributeError:
        return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--jwt", required=True)
    ap.add_argument("--gateway-id", required=True)
    ap.add_argument("--device-id", required=True, help="a device bound to the gateway")
    ap.add_argument("--unbound-device-id", required=True)
    ap.add_argument("--attach-tries", type=int, default=3)
    args = ap.parse_args()

    seen = Observed()
    error_topic = "/devices/{}/errors".format(args.gateway_id)

    def on_connect(client, userdata, flags, rc):
        with seen.cond:
            seen.connect_rc = rc
            seen.cond.notify_all()

    def on_disconnect(client, userdata, rc):
        with seen.cond:
            seen.disconnected_rc = rc
            seen.cond.notify_all()

    def on_publish(client, userdata, mid):
        # QoS 1: called when the PUBACK arrives.
        with seen.cond:
            seen.acked.add(mid)
            seen.cond.notify_all()

    def on_subscribe(client, userdata, mid, granted_qos):
        with seen.cond:
            seen.granted[mid] = list(granted_qos)
            seen.cond.notify_all()

    def on_message(client, userdata, message):
        payload = message.payload.decode("utf-8", errors="replace")
        emit("message", topic=message.topic, payload=payload, qos=message.qos)
        with seen.cond:
            if message.topic == error_topic:
                seen.errors.append(json.loads(payload))
            else:
                seen.messages.append((message.topic, payload))
            seen.cond.notify_all()

    client = make_client(args.client_id)
    # The samples: any username, the JWT as password, TLS 1.2 with the pinned CA.
    client.username_pw_set(username="unused", password=args.jwt)
    client.tls_set(ca_certs=args.ca, tls_version=ssl.PROTOCOL_TLSv1_2)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_publish = on_publish
    client.on_subscribe = on_subscribe
    client.on_message = on_message

    client.connect(args.host, args.port, keepalive=60)
    client.loop_start()
    seen.wait(lambda: seen.connect_rc is not None, "connect")
    emit("connected", rc=seen.connect_rc)
    if seen.connect_rc != 0:
        fail("connect", rc=seen.connect_rc)

    def subscribe(topic, qos, step):
        rc, mid = client.subscribe(topic, qos=qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            fail(step, rc=rc)
        seen.wait(lambda: mid in seen.granted, step)
        emit("subscribed", topic=topic, qos=qos, granted=seen.granted[mid])

    def publish(topic, payload, step, wait_ack=True):
        info = client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            fail(step, rc=info.rc)
        if wait_ack:
            seen.wait(lambda: info.mid in seen.acked, step)
            emit("puback", step=step, topic=topic, mid=info.mid)
        return info.mid

    def attach_device(device_id, auth, step, wait_ack=True):
        # Exactly the sample's payload, spaces included.
        payload = '{{"authorization" : "{}"}}'.format(auth)
        return publish("/devices/{}/attach".format(device_id), payload, step, wait_ack)

    def detach_device(device_id, step):
        return publish("/devices/{}/detach".format(device_id), "{}", step)

    def wait_stdin(step):
        emit("waiting", step=step)
        line = sys.stdin.readline()
        if not line:
            fail(step, reason="stdin closed")
        emit("resumed", step=step, line=line.strip())

    # The python sample notes the errors topic must be subscribed at QoS 0.
    subscribe(error_topic, 0, "subscribe-errors")

    attach_device(args.device_id, "", "attach")

    # A device that is not bound: no PUBACK but a GATEWAY_ATTACHMENT_ERROR, every time, and the
    # connection survives (the samples' system test asserts this error arrives).
    failed_mids = []
    for attempt in range(1, args.attach_tries + 1):
        before = len([e for e in seen.errors if e.get("device_id") == args.unbound_device_id])
        mid = attach_device(args.unbound_device_id, "", "attach-unbound", wait_ack=False)
        failed_mids.append(mid)
        seen.wait(
            lambda: len([e for e in seen.errors if e.get("device_id") == args.unbound_device_id]) > before,
            "attach-unbound-error",
        )
        error = [e for e in seen.errors if e.get("device_id") == args.unbound_device_id][-1]
        emit("attach_error", attempt=attempt, mid=mid, error=error, connected=client.is_connected())
    # The bridge answers in order: once a later attach is acknowledged, a PUBACK for the failed
    # ones would have arrived already.
    attach_device(args.device_id, "", "reattach")
    with seen.cond:
        emit("failed_attach_acks", mids=failed_mids, acked=sorted(m for m in failed_mids if m in seen.acked))

    config_topic = "/devices/{}/config".format(args.device_id)
    subscribe(config_topic, 1, "subscribe-config")
    seen.wait(lambda: any(t == config_topic for t, _ in seen.messages), "config")
    subscribe("/devices/{}/commands/#".format(args.device_id), 0, "subscribe-commands")

    publish("/devices/{}/state".format(args.device_id), "state from the gateway", "state")
    for i in range(3):
        publish("/devices/{}/events".format(args.device_id), "event {}".format(i), "event")
    publish("/devices/{}/events/alerts".format(args.device_id), "smoke", "event-alerts")
    emit("published")

    wait_stdin("command")
    command_topic_prefix = "/devices/{}/commands".format(args.device_id)
    seen.wait(lambda: any(t.startswith(command_topic_prefix) for t, _ in seen.messages), "command")

    detach_device(args.device_id, "detach")
    # Detaching again (now not attached) is still acknowledged.
    detach_device(args.device_id, "detach-again")
    wait_stdin("disconnect")

    client.disconnect()
    seen.wait(lambda: seen.disconnected_rc is not None, "disconnect")
    client.loop_stop()
    emit("disconnected", rc=seen.disconnected_rc)


if __name__ == "__main__":
    main()
