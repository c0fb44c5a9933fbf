import { ApiError } from '../domain/errors.js';
import type { Device } from '../domain/model.js';

/** Delivers a command to a device's live session (spec §3.7). */
export interface CommandSender {
  send(device: Device, data: Uint8Array, subfolder: string): Promise<void>;
}

/** Without a device bridge no device is ever connected (docs/compat.md C-CMD-OFFLINE). */
export const noBridgeCommandSender: CommandSender = {
  async send(device) {
    throw new ApiError('FAILED_PRECONDITION', `Device "${device.id}" is not connected.`);
  },
};
