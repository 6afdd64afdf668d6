import type { PlanConfig } from '../config/usage.ts';
import type { Decision } from './index.ts';
import { quotaPeriod } from './periods.ts';
import type { ConsumeResult, TakeResult, UsageStore } from './types.ts';

/**
 * A block is at most this share of the plan's burst and of the quota left: several replicas
 * each holding one still leave most of the plan to the others, and as a quota runs out the
 * blocks shrink to single units (exact again at the limit).
 */
const SHARE = 0.1;
/** A key's recent rate at this replica: the requests it saw of the key in a window this long. */
const WINDOW_MS = 1000;

interface Waiter {
  now: number;
  resolve: (d: Decision | Promise<Decision>) => void;
}

/** One key's block at this replica, and what the store last said about the key. */
interface Lease {
  keyId: string;
  plan: PlanConfig;
  /** Units taken from the store and not spent yet. */
  held: number;
  /** Size of the last block taken: the next is taken in the background once half of it is spent. */
  block: number;
  /**
   * The store's figures right after this replica's last taking or one-unit request (tokens -1: no
   * rate), the `now` it was sent with, and in which order it was sent.
   */
  tokens: number;
  quotaUsed: number;
  at: number;
  seq: number;
  /** False until the store has answered once for this key. */
  known: boolean;
  /** The quota period the held units were counted in. */
  periodId: string | undefined;
  /** A taking in flight: requests that find the block empty wait for it rather than ask again. */
  taking: Promise<void> | undefined;
  waiters: Waiter[];
  /** The last taking was refused or failed: no background taking until the block is spent. */
  paused: boolean;
  lastUsed: number;
  /** Requests seen in the current window (since `windowStart`) and in the one before. */
  windowStart: number;
  seen: number;
  seenBefore: number;
}

/** What the usage service lends the leases: its decisions and its fallback when the store is down. */
export interface LeaseHost {
  /** The decision for a store answer (or a block's figures), with no side effect. */
  decide(plan: PlanConfig, r: ConsumeResult, now: number): Decision;
  /** The store answered (it may have been down). */
  answered(): void;
  /** The store failed a request no client is waiting for. */
  failed(err: unknown): void;
  /** Today's fallback for a request the store could not answer (failOpen / failClosed). */
  fallback(keyId: string, plan: PlanConfig, now: number, err: unknown): Promise<Decision>;
}

export type LeaseStore = Pick<UsageStore, 'consume'> & Required<Pick<UsageStore, 'take' | 'giveBack'>>;

/**
 * Blocks of units taken from a shared store (Redis, DynamoDB) so that a busy key's requests are
 * answered at once, without a round trip each. A unit is taken from the store before it is
 * spent, so the quota holds exactly across any number of replicas; the quota units a replica
 * holds unspent go back when the key goes quiet (`idleMs`) and on close, once. Tokens never go
 * back (the bucket refills them). The token bucket is shared the same way, with one bound
 * instead of exactness: while a replica holds tokens the store's bucket keeps refilling up to
 * the burst, so a key's instant burst can exceed `burst` by what the replicas hold — each at
 * most a block and the unspent half of the previous one (the next is taken at half): 15% of
 * the burst, 1.5 × `maxUnits` — while its rate over any longer window does not
 * change. (Holding only what the refill leaves under the burst would make that exact too, but
 * then a key well under its rate, whose bucket is full, keeps a block for block/rate seconds —
 * a millisecond at 1000 requests/s — and pays a round trip almost per request again; AWS's usage
 * plans, which these follow, apply their throttles on a best-effort basis as well.) A block is sized to the key's
 * recent rate at this replica (a key seen once a second takes single units, today's path),
 * capped by `maxUnits` and by a share of the burst and of the quota left. The rate-limit figures
 * of a request answered from a block are the store's at the taking, less what this replica has
 * spent since: on one replica exactly what one round trip per request would have said.
 */
export class Leases {
  private readonly leases = new Map<string, Lease>();
  /** Give-backs in flight: close() waits for them. */
  private readonly returning = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  /** Order of store calls, so that a late answer never replaces a newer one's figures. */
  private seq = 0;
  private closed = false;

  constructor(
    private readonly store: LeaseStore,
    private readonly maxUnits: number,
    private readonly idleMs: number,
    private readonly clock: () => number,
    private readonly host: LeaseHost,
  ) {
    this.timer = setInterval(() => void this.returnIdle(), Math.max(5, Math.floor(idleMs / 2)));
    this.timer.unref();
  }

