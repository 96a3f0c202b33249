/**
 * Money leaves DuckDB as DECIMAL(18,2) text and is added in JS as integer cents (bigint), so no sum is ever
 * rounded by a float and JSON carries it back out as a decimal string with two places.
 */

const DECIMAL = /^(-?)(\d+)(?:\.(\d{1,2}))?$/;

/** `'12.30'` → `1230n`. Accepts what DuckDB prints for DECIMAL(_, 2) (and fewer decimals). */
export function centsOf(decimal: string): bigint {
  const match = DECIMAL.exec(decimal.trim());
  if (!match) throw new Error(`not a decimal amount: "${decimal}"`);
  const cents = BigInt(match[2] ?? '0') * 100n + BigInt((match[3] ?? '').padEnd(2, '0'));
  return match[1] === '-' ? -cents : cents;
}

/** `1230n` → `'12.30'`. */
export function formatCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** Money by ISO 4217 code, in cents. Amounts in different currencies are never added together. */
export type MoneyByCurrency = Map<string, bigint>;

/** Adds `amount` cents of `currency` into `into` (mutates and returns it). */
export function addMoney(into: MoneyByCurrency, currency: string, amount: bigint): MoneyByCurrency {
  into.set(currency, (into.get(currency) ?? 0n) + amount);
  return into;
}

/** Adds every currency of `from` into `into` (mutates and returns it). */
export function addAllMoney(into: MoneyByCurrency, from: ReadonlyMap<string, bigint>): MoneyByCurrency {
  for (const [currency, amount] of from) addMoney(into, currency, amount);
  return into;
}

/**
 * The money fields of every JSON row and total: `revenue_by_currency` maps each code present to its decimal
 * string (codes in order); `revenue` is present exactly when one currency is involved.
 */
export interface RevenueJson {
  revenue_by_currency: Record<string, string>;
  revenue?: string;
}

export function revenueJson(money: ReadonlyMap<string, bigint>): RevenueJson {
  const codes = [...money.keys()].sort();
  const byCurrency = Object.fromEntries(codes.map((code) => [code, formatCents(money.get(code) ?? 0n)]));
  const only = codes.length === 1 ? codes[0] : undefined;
  return {
    revenue_by_currency: byCurrency,
    ...(only !== undefined ? { revenue: byCurrency[only] as string } : {}),
  };
}

/** `{USD: '10.00', JPY: '15000.00'}` → `'15000.00 JPY, 10.00 USD'` for tables and logs; `'0'` for none. */
export function revenueText(revenue: RevenueJson): string {
  const parts = Object.entries(revenue.revenue_by_currency).map(([code, amount]) => `${amount} ${code}`);
  return parts.length > 0 ? parts.join(', ') : '0';
}
