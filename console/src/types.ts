/** The API's JSON resources, as much of them as the console reads. */

export interface Registry {
  id: string;
  name: string;
  eventNotificationConfigs?: { subfolderMatches?: string; pubsubTopicName?: string }[];
  stateNotificationConfig?: { pubsubTopicName?: string };
  mqttConfig?: { mqttEnabledState?: string };
  httpConfig?: { httpEnabledState?: string };
  logLevel?: string;
  credentials?: { publicKeyCertificate?: { format?: string; certificate?: string; x509Details?: Record<string, string> } }[];
}

export interface Credential {
  publicKey?: { format?: string; key?: string };
  expirationTime?: string;
}

export interface Device {
  id: string;
  name: string;
  numId: string;
  credentials?: Credential[];
  lastHeartbeatTime?: string;
  lastEventTime?: string;
  lastStateTime?: string;
  lastConfigAckTime?: string;
  lastConfigSendTime?: string;
  blocked?: boolean;
  lastErrorTime?: string;
  lastErrorStatus?: { code?: number; message?: string };
  config?: DeviceConfig;
  state?: { updateTime?: string; binaryData?: string };
  logLevel?: string;
  metadata?: Record<string, string>;
  gatewayConfig?: { gatewayType?: string; gatewayAuthMethod?: string; lastAccessedGatewayId?: string; lastAccessedGatewayTime?: string };
}

export interface DeviceConfig {
  version?: string;
  cloudUpdateTime?: string;
  deviceAckTime?: string;
  binaryData?: string;
}

export interface DeviceState {
  updateTime?: string;
  binaryData?: string;
}

export interface Connection {
  deviceId: string;
  numId: string;
  connected: boolean;
  gatewayId?: string;
}

export const isGateway = (d: Device | undefined): boolean => d?.gatewayConfig?.gatewayType === 'GATEWAY';
