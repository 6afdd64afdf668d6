import { constants as fsc, promises as fsp } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { ServiceError } from '../errors.ts';
import type { Storage } from '../storage/types.ts';
import type { UsageService } from '../usage/index.ts';

/** A key no one requests: a source that answers for it (found or not) is reachable. */
const PROBE_KEY = '.imagegate-readiness-probe';
const PROBE_TIMEOUT_MS = 5_000;

interface ReadinessReport {
  ready: boolean;
  status: 'starting' | 'ready' | 'draining' | 'not ready';
  /** What keeps this process out of rotation, one phrase each. */
  notReady: string[];
  /** Serving, but not as configured (a failOpen usage store that is down). */
  degraded: string[];
}

/**
 * Readiness, as load balancers and Kubernetes read it (`/_ready`): not ready while starting
 * (before the first probe round), while draining, while the Redis usage store is down under
 * `failClosed` (every keyed request would be a 503), or while a source's last probe failed.
 * The endpoint reads remembered results; the probes run in the background, every
 * `server.probeIntervalMs`, only in the Node server (`start`), never per request.
 */
export class Readiness {
  private phase: 'starting' | 'serving' | 'draining' = 'starting';
  private readonly sourceFailures = new Map<string, string>();
  private usageReachable = true;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: { config: Config; storages: Record<string, Storage>; usage: UsageService }) {}

  /** Runs the first probe round (resolves when it is done), then one every `intervalMs` (0: no more). */
  start(intervalMs = this.deps.config.server.probeIntervalMs): Promise<void> {
    if (intervalMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.check(), intervalMs);
      this.timer.unref();
    }
    return this.check().then(() => {
      if (this.phase === 'starting') this.phase = 'serving';
    });
  }

  /** From now on not ready: the process is shutting down. */
  drain(): void {
    this.phase = 'draining';
    this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  report(): ReadinessReport {
    const notReady: string[] = [];
    const degraded: string[] = [];
    if (this.phase === 'starting') notReady.push('starting: the first probe of the sources has not finished');
    if (this.phase === 'draining') notReady.push('draining: shutting down, finishing the requests in flight');
    const { usage } = this.deps;
    if (usage.storeKind === 'redis' && (!this.usageReachable || !usage.available())) {
      const closed = (usage.config as { onUnavailable?: string }).onUnavailable === 'failClosed';
      (closed ? notReady : degraded).push(`usage store (Redis) unreachable${closed ? ' (failClosed: keyed requests are answered 503)' : ' (failOpen: limits counted in this process only)'}`);
    }
    for (const [name, why] of this.sourceFailures) notReady.push(`source '${name}': ${why}`);
    const ready = notReady.length === 0;
    return { ready, status: ready ? 'ready' : this.phase === 'serving' ? 'not ready' : this.phase, notReady, degraded };
  }

  /** One probe round: every source and the usage store, at once; a round still running is joined. */
  check(): Promise<void> {
    this.running ??= (async () => {
      const { config, storages, usage } = this.deps;
      await Promise.all([
        ...Object.keys(config.sources).map(async (name) => {
          const why = await probeSource(config.sources[name], storages[name]);
          if (why === undefined) this.sourceFailures.delete(name);
          else this.sourceFailures.set(name, why);
        }),
        usage.storeKind === 'redis' ? usage.ready(PROBE_TIMEOUT_MS).then((ok) => void (this.usageReachable = ok)) : undefined,
      ]);
    })().finally(() => (this.running = undefined));
    return this.running;
  }
}

/** Why a source cannot be reached, or undefined when it answered. */
async function probeSource(src: Config['sources'][string], storage: Storage | undefined): Promise<string | undefined> {
  if (!storage) return 'not configured';
  try {
    if (src.type === 'fs') {
      // A folder that is gone (an unmounted volume) reads as "every object missing": look at the folder itself.
      const st = await fsp.stat(src.root);
      if (!st.isDirectory()) return `${src.root} is not a folder`;
      await fsp.access(src.root, fsc.R_OK | fsc.X_OK);
      return undefined;
    }
    await storage.head(PROBE_KEY, AbortSignal.timeout(PROBE_TIMEOUT_MS));
    return undefined;
  } catch (err) {
    // The source answered, but refused this key: it is reachable (S3 says 403 for a missing key without s3:ListBucket).
    if (err instanceof ServiceError && err.code === 'source_denied') return undefined;
    if (err instanceof ServiceError) return `${err.publicMessage} (${err.code})`;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return `folder ${e.path} does not exist`;
    if (e.code === 'EACCES') return `folder ${e.path} cannot be read`;
    return e.code ? `${e.code} ${e.path ?? ''}`.trim() : (e.message ?? String(err));
  }
}
