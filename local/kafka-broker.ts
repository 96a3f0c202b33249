import { spawn, spawnSync } from 'node:child_process';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * The local Kafka broker: librdkafka's mock cluster, run by Debian's `kcat` (`apt-get install kcat`). No Kafka
 * broker installs from npm or Debian, and no Docker engine runs here; the mock cluster speaks the Kafka protocol
 * on loopback (produce, fetch, consumer groups, committed offsets), auto-creates a topic with 4 partitions on its
 * first use, and keeps everything in memory. Admin `createTopics` and lookups of offsets by timestamp are not
 * supported by it (Twinflow uses neither).
 *
 * The broker is a process of its own, like a real cluster: a runtime that crashes leaves it running, and the next
 * `twinflow start` on the same data directory attaches to it (`<data>/kafka/broker.json`), so records produced
 * but not committed are delivered after the restart. A clean stop of the runtime stops it.
 */

export interface KafkaBroker {
  /** `127.0.0.1:<port>`. */
  bootstrapServers: string;
  pid: number;
  /** Attached to the broker a previous runtime on the same data directory started. */
  reused: boolean;
  stop(): Promise<void>;
}

interface BrokerRecord {
  pid: number;
  bootstrapServers: string;
}

const STARTUP_TIMEOUT_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `kcat` runs here (tests that need the broker skip without it). */
export function hasKcat(command = 'kcat'): boolean {
  return spawnSync(command, ['-V'], { stdio: 'ignore' }).status === 0;
}

/** Whether a process runs (the broker's pid in `broker.json`, say). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function accepts(hostPort: string): Promise<boolean> {
  const [host = '127.0.0.1', port = '0'] = hostPort.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The broker a previous runtime left running on this data directory, if it still answers. */
async function attach(recordFile: string): Promise<BrokerRecord | undefined> {
  const text = await readFile(recordFile, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const record = JSON.parse(text) as BrokerRecord;
  return isAlive(record.pid) && (await accepts(record.bootstrapServers)) ? record : undefined;
}

async function stopProcess(pid: number): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Starts the mock cluster (or attaches to the one `dataDir` records). Without `dataDir` (tests), a fresh broker
 * that `stop()` ends.
 * @throws Error saying how to install kcat when it is missing, or what the broker printed when it did not start.
 */
export async function startKafkaBroker(
  options: { dataDir?: string; kcat?: string } = {},
): Promise<KafkaBroker> {
  const kcat = options.kcat ?? 'kcat';
  const dir = options.dataDir
    ? path.join(options.dataDir, 'kafka')
    : path.join(os.tmpdir(), `twinflow-kafka-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  const recordFile = path.join(dir, 'broker.json');
  const stop = async (pid: number) => {
    await stopProcess(pid);
    await rm(recordFile, { force: true });
    if (!options.dataDir) await rm(dir, { recursive: true, force: true });
  };
  if (options.dataDir) {
    const running = await attach(recordFile);
    if (running) return { ...running, reused: true, stop: () => stop(running.pid) };
  }
  if (!hasKcat(kcat)) {
    throw new Error(
      `the local Kafka broker needs kcat (librdkafka's mock cluster): install it with "apt-get install kcat" (not found: ${kcat})`,
    );
  }
  const logFile = path.join(dir, 'broker.log');
  const log = await open(logFile, 'w');
  // A consumer of a topic nobody writes keeps kcat — and the mock cluster inside it — running, with no stdin.
  const child = spawn(
    kcat,
    ['-C', '-b', 'mock:9092', '-X', 'test.mock.num.brokers=1', '-t', '__twinflow_broker', '-q'],
    { detached: true, stdio: ['ignore', 'ignore', log.fd] },
  );
  child.unref();
  await log.close();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${kcat}`);
  const started = Date.now();
  for (;;) {
    const printed = await readFile(logFile, 'latin1').catch(() => '');
    const port = /replaced with 127\.0\.0\.1:(\d+)/.exec(printed)?.[1];
    if (port) {
      const bootstrapServers = `127.0.0.1:${port}`;
      if (options.dataDir) await writeFile(recordFile, JSON.stringify({ pid, bootstrapServers }));
      return { bootstrapServers, pid, reused: false, stop: () => stop(pid) };
    }
    if (!isAlive(pid) || Date.now() - started > STARTUP_TIMEOUT_MS) {
      await stopProcess(pid);
      throw new Error(
        `the local Kafka broker (kcat) did not start: ${printed.trim().slice(-500) || 'no output'}`,
      );
    }
    await sleep(50);
  }
}
