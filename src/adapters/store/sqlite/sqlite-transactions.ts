import Database from 'better-sqlite3';
import { ApiError, isApiError } from '../../../domain/errors.js';

/** What the SQLite stores share: driver errors in the error vocabulary, and their transaction shapes. */

export const isUniqueViolation = (e: unknown): boolean =>
  e instanceof Database.SqliteError && (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY');

/**
 * Driver messages name tables and columns; clients get a generic text naming the store (`what`),
 * operators get the cause. With `uniqueAsAlreadyExists` a constraint violation that no caller
 * turned into its own error is ALREADY_EXISTS.
 */
export function sqliteErrorTranslator(what: string, uniqueAsAlreadyExists: boolean): (e: unknown) => unknown {
  return (e) => {
    if (isApiError(e)) return e;
    if (uniqueAsAlreadyExists && isUniqueViolation(e)) return new ApiError('ALREADY_EXISTS', 'The resource already exists.', { cause: e });
    if (e instanceof Database.SqliteError && (e.code.startsWith('SQLITE_BUSY') || e.code.startsWith('SQLITE_LOCKED'))) {
      return new ApiError('UNAVAILABLE', `The ${what} is busy; retry the request.`, { cause: e, reason: 'STORE_BUSY' });
    }
    if (e instanceof Database.SqliteError && e.code === 'SQLITE_FULL') {
      return new ApiError('RESOURCE_EXHAUSTED', `The ${what} is out of space.`, { cause: e, reason: 'STORE_FULL' });
    }
    return new ApiError('INTERNAL', `Internal error in the ${what}.`, { cause: e });
  };
}

export class SqliteTransactions {
  constructor(
    private readonly db: Database.Database,
    private readonly closedError: () => ApiError,
    private readonly translate: (e: unknown) => unknown,
  ) {}

  /** Multi-statement reads run in one deferred transaction so they see a single snapshot. */
  read<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).deferred());
  }

  /** IMMEDIATE takes the write lock up front, so a read-then-write never fails halfway on SQLITE_BUSY. */
  write<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).immediate());
  }

  guard<T>(fn: () => T): T {
    if (!this.db.open) throw this.closedError();
    try {
      return fn();
    } catch (e) {
      throw this.translate(e);
    }
  }
}
