#!/usr/bin/env node
// The npm registry this project is built from does not serve native packages for other platforms
// (darwin, win32, musl…), so `npm install` leaves them out of package-lock.json and `npm ci` then refuses the
// lock as out of sync. This adds each missing platform package as an optional entry with its os/cpu/libc,
// which `npm ci` skips on non-matching machines, exactly as a lock made elsewhere would.
// Run after `npm install <pkg>`: node scripts/complete-lockfile.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const PLATFORM =
  /-(android|darwin|freebsd|linux|openbsd|sunos|win32|aix)-(arm64|x64|ia32|arm|ppc64|s390x|riscv64|loong64)(-(musl|gnu))?$/;
const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const added = [];

for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
    if (lock.packages[nested] || lock.packages[`node_modules/${name}`]) continue;
    const platform = PLATFORM.exec(name);
    if (!platform) continue;
    lock.packages[`node_modules/${name}`] = {
      version,
      ...(platform[4] ? { libc: [platform[4] === 'musl' ? 'musl' : 'glibc'] } : {}),
      cpu: [platform[2]],
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os: [platform[1]],
    };
    added.push(`${name}@${version}`);
  }
}

lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) =>
    a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  ),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `added ${added.length} platform entries: ${added.join(', ')}` : 'lock file complete',
);
