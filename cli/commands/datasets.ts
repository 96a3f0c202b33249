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
  for (const b of ds.balances) {
    lines.push(
      `  balance ${b.name} (GET /${b.name}, twinflow ${b.name}): ${b.value} = latest ${b.opening.dataset}.${b.opening.value} + ${b.movements.model}.${b.movements.measure} since${b.threshold ? `, against ${b.threshold}` : ''}`,
    );
  }
  for (const t of ds.tables)
    lines.push(`  table ${t.name}: tables/${t.name}.csv (${[...t.key, t.value].join(', ')})`);
  for (const a of ds.alerts) {
    const on = a.balance ?? `${a.model}.${a.measure} over ${a.minutes} min`;
    const where = Object.entries(a.where ?? {}).map(([d, v]) => ` ${d}=${v}`);
    lines.push(
      `  alert ${a.name}: ${on}${where.join('')} ${a.below !== undefined ? `below ${a.below}` : `above ${a.above}`}`,
    );
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
