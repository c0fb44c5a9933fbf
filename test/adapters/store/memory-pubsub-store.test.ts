import { MemoryPubSubStore } from '../../../src/adapters/store/memory/memory-pubsub-store.js';
import { pubsubStoreContract } from '../../contracts/pubsub-store.contract.js';

pubsubStoreContract('MemoryPubSubStore', async () => ({ store: new MemoryPubSubStore() }));
