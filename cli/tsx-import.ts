/**
 * Imports a module that is kept out of the CLI bundle (scripts/build-cli.mjs: the CDK app, lib/synth.ts, whose
 * constructs compute paths from their own location) through tsx. From the TypeScript sources (tsx, vitest)
 * TypeScript already loads, so this is a plain import.
 */
let unregister: (() => Promise<void>) | undefined;

export async function importThroughTsx<T>(load: () => Promise<T>): Promise<T> {
  if (!import.meta.url.endsWith('.ts') && unregister === undefined) {
    const { register } = await import('tsx/esm/api');
    unregister = register();
  }
  return load();
}
