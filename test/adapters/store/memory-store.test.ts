import { MemoryStore } from '../../../src/adapters/store/memory/memory-store.js';
import { storeContract } from '../../contracts/store.contract.js';

storeContract('MemoryStore', async () => ({ store: new MemoryStore() }));
