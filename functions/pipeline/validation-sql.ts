import type { Dataset, FieldDeclaration } from './datasets.ts';

/**
 * The validation models of a dataset, generated from its declared fields: THE definition of a valid event, shared
 * by every layer. `raw<name>FromJson` turns JSON records into the all-text shape exports load into;
 * `validated_<name>` types each field and gives one reason per invalid field (`field: reason`). Identifiers come
 * from the checked declaration; values are bound or come from the policy tables (validation-policy.ts).
 */

const ISO_TIMESTAMP =
  "'[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)'";

const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;
const list = (names: readonly string[]) => `[${names.map(quote).join(', ')}]`;

/** The JSON types a field accepts before its own checks: ids take whole numbers too, text fields only strings. */
function jsonTypes(field: FieldDeclaration): string[] | undefined {
  if (field.type === 'id') return ['VARCHAR', 'BIGINT', 'UBIGINT', 'NULL'];
  if (field.type === 'currency' || field.type === 'timestamp' || field.type === 'enum')
    return ['VARCHAR', 'NULL'];
  return undefined; // numbers: read as their JSON text, their checks reject the rest
}

/** JSON records (`raw_<name>_lines`) → the all-VARCHAR shape of `raw_<name>`. Unknown fields are ignored. */
export function rawFromJsonSql(ds: Dataset): string {
  const fields = Object.keys(ds.fields);
  const byTypes = new Map<string, string[]>();
  for (const [name, field] of Object.entries(ds.fields)) {
    const types = jsonTypes(field);
    if (types) byTypes.set(types.join(','), [...(byTypes.get(types.join(',')) ?? []), name]);
  }
  const mistyped = [...byTypes].map(
    ([types, names]) =>
      `list_filter(\n                ${list(names)},\n                lambda field: json_type(doc, '$.' || field) not in (${types
        .split(',')
        .map(quote)
        .join(', ')})\n            )`,
  );
  return `-- grain: one row per received JSON record (an SQS message body or a line of a .jsonl export), generated from
-- datasets/${ds.name}/dataset.yaml. Turns JSON text into the same all-VARCHAR shape CSV and Parquet exports are read
-- into, so one validation applies to every source. Unknown fields are ignored.
with

raw_lines as (
    select * from raw_${ds.name}_lines
),

unmarked as (
    -- A leading UTF-8 byte order mark (some .NET and Windows producers write one) is an encoding marker, not
    -- JSON: RFC 8259 lets a parser ignore it, and files drop it the same way. \`raw\` keeps the body as received.
    select
        *,
        if(starts_with(line, chr(65279)), line[2:], line) as json_text,
    from raw_lines
),

parsed as (
    select
        record_ref,
        source,
        is_stream_record,
        received_at,
        line as raw,
        encoding_error,
        if(encoding_error is null and json_valid(json_text), json_text, null)::json as doc,
    from unmarked
),

keyed as (
    select
        *,
        json_keys(doc) as keys,
    from parsed
),

deduplicated_keys as (
    -- JSON.parse keeps the last of two equal keys, json_extract the first: which value the producer meant is
    -- unknowable, so a declared field given twice rejects the record. Repeated unknown fields are ignored.
    -- Counted per declared field, so a body of thousands of keys stays linear.
    select
        *,
        list_filter(
            ${list(fields)},
            lambda field: len(list_filter(keys, lambda key: key = field)) > 1
        ) as duplicate_keys,
    from keyed
),

fields as (
    select
        record_ref,
        source,
        is_stream_record,
        received_at,
        raw,
        case
            when encoding_error is not null then encoding_error
            when doc is null then 'record: not valid JSON'
            when json_type(doc) <> 'OBJECT' then 'record: not a JSON object'
            when len(duplicate_keys) > 0
                then 'record: duplicate key ' || array_to_string(duplicate_keys, ', ')
        end as parse_error,
        -- Ids are text; a whole JSON number (64-bit) is read as its digits, exactly. Anything else (an array, object,
        -- boolean, fraction or a longer number) would otherwise be counted as its JSON text. Text fields take strings.
        ${mistyped.length > 0 ? `list_concat(\n            ${mistyped.join(',\n            ')}\n        )` : '[]::varchar[]'} as mistyped_fields,
        ${fields.map((f) => `json_extract_string(doc, '$.${f}') as ${f}`).join(',\n        ')},
    from deduplicated_keys
)

select * from fields
`;
}

