import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { fmtMs, now, percentile, table, type BenchContext, type BenchSection } from './lib.js';

/**
 * The web console's page weight and first load on loopback (docs/compat.md C-CONSOLE), in Debian's
 * chromium: bytes transferred (compressed bodies plus headers) cold (empty cache) and warm (a reload
 * with the hashed assets cached), and the time from navigation until the signed-in overview shows
 * the server's metrics (time to interactive), p50 over a few loads. Loopback only: no network
 * latency is in these figures.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LOADS = 5;

interface Load {
  bytes: number;
  requests: number;
  ms: number;
}

async function load(context: BrowserContext, url: string, signal: AbortSignal): Promise<Load> {
  const page = context.pages()[0] ?? (await context.newPage());
  let bytes = 0;
  let requests = 0;
  const pending: Promise<void>[] = [];
  const onFinished = (request: import('playwright-core').Request): void => {
    pending.push(
      request.sizes().then(
        (s) => {
          bytes += s.responseBodySize + s.responseHeadersSize;
          requests++;
        },
        () => undefined,
      ),
    );
  };
  page.on('requestfinished', onFinished);
  if (signal.aborted) throw new Error('bench budget spent');
  const t0 = now();
  await page.goto(url);
  await page.getByTestId('connected').waitFor();
  const ms = now() - t0;
  page.off('requestfinished', onFinished);
  await Promise.all(pending);
  return { bytes, requests, ms };
}

export const consoleBench: BenchSection = {
  name: 'console',
  summary: 'web console: bytes transferred cold and warm, time to interactive on loopback (chromium)',
  async run({ server, signal, print }: BenchContext): Promise<void> {
    if (!existsSync(CHROMIUM)) {
      print(`  console: skipped, no chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);
      return;
    }
    const url = `${server.api}/console/`;
    const session = JSON.stringify({ token: server.token, project: 'bench', location: 'us-central1', who: 'admin token' });
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
      const cold: Load[] = [];
      const warm: Load[] = [];
      for (let i = 0; i < LOADS; i++) {
        // A fresh context per round: an empty cache for the cold load, then a reload in it for the warm one.
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        await context.addInitScript(`sessionStorage.setItem('bridgehead.console.session', ${JSON.stringify(session)})`);
        cold.push(await load(context, url, signal));
        warm.push(await load(context, url, signal));
        await context.close();
      }
      const row = (name: string, loads: Load[]): string[] => [
        name,
        `${(percentile(loads.map((l) => l.bytes), 50) / 1024).toFixed(1)} KiB`,
        String(percentile(loads.map((l) => l.requests), 50)),
        fmtMs(percentile(loads.map((l) => l.ms), 50)),
        fmtMs(Math.max(...loads.map((l) => l.ms))),
      ];
      for (const line of table(['load (signed in, overview)', 'transferred p50', 'requests', 'interactive p50', 'max'], [row('cold (empty cache)', cold), row('warm (reload)', warm)])) {
        print(`  ${line}`);
      }
    } finally {
      await browser?.close();
    }
  },
};
