import { describe, expect, it } from 'vitest';
import { listDatasets } from '../../functions/pipeline/datasets.ts';
import { type SettingGroup, settingsFromEnv } from '../../functions/settings/setting.ts';
import { type StageConfigOverrides, settingsEnvironment, stageSetting } from '../../lib/stage-config.ts';
import {
  FUNCTION_NAMES,
  functionIdentity,
  functionSpec,
  timeoutSecondsOf,
  twinflowFunctions,
} from '../../lib/twinflow-functions.ts';
import type { CfnTemplate } from '../../local/template-plan.ts';
import { planFromTemplate } from '../../local/template-plan.ts';
import { twinflow, twinflowWith } from '../support/cli.ts';
import { datasetsWithFixtures, synthStage, withDatasetsDir } from './helpers.ts';

/** Every policy off its default, so a value that did not come from the stage shows. */
const TUNED: StageConfigOverrides = {
  stream: { allowedLatenessSeconds: 600, functionTimeoutSeconds: 30, queueVisibilityTimeoutSeconds: 180 },
  validation: { currencies: ['USD', 'EUR'], maxClockSkewSeconds: 120 },
  reporting: { timeZone: 'Asia/Taipei' },
  batch: { spikeFactor: 4.5, maxMalformedShare: 0.1, fanOutThresholdBytes: 5e9, fanOutBuckets: 64 },
  reconcile: { deviationThreshold: 0.25, lookbackDays: 5 },
  compaction: { rollUpAboveEvents: 500_000, foldEveryMinutes: 15 },
};

type LambdaResource = {
  Metadata?: Record<string, unknown>;
  Properties: {
    Description: string;
    MemorySize: number;
    Timeout: number;
    EphemeralStorage?: { Size: number };
    Environment: { Variables: Record<string, unknown> };
  };
};

/**
 * The template's functions by name, as the local runtime identifies them (entry, and `TWINFLOW_DATASET` for the
 * ingest handler every streamed dataset shares). Throws on a function it cannot name or a name given twice.
 */
function lambdasByName(template: CfnTemplate): Map<string, LambdaResource> {
  const byName = new Map<string, LambdaResource>();
  for (const [id, resource] of Object.entries(template.Resources)) {
    const entry = resource.Metadata?.['twinflow:entry'];
    if (resource.Type !== 'AWS::Lambda::Function' || typeof entry !== 'string') continue;
    const lambda = resource as unknown as LambdaResource;
    const name = functionIdentity(entry, lambda.Properties.Environment.Variables)?.name;
    if (!name || byName.has(name)) throw new Error(`${id}: function ${name ?? entry} unknown or twice`);
    byName.set(name, lambda);
  }
  return byName;
}

