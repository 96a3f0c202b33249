/** The serving layer's money helpers are the pipeline's: one definition of cents for every layer. */
export {
  addAllMoney,
  addMoney,
  centsOf,
  formatCents,
  type MoneyByCurrency,
  type RevenueJson,
  revenueJson,
} from '../pipeline/money.ts';
