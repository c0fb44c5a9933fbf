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

/** Reading the embedded event log stands in for consuming a Pub/Sub subscription (docs/compat.md C-SA-EVENTLOG). */
export const EVENT_LOG_PERMISSION = 'pubsub.subscriptions.consume';

export type Permission = CloudIotPermission | AdminPermission | typeof EVENT_LOG_PERMISSION;

const CLOUDIOT: ReadonlySet<string> = new Set(Object.values(PERMISSIONS));

/** The permissions testIamPermissions answers for: Cloud IoT's own. */
export const isKnownPermission = (p: string): p is CloudIotPermission => CLOUDIOT.has(p);
