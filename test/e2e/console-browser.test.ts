import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createDevice, PROJECT, REGION } from '../support/fleet.js';
import { closedByServer, connectDevice, endQuietly, Inbox } from '../support/mqtt-clients.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) against a
 * started server with MQTT.js devices: every page is used the way an operator would, and a
 * screenshot of each at 1280×800 lands in test-output/console/.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SHOTS = join(ROOT, 'test-output', 'console');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const REG = 'console-reg';
const TOPIC = `projects/${PROJECT}/topics/console-telemetry`;
const regPath = `projects/${PROJECT}/locations/${REGION}/registries/${REG}`;

let server: StartedServer;
let browser: Browser;
let page: Page;
let stdout = '';
const clients: MqttClient[] = [];
/** What the page reported as errors other than the API's refusals (which the tests cause on purpose). */
const pageErrors: string[] = [];

/** A screenshot of the viewport, after checking the page fits its width (no horizontal scrolling). */
async function shot(name: string, suffix = ''): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}${suffix}.png`), fullPage: false });
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
  assert.ok(overflow <= 0, `${name}${suffix}: the page is ${overflow} px wider than the window`);
}

/** The error shown next to the input labelled `label`. */
const fieldError = (label: string): ReturnType<Page['locator']> => page.locator('.field', { has: page.getByLabel(label, { exact: true }) }).locator('.field-error');

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer({ logLevel: 'debug' });
  server.process.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (e) => pageErrors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
});

after(async () => {
  for (const c of clients) await endQuietly(c);
  await browser?.close();
  await server?.cleanup();
});

test('the console: sign in, registries, devices, config ack, command, telemetry, gateway, block, errors next to fields', { timeout: 90_000 }, async () => {
  try {
    await operate();
  } catch (e) {
    // What the page showed when a step failed, for whoever reads the failure.
    await page.screenshot({ path: join(SHOTS, 'failure.png') }).catch(() => undefined);
    throw e;
  }
});

async function operate(): Promise<void> {
  // ---- sign in; a wrong token is refused in words ----
  await page.goto(`${server.api}/console/`);
  await page.getByRole('textbox', { name: 'Admin token' }).fill('wrong-token');
  await page.getByLabel('Project').fill(PROJECT);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('UNAUTHENTICATED').waitFor();
  await shot('sign-in');
  // By keyboard: Tab moves from the token to the project, Enter submits.
  const tokenBox = page.getByRole('textbox', { name: 'Admin token' });
  await tokenBox.fill(server.token);
  await tokenBox.focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate('document.activeElement.labels[0].textContent'), 'Project');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  assert.ok(!page.url().includes(server.token), 'the token is not in the URL');

  // ---- registries: a bad ID shows the API's error next to the ID field, then one is created ----
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Registries' }).click();
  await page.getByLabel('Registry ID').fill('1-bad id');
  await page.getByRole('button', { name: 'Create registry' }).click();
  await fieldError('Registry ID').waitFor();
  assert.match(await fieldError('Registry ID').innerText(), /registry|ID|id/);
  await shot('registries');
  await page.getByLabel('Registry ID').fill(REG);
  await page.getByLabel('Telemetry topic').fill(TOPIC);
  await page.getByRole('button', { name: 'Create registry' }).click();
  await page.getByRole('heading', { name: `Registry ${REG}` }).waitFor();

  // ---- a device created in the form, then connected with MQTT.js ----
  const keys = await createDevice(server, REG, 'seed-device').then((d) => d.keys);
  await page.getByLabel('Device ID', { exact: true }).fill('dev-1');
  await page.getByLabel('Public key (PEM, optional)').fill(keys.publicKeyPem);
  await page.getByRole('button', { name: 'Create device' }).click();
  await page.getByRole('heading', { name: /Device dev-1/ }).waitFor();
  const dev = await createDevice(server, REG, 'dev-1-twin', { keys });
  const clientId = `projects/${PROJECT}/locations/${REGION}/registries/${REG}/devices/dev-1`;
  const device = await connectDevice(server, clientId, await dev.jwt());
  clients.push(device);
  const inbox = new Inbox(device);
  await device.subscribeAsync({ '/devices/dev-1/config': { qos: 1 }, '/devices/dev-1/commands/#': { qos: 1 } });
  await page.getByTestId('connection').getByText('online').waitFor();

  // ---- push a config: the device receives it, acknowledges it, and the ack time appears ----
  await page.getByLabel('Config (new version)').fill('{"mode":"eco"}');
  await page.getByRole('button', { name: 'Push new version' }).click();
  let config;
  do config = await inbox.next();
  while (config.payload.toString() !== '{"mode":"eco"}');
  await page.getByTestId('ack-2').getByRole('time').waitFor();
  // The API allows one config update a second per device (spec): the second push waits that out.
  await page.waitForTimeout(1100);
  await page.getByLabel('Config (new version)').fill('{"mode":"turbo"}');
  await page.getByRole('button', { name: 'Push new version' }).click();
  await page.getByTestId('ack-3').waitFor();
  await page.locator('pre.diff .add', { hasText: 'turbo' }).waitFor();

  // ---- a command with a subfolder reaches the subscribed device ----
  await page.getByLabel('Command (text)').fill('reboot');
  await page.getByLabel('Subfolder (optional)').fill('ops');
  await page.getByRole('button', { name: 'Send command' }).click();
  let command;
  do command = await inbox.next();
  while (!command.topic.includes('/commands'));
  assert.equal(command.topic, '/devices/dev-1/commands/ops');
  assert.equal(command.payload.toString(), 'reboot');
  await page.getByText('Command delivered.').waitFor();
  // A subfolder the API refuses: its words next to the subfolder field.
  await page.getByLabel('Subfolder (optional)').fill('bad/+/sub');
  await page.getByRole('button', { name: 'Send command' }).click();
  await fieldError('Subfolder (optional)').waitFor();
  await shot('device');

  // ---- credentials: a bad key is refused next to the key field; one is added with an expiry, one removed ----
  await page.goto(`${server.api}/console/${regPath}/devices/dev-1-twin`);
  const creds = page.locator('#device-credentials');
  await creds.getByLabel('Public key (PEM)').fill('not a key');
  await creds.getByRole('button', { name: 'Add credential' }).click();
  await fieldError('Public key (PEM)').waitFor();
  await creds.getByLabel('Public key (PEM)').fill(keys.publicKeyPem);
  await creds.getByLabel('Expires (optional)').fill('2031-01-02T03:04');
  await creds.getByRole('button', { name: 'Add credential' }).click();
  await creds.getByText(/expires 2031-01-02T/).waitFor();
  await creds.getByRole('button', { name: 'Remove credential 1' }).click();
  await creds.getByText('Credential removed.').waitFor();
  await creds.locator('li.cred').nth(1).waitFor({ state: 'detached' });
  const twin = await api(server, 'GET', `/v1/${regPath}/devices/dev-1-twin`);
  assert.deepEqual((twin.json.credentials as { expirationTime?: string }[]).map((c) => c.expirationTime?.slice(0, 4)), ['2031']);

  // ---- live telemetry: a published event appears in the tail ----
  await page.goto(`${server.api}/console/telemetry?topic=${encodeURIComponent(TOPIC)}`);
  await page.getByText(`Listening on ${TOPIC}`).waitFor();
  await device.publishAsync('/devices/dev-1/events', '{"temperature":21.5}', { qos: 1 });
  await page.locator('ol.messages li', { hasText: 'temperature' }).waitFor();
  await page.getByLabel('Show payload as').selectOption('hex');
  await page.locator('ol.messages pre', { hasText: '7b 22 74 65' }).waitFor();
  await shot('telemetry');

  // ---- a gateway: bind a device in the console, see it attached once the gateway attaches it ----
  const gw = await createDevice(server, REG, 'gw-1', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
  await createDevice(server, REG, 'behind-1');
  await page.goto(`${server.api}/console/${regPath}/devices/gw-1`);
  await page.getByLabel('Bind a device (ID)').fill('no-such-device');
  await page.getByRole('button', { name: 'Bind device' }).click();
  await page.locator('#gateway-bound').getByText('NOT_FOUND').or(fieldError('Bind a device (ID)')).first().waitFor();
  await page.getByLabel('Bind a device (ID)').fill('behind-1');
  await page.getByRole('button', { name: 'Bind device' }).click();
  await page.getByTestId('attached-behind-1').getByText('no', { exact: true }).waitFor();
  const gateway = await connectDevice(server, `projects/${PROJECT}/locations/${REGION}/registries/${REG}/devices/gw-1`, await gw.jwt());
  clients.push(gateway);
  await gateway.publishAsync('/devices/behind-1/attach', '', { qos: 1 });
  await page.getByTestId('attached-behind-1').getByText('attached', { exact: true }).waitFor();
  await page.getByTestId('attached-count').getByText('1 of 1').waitFor();
  // A message for a bound device the gateway has not attached: the bridge reports it on the
  // gateway's errors topic (to which this gateway is not subscribed), and the gateway page lists
  // what :gatewayErrors answers, word for word.
  await createDevice(server, REG, 'behind-2');
  await api(server, 'POST', `/v1/${regPath}:bindDeviceToGateway`, { gatewayId: 'gw-1', deviceId: 'behind-2' });
  await gateway.publishAsync('/devices/behind-2/events', 'x', { qos: 0 });
  const listed = page.getByTestId('gateway-error-behind-2');
  // The QoS 0 publish has no acknowledgement: once the page lists it, the API has it too.
  await listed.waitFor();
  const reported = await api(server, 'GET', `/v1/${regPath}/devices/gw-1:gatewayErrors`);
  const sent = (reported.json.errors as { deviceId: string; errorType: string; description: string; delivered: boolean }[])[0]!;
  assert.deepEqual([sent.deviceId, sent.errorType, sent.delivered], ['behind-2', 'GATEWAY_DEVICE_NOT_FOUND', false]);
  await listed.getByTestId('error-type').getByText(sent.errorType, { exact: true }).waitFor();
  await listed.getByText(sent.description, { exact: true }).waitFor();
  await listed.getByText('PUBLISH /devices/behind-2/events', { exact: true }).waitFor();
  await listed.getByText('not delivered', { exact: true }).waitFor();
  await listed.getByRole('time').getByText(/s ago|just now/).waitFor();
  await page.getByTestId('attached-behind-1').getByText('attached', { exact: true }).waitFor();
  await page.evaluate('window.scrollTo(0, 0)');
  await shot('gateway');

  // ---- devices list: prefix search, gateway filter, online now; a bad prefix is refused in words ----
  await page.goto(`${server.api}/console/${regPath}`);
  await page.getByLabel('Device ID starts with').fill('dev-');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('#devices-list tbody tr', { hasText: 'dev-1-twin' }).waitFor();
  // The list before the search held the gateway; the searched one does not.
  await page.locator('#devices-list').getByRole('link', { name: 'gw-1', exact: true }).waitFor({ state: 'detached' });
  await page.locator('#devices-list tbody tr', { has: page.getByRole('link', { name: 'dev-1', exact: true }) }).getByText('online').waitFor();
  await shot('devices');
  // Paging: 60 devices under one prefix are two pages of 50.
  const ids = Array.from({ length: 60 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`);
  for (let i = 0; i < ids.length; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => api(server, 'POST', `/v1/${regPath}/devices`, { id })));
  await page.getByLabel('Device ID starts with').fill('bulk-');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: 'bulk-049', exact: true }).waitFor();
  assert.equal(await page.locator('#devices-list tbody tr').count(), 50);
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.getByRole('link', { name: 'bulk-059', exact: true }).waitFor();
  assert.equal(await page.locator('#devices-list tbody tr').count(), 10);
  assert.ok(await page.getByRole('button', { name: 'Next page' }).isDisabled());
  await page.getByRole('button', { name: 'Previous page' }).click();
  await page.getByRole('link', { name: 'bulk-000', exact: true }).waitFor();
  await page.getByLabel('Device ID starts with').fill('bad prefix!');
  await page.getByRole('button', { name: 'Search' }).click();
  await fieldError('Device ID starts with').getByText(/device_id_prefix/).waitFor();

  // ---- block the device: the server closes its connection, the page says offline ----
  await page.goto(`${server.api}/console/${regPath}/devices/dev-1`);
  await page.getByTestId('connection').getByText('online').waitFor();
  const closed = closedByServer(device);
  await page.getByRole('button', { name: 'Block device' }).click();
  await closed;
  await page.getByTestId('connection').getByText('offline').waitFor();
  await page.locator('h1 .badge.blocked').waitFor();

  // ---- overview: the server's own metrics history ----
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('img', { name: /Connected devices over the last hour/ }).waitFor();
  await shot('overview');

  // ---- no page breaks its layout at 1920×1080 either ----
  await page.setViewportSize({ width: 1920, height: 1080 });
  // Each page once its data is in (what shows that differs by page).
  for (const [name, path, ready] of [
    ['overview', '/console/', () => page.getByTestId('connected').getByText(/\d/)],
    ['registries', '/console/registries', () => page.getByRole('link', { name: REG })],
    ['devices', `/console/${regPath}`, () => page.locator('#devices-list tbody tr', { has: page.getByRole('link', { name: 'behind-1', exact: true }) }).getByText('online via gw-1')],
    ['device', `/console/${regPath}/devices/dev-1`, () => page.getByTestId('ack-3').getByRole('time')],
    ['gateway', `/console/${regPath}/devices/gw-1`, () => page.getByTestId('attached-behind-1').getByText('attached', { exact: true })],
    ['telemetry', `/console/telemetry?topic=${encodeURIComponent(TOPIC)}`, () => page.getByText(`Listening on ${TOPIC}`)],
  ] as const) {
    await page.goto(`${server.api}${path}`);
    await ready().waitFor();
    await shot(name, '-1920x1080');
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // ---- nothing the strict CSP refused, no uncaught errors ----
  assert.deepEqual(pageErrors, []);

  // ---- the token never lands in the server's log ----
  const registries = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/${REGION}/registries`);
  assert.equal(registries.status, 200);
  assert.ok(!stdout.includes(server.token) && !server.stderr().includes(server.token), 'the admin token is not logged');
}

test('the console signs in with a service-account key file, signed in the browser, with the rights of that account', { timeout: 30_000 }, async () => {
  const account = await api(server, 'POST', `/v1/projects/${PROJECT}/serviceAccounts`, { accountId: 'console-viewer', roles: ['roles/cloudiot.viewer'] });
  assert.equal(account.status, 200, JSON.stringify(account.json));
  const key = await api(server, 'POST', `/v1/projects/${PROJECT}/serviceAccounts/${String(account.json.email)}/keys`, {});
  const keyFile = Buffer.from(String(key.json.privateKeyData), 'base64').toString('utf8');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await context.newPage();
  p.setDefaultTimeout(10_000);
  try {
    await p.goto(`${server.api}/console/`);
    await p.getByRole('radio', { name: 'Service-account key' }).check();
    await p.getByLabel('Key file (JSON)').fill('{"client_email": "x"}');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator('.field-error', { hasText: 'private_key' }).waitFor();
    await p.getByLabel('Key file (JSON)').fill(keyFile);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByText(/console-viewer@/).waitFor();
    // The overview's history is the admin's alone: refused in words.
    await p.getByText('PERMISSION_DENIED').waitFor();
    await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Registries' }).click();
    await p.getByRole('link', { name: REG }).waitFor();
    // A viewer may not create: the API's refusal is shown.
    await p.getByLabel('Registry ID').fill('viewer-made');
    await p.getByRole('button', { name: 'Create registry' }).click();
    await p.getByText(/PERMISSION_DENIED.*cloudiot\.registries\.create/).waitFor();
    await p.screenshot({ path: join(SHOTS, 'sign-in-key.png') });
    assert.ok(!stdout.includes('PRIVATE KEY') && !server.stderr().includes('PRIVATE KEY'), 'the private key is not logged');
  } finally {
    await context.close();
  }
});
