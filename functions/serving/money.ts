/** The serving layer's money helpers are the pipeline's: one definition of cents for every layer. */
export { centsOf, formatCents } from '../pipeline/money.ts';
