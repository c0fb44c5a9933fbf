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
export type Permission = (typeof PERMISSIONS)[DeviceManagerMethod];

const ALL: ReadonlySet<string> = new Set(Object.values(PERMISSIONS));

export const isKnownPermission = (p: string): p is Permission => ALL.has(p);
