/** A valid order event; override any field. */
export function order(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: `e-${overrides['order_id'] ?? 'o1'}`,
    order_id: 'o1',
    user_id: 'u1',
    product_id: 'p1',
    quantity: 1,
    unit_price: '10.00',
    currency: 'USD',
    event_time: '2026-11-20T10:00:30Z',
    ...overrides,
  };
}
