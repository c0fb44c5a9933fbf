import { generateKeyPairSync } from 'node:crypto';
import {
  adminCall,
  fmtCount,
  fmtMs,
  fmtRate,
  now,
  pool,
  summarize,
  table,
  type BenchContext,
  type BenchSection,
} from './lib.js';

/**
 * The device registry through the REST API, as a backend provisioning and inventorying a fleet
 * uses it: (a) device creation throughput with a few requests in flight, (b) walking the whole
 * device list of one large registry page by page (docs/compat.md C-LIST-ORDER: 500 is the largest
 * page, 100 the default).
 */

const PROJECT = 'bench';
const LOCATION = 'us-central1';
const REGISTRY = 'bench-registry';
const CREATE_COUNT = 5_000;
const CREATE_CONCURRENCY = 8;
/** The listing registry holds this many devices; (a)'s devices count towards it. */
const LIST_TOTAL = 10_000;
const PAGE_SIZES = [500, 100] as const;

const regPath = `/v1/projects/${PROJECT}/locations/${LOCATION}/registries/${REGISTRY}`;
const deviceId = (i: number): string => `dev-${String(i).padStart(6, '0')}`;

interface DeviceList {
  devices?: { id: string }[];
  nextPageToken?: string;
}

export const registryBench: BenchSection = {
  name: 'registry',
  summary: `create ${fmtCount(CREATE_COUNT)} devices (${CREATE_CONCURRENCY} in flight); list ${fmtCount(LIST_TOTAL)} with pageSize ${PAGE_SIZES.join(' and ')}`,
  async run(ctx) {
    // One ES256 key for every device: creation then pays for parsing and checking a real key, as
    // in production, without the bench spending its time generating keys.
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const create = (i: number): Promise<unknown> =>
      adminCall(ctx, 'POST', `${regPath}/devices`, {
        id: deviceId(i),
        credentials: [{ publicKey: { format: 'ES256_PEM', key: publicKeyPem } }],
        metadata: { site: `site-${i % 16}`, serial: `SN${i}` },
      });

    await adminCall(ctx, 'POST', `/v1/projects/${PROJECT}/locations/${LOCATION}/registries`, { id: REGISTRY });

    const rows: string[][] = [];
    const createRow = async (label: string, from: number, count: number): Promise<void> => {
      const t0 = now();
      const latencies = await pool(count, CREATE_CONCURRENCY, async (i) => {
        await create(from + i);
      });
      const seconds = (now() - t0) / 1000;
      const s = summarize(latencies);
      rows.push([label, fmtCount(s.count), fmtMs(seconds * 1000), fmtRate(s.count / seconds), fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.max)]);
    };

    // (a) creation throughput.
    await createRow(`create device (${CREATE_CONCURRENCY} in flight)`, 0, CREATE_COUNT);
    // (b) fill the registry up to LIST_TOTAL, then list it. The fill is timed too: it shows whether
    // creation slows down as the registry grows.
    if (LIST_TOTAL > CREATE_COUNT) {
      await createRow(`create device ${fmtCount(CREATE_COUNT + 1)}..${fmtCount(LIST_TOTAL)}`, CREATE_COUNT, LIST_TOTAL - CREATE_COUNT);
    }

    for (const pageSize of PAGE_SIZES) {
      const { latencies, totalMs, ids } = await listAll(ctx, pageSize);
      // Every device once, in ID order (C-LIST-ORDER): a fast listing that skips or repeats is a bug.
      if (ids.length !== LIST_TOTAL || ids.some((id, i) => id !== deviceId(i))) {
        throw new Error(`listing with pageSize ${pageSize} returned ${ids.length} devices, not the ${LIST_TOTAL} created in order`);
      }
      const s = summarize(latencies);
      rows.push([`list page (pageSize ${pageSize})`, fmtCount(s.count), fmtMs(totalMs), fmtRate(ids.length / (totalMs / 1000)), fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.max)]);
    }

    for (const line of table(['registry', 'requests', 'total', 'rate', 'p50', 'p99', 'max'], rows)) ctx.print(line);
    ctx.print(`  (rate: devices per second; the list rows' total is the full walk of ${fmtCount(LIST_TOTAL)} devices, p50/p99/max per page)`);
  },
};

/** Walks the registry's device list, one request at a time as a client paginates, timing each page. */
async function listAll(ctx: BenchContext, pageSize: number): Promise<{ latencies: number[]; totalMs: number; ids: string[] }> {
  const latencies: number[] = [];
  const ids: string[] = [];
  let token = '';
  const t0 = now();
  do {
    const query = `pageSize=${pageSize}${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
    const t = now();
    const page = await adminCall<DeviceList>(ctx, 'GET', `${regPath}/devices?${query}`);
    latencies.push(now() - t);
    for (const d of page.devices ?? []) ids.push(d.id);
    token = page.nextPageToken ?? '';
    if (latencies.length > LIST_TOTAL) throw new Error('the device list does not end');
  } while (token);
  return { latencies, totalMs: now() - t0, ids };
}