/** A decimal bound as the reason shows it: `1000000.00` for scale 2. */
function decimalText(value: number, scale: number): string {
  return value.toFixed(scale);
}

/** A leading minus is part of a number only where the field may be negative (no minimum, or one below 0). */
function sign(min: number | undefined): string {
  return min === undefined || min < 0 ? '-?' : '';
}

/**
 * A TIMESTAMPTZ as the naive UTC TIMESTAMP of the same instant: `::timestamp` in a UTC session (every connection's,
 * duckdb-session.ts), without the ICU calendar that cast goes through for every row (on 1M event times it cost four
 * times the parse; the same value for every year and offset: test/sql/validation-timestamps.test.ts).
 */
export function utcTimestampSql(instant: string): string {
  return `make_timestamp(epoch_us(${instant}))`;
}

function typedColumn(name: string, field: FieldDeclaration): string | undefined {
  const text = `${name}_text`;
  switch (field.type) {
    case 'integer':
      return `if(regexp_full_match(${text}, '${sign(field.min)}[0-9]{1,9}'), ${text}::bigint, null) as ${name}_value`;
    case 'decimal':
      return `if(
            regexp_full_match(${text}, '${sign(field.min)}[0-9]{1,${15 - field.scale}}(\\.[0-9]{1,${field.scale}})?'),
            ${text}::decimal(18, ${field.scale}),
            null
        ) as ${name}_value`;
    case 'timestamp':
      return `if(
            regexp_full_match(${text}, ${ISO_TIMESTAMP}),
            ${utcTimestampSql(`try_cast(${text} as timestamptz)`)},
            null
        ) as ${name}_value`;
    default:
      return undefined;
  }
}

/**
 * An `unless` exemption: the SQL condition that a record is exempt (an enum field has one of the values; a missing
 * value exempts nothing) and the words of the reason (`event_type is page_view`).
 */
function exemption(unless: Record<string, string[]>): { exempt: string; text: string } {
  const exempt = Object.entries(unless).map(
    ([other, values]) => `coalesce(list_contains(${list(values)}, ${other}_text), false)`,
  );
  const text = Object.entries(unless)
    .map(([other, values]) => `${other} is ${values.join(' or ')}`)
    .join(', or ');
  return { exempt: `(${exempt.join(' or ')})`, text };
}

function requiredCheck(
  name: string,
  required: boolean | 'stream' | { unless: Record<string, string[]> },
): string[] {
  if (required === false) return [];
  if (typeof required === 'object') {
    // Required except where an enum field has one of the listed values (then it may be missing).
    const { exempt, text } = exemption(required.unless);
    return [`when ${name}_text is null and not ${exempt} then '${name}: required unless ${text}'`];
  }
  const condition =
    required === 'stream' ? `${name}_text is null and is_stream_record` : `${name}_text is null`;
  return [`when ${condition} then '${name}: required'`];
}

