import { LocalBus } from '../../../src/adapters/bus/local-bus.js';
import { busContract } from '../../contracts/bus.contract.js';

busContract('LocalBus', async () => {
  const bus = new LocalBus();
  return { a: bus, b: bus, close: () => bus.close() };
});
