import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createDevice, createRegistry, PROJECT, REGION } from '../support/fleet.js';
import { connectDevice, endQuietly } from '../support/mqtt-clients.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * The web console in chromium (as console-browser.test.ts) where what an operator sees or writes
 * could go wrong quietly: IDs holding `%`, metadata and configs another client changes while the
 * page is open, binary configs.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LOCATION = `projects/${PROJECT}/locations/${REGION}`;

let server: StartedServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

/** The API path of a resource name, each segment encoded (IDs may hold `%`). */
const v1 = (name: string): string => `/v1/${name.split('/').map(encodeURIComponent).join('/')}`;

/** The console page of a resource name. */
const consolePage = (name: string): string => `${server.api}/console${v1(name).slice('/v1'.length)}`;
const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function ok(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await api(server, method, path, body);
  assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r.json)}`);
  return r.json;
}

before(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (e) => pageErrors.push(`uncaught: ${e.message}`));
  await page.goto(`${server.api}/console/`);
  await page.getByRole('textbox', { name: 'Admin token' }).fill(server.token);
  await page.getByLabel('Project').fill(PROJECT);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
});

after(async () => {
  await browser?.close();
  await server?.cleanup();
});

test('IDs holding `%` open their own pages from every link; a malformed one is "not found", not a frozen page', { timeout: 60_000 }, async () => {
  // `%41` decodes to `A`: decoded twice (or not encoded), the link opens regApct; `%zz` decodes to nothing.
  const reg = `${LOCATION}/registries/reg%41pct`;
  await ok('POST', v1(`${LOCATION}/registries`), { id: 'reg%41pct' });
  await ok('POST', v1(`${LOCATION}/registries`), { id: 'reg%zzbad' });
  await ok('POST', v1(`${LOCATION}/registries`), { id: 'regApct' });
  await ok('POST', `${v1(reg)}/devices`, { id: 'dev%41pct' });
  await ok('POST', `${v1(reg)}/devices`, { id: 'dev%zzbad' });
  await ok('POST', `${v1(reg)}/devices`, { id: 'gw%41pct', gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } });
  await ok('POST', `${v1(reg)}:bindDeviceToGateway`, { gatewayId: 'gw%41pct', deviceId: 'dev%zzbad' });

  const main = page.locator('#main');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Registries' }).click();
  await page.getByRole('link', { name: 'reg%zzbad', exact: true }).click();
  await page.getByRole('heading', { name: 'Registry reg%zzbad' }).waitFor();
  await page.goBack();
  await page.getByRole('link', { name: 'reg%41pct', exact: true }).click();
  await page.getByRole('heading', { name: 'Registry reg%41pct' }).waitFor();
  // Its devices listed: the API was asked for this registry, not regApct.
  await main.getByRole('link', { name: 'dev%zzbad', exact: true }).click();
  await page.getByRole('heading', { name: /^Device dev%zzbad/ }).waitFor();
  await page.locator('#device-overview').waitFor();
  // Back through the breadcrumb, then to the gateway and through its bound-device link.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'reg%41pct', exact: true }).click();
  await page.getByRole('heading', { name: 'Registry reg%41pct' }).waitFor();
  await main.getByRole('link', { name: 'gw%41pct', exact: true }).click();
  await page.getByRole('heading', { name: /^Gateway gw%41pct/ }).waitFor();
  await page.locator('#gateway-bound').getByRole('link', { name: 'dev%zzbad', exact: true }).click();
  await page.getByRole('heading', { name: /^Device dev%zzbad/ }).waitFor();
  await page.locator('#device-gateways').getByRole('link', { name: 'gw%41pct', exact: true }).click();
  await page.getByRole('heading', { name: /^Gateway gw%41pct/ }).waitFor();
  // A device created in the form opens its own page.
  await page.goto(consolePage(reg));
  await page.getByLabel('Device ID', { exact: true }).fill('new%41pct');
  await page.getByRole('button', { name: 'Create device' }).click();
  await page.getByRole('heading', { name: /^Device new%41pct/ }).waitFor();
  await page.locator('#device-overview').waitFor();
  // Reloading a page keeps it (the URL holds each ID encoded once).
  await page.reload();
  await page.locator('#device-overview').waitFor();
  assert.equal(await page.locator('h1').innerText().then((t) => t.split('\n')[0]), 'Device new%41pct');

  // A hand-typed URL with a raw, malformed `%`: the server serves the app, which says not found.
  for (const path of [`/console/${LOCATION}/registries/reg%zzbad`, `/console/${LOCATION}/registries/reg%41pct/devices/dev%zzbad`]) {
    const res = await page.goto(`${server.api}${path}`);
    assert.equal(res?.status(), 200, path);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Registries' }).click();
    await page.getByRole('heading', { name: 'Registries', exact: true }).waitFor();
  }
  // The same within the app (history navigation): the page still works afterwards.
  await page.evaluate(`history.pushState(null, '', ${JSON.stringify(`/console/${LOCATION}/registries/reg%zzbad`)}); dispatchEvent(new PopStateEvent('popstate'))`);
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Registries' }).click();
  await page.getByRole('link', { name: 'regApct', exact: true }).waitFor();
  assert.deepEqual(pageErrors, []);
});

test('metadata: saved unchanged as it was (newlines, spaces kept); a change made elsewhere while editing is refused, not overwritten', { timeout: 60_000 }, async () => {
  const reg = `${LOCATION}/registries/edits`;
  await ok('POST', v1(`${LOCATION}/registries`), { id: 'edits' });
  const metadata = { multi: 'line1\nother=injected', spaced: '  padded  ', owner: 'alice' };
  const dev = `${reg}/devices/meta-dev`;
  await ok('POST', `${v1(reg)}/devices`, { id: 'meta-dev', metadata });
  await page.goto(consolePage(dev));
  const overview = page.locator('#device-overview');
  await overview.getByRole('button', { name: 'Save metadata' }).click();
  await overview.getByText('Metadata saved.').waitFor();
  assert.deepEqual((await ok('GET', v1(dev))).metadata, metadata);

  /** The value input of the row whose key is `key`. */
  const valueOf = async (key: string): Promise<ReturnType<Page['locator']>> => {
    const rows = await overview.getByLabel(/^Metadata key \d+$/).count();
    for (let i = 1; i <= rows; i++) {
      if ((await overview.getByLabel(`Metadata key ${i}`, { exact: true }).inputValue()) === key) return overview.getByLabel(`Metadata value ${i}`, { exact: true });
    }
    throw new Error(`no metadata row ${key}`);
  };
  assert.equal(await (await valueOf('multi')).inputValue(), metadata.multi);
  assert.equal(await (await valueOf('spaced')).inputValue(), metadata.spaced);
  // The operator starts editing; another client changes the metadata meanwhile, and the page's
  // reload (every 2 s) has read the device's new version by the time the operator saves.
  await (await valueOf('owner')).fill('bob');
  const theirs = { ...metadata, note: 'theirs' };
  await ok('PATCH', `${v1(dev)}?updateMask=metadata`, { metadata: theirs });
  await sleep(2500);
  await overview.getByRole('button', { name: 'Save metadata' }).click();
  await overview.getByText(/ABORTED/).waitFor();
  assert.deepEqual((await ok('GET', v1(dev))).metadata, theirs);
  await overview.getByTestId('metadata-stale').waitFor();
  // Discarded, the form shows the device as it is now; the edit made again is saved, with a new key holding a newline.
  await overview.getByRole('button', { name: 'Discard changes' }).click();
  assert.equal(await (await valueOf('note')).inputValue(), 'theirs');
  await (await valueOf('owner')).fill('bob');
  await overview.getByRole('button', { name: 'Add metadata key' }).click();
  const rows = await overview.getByLabel(/^Metadata key \d+$/).count();
  await overview.getByLabel(`Metadata key ${rows}`, { exact: true }).fill('added');
  await overview.getByLabel(`Metadata value ${rows}`, { exact: true }).fill(' two\nlines ');
  await overview.getByRole('button', { name: 'Save metadata' }).click();
  await overview.getByText('Metadata saved.').waitFor();
  assert.deepEqual((await ok('GET', v1(dev))).metadata, { ...theirs, owner: 'bob', added: ' two\nlines ' });
  assert.deepEqual(pageErrors, []);
});

test('configs: a binary latest version is never pushed back as placeholder text; a version pushed elsewhere while editing makes the push refused', { timeout: 60_000 }, async () => {
  const reg = `${LOCATION}/registries/configs`;
  const dev = `${reg}/devices/cfg-dev`;
  await ok('POST', v1(`${LOCATION}/registries`), { id: 'configs' });
  await ok('POST', `${v1(reg)}/devices`, { id: 'cfg-dev' });
  const binary = new Uint8Array([0xff, 0xfe, 0x00, 0x01]);
  await ok('POST', `${v1(dev)}:modifyCloudToDeviceConfig`, { binaryData: b64(binary) });
  const latest = async (): Promise<{ version: string; binaryData?: string }> =>
    ((await ok('GET', `${v1(dev)}/configVersions`)).deviceConfigs as { version: string; binaryData?: string }[])[0]!;

  await page.goto(consolePage(dev));
  const config = page.locator('#device-config');
  const editor = config.getByLabel('Config (new version)');
  await config.getByTestId('ack-2').waitFor();
  assert.equal(await editor.inputValue(), '', 'the editor holds no placeholder text');
  await config.getByTestId('config-binary').getByText(/ff fe 00 01/).waitFor();
  await config.getByRole('button', { name: 'Push new version' }).click();
  await config.getByText(/binary and cannot be edited as text/).waitFor();
  assert.deepEqual(await latest(), { ...(await latest()), version: '2', binaryData: b64(binary) });

  // Editing starts from version 2; another client pushes version 3 meanwhile.
  await editor.fill('mine');
  await sleep(1100);
  await ok('POST', `${v1(dev)}:modifyCloudToDeviceConfig`, { binaryData: b64('theirs') });
  await config.getByTestId('ack-3').waitFor();
  await config.getByRole('button', { name: 'Push new version' }).click();
  await config.getByText(/config version to update \(2\) does not match/).waitFor();
  const now = await latest();
  assert.deepEqual([now.version, now.binaryData], ['3', b64('theirs')]);
  assert.equal(await editor.inputValue(), 'mine', 'the refused edit is kept');
  await config.getByTestId('config-stale').waitFor();
  // Discarded, the editor shows version 3; an edit from there is pushed.
  await config.getByRole('button', { name: 'Discard changes' }).click();
  assert.equal(await editor.inputValue(), 'theirs');
  await editor.fill('mine, on theirs');
  // One config update a second per device (spec): version 3 may be younger than that.
  await sleep(1100);
  await config.getByRole('button', { name: 'Push new version' }).click();
  await config.getByText('Version 4 pushed.').waitFor();
  const pushed = await latest();
  assert.deepEqual([pushed.version, pushed.binaryData], ['4', b64('mine, on theirs')]);
  assert.deepEqual(pageErrors, []);
});

test('a gateway with hundreds of bound devices: the one attached is shown attached (its connections asked in several requests)', { timeout: 120_000 }, async () => {
  await createRegistry(server, 'many');
  const reg = `${LOCATION}/registries/many`;
  const gw = await createDevice(server, 'many', 'gw-many', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
  // 180 IDs of 117 characters: one devices:connections URL would pass Node's 16 KiB.
  const ids = Array.from({ length: 180 }, (_, i) => `bound-${String(i).padStart(3, '0')}-${'q'.repeat(107)}`);
  for (let i = 0; i < ids.length; i += 20) {
    await Promise.all(
      ids.slice(i, i + 20).map(async (id) => {
        await ok('POST', `${v1(reg)}/devices`, { id });
        await ok('POST', `${v1(reg)}:bindDeviceToGateway`, { gatewayId: 'gw-many', deviceId: id });
      }),
    );
  }
  const last = ids[ids.length - 1]!;
  const gateway = await connectDevice(server, `${reg}/devices/gw-many`, await gw.jwt());
  try {
    await gateway.publishAsync(`/devices/${last}/attach`, '', { qos: 1 });
    await page.goto(consolePage(`${reg}/devices/gw-many`));
    await page.getByTestId('attached-count').getByText('1 of 180 bound devices attached now.').waitFor();
    await page.getByTestId(`attached-${last}`).getByText('attached', { exact: true }).waitFor();
    assert.equal(await page.getByTestId(`attached-${ids[0]!}`).innerText(), 'no');
  } finally {
    await endQuietly(gateway);
  }
  assert.deepEqual(pageErrors, []);
});