/** The `when … then reason` branches of one field, in the order they are checked. */
function reasonBranches(ds: Dataset, name: string, field: FieldDeclaration): string[] {
  const text = `${name}_text`;
  const value = `${name}_value`;
  switch (field.type) {
    case 'id':
      return [
        `when list_contains(mistyped_fields, '${name}') then '${name}: must be a string or a whole number'`,
        ...requiredCheck(name, field.required),
        `when length(${text}) > 128 then '${name}: longer than 128 characters'`,
      ];
    case 'integer': {
      const branches = [...requiredCheck(name, field.required)];
      const minReason =
        field.min === undefined
          ? undefined
          : field.min === 0
            ? 'must be 0 or more'
            : `must be greater than ${field.min - 1}`;
      // A typed value passed the digits-only pattern, so it cannot be negative here: only text that did not type
      // is matched against the pattern of why (a valid row pays for one regex per number, not three).
      if (minReason && (field.min ?? 0) >= 0) {
        branches.push(
          `when ${value} is null and regexp_full_match(${text}, '-[0-9]+') then '${name}: ${minReason}'`,
        );
      }
      branches.push(
        `when ${text} is not null and ${value} is null then '${name}: not a whole number (or more than 9 digits)'`,
      );
      if (minReason) branches.push(`when ${value} < ${field.min} then '${name}: ${minReason}'`);
      if (field.max !== undefined)
        branches.push(`when ${value} > ${field.max} then '${name}: larger than ${field.max}'`);
      if (field.positive) {
        const { exempt, text } = exemption(field.positive.unless);
        branches.push(
          `when ${value} < 1 and not ${exempt} then '${name}: must be greater than 0 unless ${text}'`,
        );
      }
      return branches;
    }
    case 'decimal': {
      const branches = [...requiredCheck(name, field.required)];
      // As for integers: a typed value has at most `scale` decimal places and no sign here, so these patterns
      // are matched only against text that did not type.
      if (field.min !== undefined && field.min >= 0) {
        branches.push(
          `when ${value} is null and regexp_full_match(${text}, '-[0-9]+(\\.[0-9]*)?') then '${name}: must be ${decimalMin(field.min)}'`,
        );
      }
      branches.push(
        `when ${value} is null and regexp_full_match(${text}, '-?[0-9]+\\.[0-9]{${field.scale + 1},}')
                then '${name}: more than ${field.scale} decimal places'`,
        `when ${text} is not null and ${value} is null then '${name}: not a decimal number'`,
      );
      if (field.min !== undefined) {
        branches.push(`when ${value} < ${field.min} then '${name}: must be ${decimalMin(field.min)}'`);
      }
      if (field.max !== undefined) {
        branches.push(
          `when ${value} > ${field.max} then '${name}: larger than ${decimalText(field.max, field.scale)}'`,
        );
      }
      return branches;
    }
    case 'currency':
      return [
        `when not ${name}_is_iso then '${name}: not an ISO 4217 code'`,
        `when not ${name}_is_accepted
                then '${name}: ' || ${text} || ' not accepted (accepted: ' || accepted_currencies || ')'`,
      ];
    case 'enum':
      return [
        `when list_contains(mistyped_fields, '${name}') then '${name}: must be a string'`,
        ...requiredCheck(name, field.required),
        `when ${text} is not null and not list_contains(${list(field.values)}, ${text})
                then '${name}: not one of ${field.values.join(', ')}'`,
      ];
    case 'timestamp':
      return [
        ...requiredCheck(name, field.required),
        `when ${text} is not null and ${value} is null then '${name}: not an ISO-8601 timestamp with a time zone'`,
        `when ${value} < timestamp '2000-01-01' or ${value} >= timestamp '2100-01-01'
                then '${name}: outside 2000..2099'`,
        ...(name === ds.eventTime
          ? [
              `-- A producer clock far ahead would move the watermark and make every later event late.
            when ${value} > received_at + to_seconds(max_clock_skew_seconds)
                then '${name}: more than ' || max_clock_skew_seconds || ' s after the record was received ('
                    || strftime(received_at, '%Y-%m-%dT%H:%M:%SZ') || ')'`,
            ]
          : []),
      ];
  }
}

function decimalMin(min: number): string {
  return min === 0 ? '0 or more' : `at least ${min}`;
}

/** The SQL type a field has once validated (in `validated_<name>`, the facts and the stream archive). */
export function fieldSqlType(field: FieldDeclaration): string {
  switch (field.type) {
    case 'integer':
      return 'integer';
    case 'decimal':
      return `decimal(18, ${field.scale})`;
    case 'timestamp':
      return 'timestamp';
    default:
      return 'varchar';
  }
}

function outputColumn(name: string, field: FieldDeclaration): string {
  switch (field.type) {
    case 'integer':
      return `${name}_value::integer as ${name}`;
    case 'decimal':
    case 'timestamp':
      return `${name}_value as ${name}`;
    default:
      return `${name}_text as ${name}`;
  }
}

