import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildDashboard, GENERATED_MODULE, generatedModule } from '../../dashboard/build.ts';
import {
  DASHBOARD_CSP,
  DASHBOARD_HTML,
} from '../../functions/query-sales/routes/dashboard-page.generated.ts';

function inline(tag: 'script' | 'style'): string {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(DASHBOARD_HTML);
  if (!match?.[1]) throw new Error(`no inline <${tag}>`);
  return match[1];
}

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

describe('dashboard build', () => {
  it('the committed page module equals a fresh build (run `npx tsx dashboard/build.ts` after editing dashboard/)', async () => {
    const fresh = generatedModule(await buildDashboard());
    const committed = await readFile(GENERATED_MODULE, 'utf8');
    // Compare without printing 80 KiB of minified code: where they first differ is enough to go on.
    let at = 0;
    while (at < fresh.length && fresh[at] === committed[at]) at++;
    const where =
      at === fresh.length && at === committed.length
        ? 'identical'
        : `differ at ${at}: ${JSON.stringify(fresh.slice(at, at + 80))}`;
    expect(where).toBe('identical');
  });

  it('is one self-contained document: uPlot inlined, nothing loaded from anywhere else', () => {
    expect(DASHBOARD_HTML.startsWith('<!doctype html>')).toBe(true);
    expect(DASHBOARD_HTML).not.toMatch(/<script[^>]*\ssrc=/i);
    expect(DASHBOARD_HTML).not.toMatch(/<link[^>]*rel="?stylesheet/i);
    expect(DASHBOARD_HTML).not.toMatch(/(src|href)="?(https?:)?\/\//i);
    expect(inline('script')).toContain('uplot');
    expect(inline('style')).toContain('.u-legend');
  });

  it('the CSP allows exactly the inline script and style, by hash, and same-origin API calls', () => {
    expect(DASHBOARD_CSP).toContain("default-src 'none'");
    expect(DASHBOARD_CSP).toContain(`script-src ${hash(inline('script'))}`);
    expect(DASHBOARD_CSP).toContain(`style-src ${hash(inline('style'))}`);
    expect(DASHBOARD_CSP).toContain("connect-src 'self'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
  });
});
