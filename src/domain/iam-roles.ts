import { EVENT_LOG_PERMISSION, type CloudIotPermission, type Permission } from './permissions.js';

/**
 * The predefined roles Bridgehead knows, as permission sets.
 *
 * Source: Google Cloud IoT Core, "Access control with IAM" (cloud.google.com/iot/docs/how-tos/iam),
 * table "Roles":
 *   roles/cloudiot.viewer: "Read-only access to all Cloud IoT resources" — cloudiot.registries.get,
 *     cloudiot.registries.list, cloudiot.devices.get, cloudiot.devices.list;
 *   roles/cloudiot.deviceController: "Access to update the configuration of devices, but not to
 *     create or delete devices" — all of the above and cloudiot.devices.updateConfig,
 *     cloudiot.devices.sendCommand;
 *   roles/cloudiot.provisioner: "Access to create and delete devices from registries, but not to
 *     modify the registries" — all of the above and cloudiot.devices.create,
 *     cloudiot.devices.delete, cloudiot.devices.update;
 *   roles/cloudiot.editor: "Read-write access to all Cloud IoT resources" — all of the above and
 *     cloudiot.registries.create, cloudiot.registries.delete, cloudiot.registries.update;
 *   roles/cloudiot.admin: "Full control of all Cloud IoT resources and permissions" — all of the
 *     above and cloudiot.registries.getIamPolicy, cloudiot.registries.setIamPolicy.
 * cloudiot.devices.bindGateway and cloudiot.devices.unbindGateway came later (IAM permission
 * change log, 2019-05-10) than that table; binding decides which devices a gateway may speak for,
 * which is provisioning, so they start at roles/cloudiot.provisioner (docs/compat.md C-IAM-ROLES).
 * The basic roles follow Google's pattern: Viewer reads (policies included), Editor changes
 * everything but policies, Owner holds everything.
 */

const VIEWER: readonly CloudIotPermission[] = ['cloudiot.registries.get', 'cloudiot.registries.list', 'cloudiot.devices.get', 'cloudiot.devices.list'];
const DEVICE_CONTROLLER: readonly CloudIotPermission[] = [...VIEWER, 'cloudiot.devices.updateConfig', 'cloudiot.devices.sendCommand'];
const PROVISIONER: readonly CloudIotPermission[] = [
  ...DEVICE_CONTROLLER,
  'cloudiot.devices.create',
  'cloudiot.devices.delete',
  'cloudiot.devices.update',
  'cloudiot.devices.bindGateway',
  'cloudiot.devices.unbindGateway',
];
const EDITOR: readonly CloudIotPermission[] = [...PROVISIONER, 'cloudiot.registries.create', 'cloudiot.registries.delete', 'cloudiot.registries.update'];
const ADMIN: readonly CloudIotPermission[] = [...EDITOR, 'cloudiot.registries.getIamPolicy', 'cloudiot.registries.setIamPolicy'];

export const ROLES: Readonly<Record<string, ReadonlySet<Permission>>> = Object.freeze({
  'roles/cloudiot.viewer': new Set<Permission>(VIEWER),
  'roles/cloudiot.deviceController': new Set<Permission>(DEVICE_CONTROLLER),
  'roles/cloudiot.provisioner': new Set<Permission>(PROVISIONER),
  'roles/cloudiot.editor': new Set<Permission>(EDITOR),
  'roles/cloudiot.admin': new Set<Permission>(ADMIN),
  'roles/pubsub.subscriber': new Set<Permission>([EVENT_LOG_PERMISSION]),
  'roles/viewer': new Set<Permission>([...VIEWER, 'cloudiot.registries.getIamPolicy']),
  'roles/editor': new Set<Permission>([...EDITOR, 'cloudiot.registries.getIamPolicy', EVENT_LOG_PERMISSION]),
  'roles/owner': new Set<Permission>([...ADMIN, EVENT_LOG_PERMISSION]),
});

export const isKnownRole = (role: string): boolean => Object.hasOwn(ROLES, role);

/** The permissions of a role; empty for a role Bridgehead does not know (it grants nothing). */
export function rolePermissions(role: string): ReadonlySet<Permission> {
  return isKnownRole(role) ? ROLES[role]! : EMPTY;
}

const EMPTY: ReadonlySet<Permission> = new Set();
