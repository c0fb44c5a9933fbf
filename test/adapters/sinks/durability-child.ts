import { EmbeddedLogSink } from '../../../src/adapters/sinks/embedded-log/embedded-log-sink.js';

/**
 * Child process of the durability test: appends forever and prints `<messageId> <n>` for each
 * message whose append resolved (stdout to a pipe is synchronous on Linux, so a line the parent
 * read was written before the next commit began). The parent SIGKILLs it mid-stream.
 *
 * `node --test dist/test/` also runs every file under test/ as a test; without arguments this
 * exits at once, successfully.
 */

const [file, mode] = process.argv.slice(2);
if (file !== undefined) {
  const sink = EmbeddedLogSink.open(file, { writerThread: mode === 'worker' });
  const topic = 'projects/p/topics/durable';
  const attributes = Object.freeze({ deviceId: 'dev-1', projectId: 'p' });
  let n = 0;
  // Several "devices" with one message in flight each, so commits hold varying numbers of messages.
  const device = async (): Promise<never> => {
    for (;;) {
      const k = n++;
      const [id] = await sink.append([{ topic, attributes, data: new TextEncoder().encode(`payload-${k}`), publishTime: Date.now() }]);
      process.stdout.write(`${id!} ${k}\n`);
    }
  };
  for (let i = 0; i < 8; i++) void device();
}