  /** One request of the key: from its block at once when it holds a unit, else after the store. */
  check(keyId: string, plan: PlanConfig, now: number): Decision | Promise<Decision> {
    let l = this.leases.get(keyId);
    if (!l) {
      l = {
        keyId,
        plan,
        held: 0,
        block: 0,
        tokens: -1,
        quotaUsed: 0,
        at: now,
        seq: 0,
        known: false,
        periodId: undefined,
        taking: undefined,
        waiters: [],
        paused: false,
        lastUsed: now,
        windowStart: now,
        seen: 0,
        seenBefore: 0,
      };
      this.leases.set(keyId, l);
    } else if (l.plan !== plan || (l.held > 0 && plan.quota && quotaPeriod(plan.quota, now).id !== l.periodId)) {
      // A reloaded plan, or a new quota period: the units held were taken for the old one.
      this.giveBack(l);
      l.plan = plan;
      l.known = false;
    }
    if (now - l.windowStart >= WINDOW_MS) {
      l.seenBefore = now - l.windowStart < 2 * WINDOW_MS ? l.seen : 0;
      l.seen = 0;
      l.windowStart = now;
    }
    l.seen++;
    l.lastUsed = now;
    if (this.closed) return this.one(l, now);

    if (l.held > 0 && l.waiters.length === 0) {
      l.held--;
      const d = this.decision(l, now);
      this.refill(l, now);
      return d;
    }
    if (!l.taking && this.size(l) <= 1) return this.one(l, now);
    return new Promise<Decision>((resolve) => {
      l.waiters.push({ now, resolve });
      if (!l.taking) this.take(l, this.size(l), now);
    });
  }

  /** Units the key's block holds at this replica. */
  held(keyId: string): number {
    return this.leases.get(keyId)?.held ?? 0;
  }

  /** Gives back the units of keys not used for `idleMs` (the timer calls this); forgets keys long quiet. */
  returnIdle(): Promise<void> {
    const now = this.clock();
    for (const l of this.leases.values()) {
      if (l.taking || l.waiters.length) continue;
      if (l.held > 0) {
        if (now - l.lastUsed >= this.idleMs) this.giveBack(l);
      } else if (now - l.lastUsed >= 2 * WINDOW_MS) {
        this.leases.delete(l.keyId);
      }
    }
    return this.settled();
  }

  /** Waits for the takings in flight (their requests are answered), then gives every unit back. */
  async close(): Promise<void> {
    if (this.closed) return this.settled();
    this.closed = true;
    clearInterval(this.timer);
    for (;;) {
      const taking = [...this.leases.values()].map((l) => l.taking).filter((t) => t !== undefined);
      if (taking.length === 0) break;
      await Promise.allSettled(taking);
    }
    for (const l of this.leases.values()) this.giveBack(l);
    await this.settled();
  }

  private async settled(): Promise<void> {
    while (this.returning.size) await Promise.allSettled([...this.returning]);
  }

  /** One unit, one round trip: the path of a key too quiet (or a plan too small) for a block. */
  private one(l: Lease, now: number): Promise<Decision> {
    const seq = ++this.seq;
    const plan = l.plan;
    return Promise.resolve()
      .then(() => this.store.consume(l.keyId, plan, now))
      .then(
        (r) => {
          this.host.answered();
          this.remember(l, r, now, seq);
          return this.host.decide(plan, r, now);
        },
        (err: unknown) => this.host.fallback(l.keyId, plan, now, err),
      );
  }

  /**
   * The next block's size: the requests this replica saw of the key in the last second, at most
   * `maxUnits` and a share of the burst and of the quota left as the store last reported it.
   */
  private size(l: Lease): number {
    if (!l.known) return 1;
    const p = l.plan;
    let n = Math.min(this.maxUnits, Math.max(l.seen, l.seenBefore));
    if (p.rate !== undefined) n = Math.min(n, Math.floor((p.burst ?? Math.ceil(p.rate)) * SHARE));
    if (p.quota) n = Math.min(n, Math.floor((p.quota.limit - l.quotaUsed) * SHARE));
    return Math.max(1, n);
  }

  /** Half the block spent: the next one is taken in the background, so a steady key never waits. */
  private refill(l: Lease, now: number): void {
    if (l.taking || l.paused || this.closed || l.held * 2 > l.block) return;
    const n = this.size(l);
    if (n >= 2) this.take(l, n, now);
  }

  private take(l: Lease, n: number, now: number): void {
    const seq = ++this.seq;
    const plan = l.plan;
    const periodId = plan.quota ? quotaPeriod(plan.quota, now).id : undefined;
    l.taking = Promise.resolve()
      .then(() => this.store.take(l.keyId, plan, now, Math.min(this.maxUnits, n)))
      .then(
        (r) => {
          l.taking = undefined;
          this.taken(l, plan, r, now, seq, periodId);
        },
        (err: unknown) => {
          l.taking = undefined;
          this.failed(l, plan, err);
        },
      );
  }

