import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The shell lines of the README's "Walkthrough" code block. */
function walkthroughLines(): string[] {
  const section = README.split('### Walkthrough')[1] ?? '';
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
}

describe('README walkthrough', () => {
  it('reads the lake only while its bucket is in place', () => {
    // Prepare: step 5 moves the bucket directory away, step 7 puts it back.
    const bucketDir = /\.twinflow\/s3\/lakebucket\w+/;
    let away = false;
    let movedAway = 0;
    const whileAway: string[] = [];

    // Act
    for (const line of walkthroughLines()) {
      const move = /^mv (\S+) (\S+)/.exec(line);
      if (move?.[1] && move[2]) {
        if (bucketDir.test(move[1])) [away, movedAway] = [true, movedAway + 1];
        else if (bucketDir.test(move[2])) away = false;
      } else if (away && line.includes('--lake')) whileAway.push(line);
    }

    // Assess
    expect(movedAway).toBe(1);
    expect(away).toBe(false);
    expect(whileAway).toEqual([]);
  });
});
