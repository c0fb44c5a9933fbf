import type { Device } from '../domain/model.js';

/** Delivers a command to a device's live session (spec §3.7). */
export interface CommandSender {
  send(device: Device, data: Uint8Array, subfolder: string): Promise<void>;
}
