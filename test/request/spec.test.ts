import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { PARAMETERS, PARAMETER_LOOKUP } from '../../src/request/parameters.ts';
import { COLOR_KEYWORDS } from '../../src/request/colors.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/config/transform.ts';

// imgix's own machine-readable spec of its rendering API (dev dependency imgix-url-params).
const require = createRequire(import.meta.url);
const spec = require('imgix-url-params/dist/parameters.json') as {
  parameters: Record<string, { expects: Expect[]; aliases?: string[]; default?: unknown }>;
  aliases: Record<string, string>;
  colorKeywordValues: string[];
};
interface Range { min?: number; max?: number }
interface Expect { type: string; possible_values?: (string | number)[]; strict_range?: Range; suggested_range?: Range; [k: string]: unknown }

/** Parameters imagegate adds on top of imgix's spec (none renders differently). */
const EXTRA = new Set(['s']);

/** imgix keyword values that imagegate does not render yet: ignored (never a 400 without transform.strict). */
const NOT_RENDERED: Record<string, string[]> = {
  fill: ['gen', 'generative'],
};

/** Values of one of imgix's value grammars: bounds of numeric ranges, every keyword, colours, lists. */
function samples(name: string, e: Expect): string[] {
  const range = e.strict_range ?? e.suggested_range ?? {};
  switch (e.type) {
    case 'integer':
    case 'number': {
      if (e.possible_values) return e.possible_values.map(String);
      const lo = range.min ?? (range.max !== undefined ? Math.min(0, range.max) : 1);
      const hi = range.max ?? Math.max(lo, 100);
      // An exclusive-looking 0 (dpr's strict range is 0–5; 0 means nothing) is sampled just above.
      const low = lo === 0 && name === 'dpr' ? 0.75 : lo;
      const mid = e.type === 'integer' ? Math.round((low + hi) / 2) : (low + hi) / 2;
      return [...new Set([low, mid, hi])].map(String).concat(e.type === 'number' ? [String(low + 0.5 <= hi ? low + 0.5 : hi)] : []);
    }
    case 'unit_scalar':
      return ['0.25', '0.5', '1'];
    case 'boolean':
      return ['true', 'false', '1', '0'];
    case 'hex_color':
      return ['f00', '8f00', 'ff0000', '80ff0000', '#00ff00'];
    case 'color_keyword':
      return spec.colorKeywordValues;
    case 'ratio':
      return ['16:9', '1.5', '0.85:1'];
    case 'timestamp':
      return ['1700000000'];
    case 'interval':
      return ['1', '2', '2-5'];
    case 'path':
      return ['logos/mark.png'];
    case 'url':
      return ['https://assets.example.com/logos/mark.png'];
    case 'font':
      return ['sans-serif', 'Helvetica Neue'];
    case 'string':
      return e.possible_values ? e.possible_values.map(String) : ['Hello, world'];
    case 'list': {
      if (e.possible_values) {
        const all = e.possible_values.map(String);
        // Opposite sides (top,bottom) are allowed by the grammar; one of each axis is the meaningful list.
        return [...all, all.slice(0, 2).join(',')];
      }
      const length = Number(e.length);
      const positions = Array.from({ length }, (_, i) => (e[String(i)] as Expect[] | undefined) ?? []);
      // One value per position from each position's grammars, first grammar first.
      const width = Math.max(...positions.map((g) => g.length));
      const out: string[] = [];
      for (let k = 0; k < width; k++) {
        out.push(positions.map((g) => samples(name, g[Math.min(k, g.length - 1)]!).at(-1)!).join(','));
      }
      return out;
    }
    default:
      assert.fail(`${name}: imgix value grammar ${e.type} is not sampled`);
  }
}