/**
 * `trim(column)`, trimming only values that can have anything to trim. DuckDB's trim removes Unicode space
 * separators (a space, U+00A0, U+3000…) from either end, and costs as much as the rest of the validation per
 * column; a value that is all ASCII (as many bytes as characters) and neither starts nor ends with a space is
 * returned as it is, and every other value trimmed (the same result for every code point at either end and in the
 * middle: test/sql/validation-trim.test.ts). Counting bytes and characters is cheaper than reading the last
 * character (`column[-1]`, which took a third of a 1M-row validation's trimming).
 */
export function trimmedSql(column: string): string {
  return `if(strlen(${column}) = length(${column}) and not starts_with(${column}, ' ') and not ends_with(${column}, ' '), ${column}, trim(${column}))`;
}

/** `raw_<name>` → `validated_<name>`: one row per received record, typed, with one reason per invalid field. */
export function validatedSql(ds: Dataset): string {
  const entries = Object.entries(ds.fields);
  const currencies = entries.filter(([, f]) => f.type === 'currency').map(([name]) => name);
  const trimmed = entries.map(([name, f]) =>
    f.type === 'currency' && f.default
      ? `coalesce(nullif(${trimmedSql(name)}, ''), ${quote(f.default)}) as ${name}_text`
      : `nullif(${trimmedSql(name)}, '') as ${name}_text`,
  );
  const typed = entries.flatMap(([name, f]) => typedColumn(name, f) ?? []);
  const currencyColumns = currencies.flatMap((name) => [
    `${name}_codes.code is not null as ${name}_is_iso`,
    `coalesce(${name}_codes.is_accepted, false) as ${name}_is_accepted`,
  ]);
  const joins = currencies.map(
    (name) => `left join currency_codes as ${name}_codes on ${name}_codes.code = trimmed.${name}_text`,
  );
  const reasons = entries.map(
    ([name, f]) => `case
            when parse_error is not null then null
            ${reasonBranches(ds, name, f).join('\n            ')}
        end as ${name}_reason`,
  );
  const reasonNames = entries.map(([name]) => `${name}_reason`);
  const jsonObject = entries.map(([name]) => `'${name}', ${name}`).join(', ');
  return `-- grain: one row per received record (raw_${ds.name}), with typed columns and the list of reasons it is
-- invalid. THE definition of a valid ${ds.name} event, shared by the batch and speed layers; generated from
-- datasets/${ds.name}/dataset.yaml (functions/pipeline/validation-sql.ts).
with

raw_records as (
    select * from raw_${ds.name}
),

currency_codes as (
    -- every ISO 4217 code, and whether this stage accepts it (validation-policy.ts)
    select * from currency_codes
),

validation_policy as (
    -- one row: max_clock_skew_seconds, accepted_currencies (text for reasons), time_zone (the reporting zone)
    select * from validation_policy
),

trimmed as (
    select
        *,
        ${trimmed.join(',\n        ')},
    from raw_records
),

typed as (
    select
        *,
        ${[...typed, ...currencyColumns].join(',\n        ')},
        validation_policy.max_clock_skew_seconds,
        validation_policy.accepted_currencies,
        validation_policy.time_zone,
    from trimmed
    cross join validation_policy
    ${joins.join('\n    ')}
),

checked as (
    -- One reason column per field: cheap per row; the list is only built for rejected rows.
    select
        *,
        ${reasons.join(',\n        ')},
    from typed
),

verdicts as (
    select
        *,
        (parse_error is null and ${reasonNames.map((r) => `${r} is null`).join(' and ')}) as is_valid,
        case
            when is_valid then []::varchar[]
            else list_filter([parse_error, ${reasonNames.join(', ')}], lambda reason: reason is not null)
        end as reasons,
    from checked
),

final as (
    select
        -- Where a rejected record came from and what it said; only built for rejected rows.
        case
            when not is_valid then coalesce(record_ref, source || ':row-' || record_no)
            else record_ref
        end as record_ref,
        source,
        case
            when not is_valid then coalesce(raw, json_object(${jsonObject})::varchar)
        end as raw,
        reasons,
        is_valid,
        ${entries.map(([name, f]) => outputColumn(name, f)).join(',\n        ')},
        -- the event's day in the stage's reporting time zone: its landing folder, dedup scope and daily rollup
        local_date(${ds.eventTime}_value, time_zone) as reporting_day,
    from verdicts
)

select * from final
`;
}
