import { randomUUID } from 'node:crypto';
import { link, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { LakeUnavailableError } from './errors.ts';

export interface FileLockOptions {
  /** A lock older than this is taken to be abandoned even if its owner looks alive (pid reuse, other host). */
  staleMs?: number;
  /** Give up waiting for a held lock after this long. */
  waitMs?: number;
}

interface LockOwner {
  host: string;
  pid: number;
  token: string;
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return isErrno(error, 'EPERM');
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.host === 'string' && typeof value.pid === 'number' && typeof value.token === 'string') {
      return { host: value.host, pid: value.pid, token: value.token };
    }
  } catch {
    // Empty or half-written: the owner is between create and write.
  }
  return undefined;
}

/**
 * Removes `lockPath` if its owner is gone: a dead process on this host, or older than `staleMs`.
 * Returns whether the caller should try to acquire again at once.
 */
async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  let judged: { ino: number; mtimeMs: number; owner: LockOwner | undefined };
  try {
    const info = await stat(lockPath);
    judged = { ino: info.ino, mtimeMs: info.mtimeMs, owner: parseOwner(await readFile(lockPath, 'utf8')) };
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return true;
    throw error;
  }
  const ownerDied =
    judged.owner !== undefined && judged.owner.host === hostname() && !processIsAlive(judged.owner.pid);
  if (!ownerDied && Date.now() - judged.mtimeMs < staleMs) return false;
  // Move the stale lock aside rather than deleting it by name: if another process broke it first and
  // took a fresh lock meanwhile, the inode tells us, and the fresh lock is put back.
  const aside = `${lockPath}.${randomUUID()}.stale`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return true;
    throw error;
  }
  if ((await stat(aside)).ino !== judged.ino) await link(aside, lockPath).catch(() => undefined);
  await rm(aside, { force: true });
  return true;
}

/**
 * Runs `critical` while holding an exclusive lock file (created with O_EXCL), so check-then-write sequences
 * are atomic across processes that share a directory. Keep `critical` short: waiters poll.
 */
export async function withFileLock<T>(
  lockPath: string,
  critical: () => Promise<T>,
  { staleMs = 30_000, waitMs = 60_000 }: FileLockOptions = {},
): Promise<T> {
  const owner: LockOwner = { host: hostname(), pid: process.pid, token: randomUUID() };
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await writeFile(lockPath, JSON.stringify(owner), { flag: 'wx' });
      break;
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    if (await breakIfStale(lockPath, staleMs)) continue;
    if (Date.now() > deadline) {
      throw new LakeUnavailableError(
        `lock ${lockPath} held for over ${waitMs} ms; remove it if no twinflow runs`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, attempt) * (0.5 + Math.random())));
  }
  try {
    return await critical();
  } finally {
    // Release only our own lock: a lock broken as stale may already belong to someone else.
    const current = await readFile(lockPath, 'utf8').catch(() => '');
    if (parseOwner(current)?.token === owner.token) await rm(lockPath, { force: true });
  }
}
