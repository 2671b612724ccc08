/** Audio decoder fuzzing, soak size for `npm run test:slow` (see fuzz.ts). */
import { defineFuzz } from './fuzz.ts';

defineFuzz(2);