  private taken(l: Lease, plan: PlanConfig, r: TakeResult, now: number, seq: number, periodId: string | undefined): void {
    this.host.answered();
    this.remember(l, r, now, seq);
    if (plan !== l.plan) {
      // Taken for a plan since replaced: its quota back at once (its waiters are answered under the new plan, below).
      this.returnQuota(l.keyId, plan, r.granted, periodId);
      this.refuseOrRetry(l, plan, r, now);
      return;
    }
    if (plan.quota) {
      const current = quotaPeriod(plan.quota, this.clock()).id;
      // Units held from an earlier period go back to it before anything is merged with them.
      if (l.held > 0 && l.periodId !== current) this.giveBack(l);
      if (periodId !== current) {
        // Taken in a period that has ended since: spent now they would be counted in the old
        // period. Back to it, and each waiting request is one unit of its own period.
        this.returnQuota(l.keyId, plan, r.granted, periodId);
        const waiters = l.waiters;
        l.waiters = [];
        for (const w of waiters) w.resolve(this.one(l, w.now));
        return;
      }
    }
    if (r.granted > 0) {
      l.held += r.granted;
      l.block = r.granted;
      l.periodId = periodId;
      l.paused = false;
    } else {
      l.paused = true;
    }
    // Waiting requests in the order they came.
    while (l.waiters.length && l.held > 0) {
      const w = l.waiters.shift()!;
      l.held--;
      w.resolve(this.decision(l, w.now));
    }
    if (l.waiters.length) this.refuseOrRetry(l, plan, r, this.clock());
    else this.refill(l, this.clock());
  }

  /**
   * Requests still waiting after a taking: one unit each under the plan that replaced the one it
   * was taken for, else refused as the store refused it, else another taking for them (`now`: the
   * current time). A taking is at most a block, however many wait:
   * DynamoDB's is all or nothing, and a bigger one than the bucket holds falls back to one unit
   * per round trip.
   */
  private refuseOrRetry(l: Lease, plan: PlanConfig, r: TakeResult, now: number): void {
    if (!l.waiters.length) return;
    if (r.granted === 0 || plan !== l.plan) {
      const waiters = l.waiters;
      l.waiters = [];
      for (const w of waiters) w.resolve(plan !== l.plan ? this.one(l, w.now) : this.host.decide(plan, r, w.now));
      return;
    }
    this.take(l, this.size(l), now);
  }

  /** The store unreachable: waiting requests get today's fallback; the block, if any, goes on being spent. */
  private failed(l: Lease, plan: PlanConfig, err: unknown): void {
    l.paused = true;
    const waiters = l.waiters;
    l.waiters = [];
    if (waiters.length === 0) this.host.failed(err);
    for (const w of waiters) w.resolve(this.host.fallback(l.keyId, plan, w.now, err));
  }

  private remember(l: Lease, r: ConsumeResult, now: number, seq: number): void {
    if (seq < l.seq) return;
    l.seq = seq;
    l.tokens = r.tokens;
    l.quotaUsed = r.quotaUsed;
    l.at = now;
    l.known = true;
  }

  /**
   * A request answered from the block: the store's figures at the taking (its bucket refilled
   * since, as the store would), with the units still held counted as not spent: they are this
   * key's at this replica.
   */
  private decision(l: Lease, now: number): Decision {
    const p = l.plan;
    let tokens = -1;
    if (p.rate !== undefined) {
      const burst = p.burst ?? Math.ceil(p.rate);
      const inStore = Math.min(burst, Math.max(0, l.tokens) + (Math.max(0, now - l.at) * p.rate) / 1000);
      tokens = Math.min(burst, inStore + l.held);
    }
    return this.host.decide(p, { outcome: 0, tokens, quotaUsed: p.quota ? l.quotaUsed - l.held : 0 }, now);
  }

  /**
   * The held units given up, once: they are no longer held before the call is sent. Their quota
   * goes back to the period they were taken in; their tokens do not (the bucket refills them).
   */
  private giveBack(l: Lease): void {
    if (l.held < 1) return;
    const n = l.held;
    l.held = 0;
    l.block = 0;
    this.returnQuota(l.keyId, l.plan, n, l.periodId);
  }

  /** `n` units of quota back to the counter of the period they were taken in (nothing without a quota). */
  private returnQuota(keyId: string, plan: PlanConfig, n: number, periodId: string | undefined): void {
    if (n < 1 || !plan.quota || periodId === undefined) return;
    this.track(this.store.giveBack(keyId, periodId, n));
  }

  /** A give-back that fails leaves its units taken (the plan is under-used, never exceeded). */
  private track(p: Promise<void>): void {
    const done: Promise<void> = p.then(
      () => undefined,
      (err: unknown) => this.host.failed(err),
    );
    this.returning.add(done);
    void done.finally(() => this.returning.delete(done));
  }
}
