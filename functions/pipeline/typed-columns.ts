/**
 * How a typed export column (Parquet written by Spark, Glue, pandas, an OLTP export job) becomes the contract's
 * text, so `validated_orders` has one path for every source: JSON, CSV and Parquet all arrive as text.
 *
 * Each value is turned into the text it unambiguously stands for, or left as a text the shared checks reject
 * with the field's reason:
 * - a decimal is its exact digits (`DECIMAL(10,4)` 19.9900 → `19.99`; 19.9950 stays and has too many places);
 * - a whole double or decimal quantity is its integer (2.0 → `2`; 2.5 stays and is not a whole number);
 * - a DOUBLE price is its shortest round-trip text, as a JSON number is read: it is the decimal the writer had
 *   for any price within the limits (≤ 15 significant digits). A FLOAT (7 digits) cannot hold such prices, so it
 *   is read as its exact value (19.99f → 19.989999771118164, rejected: more than 2 decimal places);
 * - a timestamp whose zone the file states (Parquet `isAdjustedToUTC = true`, any unit, which DuckDB reads as
 *   TIMESTAMP WITH TIME ZONE) is that UTC instant in ISO-8601 with `Z`. A naive timestamp (isAdjustedToUTC =
 *   false, INT96, DATE) or a bare integer (epoch seconds? milliseconds? of UTC or of a local wall clock?) states
 *   no zone, so it keeps a zone-less text and is rejected by the event_time check;
 * - ids are strings, integers (also DECIMAL(p,0), as Oracle NUMBER exports write them) or UUIDs; anything else
 *   (a boolean, a floating-point id that may have lost digits, a list) is listed in `mistyped_fields`;
 * - a BLOB (strings written as BYTE_ARRAY without the UTF8 annotation, as older Hive and Impala writers do) is
 *   its UTF-8 text, or, where its bytes are not UTF-8, the record is rejected as such (as a JSONL line would be).
 */
import type { FieldDeclaration } from './datasets.ts';

const INTEGER_TYPES = new Set([
  'TINYINT',
  'SMALLINT',
  'INTEGER',
  'BIGINT',
  'HUGEINT',
  'UTINYINT',
  'USMALLINT',
  'UINTEGER',
  'UBIGINT',
  'UHUGEINT',
]);

/** The SQL for one column's text and what else the load must know about it. */
export interface ColumnText {
  /** A SQL expression of type VARCHAR over the column. */
  text: string;
  /** The column's type is not one the contract accepts for the field (listed in `mistyped_fields`). */
  isMistyped: boolean;
  /** A SQL condition true where the value is bytes that are not UTF-8 (BLOB columns only). */
  invalidUtf8?: string;
}

function decimalScale(type: string): number | undefined {
  const match = /^DECIMAL\(\d+,(\d+)\)$/.exec(type);
  return match ? Number(match[1]) : undefined;
}

/** TIMESTAMP WITH TIME ZONE, and DuckDB 2's nanosecond TIMESTAMPTZ_NS (how it reads isAdjustedToUTC nanos). */
function isZonedTimestamp(type: string): boolean {
  return type.startsWith('TIMESTAMP') && (type.endsWith('WITH TIME ZONE') || type.startsWith('TIMESTAMPTZ'));
}

/**
 * `field` is the declared field the column loads into; `type` the column's DuckDB type as `describe` spells it;
 * `column` its quoted name.
 */
export function typedColumnText(field: FieldDeclaration, type: string, column: string): ColumnText {
  if (type === 'VARCHAR') return { text: column, isMistyped: false };
  if (type === 'BLOB') {
    return {
      text: `try(decode(${column}))`,
      isMistyped: false,
      invalidUtf8: `(${column} is not null and try(decode(${column})) is null)`,
    };
  }
  const scale = decimalScale(type);
  const asText = `${column}::varchar`;
  switch (field.type) {
    case 'integer':
      if (scale !== undefined && scale > 0)
        return { text: `regexp_replace(${asText}, '\\.0+$', '')`, isMistyped: false };
      if (type === 'DOUBLE' || type === 'FLOAT') {
        return {
          text: `if(isfinite(${column}) and ${column} = trunc(${column}) and abs(${column}) < 1e15, ${column}::bigint::varchar, ${asText})`,
          isMistyped: false,
        };
      }
      return { text: asText, isMistyped: false };
    case 'decimal':
      if (scale !== undefined && scale > field.scale) {
        return {
          text: `regexp_replace(${asText}, '(\\.[0-9]{${field.scale}})0+$', '\\1')`,
          isMistyped: false,
        };
      }
      if (type === 'FLOAT') return { text: `${column}::double::varchar`, isMistyped: false };
      return { text: asText, isMistyped: false };
    case 'timestamp':
      if (isZonedTimestamp(type)) {
        return {
          text: `if(isfinite(${column}), strftime(timezone('UTC', ${column}), '%Y-%m-%dT%H:%M:%S.%fZ'), ${asText})`,
          isMistyped: false,
        };
      }
      return { text: asText, isMistyped: true };
    case 'currency':
    case 'enum':
      return { text: asText, isMistyped: true };
    default:
      return { text: asText, isMistyped: !(INTEGER_TYPES.has(type) || type === 'UUID' || scale === 0) };
  }
}
