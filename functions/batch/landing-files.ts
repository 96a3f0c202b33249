import { dataset } from '../pipeline/datasets.ts';
import { addDays } from '../pipeline/dates.ts';
import { shortHash } from '../pipeline/ids.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import { type ExportFormat, exportFormatOf } from '../pipeline/record-sources.ts';
import { datasetModels, modelSql } from '../pipeline/sql-models.ts';

/** An export file of one day's landing partition. */
export interface LandingFile extends ObjectInfo {
  format: ExportFormat;
}

/** The export files of a day of a dataset (other objects, like `_SUCCESS` markers, are ignored). */
export async function landingFiles(
  store: ObjectStore,
  day: string,
  dataset = 'orders',
): Promise<LandingFile[]> {
  const objects = await store.list(lake.landingPrefix(day, dataset));
  return objects.flatMap((info) => {
    const format = exportFormatOf(info.key);
    return format ? [{ ...info, format }] : [];
  });
}

/** Every day that has landing objects, with their objects, from one listing of `landing/<dataset>/`. */
export async function landingDays(
  store: ObjectStore,
  dataset = 'orders',
): Promise<Map<string, LandingFile[]>> {
  const byDay = new Map<string, LandingFile[]>();
  for (const info of await store.list(lake.landingRoot(dataset))) {
    const format = exportFormatOf(info.key);
    const { day } = partitionOf(info.key);
    if (!format || !day) continue;
    byDay.set(day, [...(byDay.get(day) ?? []), { ...info, format }]);
  }
  return byDay;
}

const logicVersions = new Map<string, string>();

/** A hash of every SQL model of the dataset (a change of logic is a new version of every day). */
function logicVersion(name: string): string {
  let version = logicVersions.get(name);
  if (!version) {
    version = shortHash(...datasetModels(dataset(name)).map(modelSql));
    logicVersions.set(name, version);
  }
  return version;
}

/**
 * The deterministic version of a day's views: a hash of its export files (key, ETag, size) and of the SQL.
 * Unchanged inputs and logic give the same version, so a re-run overwrites identical objects.
 */
export function viewVersion(files: readonly LandingFile[], datasetName = 'orders'): string {
  return shortHash(logicVersion(datasetName), ...files.map((f) => `${f.key}|${f.etag}|${f.size}`));
}

/** What a day's views follow from: its export files, its neighbours' (when the models read them) and so its version. */
export interface DayInputs {
  files: LandingFile[];
  /** The exports of the day before and the day after, for a dataset with `neighbour_days`; else none. */
  neighbourFiles: LandingFile[];
  version: string;
}

/**
 * A day's inputs and version, the one definition for the batch run, the backfill's skip and reconciliation's
 * re-run check: for a dataset whose models read the neighbouring days (sessions across midnight), a neighbour's new
 * export is a new version of the day, and an unchanged neighbourhood is the same version.
 */
export async function dayInputs(store: ObjectStore, day: string, datasetName = 'orders'): Promise<DayInputs> {
  const hasNeighbours = dataset(datasetName).neighbourDays > 0;
  const [files, before, after] = await Promise.all([
    landingFiles(store, day, datasetName),
    hasNeighbours ? landingFiles(store, addDays(day, -1), datasetName) : [],
    hasNeighbours ? landingFiles(store, addDays(day, 1), datasetName) : [],
  ]);
  const neighbourFiles = [...before, ...after];
  return { files, neighbourFiles, version: viewVersion([...files, ...neighbourFiles], datasetName) };
}
