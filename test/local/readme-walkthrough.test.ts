import { describe, expect, it } from 'vitest';
import { readmeBashLines } from '../support/readme.ts';

describe('README walkthrough', () => {
  it('reads the lake only while its bucket is in place', () => {
    // Prepare: step 5 moves the bucket directory away, step 7 puts it back.
    const bucketDir = /\.twinflow\/s3\/lakebucket\w+/;
    let away = false;
    let movedAway = 0;
    const whileAway: string[] = [];

    // Act
    for (const line of readmeBashLines('### Walkthrough')) {
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
