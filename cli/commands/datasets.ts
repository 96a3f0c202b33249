import type { Command } from 'commander';
import { type Dataset, datasetSummary, listDatasets } from '../../functions/pipeline/datasets.ts';

function describe(ds: Dataset): string {
  const lines = [`${ds.name}  (${ds.source}; key ${ds.key.join(', ')}; event time ${ds.eventTime})`];
  if (ds.description) lines.push(`  ${ds.description}`);
  for (const model of ds.models) {
    const grain = model.rollup_of ? `${model.grain}, rollup of ${model.rollup_of}` : model.grain;
    lines.push(
      `  ${model.name} (${grain})`,
      `    dimensions: ${model.dimensions.join(', ') || '—'}`,
      `    measures:   ${Object.entries(model.measures)
        .map(([name, m]) => (m.kind === 'money' ? `${name} (money in ${m.currency})` : `${name} (${m.kind})`))
        .join(', ')}`,
    );
    const ratios = Object.entries(model.ratios);
    if (ratios.length > 0) {
      lines.push(
        `    ratios:     ${ratios.map(([name, r]) => `${name} = ${r.numerator} / ${r.denominator}`).join(', ')}`,
      );
    }
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('datasets')
    .description(
      'the declared datasets (datasets/<name>/dataset.yaml) with their models, dimensions, measures and ratios',
    )
    .option('--json', 'print [{name, source, models: [{name, dimensions, measures, ratios}]}]', false)
    .action((options) => {
      const datasets = listDatasets();
      console.log(
        options.json
          ? JSON.stringify(datasets.map(datasetSummary), null, 2)
          : datasets.map(describe).join('\n\n'),
      );
    });
}