describe('the function list drives the CDK app, the local runtime and the CLI', () => {
  const synth = synthStage('dev', TUNED);
  const template = synth.computeTemplate.toJSON() as CfnTemplate;

  it('the template has exactly the listed functions, each with its description, memory and timeout', () => {
    const lambdas = lambdasByName(template);

    expect([...lambdas.keys()].sort()).toEqual([...FUNCTION_NAMES].sort());
    expect(FUNCTION_NAMES).toEqual([
      'run-batch',
      'ingest-clicks',
      'ingest-inventory',
      'ingest-orders',
      'compact-realtime',
      'query-sales',
      'reconcile-views',
      'evaluate-alerts',
      'batch-fan-out',
    ]);
    for (const name of FUNCTION_NAMES) {
      const spec = functionSpec(name);
      expect(lambdas.get(name)?.Properties, name).toMatchObject({
        Description: spec.description,
        MemorySize: spec.memorySize,
        Timeout: timeoutSecondsOf(spec, synth.config),
      });
    }
    expect(lambdas.get('ingest-orders')?.Properties.Timeout).toBe(30);
    expect(lambdas.get('ingest-clicks')?.Properties.Timeout).toBe(30);
    expect(lambdas.get('ingest-inventory')?.Properties.Timeout).toBe(30);
    expect(lambdas.get('evaluate-alerts')?.Properties).toMatchObject({ MemorySize: 1024, Timeout: 60 });
    // The fan-out's merge streams facts parts and spills in /tmp (~45 B an order): the maximum; the rest the default.
    expect(lambdas.get('batch-fan-out')?.Properties.EphemeralStorage).toEqual({ Size: 10_240 });
    for (const name of FUNCTION_NAMES.filter((n) => n !== 'batch-fan-out')) {
      expect(lambdas.get(name)?.Properties.EphemeralStorage, name).toBeUndefined();
    }
  });

  it("each function's environment is its settings rendered from the stage config, and reads back as the stage's values", () => {
    const lambdas = lambdasByName(template);
    for (const name of FUNCTION_NAMES) {
      const spec = functionSpec(name);
      const variables = lambdas.get(name)?.Properties.Environment.Variables ?? {};
      // Assess: the template holds the schema's rendering of the stage config …
      expect(variables, name).toMatchObject(settingsEnvironment(spec.settings, synth.config));
      // … which the function's own env parser reads back as the stage's values, and nothing else sets a setting.
      const literals = Object.fromEntries(
        Object.entries(variables).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      );
      const read = settingsFromEnv(spec.settings, literals) as Record<string, unknown>;
      for (const [key, setting] of Object.entries(spec.settings as SettingGroup)) {
        if (setting.stage === undefined) {
          expect(variables[setting.env], `${name} ${setting.env}`).toBeUndefined();
          expect(read[key]).toEqual(setting.default);
        } else {
          expect(read[key], `${name} ${setting.env}`).toEqual(stageSetting(synth.config, setting));
          expect(read[key], `${name} ${setting.env} is tuned`).not.toEqual(setting.default);
        }
      }
    }
  });

  it('the local plan runs every listed function with its listed entry', () => {
    const plan = planFromTemplate(template);

    expect(plan.functions.map((f) => f.name).sort()).toEqual([...FUNCTION_NAMES].sort());
    for (const fn of plan.functions) expect(fn.entry).toBe(functionSpec(fn.name).entry);
  });

  it('twinflow invoke offers exactly the listed names', async () => {
    const help = await twinflow('invoke', '--help');
    const unknown = await twinflow('invoke', 'ingest-everything', '--event', 'events/batch-day.json');

    expect(help.code).toBe(0);
    const choices = /\(choices: ([^)]*)\)/.exec(help.stdout.replace(/\s+/g, ' '))?.[1];
    expect(choices?.split(', ').map((c) => c.replace(/"/g, ''))).toEqual(FUNCTION_NAMES);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(FUNCTION_NAMES.join(', '));
  });

  it('with datasets added, the list, the template, the local plan and twinflow invoke have one ingest function per stream', async () => {
    const project = datasetsWithFixtures('stock_moves', 'shelf_audits');
    try {
      const specs = twinflowFunctions(listDatasets(project.dir));
      const extended = withDatasetsDir(project.dir, () => synthStage('dev').computeTemplate.toJSON());
      const plan = planFromTemplate(extended as CfnTemplate);
      const help = await twinflowWith({ TWINFLOW_DATASETS_DIR: project.dir }, 'invoke', '--help');

      expect(specs.map((spec) => spec.name)).toEqual([
        'run-batch',
        'ingest-clicks',
        'ingest-inventory',
        'ingest-orders',
        'ingest-stock_moves',
        'compact-realtime',
        'query-sales',
        'reconcile-views',
        'evaluate-alerts',
        'batch-fan-out',
      ]);
      expect(specs.find((spec) => spec.name === 'ingest-stock_moves')).toMatchObject({
        id: 'IngestStockMoves',
        entry: functionSpec('ingest-orders').entry,
        dataset: 'stock_moves',
        environment: { TWINFLOW_DATASET: 'stock_moves' },
      });
      expect(plan.functions.map((f) => f.name).sort()).toEqual(specs.map((spec) => spec.name).sort());
      const choices = /\(choices: ([^)]*)\)/.exec(help.stdout.replace(/\s+/g, ' '))?.[1];
      expect(choices?.split(', ').map((c) => c.replace(/"/g, ''))).toEqual(specs.map((spec) => spec.name));
    } finally {
      project.remove();
    }
  });
});
