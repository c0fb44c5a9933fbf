/**
 * The Cloud IoT permissions each Device Manager method needs (as Google's IAM documents them),
 * checked by the service layer for every edge alike.
 */
export const PERMISSIONS = {
  createDeviceRegistry: 'cloudiot.registries.create',
  getDeviceRegistry: 'cloudiot.registries.get',
  listDeviceRegistries: 'cloudiot.registries.list',
  updateDeviceRegistry: 'cloudiot.registries.update',
  deleteDeviceRegistry: 'cloudiot.registries.delete',
  getIamPolicy: 'cloudiot.registries.getIamPolicy',
  setIamPolicy: 'cloudiot.registries.setIamPolicy',
  bindDeviceToGateway: 'cloudiot.devices.bindGateway',
  unbindDeviceFromGateway: 'cloudiot.devices.unbindGateway',
  createDevice: 'cloudiot.devices.create',
  getDevice: 'cloudiot.devices.get',
  listDevices: 'cloudiot.devices.list',
  updateDevice: 'cloudiot.devices.update',
  deleteDevice: 'cloudiot.devices.delete',
  modifyCloudToDeviceConfig: 'cloudiot.devices.updateConfig',
  listDeviceConfigVersions: 'cloudiot.devices.get',
  listDeviceStates: 'cloudiot.devices.get',
  sendCommandToDevice: 'cloudiot.devices.sendCommand',
} as const;

export type DeviceManagerMethod = keyof typeof PERMISSIONS;
export type CloudIotPermission = (typeof PERMISSIONS)[DeviceManagerMethod];

/**
 * What managing service accounts, their keys and project policies needs: Google's IAM Admin and
 * Resource Manager permission names. No predefined role here holds them, so only the admin token
 * does (docs/compat.md C-SA-ADMIN).
 */
export const ADMIN_PERMISSIONS = {
  createServiceAccount: 'iam.serviceAccounts.create',
  getServiceAccount: 'iam.serviceAccounts.get',
  listServiceAccounts: 'iam.serviceAccounts.list',
  deleteServiceAccount: 'iam.serviceAccounts.delete',
  /** Naming an account as the identity of push requests (Pub/Sub's pushConfig.oidcToken). */
  actAs: 'iam.serviceAccounts.actAs',
  createKey: 'iam.serviceAccountKeys.create',
  getKey: 'iam.serviceAccountKeys.get',
  listKeys: 'iam.serviceAccountKeys.list',
  disableKey: 'iam.serviceAccountKeys.disable',
  enableKey: 'iam.serviceAccountKeys.enable',
  deleteKey: 'iam.serviceAccountKeys.delete',
  getProjectIamPolicy: 'resourcemanager.projects.getIamPolicy',
  setProjectIamPolicy: 'resourcemanager.projects.setIamPolicy',
} as const;

export type AdminMethod = keyof typeof ADMIN_PERMISSIONS;
export type AdminPermission = (typeof ADMIN_PERMISSIONS)[AdminMethod];

/**
 * Pub/Sub's permissions (cloud.google.com/pubsub/docs/access-control, "Required Pub/Sub
 * permissions"), checked by PubSubAdmin on the resource Google checks them on.
 */
export const PUBSUB_PERMISSIONS = [
  'pubsub.topics.create',
  'pubsub.topics.get',
  'pubsub.topics.update',
  'pubsub.topics.list',
  'pubsub.topics.delete',
  'pubsub.topics.publish',
  'pubsub.topics.attachSubscription',
  'pubsub.topics.detachSubscription',
  'pubsub.topics.getIamPolicy',
  'pubsub.topics.setIamPolicy',
  'pubsub.topics.updateTag',
  'pubsub.subscriptions.create',
  'pubsub.subscriptions.get',
  'pubsub.subscriptions.update',
  'pubsub.subscriptions.list',
  'pubsub.subscriptions.delete',
  'pubsub.subscriptions.consume',
  'pubsub.subscriptions.getIamPolicy',
  'pubsub.subscriptions.setIamPolicy',
  'pubsub.snapshots.create',
  'pubsub.snapshots.get',
  'pubsub.snapshots.list',
  'pubsub.snapshots.update',
  'pubsub.snapshots.delete',
  'pubsub.snapshots.seek',
  'pubsub.snapshots.getIamPolicy',
  'pubsub.snapshots.setIamPolicy',
] as const;

export type PubSubPermission = (typeof PUBSUB_PERMISSIONS)[number];

/** Reading the embedded event log stands in for consuming a Pub/Sub subscription (docs/compat.md C-SA-EVENTLOG). */
export const EVENT_LOG_PERMISSION = 'pubsub.subscriptions.consume' satisfies PubSubPermission;

export type Permission = CloudIotPermission | AdminPermission | PubSubPermission;

const CLOUDIOT: ReadonlySet<string> = new Set(Object.values(PERMISSIONS));

/** The permissions the Device Manager's testIamPermissions answers for: Cloud IoT's own. */
export const isKnownPermission = (p: string): p is CloudIotPermission => CLOUDIOT.has(p);

const PUBSUB: ReadonlySet<string> = new Set(PUBSUB_PERMISSIONS);

/** The permissions Pub/Sub's TestIamPermissions answers for. */
export const isPubSubPermission = (p: string): p is PubSubPermission => PUBSUB.has(p);
