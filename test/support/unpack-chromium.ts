import { findChromium } from './chromium.ts';

/**
 * Vitest global setup: unpacks the npm-shipped Chromium once, before any worker starts, so the first browser
 * test of a fresh install does not spend its hook timeout inflating 190 MB (and two workers do not both do it).
 */
export default async function setup(): Promise<void> {
  await findChromium();
}