describe('the parameter table agrees with imgix-url-params', () => {
  test('every accepted name is an imgix parameter and every alias is imgix\'s alias of it', () => {
    for (const p of PARAMETERS) {
      if (EXTRA.has(p.name)) continue;
      const s = spec.parameters[p.name];
      assert.ok(s, `${p.name} is not in imgix's spec`);
      for (const a of p.aliases) {
        assert.equal(spec.aliases[a], p.name, `${a} is not an imgix alias of ${p.name}`);
        assert.ok(s.aliases?.includes(a), `${a} not listed in ${p.name}.aliases`);
      }
    }
  });

  test('every imgix alias of an accepted parameter is accepted', () => {
    for (const [alias, name] of Object.entries(spec.aliases)) {
      const p = PARAMETERS.find((x) => x.name === name);
      if (!p) continue;
      assert.ok(p.aliases.includes(alias), `${alias} (alias of ${name}) is not accepted`);
      assert.equal(PARAMETER_LOOKUP.get(alias)?.[0].name, name);
    }
  });

  test('keywords accepted are keywords imgix allows', () => {
    for (const p of PARAMETERS) {
      if (!p.values) continue;
      const allowed = new Set(spec.parameters[p.name]!.expects.flatMap((e) => (e.possible_values ?? []).map(String)));
      for (const v of p.values) assert.ok(allowed.has(v), `${p.name}=${v} is not an imgix value`);
    }
  });

  test('numeric ranges: strict ranges lie inside imgix\'s strict range; clamped ranges cover imgix\'s suggested range', () => {
    for (const p of PARAMETERS) {
      if (!['integer', 'number', 'size'].includes(p.type)) continue;
      const exp = spec.parameters[p.name]!.expects.find((e) => e.type === 'integer' || e.type === 'number' || e.type === 'unit_scalar');
      assert.ok(exp, `${p.name}: imgix expects no number`);
      const strict = exp.strict_range;
      const suggested = exp.suggested_range;
      if (p.type === 'size') {
        assert.equal(p.min, strict!.min, `${p.name} min`);
        assert.equal(p.max, strict!.max, `${p.name} max`);
        const frac = spec.parameters[p.name]!.expects.find((e) => e.type === 'unit_scalar');
        assert.deepEqual(frac?.strict_range, { min: 0, max: 1 }, `${p.name} fraction range`);
        continue;
      }
      if (strict) {
        assert.equal(p.range, 'strict', `${p.name} has a strict range in imgix`);
        if (strict.min !== undefined) assert.ok(p.min !== undefined && p.min >= strict.min, `${p.name} min ${p.min} < ${strict.min}`);
        if (strict.max !== undefined) assert.ok(p.max !== undefined && p.max <= strict.max, `${p.name} max ${p.max} > ${strict.max}`);
      } else if (p.range === 'clamp' && suggested) {
        if (suggested.min !== undefined) assert.ok(p.min !== undefined && p.min <= suggested.min, `${p.name} clamps above imgix's suggested min`);
        if (suggested.max !== undefined) assert.ok(p.max !== undefined && p.max >= suggested.max, `${p.name} clamps below imgix's suggested max`);
      } else if (p.wrap) {
        assert.ok(suggested && suggested.max! <= p.wrap, `${p.name} wraps`);
      }
      if (p.type === 'integer') assert.equal(exp.type, 'integer', `${p.name} is an integer in imgix`);
    }
  });

  test('defaults agree with imgix', () => {
    for (const p of PARAMETERS) {
      if (p.default === undefined) continue;
      const s = spec.parameters[p.name]!;
      const d = s.default ?? s.expects.find((e) => 'default' in e)?.default;
      if (p.name === 'fp-x' || p.name === 'fp-y' || p.name === 'fp-z') assert.equal(p.default, s.expects[0]!.default);
      else assert.equal(String(p.default), String(d), `${p.name} default`);
    }
  });

  test('colour keywords are exactly imgix\'s', () => {
    assert.deepEqual(Object.keys(COLOR_KEYWORDS).sort(), [...spec.colorKeywordValues].sort());
  });

  test('each strict bound is enforced by the parser (just inside passes; just outside is a 400 with transform.strict, clamped without)', () => {
    const config = transformConfigSchema.parse({ strict: true });
    const lenient = transformConfigSchema.parse({});
    for (const p of PARAMETERS) {
      if (p.range !== 'strict' || (p.type !== 'integer' && p.type !== 'number')) continue;
      if (p.min !== undefined) {
        if (!p.exclusiveMin) assert.doesNotThrow(() => parseTransform(new URLSearchParams({ [p.name]: String(p.min) }), config), p.name);
        assert.throws(() => parseTransform(new URLSearchParams({ [p.name]: String(p.min! - 1) }), config), /expected/, p.name);
        const clamped = (parseTransform(new URLSearchParams({ [p.name]: String(p.min! - 1) }), lenient) as Record<string, unknown>)[p.name];
        if (p.exclusiveMin) assert.equal(clamped, undefined, `${p.name}: nothing to clamp to, ignored`);
        else assert.ok(clamped === p.min || (clamped === undefined && p.default === p.min), `${p.name} clamps to its min`);
      }
      if (p.max !== undefined) {
        assert.doesNotThrow(() => parseTransform(new URLSearchParams({ [p.name]: String(p.max) }), config), p.name);
        assert.throws(() => parseTransform(new URLSearchParams({ [p.name]: String(p.max! + 1) }), config), /expected/, p.name);
        const clamped = (parseTransform(new URLSearchParams({ [p.name]: String(p.max! + 1) }), lenient) as Record<string, unknown>)[p.name];
        assert.ok(clamped === p.max || (clamped === undefined && p.default === p.max), `${p.name} clamps to its max`);
      }
    }
  });

  test('value level: every value grammar imgix lists for an accepted parameter is parsed, in strict mode too', () => {
    const strict = transformConfigSchema.parse({ strict: true });
    const lenient = transformConfigSchema.parse({});
    let checked = 0;
    for (const p of PARAMETERS) {
      if (EXTRA.has(p.name)) continue;
      const notYet = NOT_RENDERED[p.name] ?? [];
      for (const e of spec.parameters[p.name]!.expects) {
        for (const value of samples(p.name, e)) {
          const q = new URLSearchParams({ [p.name]: value });
          if (notYet.includes(value)) {
            assert.deepEqual(parseTransform(q, lenient), {}, `${p.name}=${value} is ignored until it is rendered`);
            continue;
          }
          let out: Record<string, unknown> | undefined;
          assert.doesNotThrow(() => (out = parseTransform(q, strict) as Record<string, unknown>), `${p.name}=${value} (${e.type})`);
          assert.ok(out![p.name] !== undefined || p.default !== undefined, `${p.name}=${value} (${e.type}) was dropped`);
          assert.deepEqual(parseTransform(q, lenient), out, `${p.name}=${value}: lenient reads it the same`);
          checked++;
        }
      }
    }
    assert.ok(checked > 400, `only ${checked} values checked`);
  });

  test('every value of the imgix parameters imagegate does not take yet is ignored, never refused (strict mode too)', () => {
    const strict = transformConfigSchema.parse({ strict: true });
    let checked = 0;
    for (const [name, p] of Object.entries(spec.parameters)) {
      if (PARAMETER_LOOKUP.has(name)) continue;
      for (const e of p.expects) {
        for (const value of samples(name, e)) {
          assert.deepEqual(parseTransform(new URLSearchParams({ [name]: value }), strict), {}, `${name}=${value}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 100, `only ${checked} values checked`);
  });

  test('the table is plain data (JSON round-trips)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(PARAMETERS)), PARAMETERS);
  });
});
