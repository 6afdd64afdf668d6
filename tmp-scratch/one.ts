import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, testApp } from '../test/helpers/app.ts';
const dir = mkdtempSync(path.join(tmpdir(), 'lad-'));
copyFileSync('/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg', path.join(dir, 'k.jpg'));
const ig = await testApp(dir);
const v = async (c: any) => (await c.get()).values[0]?.value ?? 0;
for (const q of ['w=100','w=200','w=2048','w=1024&dpr=2','w=1600','w=320','w=800&dpr=2']) {
  const r = await get(ig, `/k.jpg?${q}`); await r.arrayBuffer();
  console.log(q, r.status, 'hits', await v(ig.metrics.masterHits), 'orig', await v(ig.metrics.rendersFromOriginal));
}
await ig.close();
