/**
 * Configuration problems in words a user acts on: every problem names its setting by path (and
 * a key or route by its id), says what was expected and what was found, suggests the closest
 * name for a misspelt setting, enum value or reference, and lists the defined names where a
 * reference is unknown. Validator wording (`Invalid input: …`) never reaches the user.
 */
import type { z } from 'zod';

type Path = readonly PropertyKey[];
type Issue = z.core.$ZodIssue;
interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  in?: { _zod: { def: Def } };
  valueType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
  options?: { _zod: { def: Def } }[];
  discriminator?: string;
  values?: unknown[];
  entries?: Record<string, unknown>;
}

/** Edit distance (insert, delete, substitute, swap of neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate closest to `word` when it is close enough to be a slip (case ignored). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(w, c.toLowerCase());
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  const short = Math.min(word.length, best?.length ?? 0);
  return best !== undefined && bestD < short && bestD <= Math.max(1, Math.floor(short / 3)) ? best : undefined;
}

function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : `did you mean '${c}'? `;
}

function quoteList(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ');
}

function valueAt(raw: unknown, path: Path): unknown {
  let node = raw;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[p];
  }
  return node;
}

/** A value as a user wrote it: `'abc'`, `3`, `a list`, `a section`. */
export function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v).replace(/^"|"$/g, "'");
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a section';
  return String(v);
}

/**
 * `keys.1.sha256 (key 'ci')`: the dotted path, plus the id of the key or the pattern of the
 * route it is in, so a problem in a long list can be found.
 */
export function settingLabel(path: Path, raw: unknown): string {
  const dotted = path.length ? path.map(String).join('.') : '(top level)';
  if (path.length >= 2 && typeof path[1] === 'number') {
    const entry = valueAt(raw, path.slice(0, 2)) as Record<string, unknown> | undefined;
    if (path[0] === 'keys' && typeof entry?.id === 'string') return `${dotted} (key '${entry.id}')`;
    if (path[0] === 'routes' && typeof entry?.match === 'string') return `${dotted} (route '${entry.match}')`;
  }
  return dotted;
}

function unwrap(def: Def): Def {
  for (;;) {
    if (def.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) def = def.innerType._zod.def;
    else if (def.type === 'pipe' && def.in) def = def.in._zod.def;
    else return def;
  }
}

/** The kind of value (`number`, `boolean`, `string`, `object`, …) the schema expects at `path`. */
export function expectedKind(schema: z.ZodType, path: Path, raw: unknown): string | undefined {
  return schemaAt(schema, path, raw)?.type;
}

/** The schema that validates the value at `path` (a discriminated union resolved by the raw value). */
function schemaAt(schema: z.ZodType, path: Path, raw: unknown): Def | undefined {
  let def = unwrap((schema as unknown as { _zod: { def: Def } })._zod.def);
  const pick = (d: Def, at: Path): Def => {
    if (d.type !== 'union' || !d.discriminator || !d.options) return d;
    const tag = valueAt(raw, [...at, d.discriminator]);
    const match = d.options.find((o) => (unwrap(o._zod.def).shape?.[d.discriminator!]?._zod.def.values ?? []).includes(tag));
    return match ? unwrap(match._zod.def) : d;
  };
  for (let i = 0; i < path.length; i++) {
    def = pick(def, path.slice(0, i));
    const seg = path[i];
    const next = def.type === 'object' ? def.shape?.[String(seg)] : def.type === 'record' ? def.valueType : def.type === 'array' ? def.element : undefined;
    if (!next) return undefined;
    def = unwrap(next._zod.def);
  }
  return pick(def, path);
}

const ZOD_WORDING = /^(Invalid|Too (small|big)|Unrecognized)/;

function expectedText(expected: string): string {
  switch (expected) {
    case 'int':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'string':
      return 'text';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'a section';
    default:
      return expected;
  }
}

