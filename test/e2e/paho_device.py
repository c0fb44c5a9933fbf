#!/usr/bin/env python3
"""A Cloud IoT device written with Eclipse Paho (python3-paho-mqtt, 1.6 or 2.x), driven by
test/e2e/mqtt-paho.test.ts. It prints one JSON object per event on stdout, in the order seen.

usage: paho_device.py HOST PORT CAFILE CLIENT_ID DEVICE_ID JWT MODE
  MODE "device": connect, SUBSCRIBE to the config topic right after connect() -- before the
                 CONNACK has been read (pipelined) -- wait for the config, then publish QoS 1
                 telemetry (plain and with a subfolder) and QoS 1 state, each awaited by PUBACK.
  MODE "refused": connect with a token the server must refuse; report the CONNACK code.
Exit status 0 on success; 2 on a protocol surprise; 3 on timeout.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

TIMEOUT_S = 15


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def make_client(client_id):
    # paho 2.x requires a callback API version; 1.6 has no such argument.
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True)
    return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True)


def rc_value(rc):
    # VERSION2 passes a ReasonCode object; 1.6 an int. MQTT 3.1.1 CONNACK codes are 0-5.
    if isinstance(rc, int):
        return rc
    value = getattr(rc, "value", rc)
    if isinstance(value, int) and value >= 128:
        # paho 2.x maps 3.1.1 CONNACK codes onto MQTT 5 reason codes; map "not authorized" back.
        return {0x80: 1, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}.get(value, value)
    return int(value)


def main():
    host, port, cafile, client_id, device_id, jwt, mode = sys.argv[1:8]
    client = make_client(client_id)
    client.username_pw_set("unused", jwt)
    client.tls_set(ca_certs=cafile)

    lock = threading.Condition()
    state = {"connack": None, "suback": None, "config": None, "acked": set(), "closed": False}

    def on_connect(c, userdata, flags, rc, *rest):
        with lock:
            state["connack"] = rc_value(rc)
            emit(event="connack", rc=state["connack"])
            lock.notify_all()

    def on_subscribe(c, userdata, mid, granted, *rest):
        codes = [getattr(g, "value", g) for g in granted]
        with lock:
            state["suback"] = codes
            emit(event="suback", mid=mid, granted=codes)
            lock.notify_all()

    def on_message(c, userdata, msg):
        with lock:
            if state["config"] is None and msg.topic == "/devices/%s/config" % device_id:
                state["config"] = msg.payload
            emit(event="message", topic=msg.topic, payload=msg.payload.decode("utf-8", "replace"), qos=msg.qos)
            lock.notify_all()

    def on_publish(c, userdata, mid, *rest):
        with lock:
            state["acked"].add(mid)
            lock.notify_all()

    def on_disconnect(c, userdata, *rest):
        with lock:
            state["closed"] = True
            lock.notify_all()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_publish = on_publish
    client.on_disconnect = on_disconnect

    def wait(what, predicate):
        deadline = time.monotonic() + TIMEOUT_S
        with lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    emit(event="timeout", waiting_for=what)
                    client.loop_stop()
                    sys.exit(3)
                lock.wait(left)

    client.connect(host, int(port), keepalive=60)
    if mode == "device":
        # Pipelined: the network loop has not run yet, so the CONNACK is still unread.
        result, mid = client.subscribe("/devices/%s/config" % device_id, qos=1)
        emit(event="subscribe-sent", result=result, before_connack=state["connack"] is None)
    client.loop_start()
    wait("connack", lambda: state["connack"] is not None)
    if state["connack"] != 0:
        wait("close", lambda: state["closed"])
        client.loop_stop()
        sys.exit(0 if mode == "refused" else 2)
    if mode != "device":
        client.disconnect()
        client.loop_stop()
        sys.exit(2)

    wait("suback", lambda: state["suback"] is not None)
    wait("config", lambda: state["config"] is not None)

    for topic, payload in (
        ("/devices/%s/events" % device_id, b"paho-telemetry"),
        ("/devices/%s/events/paho/sub" % device_id, bytes([0, 1, 2, 255])),
        ("/devices/%s/state" % device_id, b"paho-state"),
    ):
        info = client.publish(topic, payload, qos=1)
        wait("puback of " + topic, lambda: info.mid in state["acked"])
        emit(event="puback", topic=topic, mid=info.mid)

    client.disconnect()
    wait("disconnect", lambda: state["closed"])
    client.loop_stop()
    emit(event="done")


if __name__ == "__main__":
    main()
