import type { Command } from 'commander';
import { loadConfig } from '../config/loader.js';
import { ConfigError } from '../config/schema.js';
import { startServer } from '../main/server.js';

/** `bridgehead serve`: what `npm start` runs. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Bridgehead server (embedded SQLite store by default)')
    .option('--config <file>', 'JSON config file (also BRIDGEHEAD_CONFIG)')
    .option('--data-dir <dir>', 'data directory (default ./data)')
    .option('--api-listen <host:port>', 'admin REST API address (default 127.0.0.1:8080)')
    .option('--admin-token <token>', 'admin bearer token (also BRIDGEHEAD_ADMIN_TOKEN); generated into the data dir if unset')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default info)')
    .action(async (opts: { config?: string; dataDir?: string; apiListen?: string; adminToken?: string; logLevel?: string }) => {
      let config;
      try {
        config = loadConfig({
          configFile: opts.config,
          dataDir: opts.dataDir,
          apiListen: opts.apiListen,
          adminToken: opts.adminToken,
          logLevel: opts.logLevel,
        });
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`bridgehead: ${e.message}\n`);
          process.exit(2);
        }
        throw e;
      }
      const server = await startServer(config);
      process.stdout.write(`${JSON.stringify({ event: 'listening', ...server.info })}\n`);
      const stop = (signal: string): void => {
        process.stderr.write(`bridgehead: ${signal} received, draining\n`);
        server.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`bridgehead: error while stopping: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
