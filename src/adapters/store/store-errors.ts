import { ApiError } from '../../domain/errors.js';
import { registryName, type RegistryKey } from '../../domain/model.js';

/*
 * Client-visible store errors, shared by the memory and SQLite stores so both report the same codes
 * and texts; the contract suite asserts these texts against both implementations.
 */

export const registryExists = (k: RegistryKey): ApiError =>
  new ApiError('ALREADY_EXISTS', `Registry "${registryName(k)}" already exists.`, { reason: 'REGISTRY_EXISTS' });

export const registryNotFound = (k: RegistryKey): ApiError =>
  new ApiError('NOT_FOUND', `Registry "${registryName(k)}" not found.`, { reason: 'REGISTRY_NOT_FOUND' });

export const registryNotEmpty = (k: RegistryKey): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Registry "${registryName(k)}" is not empty; delete its devices first.`, { reason: 'REGISTRY_NOT_EMPTY' });

export const deviceExists = (k: RegistryKey, id: string): ApiError =>
  new ApiError('ALREADY_EXISTS', `Device "${id}" already exists in registry "${registryName(k)}".`, { reason: 'DEVICE_EXISTS' });

/**
 * No numId is left above the largest stored one (reachable only through an import of numIds near
 * 2^53 made before C-IMPORT-NUMID bounded them). FAILED_PRECONDITION, not RESOURCE_EXHAUSTED: a
 * retry cannot succeed, only an operator can fix it.
 */
export const numIdsExhausted = (): ApiError =>
  new ApiError('FAILED_PRECONDITION', `No device numId is left: new devices get numIds above every one ever stored, and the next would pass ${Number.MAX_SAFE_INTEGER}.`);

export const deviceNotFound = (numId: string): ApiError => new ApiError('NOT_FOUND', `Device "${numId}" not found.`, { reason: 'DEVICE_NOT_FOUND' });

export const storeClosed = (): ApiError => new ApiError('UNAVAILABLE', 'The registry store is closed.', { reason: 'STORE_CLOSED' });

/** Another write of the same resource came first: the caller re-reads and retries, or reports ABORTED. */
export const revisionConflict = (what: string): ApiError =>
  new ApiError('ABORTED', `${what} was changed by another request; read it again and retry.`, { reason: 'REVISION_CONFLICT' });

export const serviceAccountExists = (email: string): ApiError =>
  new ApiError('ALREADY_EXISTS', `Service account "${email}" already exists.`, { reason: 'SERVICE_ACCOUNT_EXISTS' });

export const serviceAccountNotFound = (email: string): ApiError =>
  new ApiError('NOT_FOUND', `Service account "${email}" not found.`, { reason: 'SERVICE_ACCOUNT_NOT_FOUND' });

export const keyNotFound = (keyId: string): ApiError => new ApiError('NOT_FOUND', `Service account key "${keyId}" not found.`, { reason: 'KEY_NOT_FOUND' });

export const keyLimit = (email: string, max: number): ApiError =>
  new ApiError('FAILED_PRECONDITION', `Service account "${email}" already has the maximum of ${max} keys; delete one first.`, { reason: 'KEY_LIMIT' });

export const keyExists = (keyId: string): ApiError => new ApiError('ALREADY_EXISTS', `Service account key "${keyId}" already exists.`);
