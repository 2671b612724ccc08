/** Audio decoder fuzzing, fast-suite size (see fuzz.ts; the long run is fuzz.slow.ts). */
import { defineFuzz } from './fuzz.ts';

defineFuzz(0.25);
