#!/usr/bin/env node
// Entry point for `npx twinflow`: loads the TypeScript CLI through tsx so the checkout needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
