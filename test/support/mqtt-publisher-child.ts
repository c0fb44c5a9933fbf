import mqtt from 'mqtt';

/**
 * Child process of the MQTT durability test: a device that publishes QoS 1 telemetry as fast as
 * its window allows and prints `acked <n>` for each message whose PUBACK arrived (stdout to a
 * pipe is synchronous on Linux, so a line the parent read was printed after that PUBACK). The
 * parent SIGKILLs the server mid-stream; the child exits when its connection closes.
 *
 * usage: node mqtt-publisher-child.js URL CLIENT_ID DEVICE_ID JWT [WINDOW] [MAX]
 *
 * `node --test dist/test/` also runs every file under test/ as a test; without arguments this
 * exits at once, successfully.
 */

const [url, clientId, deviceId, jwt, windowArg, maxArg] = process.argv.slice(2);
if (url !== undefined && clientId !== undefined && deviceId !== undefined && jwt !== undefined) {
  const window = Number(windowArg ?? 16);
  const max = Number(maxArg ?? 100_000);
  const client = mqtt.connect(url, { clientId, username: 'unused', password: jwt, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
  let next = 0;
  let closed = false;
  const topic = `/devices/${deviceId}/events`;
  const publishOne = (): void => {
    if (closed || next >= max) return;
    const n = next++;
    client.publish(topic, `durable-${n}`, { qos: 1 }, (err) => {
      if (err) return;
      process.stdout.write(`acked ${n}\n`);
      publishOne();
    });
  };
  client.on('connect', () => {
    process.stdout.write('connected\n');
    for (let i = 0; i < window; i++) publishOne();
  });
  client.on('error', (e) => process.stderr.write(`mqtt error: ${e.message}\n`));
  client.on('close', () => {
    closed = true;
    process.stdout.write('closed\n');
    client.end(true, () => process.exit(0));
  });
}
