/**
 * Sessions computed from click events in plain JS, apart from the model's SQL (datasets/clicks/models/
 * sessions_minute.sql), so a test can hold the generator and the batch layer to the definition: one
 * user_id's events in event-time order, a new session where the gap to the previous event is at least the
 * session gap; a session's device is its first event's (`unknown` when absent).
 */

export interface ClickLike {
  event_id: string;
  user_id: string;
  event_type: string;
  event_time: string;
  session_id?: string | null;
  device?: string | null;
}

export interface ComputedSession<E extends ClickLike = ClickLike> {
  user_id: string;
  device: string;
  events: E[];
  isBounced: boolean;
  isConverted: boolean;
}

/** One copy per event_id, the earliest (as every layer dedups within a day). */
export function dedupByEventId<E extends ClickLike>(events: readonly E[]): E[] {
  const kept = new Map<string, E>();
  for (const event of events) {
    const seen = kept.get(event.event_id);
    if (!seen || Date.parse(event.event_time) < Date.parse(seen.event_time)) kept.set(event.event_id, event);
  }
  return [...kept.values()];
}

export function sessionsOf<E extends ClickLike>(
  events: readonly E[],
  gapMinutes: number,
): ComputedSession<E>[] {
  const gapMs = gapMinutes * 60_000;
  const byUser = new Map<string, E[]>();
  for (const event of events) {
    const list = byUser.get(event.user_id) ?? [];
    list.push(event);
    byUser.set(event.user_id, list);
  }
  const sessions: ComputedSession<E>[] = [];
  for (const [user, list] of byUser) {
    list.sort(
      (a, b) => Date.parse(a.event_time) - Date.parse(b.event_time) || (a.event_id < b.event_id ? -1 : 1),
    );
    let current: E[] = [];
    const close = () => {
      if (current.length === 0) return;
      sessions.push({
        user_id: user,
        device: current[0]?.device ?? 'unknown',
        events: current,
        isBounced: current.length === 1,
        isConverted: current.some((e) => e.event_type === 'purchase'),
      });
      current = [];
    };
    for (const event of list) {
      const previous = current.at(-1);
      if (previous && Date.parse(event.event_time) - Date.parse(previous.event_time) >= gapMs) close();
      current.push(event);
    }
    close();
  }
  return sessions;
}

/** What sessions_minute answers for these sessions over a range: its additive measures and distinct users. */
export function sessionTotals(sessions: readonly ComputedSession[]) {
  const bounced = sessions.filter((s) => s.isBounced).length;
  const converted = sessions.filter((s) => s.isConverted).length;
  return {
    sessions: sessions.length,
    bounced_sessions: bounced,
    converted_sessions: converted,
    unique_users: new Set(sessions.map((s) => s.user_id)).size,
    bounce_rate: ratio6(bounced, sessions.length),
    session_conversion: ratio6(converted, sessions.length),
  };
}

/** `n / d` as a 6-place decimal string rounded half up, or null for d = 0 (computed apart from the engine's). */
export function ratio6(n: number, d: number): string | null {
  if (d === 0) return null;
  const micros = (BigInt(n) * 2_000_000n + BigInt(d)) / (2n * BigInt(d));
  return `${micros / 1_000_000n}.${String(micros % 1_000_000n).padStart(6, '0')}`;
}
