/**
 * Display formatting for the dashboard. Money stays a decimal string end to end (the API never rounds it and
 * neither does the page): sums of API amounts are done in integer cents.
 */

/** `"1234567.80"` → `"1,234,567.80"` (string only; no float ever touches an amount). */
export function formatMoney(decimal: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal.trim());
  if (!match) return decimal;
  const [, sign = '', whole = '0', fraction] = match;
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}

/** `{JPY: '15000.00', USD: '10.00'}` → `"15,000.00 JPY · 10.00 USD"`; currencies are never added together. */
export function formatRevenue(byCurrency: Record<string, string>): string {
  const parts = Object.entries(byCurrency).map(([code, amount]) => `${formatMoney(amount)} ${code}`);
  return parts.length > 0 ? parts.join(' · ') : '0.00';
}

/** The currency the revenue chart plots: USD when present, else the first code; undefined when there is none. */
export function chartCurrency(byCurrency: Record<string, string>): string | undefined {
  const codes = Object.keys(byCurrency).sort();
  return codes.includes('USD') ? 'USD' : codes[0];
}

/** A decimal string with up to two places → cents. */
export function toCents(decimal: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(decimal.trim());
  if (!match) throw new Error(`not a money amount: ${decimal}`);
  const [, sign, whole = '0', fraction = ''] = match;
  const cents = BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
  return sign === '-' ? -cents : cents;
}

/** Cents → a decimal string with two places. */
export function fromCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}

/** Whole numbers with thousands separators. */
export function formatCount(value: number): string {
  return formatMoney(String(Math.trunc(value)));
}

/** A change in whole units with its sign: `+4`, `−3` (a minus sign), `±0`. */
export function formatSigned(value: number): string {
  if (value === 0) return '±0';
  return `${value > 0 ? '+' : '−'}${formatCount(Math.abs(value))}`;
}

/** A fraction as a decimal string (`"0.125000"`) → `"12.50 %"`; null (no batch to compare with) → `"n/a"`. */
export function formatRatio(fraction: string | null | undefined): string {
  if (fraction === null || fraction === undefined) return 'n/a';
  const value = Number(fraction);
  return Number.isFinite(value) ? `${(value * 100).toFixed(2)} %` : fraction;
}

/** Seconds → `"45 s"`, `"12 min"`, `"3 h 5 min"`, `"2 d 4 h"`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** An instant as `2026-11-21 10:15 UTC` (operators compare with logs, which are UTC). */
export function formatUtc(iso: string | Date, withSeconds = false): string {
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(date.getTime())) return String(iso);
  const text = date.toISOString().replace('T', ' ');
  return `${withSeconds ? text.slice(0, 19) : text.slice(0, 16)} UTC`;
}
