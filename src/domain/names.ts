import { echo } from './echo.js';
import { invalidArgument } from './errors.js';
import type { RegistryKey } from './model.js';

/** Resource names of spec §1.1. */

// Project IDs are user-chosen here (no GCP rules): letters, digits and the punctuation of
// domain-scoped GCP projects ("example.com:proj").
const PROJECT = /^[a-zA-Z0-9][-a-zA-Z0-9._:]{0,127}$/;

/** A project ID as Bridgehead accepts it in any resource name. */
export const isProjectId = (s: string): boolean => PROJECT.test(s);
const LOCATION = /^[a-zA-Z0-9][-a-zA-Z0-9_]{0,62}$/;

export interface LocationKey {
  project: string;
  location: string;
}

export function parseLocationName(name: string, field: string): LocationKey {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)$/.exec(name);
  if (!m || !PROJECT.test(m[1]!) || !LOCATION.test(m[2]!)) {
    throw invalidArgument(field, `Invalid ${field}: expected "projects/{project}/locations/{location}", got "${echo(name)}".`);
  }
  return { project: m[1]!, location: m[2]! };
}

export function parseRegistryName(name: string, field: string): RegistryKey {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)\/registries\/([^/]+)$/.exec(name);
  if (!m || !PROJECT.test(m[1]!) || !LOCATION.test(m[2]!)) {
    throw invalidArgument(
      field,
      `Invalid ${field}: expected "projects/{project}/locations/{location}/registries/{registry}", got "${echo(name)}".`,
    );
  }
  return { project: m[1]!, location: m[2]!, registry: m[3]! };
}

export interface DeviceRef {
  registryKey: RegistryKey;
  /** A device ID or a numId (all digits). */
  device: string;
}

export function parseDeviceName(name: string, field: string): DeviceRef {
  const m = /^(projects\/[^/]+\/locations\/[^/]+\/registries\/[^/]+)\/devices\/([^/]+)$/.exec(name);
  if (!m) {
    throw invalidArgument(
      field,
      `Invalid ${field}: expected "projects/{project}/locations/{location}/registries/{registry}/devices/{device}", got "${echo(name)}".`,
    );
  }
  return { registryKey: parseRegistryName(m[1]!, field), device: m[2]! };
}

/** A numId, not a device ID: device IDs start with a letter, so all digits is unambiguous (spec §1.1). */
export const isNumId = (s: string): boolean => /^\d{1,20}$/.test(s);

const TOPIC = /^projects\/[a-zA-Z0-9][-a-zA-Z0-9._:]{0,127}\/topics\/[a-zA-Z][-a-zA-Z0-9._~%+]{2,254}$/;

export function checkTopicName(name: string, field: string): void {
  if (!TOPIC.test(name)) {
    throw invalidArgument(field, `Invalid ${field}: expected a Pub/Sub topic name "projects/{project}/topics/{topic}", got "${echo(name)}".`);
  }
}
