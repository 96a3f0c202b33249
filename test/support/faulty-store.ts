import { LakeUnavailableError } from '../../functions/pipeline/errors.ts';
import type { ObjectInfo, ObjectStore, PutOptions } from '../../functions/pipeline/object-store.ts';

/**
 * An `ObjectStore` decorator that injects storage faults without touching the code under test: a whole-lake
 * outage (every call fails, like S3 answering 503 or the endpoint being gone) for a chosen time, failed writes of
 * chosen keys, and optional latency on writes to widen race windows; `afterWrite` observes every write and delete
 * once it landed. Mocks only to inject faults; everything else reaches the real store.
 */
export class FaultyStore implements ObjectStore {
  /** Calls refused because the lake was down, by operation. */
  readonly refused = { get: 0, head: 0, put: 0, list: 0, delete: 0, putFile: 0, localPath: 0 };
  /** Extra latency before each write reaches the inner store, ms (0 = none). */
  writeDelayMs: (key: string) => number = () => 0;
  /** Writes (put, putFile) of the keys it accepts fail, as a transient S3 error would. */
  failWrites: (key: string) => boolean = () => false;
  /** Called after each write or deleted key reached the inner store (e.g. to read the lake in between). */
  afterWrite: (key: string) => Promise<void> = async () => {};
  private downUntil = 0;
  private isDownManually = false;

  constructor(readonly inner: ObjectStore) {}

  get location(): string {
    return this.inner.location;
  }

  /** The lake is unavailable from now for `ms` milliseconds. */
  outageFor(ms: number): void {
    this.downUntil = Date.now() + ms;
  }

  /** Takes the lake down (`true`) or brings it back (`false`) until told otherwise. */
  setDown(isDown: boolean): void {
    this.isDownManually = isDown;
    if (!isDown) this.downUntil = 0;
  }

  get isDown(): boolean {
    return this.isDownManually || Date.now() < this.downUntil;
  }

  get refusedTotal(): number {
    return Object.values(this.refused).reduce((sum, n) => sum + n, 0);
  }

  private guard(operation: keyof FaultyStore['refused'], key: string): void {
    if (!this.isDown) return;
    this.refused[operation] += 1;
    throw new LakeUnavailableError(`injected outage: ${operation} ${key} refused`);
  }

  private async beforeWrite(key: string): Promise<void> {
    if (this.failWrites(key)) throw new LakeUnavailableError(`injected: put ${key} failed`);
    const ms = this.writeDelayMs(key);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }

  async get(key: string) {
    this.guard('get', key);
    return this.inner.get(key);
  }

  async head(key: string) {
    this.guard('head', key);
    return this.inner.head(key);
  }

  async list(prefix: string) {
    this.guard('list', prefix);
    return this.inner.list(prefix);
  }

  async localPath(info: ObjectInfo) {
    this.guard('localPath', info.key);
    return this.inner.localPath(info);
  }

  async put(key: string, body: Buffer | string, options?: PutOptions) {
    this.guard('put', key);
    await this.beforeWrite(key);
    const out = await this.inner.put(key, body, options);
    await this.afterWrite(key);
    return out;
  }

  async putFile(key: string, localPath: string) {
    this.guard('putFile', key);
    await this.beforeWrite(key);
    const out = await this.inner.putFile(key, localPath);
    await this.afterWrite(key);
    return out;
  }

  async delete(keys: readonly string[]) {
    this.guard('delete', keys[0] ?? '');
    await this.inner.delete(keys);
    for (const key of keys) await this.afterWrite(key);
  }
}
