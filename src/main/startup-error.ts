import type { Config, ListenAddress } from '../config/schema.js';
import { DataDirLockedError } from './data-dir-lock.js';

/**
 * A startup failure an operator fixes by changing a setting or the machine: the message names the
 * setting, its value and the fix, on one line. The serve command prints it without a stack trace
 * and exits 2.
 */
export class StartupError extends Error {
  constructor(
    readonly setting: string,
    readonly value: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

/** The listen settings, in the order their listeners start. */
const LISTEN_SETTINGS = ['mqttListen', 'mqttPlainListen', 'httpBridgeListen', 'httpBridgePlainListen', 'apiListen', 'apiTlsListen', 'grpcListen'] as const;

const flagOf = (setting: string): string => `--${setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
const shown = (a: ListenAddress): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

function listenSettings(config: Config): { setting: string; address: ListenAddress }[] {
  const out: { setting: string; address: ListenAddress }[] = [];
  for (const setting of LISTEN_SETTINGS) {
    const value = config[setting] as ListenAddress | readonly ListenAddress[] | undefined;
    for (const address of Array.isArray(value) ? value : value ? [value as ListenAddress] : []) out.push({ setting, address });
  }
  return out;
}

type SystemError = NodeJS.ErrnoException & { address?: string; port?: number };

/** The setting whose listener failed with `err` (which names the address and port it tried). */
function failedListener(config: Config, err: SystemError): { setting: string; address: ListenAddress } | undefined {
  const all = listenSettings(config);
  const samePort = all.filter((l) => l.address.port === err.port);
  return samePort.find((l) => l.address.host === err.address) ?? samePort[0];
}

/** A data-directory path error: the data directory, or a file in it, cannot be created, read or written. */
export function dataDirError(dataDir: string, err: NodeJS.ErrnoException, path = dataDir): StartupError {
  const what = path === dataDir ? '' : ` (${path})`;
  const reason = err.code === 'EROFS' ? 'is on a read-only file system' : err.code === 'ENOTDIR' ? 'has a path component that is not a directory' : `is not readable and writable (${err.code ?? err.message})`;
  return new StartupError(
    'dataDir',
    dataDir,
    `dataDir ${dataDir}${what} ${reason}; give the server's user a writable directory with --data-dir (systemd: StateDirectory=)`,
  );
}

/**
 * Turns what a startup step threw into a StartupError when it is one of the operator's problems
 * (address in use or not available, privileged port, data directory); anything else is a bug
 * and keeps its stack.
 */
export function explainStartupError(config: Config, dataDir: string, err: unknown): StartupError | undefined {
  if (err instanceof StartupError) return err;
  if (err instanceof DataDirLockedError) return new StartupError('dataDir', dataDir, err.message);
  const e = err as SystemError;
  if (e?.syscall === 'listen' || e?.syscall === 'bind' || (e?.port !== undefined && /^EADDR|^EACCES$/.test(e.code ?? ''))) {
    const failed = failedListener(config, e);
    if (failed) {
      const value = shown(failed.address);
      const flag = flagOf(failed.setting);
      if (e.code === 'EADDRINUSE') return new StartupError(failed.setting, value, `${failed.setting} ${value} is in use; free the port or choose another with ${flag}`);
      if (e.code === 'EADDRNOTAVAIL') return new StartupError(failed.setting, value, `${failed.setting} ${value}: no local interface has that address; give one of this machine's addresses (or 0.0.0.0) with ${flag}`);
      if (e.code === 'EACCES')
        return new StartupError(
          failed.setting,
          value,
          `${failed.setting} ${value}: ports below 1024 need privilege; grant CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE) or choose a port above 1023 with ${flag}`,
        );
    }
  }
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && /^SQLITE_(READONLY|CANTOPEN|PERM|IOERR)/.test(code)) {
    return dataDirError(dataDir, { ...e, code: `${code}: ${e.message}` });
  }
  return undefined;
}
