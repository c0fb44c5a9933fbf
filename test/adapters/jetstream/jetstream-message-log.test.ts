import { after, describe } from 'node:test';
import { startNats, type TestNats } from '../../support/nats.js';
import { messageLogContract, type MessageLogUnderTest } from '../../contracts/message-log.contract.js';
import { deleteAllStreams, openJetStreamLog } from './jetstream-fixture.js';

let nats: TestNats | undefined;
const server = async (): Promise<TestNats> => (nats ??= await startNats());

describe('JetStreamMessageLog on a real nats-server', async () => {
  after(async () => {
    await nats?.cleanup();
  });

  const open = async (): Promise<MessageLogUnderTest> => {
    const j = await openJetStreamLog((await server()).url);
    return {
      log: j.log,
      sink: j.sink,
      close: () => j.close(),
      reopen: async () => {
        await j.close();
        return open();
      },
    };
  };

  // The contract's describe probes make() before any hook runs: the server starts lazily.
  messageLogContract('JetStream', async () => {
    await deleteAllStreams((await server()).url);
    return open();
  });
});
