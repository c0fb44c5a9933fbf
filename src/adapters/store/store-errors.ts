import { ApiError } from '../../domain/errors.js';
import { registryName, type RegistryKey } from '../../domain/model.js';

/*
 * Client-visible store errors, shared by the memory and SQLite stores so both report the same codes
 * and texts; the contract suite asserts these texts against both implementations.
 */

export const registryExists = (k: RegistryKey): ApiError =>
  new ApiError('ALREADY_EXISTS', `Registry "${registryName(k)}" already exists.`);

export const registryNotFound = (k: RegistryKey): ApiError =>
  new ApiError('NOT_FOUND', `Registry "${registryName(k)}" not found.`);

export const registryNotEmpty = (k: RegistryKey): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Registry "${registryName(k)}" is not empty; delete its devices first.`);

export const deviceExists = (k: RegistryKey, id: string): ApiError =>
  new ApiError('ALREADY_EXISTS', `Device "${id}" already exists in registry "${registryName(k)}".`);

export const deviceNotFound = (numId: string): ApiError => new ApiError('NOT_FOUND', `Device "${numId}" not found.`);

export const notAGateway = (id: string): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Device "${id}" is not a gateway.`);

export const gatewayAsDevice = (id: string): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Device "${id}" is a gateway; a gateway cannot be bound to another gateway.`);

export const differentRegistries = (gatewayId: string, deviceId: string): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Gateway "${gatewayId}" and device "${deviceId}" are in different registries.`);

export const gatewayFull = (gatewayId: string, max: number): ApiError =>
  new ApiError('RESOURCE_EXHAUSTED', `Gateway "${gatewayId}" already has the maximum of ${max} bound devices.`);

export const deviceFull = (deviceId: string, max: number): ApiError =>
  new ApiError('RESOURCE_EXHAUSTED', `Device "${deviceId}" is already bound to the maximum of ${max} gateways.`);

export const notBound = (gatewayId: string, deviceId: string): ApiError =>
  new ApiError('NOT_FOUND', `Device "${deviceId}" is not bound to gateway "${gatewayId}".`);

export const storeClosed = (): ApiError => new ApiError('UNAVAILABLE', 'The registry store is closed.');
