import { PUBSUB_PERMISSIONS, type CloudIotPermission, type Permission, type PubSubPermission } from './permissions.js';

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
 *
 * Source for Pub/Sub: "Pub/Sub roles and permissions" (cloud.google.com/iam/docs/roles-permissions/pubsub):
 *   roles/pubsub.publisher: "Provides access to publish messages to a topic" — pubsub.topics.publish;
 *   roles/pubsub.subscriber: "Provides access to consume messages from a subscription and to attach
 *     subscriptions to a topic" — pubsub.snapshots.seek, pubsub.subscriptions.consume,
 *     pubsub.topics.attachSubscription;
 *   roles/pubsub.viewer: "Provides access to view topics and subscriptions" — the get and list
 *     permissions of topics, subscriptions and snapshots;
 *   roles/pubsub.editor: "Provides access to modify topics and subscriptions, and access to publish
 *     and consume messages" — every pubsub.* permission but getIamPolicy and setIamPolicy;
 *   roles/pubsub.admin: "Provides full access to topics and subscriptions" — pubsub.*.
 * (Schemas, tag bindings and message transforms are not served, so their permissions are left out.)
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

const isIamPermission = (p: string): boolean => p.endsWith('.getIamPolicy') || p.endsWith('.setIamPolicy');
const PS_ADMIN: readonly PubSubPermission[] = PUBSUB_PERMISSIONS;
const PS_EDITOR: readonly PubSubPermission[] = PS_ADMIN.filter((p) => !isIamPermission(p));
const PS_VIEWER: readonly PubSubPermission[] = PS_ADMIN.filter((p) => p.endsWith('.get') || p.endsWith('.list'));
const PS_SUBSCRIBER: readonly PubSubPermission[] = ['pubsub.snapshots.seek', 'pubsub.subscriptions.consume', 'pubsub.topics.attachSubscription'];
const PS_PUBLISHER: readonly PubSubPermission[] = ['pubsub.topics.publish'];
const PS_GET_IAM: readonly PubSubPermission[] = PS_ADMIN.filter((p) => p.endsWith('.getIamPolicy'));

export const ROLES: Readonly<Record<string, ReadonlySet<Permission>>> = Object.freeze({
  'roles/cloudiot.viewer': new Set<Permission>(VIEWER),
  'roles/cloudiot.deviceController': new Set<Permission>(DEVICE_CONTROLLER),
  'roles/cloudiot.provisioner': new Set<Permission>(PROVISIONER),
  'roles/cloudiot.editor': new Set<Permission>(EDITOR),
  'roles/cloudiot.admin': new Set<Permission>(ADMIN),
  'roles/pubsub.publisher': new Set<Permission>(PS_PUBLISHER),
  'roles/pubsub.subscriber': new Set<Permission>(PS_SUBSCRIBER),
  'roles/pubsub.viewer': new Set<Permission>(PS_VIEWER),
  'roles/pubsub.editor': new Set<Permission>(PS_EDITOR),
  'roles/pubsub.admin': new Set<Permission>(PS_ADMIN),
  'roles/viewer': new Set<Permission>([...VIEWER, 'cloudiot.registries.getIamPolicy', ...PS_VIEWER, ...PS_GET_IAM]),
  'roles/editor': new Set<Permission>([...EDITOR, 'cloudiot.registries.getIamPolicy', ...PS_EDITOR, ...PS_GET_IAM]),
  'roles/owner': new Set<Permission>([...ADMIN, ...PS_ADMIN]),
});

export const isKnownRole = (role: string): boolean => Object.hasOwn(ROLES, role);

/** The permissions of a role; empty for a role Bridgehead does not know (it grants nothing). */
export function rolePermissions(role: string): ReadonlySet<Permission> {
  return isKnownRole(role) ? ROLES[role]! : EMPTY;
}

const EMPTY: ReadonlySet<Permission> = new Set();
