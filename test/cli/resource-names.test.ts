import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { addGlobalOptions, UsageError } from '../../src/cli/context.js';
import { deviceOperand, mergeNames, parseDeviceRef, parseRegistryRef, resolveScope } from '../../src/cli/resource-names.js';

const usage = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message);

const REG = 'projects/p1/locations/europe-west1/registries/r1';

/** A leaf command with the global options and --registry/--device, parsed from `argv`. */
function parsed(argv: string[], env: Record<string, string> = {}): Command {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const cmd = addGlobalOptions(new Command('x')).option('--registry <r>').option('--device <d>').argument('[device]').exitOverride();
    cmd.parse(argv, { from: 'user' });
    return cmd;
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

describe('parsing names', () => {
  test('IDs stay IDs; full names give every part', () => {
    assert.deepEqual(parseRegistryRef('r1', '--registry').parts, { registry: 'r1' });
    assert.deepEqual(parseRegistryRef(REG, '--registry').parts, { project: 'p1', region: 'europe-west1', registry: 'r1' });
    assert.deepEqual(parseDeviceRef('2000000000000001', 'x').parts, { device: '2000000000000001' });
    assert.deepEqual(parseDeviceRef(`${REG}/devices/d1`, 'x').parts, { project: 'p1', region: 'europe-west1', registry: 'r1', device: 'd1' });
  });

  test('names pasted from URLs and API paths are accepted', () => {
    assert.equal(parseDeviceRef(`/v1/${REG}/devices/d1`, 'x').parts.device, 'd1');
    assert.equal(parseDeviceRef(`https://cloudiot.googleapis.com/v1/${REG}/devices/d1`, 'x').parts.device, 'd1');
    assert.equal(parseRegistryRef(`//cloudiot.googleapis.com/${REG}`, 'x').parts.registry, 'r1');
  });

  test('a malformed name is a usage error showing the expected shape', () => {
    assert.throws(() => parseRegistryRef('projects/p1/registries/r1', '--registry'), usage(/--registry must be a registry ID or projects\/PROJECT\/locations\/REGION\/registries\/REGISTRY, got "projects\/p1\/registries\/r1"/));
    assert.throws(() => parseDeviceRef(`${REG}/devices/d1/extra`, '--device'), usage(/--device must be .*devices\/DEVICE, got/));
    assert.throws(() => parseRegistryRef(`${REG}/devices/d1`, '--registry'), usage(/--registry must be/));
  });
});

describe('merging names and flags', () => {
  test('agreeing sources merge; a disagreement names both', () => {
    assert.deepEqual(mergeNames([parseRegistryRef('r1', '--registry'), parseDeviceRef(`${REG}/devices/d1`, 'the device argument')]), {
      registry: 'r1',
      project: 'p1',
      region: 'europe-west1',
      device: 'd1',
    });
    assert.throws(
      () => mergeNames([parseRegistryRef('r2', '--registry'), parseDeviceRef(`${REG}/devices/d1`, 'the device argument')]),
      usage(/^--registry "r2" conflicts with the device argument "projects\/p1\/.*\/devices\/d1" \(registry "r1"\)/),
    );
  });

  test('a typed --project or --region conflicting with a name is a usage error', () => {
    const cmd = parsed([`${REG}/devices/d1`, '--project', 'other']);
    assert.throws(() => resolveScope(cmd, [parseDeviceRef(`${REG}/devices/d1`, 'the device argument')]), usage(/--project "other" conflicts with the device argument .* \(project "p1"\)/));
    const region = parsed(['--region', 'us-central1']);
    assert.throws(() => resolveScope(region, [parseRegistryRef(REG, '--registry')]), usage(/--region "us-central1" conflicts with --registry/));
  });

  test('the name overrides the default region and an environment project, and is written back for apiContext', () => {
    const cmd = parsed([], { BRIDGEHEAD_PROJECT: 'env-project' });
    assert.equal(cmd.opts<{ project: string }>().project, 'env-project');
    const parts = resolveScope(cmd, [parseRegistryRef(REG, '--registry')]);
    assert.equal(parts.registry, 'r1');
    assert.deepEqual(cmd.opts<{ project: string; region: string }>(), { ...cmd.opts(), project: 'p1', region: 'europe-west1' });
  });

  test('without a name, typed flags pass through unchanged', () => {
    const cmd = parsed(['--project', 'p9', '--region', 'asia-east1']);
    assert.deepEqual(resolveScope(cmd, [parseRegistryRef('r1', '--registry')]), { project: 'p9', region: 'asia-east1', registry: 'r1' });
  });
});

describe('the device operand', () => {
  test('positional or --device, not two different ones', () => {
    assert.deepEqual(deviceOperand(parsed(['--device', 'd1']), undefined), { text: 'd1', label: '--device' });
    assert.deepEqual(deviceOperand(parsed([]), 'd1'), { text: 'd1', label: 'the device argument' });
    assert.deepEqual(deviceOperand(parsed(['--device', 'd1']), 'd1'), { text: 'd1', label: '--device' });
    assert.throws(() => deviceOperand(parsed(['--device', 'd1']), 'd2'), usage(/given twice/));
    assert.throws(() => deviceOperand(parsed([]), undefined), usage(/Give --device DEVICE/));
  });
});
