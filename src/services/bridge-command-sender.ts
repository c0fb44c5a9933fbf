import { ApiError } from '../domain/errors.js';
import type { Device } from '../domain/model.js';
import type { CommandSender } from './command-sender.js';
import type { SessionDirectory } from './session-directory.js';

/** sendCommandToDevice through the live session that holds the device (spec §3.7). */
export class BridgeCommandSender implements CommandSender {
  constructor(private readonly directory: SessionDirectory) {}

  async send(device: Device, data: Uint8Array, subfolder: string): Promise<void> {
    const session = this.directory.get(device.numId);
    // docs/compat.md C-CMD-OFFLINE
    if (!session) throw new ApiError('FAILED_PRECONDITION', `Device "${device.id}" is not connected.`);
    const delivered = await session.sendCommand(device.numId, subfolder, data);
    if (!delivered) {
      throw new ApiError('FAILED_PRECONDITION', `Device "${device.id}" is not subscribed to the commands topic${subfolder ? ` for subfolder "${subfolder}"` : ''}.`);
    }
  }
}
