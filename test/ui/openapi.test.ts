import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { openApiDocument, imageQueryParameters } from '../../src/http/openapi.ts';
import { PARAMETERS } from '../../src/request/parameters.ts';
import { parseTransform } from '../../src/request/params.ts';

const input = {
  server: { basePath: '/dev' },
  sources: { local: { type: 'fs', root: '.', signing: { token: 't', required: true } } },
  routes: [{ match: '*', source: 'local' }],
};
const config = parseConfig(input);

type Param = { name: string; in: string; schema: Record<string, unknown>; style?: string; explode?: boolean; 'x-alias-of'?: string };

describe('openApiDocument', () => {
  const doc = openApiDocument(config) as any;
  const op = doc.paths['/dev/{path}'].get;
  const params = op.parameters as Param[];
  const byName = new Map(params.map((p) => [p.name, p]));

  test('every parameter of the table, every alias and every …64 form is a query parameter', () => {
    for (const p of PARAMETERS) {
      assert.ok(byName.get(p.name)?.in === 'query', `missing ${p.name}`);
      for (const a of p.aliases) assert.equal(byName.get(a)?.['x-alias-of'], p.name, `alias ${a}`);
      if (p.base64) assert.ok(byName.has(`${p.name}64`), `${p.name}64`);
    }
    const names = params.filter((p) => p.in === 'query').map((p) => p.name);
    assert.equal(new Set(names).size, names.length, 'no duplicate names');
    assert.equal(imageQueryParameters().length, names.length);
  });

  test('schemas carry the table ranges and keyword lists', () => {
    const w = byName.get('w')!.schema as any;
    assert.equal(w.oneOf[0].type, 'integer');
    assert.equal(w.oneOf[0].minimum, 2);
    assert.equal(w.oneOf[1].maximum, 1);
    const fit = PARAMETERS.find((p) => p.name === 'fit')!;
    assert.deepEqual((byName.get('fit')!.schema as any).enum, fit.values);
    assert.equal((byName.get('fit')!.schema as any).default, 'clip');
    const dpr = byName.get('dpr')!.schema as any;
    assert.equal(dpr.exclusiveMinimum, 0);
    assert.equal(dpr.maximum, 5);
    // a clamped range is not a validation bound
    assert.equal((byName.get('q')!.schema as any).maximum, undefined);
    const crop = byName.get('crop')!;
    assert.equal(crop.style, 'form');
    assert.equal(crop.explode, false);
    assert.ok(((crop.schema as any).items.enum as string[]).includes('focalpoint'));
  });

  test('API key security, error responses, service endpoints', () => {
    assert.deepEqual(doc.components.securitySchemes.apiKey, { type: 'apiKey', in: 'header', name: 'X-API-Key', description: doc.components.securitySchemes.apiKey.description });
    assert.deepEqual(op.security, [{ apiKey: [] }]);
    for (const code of ['200', '304', '400', '403', '404', '415', '422', '429', '503']) assert.ok(op.responses[code], `response ${code}`);
    assert.ok(op.responses['429'].headers['Retry-After']);
    assert.deepEqual(doc.paths['/_openapi.json'].get.security, [{ adminToken: [] }]);
    const open = openApiDocument(parseConfig({ ...input, server: { ...input.server, internalEndpoints: 'public' } })) as any;
    assert.deepEqual(open.paths['/_openapi.json'].get.security, []);
    assert.deepEqual(doc.paths['/_health'].get.security, []);
    assert.ok(doc.paths['/dev/{path}'].head);
    assert.match(op.description, /`local` \(required\)/);
  });

  test('every $ref resolves and the document is plain JSON', () => {
    const text = JSON.stringify(doc);
    assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(JSON.parse(text))));
    for (const m of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      let node: any = doc;
      for (const part of m[1].split('/')) node = node?.[part];
      assert.ok(node, `unresolved ${m[1]}`);
    }
    assert.equal(doc.openapi, '3.1.0');
  });

  test('without a base path the image route is /{path}', () => {
    const plain = openApiDocument(parseConfig({ sources: { a: { type: 'fs', root: '.' } }, routes: [{ match: '*', source: 'a' }] })) as any;
    assert.ok(plain.paths['/{path}']);
  });
});

describe('the document agrees with the parser', () => {
  const doc = openApiDocument(config) as any;
  const params = (doc.paths['/dev/{path}'].get.parameters as Param[]).filter((p) => p.in === 'query' && !p['x-alias-of']);
  // transform.strict: the document's bounds and keywords are what strict mode enforces (without it, imgix's handling clamps or ignores).
  const parse = (q: string) => parseTransform(new URLSearchParams(q), { ...config.transform, strict: true });

  test('every documented keyword is accepted', () => {
    let checked = 0;
    for (const p of params) {
      const s = p.schema as any;
      const values: string[] = s.enum ?? s.items?.enum ?? [];
      for (const v of values) {
        if (p.name === 'fm' && (v === 'json' || v === 'blurhash')) continue;
        assert.doesNotThrow(() => parse(`${p.name}=${encodeURIComponent(v)}`), `${p.name}=${v}`);
        checked++;
      }
    }
    assert.ok(checked > 40, `checked ${checked} keywords`);
  });

  test('documented strict bounds are enforced with a 400 naming the parameter; a value inside is accepted', () => {
    let checked = 0;
    for (const p of params) {
      const s = p.schema as any;
      if (s.type !== 'integer' && s.type !== 'number') continue;
      if (s.maximum !== undefined) {
        assert.throws(() => parse(`${p.name}=${s.maximum + 1}`), (e: any) => e.status === 400 && e.publicMessage.startsWith(`${p.name}:`), `${p.name} above max`);
        assert.doesNotThrow(() => parse(`${p.name}=${s.maximum}`), `${p.name} at max`);
        checked++;
      }
      const below = s.minimum !== undefined ? s.minimum - 1 : s.exclusiveMinimum;
      if (below !== undefined) {
        assert.throws(() => parse(`${p.name}=${below}`), (e: any) => e.status === 400 && e.publicMessage.startsWith(`${p.name}:`), `${p.name} below min`);
        checked++;
      }
    }
    assert.ok(checked >= 10, `checked ${checked} bounds`);
  });

  test('a keyword outside a documented enum is refused', () => {
    assert.throws(() => parse('fit=stretch'), (e: any) => e.status === 400 && /^fit:/.test(e.publicMessage));
    assert.throws(() => parse('crop=top,sideways'), (e: any) => e.status === 400 && /^crop:/.test(e.publicMessage));
  });
});
