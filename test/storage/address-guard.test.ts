import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { guardedLookup, isBlockedAddress, isBlockedAddressError } from '../../src/storage/address-guard.ts';

test('loopback, private, link-local, CGNAT, ULA, reserved and multicast addresses are not public', () => {
  for (const a of [
    '127.0.0.1',
    '127.1.2.3',
    '0.0.0.0',
    '10.0.0.1',
    '172.16.5.4',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '198.18.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    '[::1]',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd00:ec2::254',
    'ff02::1',
    'not-an-ip',
    'localhost',
  ]) {
    assert.equal(isBlockedAddress(a), true, a);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111']) {
    assert.equal(isBlockedAddress(a), false, a);
  }
});

test('IPv6 forms that carry an IPv4 address are judged by the address they carry', () => {
  // IPv4-mapped, dotted and hex spellings; NAT64; 6to4.
  for (const a of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '::ffff:10.0.0.1', '::FFFF:192.168.0.1', '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '2002:7f00:1::1', '2002:a9fe:a9fe::']) {
    assert.equal(isBlockedAddress(a), true, a);
  }
  for (const a of ['::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) {
    assert.equal(isBlockedAddress(a), false, a);
  }
});

function lookup(hostname: string, all: boolean, policy?: (a: string) => boolean): Promise<unknown> {
  return new Promise((resolve, reject) => {
    guardedLookup(policy)(hostname, { all }, (err: NodeJS.ErrnoException | null, address: string | LookupAddress[]) => (err ? reject(err) : resolve(address)));
  });
}

test('the guarded lookup refuses a name that resolves to loopback, with an error the client recognises', async () => {
  const err = await lookup('localhost', false).then(
    () => assert.fail('localhost resolved'),
    (e: unknown) => e,
  );
  assert.equal(isBlockedAddressError(err), true);
  assert.match((err as Error).message, /refused to connect to localhost \((127\.0\.0\.1|::1)\)/);
  await assert.rejects(lookup('127.0.0.1', true), (e) => isBlockedAddressError(e));
  assert.equal(isBlockedAddressError(new Error('ECONNREFUSED')), false);
});

test('the guarded lookup answers as dns.lookup does when the policy allows the address', async () => {
  const allowLoopback = (a: string) => a !== '127.0.0.1' && isBlockedAddress(a);
  assert.equal(await lookup('127.0.0.1', false, allowLoopback), '127.0.0.1');
  assert.deepEqual(await lookup('127.0.0.1', true, allowLoopback), [{ address: '127.0.0.1', family: 4 }]);
});
