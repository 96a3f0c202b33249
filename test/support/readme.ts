import { readFileSync } from 'node:fs';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The shell lines of the first ```bash block after `heading` in the README (comments and blank lines dropped). */
export function readmeBashLines(heading: string): string[] {
  const section = README.split(heading)[1] ?? '';
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
}

/**
 * The `npx twinflow` commands of that block that use the README's demo lake `demoLake`, as argument lists run on
 * `lake` instead (trailing comments dropped).
 */
export function readmeLakeCommands(heading: string, demoLake: string, lake: string): string[][] {
  return readmeBashLines(heading)
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line.startsWith('npx twinflow ') && line.includes(`--lake ${demoLake}`))
    .map((line) => line.replaceAll(demoLake, lake).split(/\s+/).slice(2));
}