/** One zod issue as one or more `setting: message` lines. */
function describeIssue(issue: Issue, schema: z.ZodType, raw: unknown): string[] {
  const value = valueAt(raw, issue.path);
  const label = settingLabel(issue.path, raw);
  const custom = !ZOD_WORDING.test(issue.message) ? issue.message : undefined;
  const got = value === undefined ? '' : `, got ${shown(value)}`;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const def = schemaAt(schema, issue.path, raw);
      const known = def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
      return issue.keys.map((k) => {
        const hint = didYouMean(k, known);
        return `${settingLabel([...issue.path, k], raw)}: unknown setting (${hint}${known.length ? `allowed here: ${known.join(', ')}` : 'none allowed here'})`;
      });
    }
    case 'invalid_union': {
      const options = (issue as { options?: unknown[] }).options;
      const disc = (issue as { discriminator?: string }).discriminator;
      if (options) {
        const at = disc && issue.path[issue.path.length - 1] !== disc ? [...issue.path, disc] : issue.path;
        const v = valueAt(raw, at);
        if (v === undefined) return [`${settingLabel(at, raw)}: required: one of ${quoteList(options)}`];
        const hint = typeof v === 'string' ? closest(v, options.map(String)) : undefined;
        return [`${settingLabel(at, raw)}: expected one of ${quoteList(options)}, got ${shown(v)}${hint ? ` (did you mean '${hint}'?)` : ''}`];
      }
      // A plain union: the branch that got furthest explains best.
      const branches = issue.errors.filter((e) => e.length > 0).sort((a, b) => a.length - b.length);
      if (branches.length) return branches[0].flatMap((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] } as Issue, schema, raw));
      return [`${label}: ${custom ?? 'not one of the allowed forms'}${got}`];
    }
    case 'invalid_value': {
      const hint = typeof value === 'string' ? closest(value, issue.values.map(String)) : undefined;
      if (value === undefined) return [`${label}: required: one of ${quoteList(issue.values)}`];
      const expected = custom ?? `expected ${issue.values.length === 1 ? quoteList(issue.values) : `one of ${quoteList(issue.values)}`}`;
      return [`${label}: ${expected}${got}${hint ? ` (did you mean '${hint}'?)` : ''}`];
    }
    case 'invalid_type':
      if (value === undefined) return [`${label}: required${custom ? ` (${custom})` : `: ${expectedText(issue.expected)}`}`];
      return [`${label}: ${custom ?? `expected ${expectedText(issue.expected)}`}${got}`];
    case 'too_small': {
      if (custom) return [`${label}: ${custom}${got}`];
      if (issue.origin === 'string') return [`${label}: must not be empty`];
      if (issue.origin === 'array') return [`${label}: needs at least ${issue.minimum} ${Number(issue.minimum) === 1 ? 'entry' : 'entries'}`];
      return [`${label}: expected ${issue.inclusive ? 'at least' : 'more than'} ${issue.minimum}${got}`];
    }
    case 'too_big':
      if (custom) return [`${label}: ${custom}${got}`];
      if (issue.origin === 'string') return [`${label}: at most ${issue.maximum} characters`];
      return [`${label}: expected ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}${got}`];
    case 'invalid_format':
      if (custom) return [`${label}: ${/^(expected|use|a |an )/.test(custom) ? custom : `expected ${custom}`}${got}`];
      return [`${label}: expected ${issue.format === 'url' ? 'a URL' : issue.format === 'regex' ? 'a value of the documented form' : `a ${issue.format}`}${got}`];
    default:
      return [`${label}: ${custom ?? 'invalid value'}${custom ? '' : got}`];
  }
}

/** Every zod issue of a parse, reworded (see the module comment). */
export function describeIssues(issues: readonly Issue[], schema: z.ZodType, raw: unknown): { path: string; message: string }[] {
  return issues.flatMap((issue) =>
    describeIssue(issue, schema, raw).map((message) => ({ path: issue.path.map(String).join('.'), message })),
  );
}

/** The names a reference may use, and a problem when `name` is not one of them. */
function unknownName(kind: string, name: string, defined: string[]): string {
  return `unknown ${kind} '${name}' (${didYouMean(name, defined)}defined: ${defined.length ? defined.join(', ') : 'none'})`;
}

/**
 * References between sections (a route's source, a key's plan, duplicate key ids), checked on
 * the raw tree so they are reported together with every schema problem, not after them.
 */
export function referenceProblems(raw: unknown): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (raw === null || typeof raw !== 'object') return out;
  const r = raw as Record<string, unknown>;
  const own = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : []);
  const sources = own(r.sources);
  const plans = own(r.plans);
  if (Array.isArray(r.routes)) {
    r.routes.forEach((route, i) => {
      const s = (route as { source?: unknown } | null)?.source;
      if (typeof s === 'string' && s !== '' && !sources.includes(s)) {
        out.push({ path: `routes.${i}.source`, message: `${settingLabel(['routes', i, 'source'], raw)}: ${unknownName('source', s, sources)}` });
      }
    });
  }
  if (Array.isArray(r.keys)) {
    const seen = new Map<string, number>();
    r.keys.forEach((key, i) => {
      const k = (key ?? {}) as { id?: unknown; plan?: unknown };
      if (typeof k.id === 'string') {
        if (seen.has(k.id)) out.push({ path: `keys.${i}.id`, message: `${settingLabel(['keys', i, 'id'], raw)}: duplicate key id (keys.${seen.get(k.id)} has it too)` });
        else seen.set(k.id, i);
      }
      if (typeof k.plan === 'string' && k.plan !== '' && !plans.includes(k.plan)) {
        out.push({ path: `keys.${i}.plan`, message: `${settingLabel(['keys', i, 'plan'], raw)}: ${unknownName('plan', k.plan, plans)}` });
      }
    });
  }
  const anonymousPlan = (r.anonymous as { plan?: unknown } | null | undefined)?.plan;
  if (typeof anonymousPlan === 'string' && anonymousPlan !== '' && !plans.includes(anonymousPlan)) {
    out.push({ path: 'anonymous.plan', message: `${settingLabel(['anonymous', 'plan'], raw)}: ${unknownName('plan', anonymousPlan, plans)}` });
  }
  return out;
}
