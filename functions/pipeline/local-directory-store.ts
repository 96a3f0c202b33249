import { randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LakeUnavailableError, PreconditionFailedError } from './errors.ts';
import { withFileLock } from './file-lock.ts';
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store.ts';

const TEMP_SUFFIX = '.tmp-write';
const LOCK_SUFFIX = '.lock-write';

/**
 * File times tick coarsely, so two versions of one size can share an mtime; every write renames a new file
 * into place, so the inode tells them apart.
 */
function etagOf(s: Stats): string {
  return `${s.ino.toString(16)}-${s.size.toString(16)}-${Math.trunc(s.mtimeMs * 1000).toString(16)}`;
}

/**
 * The lake as a directory: the embedded default for the CLI, tests and benchmarks.
 * Writes go to a temp file and are renamed into place, so a reader never sees half an object.
 * Conditional writes hold across processes: the check and the rename run under a lock file per key.
 */
export class LocalDirectoryStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = root;
  }

  private pathOf(key: string): string {
    const full = path.resolve(this.root, key);
    if (!full.startsWith(this.root + path.sep))
      throw new LakeUnavailableError(`key escapes the lake: ${key}`);
    return full;
  }

  private async info(key: string, full: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(full);
      if (!s.isFile()) return undefined;
      return { key, etag: etagOf(s), size: s.size, lastModified: s.mtime };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new LakeUnavailableError(`cannot read ${this.location}/${key}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.info(key, this.pathOf(key));
  }

  async get(key: string): Promise<{ body: Buffer; etag: string } | undefined> {
    const full = this.pathOf(key);
    const info = await this.info(key, full);
    if (!info) return undefined;
    try {
      return { body: await readFile(full), etag: info.etag };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private async writeAtomically(key: string, options: PutOptions, write: (temp: string) => Promise<void>) {
    const full = this.pathOf(key);
    await mkdir(path.dirname(full), { recursive: true });
    const temp = `${full}.${randomUUID()}${TEMP_SUFFIX}`;
    const conditional = options.ifMatch !== undefined || options.ifNoneMatch === true;
    const commit = async () => {
      if (conditional) {
        const current = await this.info(key, full);
        if (options.ifNoneMatch && current) throw new PreconditionFailedError(key);
        if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
          throw new PreconditionFailedError(key);
        }
      }
      await rename(temp, full);
      const written = await this.info(key, full);
      return { etag: written?.etag ?? '' };
    };
    try {
      await write(temp);
      return await (conditional ? withFileLock(`${full}${LOCK_SUFFIX}`, commit) : commit());
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  put(key: string, body: Buffer | string, options: PutOptions = {}): Promise<{ etag: string }> {
    return this.writeAtomically(key, options, (temp) => writeFile(temp, body));
  }

  putFile(key: string, localPath: string): Promise<{ etag: string }> {
    return this.writeAtomically(key, {}, (temp) => copyFile(localPath, temp));
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    // Walk from the deepest existing directory of the prefix, then filter by the full prefix.
    const dirPart = prefix.endsWith('/') ? prefix : path.posix.dirname(prefix);
    const start = dirPart === '.' ? this.root : this.pathOf(dirPart.replace(/\/$/, '') || '.');
    const walk = async (dir: string): Promise<ObjectInfo[]> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return [];
        throw new LakeUnavailableError(`cannot list ${dir}: ${(error as Error).message}`, { cause: error });
      }
      // Directories and stats in parallel: the serving layer lists a day's partitions on every query.
      const found = await Promise.all(
        entries.map(async (entry): Promise<ObjectInfo[]> => {
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) return walk(full);
          if (!entry.isFile() || entry.name.endsWith(TEMP_SUFFIX) || entry.name.endsWith(LOCK_SUFFIX))
            return [];
          const key = path.relative(this.root, full).split(path.sep).join('/');
          if (!key.startsWith(prefix)) return [];
          const info = await this.info(key, full);
          return info ? [info] : [];
        }),
      );
      return found.flat();
    };
    return (await walk(start)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => rm(this.pathOf(key), { force: true })));
  }

  async localPath(info: ObjectInfo): Promise<string> {
    return this.pathOf(info.key);
  }
}
