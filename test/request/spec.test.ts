import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { PARAMETERS, PARAMETER_LOOKUP } from '../../src/request/parameters.ts';
import { COLOR_KEYWORDS } from '../../src/request/colors.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/pipeline/config.ts';

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

  test('each strict bound is enforced by the parser (just inside passes, just outside is a 400)', () => {
    const config = transformConfigSchema.parse({});
    for (const p of PARAMETERS) {
      if (p.range !== 'strict' || (p.type !== 'integer' && p.type !== 'number')) continue;
      if (p.min !== undefined) {
        if (!p.exclusiveMin) assert.doesNotThrow(() => parseTransform(new URLSearchParams({ [p.name]: String(p.min) }), config), p.name);
        assert.throws(() => parseTransform(new URLSearchParams({ [p.name]: String(p.min! - 1) }), config), /expected/, p.name);
      }
      if (p.max !== undefined) {
        assert.doesNotThrow(() => parseTransform(new URLSearchParams({ [p.name]: String(p.max) }), config), p.name);
        assert.throws(() => parseTransform(new URLSearchParams({ [p.name]: String(p.max! + 1) }), config), /expected/, p.name);
      }
    }
  });

  test('the table is plain data (JSON round-trips)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(PARAMETERS)), PARAMETERS);
  });
});
