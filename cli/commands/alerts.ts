import type { Command } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { lakeOption, openCliStore, tzOption } from '../cli-env.ts';

/**
 * `twinflow alerts`: the declared alert rules and their open alerts (GET /alerts); `--evaluate` first evaluates every
 * rule now against the lake, as the scheduled evaluate-alerts does (one alert per crossing, in alerts/ of the lake).
 */
export function register(program: Command): void {
  program
    .command('alerts')
    .description('the declared alert rules, their open alerts and the recent ones (same JSON as GET /alerts)')
    .option('--evaluate', 'evaluate every rule now first (as the scheduled evaluate-alerts does)', false)
    .option('--rule <name>', 'only this declared rule (with --evaluate)')
    .option('--limit <n>', 'at most this many open and recent alerts (1..500)', '50')
    .option('--json', 'print the GET /alerts JSON body', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const { alertRulesOf, evaluateAlerts, listAlerts } = await import('../../functions/alerts/rules.ts');
      const limit = Number(options.limit);
      if (!/^\d+$/.test(options.limit) || limit < 1 || limit > 500) {
        throw new InvalidInputError(`--limit must be a whole number 1..500, got "${options.limit}"`, 'limit');
      }
      const deps = {
        store: await openCliStore(options.lake),
        clock: () => new Date(),
        log: options.verbose ? consoleLog : silentLog,
        timeZone: options.tz,
      };
      const rules = alertRulesOf().filter((r) => options.rule === undefined || r.name === options.rule);
      if (rules.length === 0) {
        const known = alertRulesOf().map((r) => r.name);
        throw new InvalidInputError(
          `no alert rule "${options.rule}" (declared: ${known.join(', ')})`,
          'rule',
        );
      }
      const evaluated = options.evaluate ? await evaluateAlerts(rules, deps) : undefined;
      const result = await listAlerts(deps, limit);
      if (options.json) {
        console.log(JSON.stringify(result, null, 2));
      } else {
        const lines: string[] = [];
        for (const r of evaluated?.results ?? []) {
          lines.push(
            `evaluated ${r.rule}: ${r.keys} watched, ${r.fired.length} raised, ${r.resolved.length} resolved, ${r.firing} open`,
          );
        }
        for (const f of evaluated?.failed ?? []) lines.push(`FAILED ${f.rule}: ${f.error}`);
        lines.push(`${result.rules.length} rule(s):`);
        for (const rule of result.rules) {
          lines.push(`  ${rule.name} (${rule.dataset}): ${rule.watches} ${rule.condition} ${rule.threshold}`);
        }
        lines.push(`${result.open.length} open alert(s)${result.open.length > 0 ? ':' : ''}`);
        for (const alert of result.open) lines.push(`  ${alert.raised_at}  ${alert.message}`);
        console.log(lines.join('\n'));
      }
      if ((evaluated?.failed.length ?? 0) > 0) process.exitCode = 1;
    });
}
