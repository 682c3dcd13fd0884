// Runs the transpiled connector (./out) against a running emulator, whose
// first stdout line (URL and credentials) is in the file named by argv[2]:
// two cycles, checked against what the org itself holds. Exits non-zero on
// any mismatch.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const emu = JSON.parse(readFileSync(process.argv[2], 'utf8').split('\n')[0]);
const { sync, crm } = await import('./out/casebridge_guest.js');
const { _kv, _conversations, configure } = await import('./host.js');

// The agent user and the queue, found through the REST API as an admin would in setup.
const form = new URLSearchParams({ grant_type: 'refresh_token', client_id: emu.client_id, client_secret: emu.client_secret, refresh_token: emu.refresh_token });
const token = await (await fetch(`${emu.url}/services/oauth2/token`, { method: 'POST', body: form })).json();
const query = async (soql) => (await (await fetch(`${token.instance_url}/services/data/v62.0/query?q=${encodeURIComponent(soql)}`,
  { headers: { Authorization: `Bearer ${token.access_token}` } })).json());
const agentId = (await query("SELECT Id FROM User WHERE Username LIKE 'fin.agent@%'")).records[0].Id;
const queueId = (await query("SELECT Id FROM Group WHERE DeveloperName = 'Tier_2_Support'")).records[0].Id;
const comments = async () => (await query('SELECT COUNT() FROM CaseComment')).totalSize;

const org = {
  name: 'node', loginUrl: emu.url, apiVersion: '62.0',
  credentials: { clientId: emu.client_id, clientSecret: emu.client_secret, refreshToken: emu.refresh_token },
  agentUserId: agentId, handOff: { tag: 'queue', val: queueId }, replyAs: 'case-comment',
  involvedField: 'FinInvolved__c', resolutionStateField: 'FinResolutionState__c', topics: ['casebridge'],
  dailyApiBudget: 10000, pollOverlapSeconds: 5,
  resolutionTimeouts: { softResolutionAfterMs: 3600000n, abandonedAfterMs: 3600000n }, mappings: [],
};
configure(org);
const show = (value) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? Number(v) : v));

const before = await comments();
const first = sync.runCycle();
console.log('cycle 1:', show(first));
assert.deepEqual(first.errors, [], 'the first cycle has no errors');
assert.ok(first.conversationsCreated > 0 && first.repliesPosted > 0, 'the first cycle starts conversations and replies');
assert.equal(await comments() - before, first.repliesPosted, 'every reply it reports is on the org');

const second = sync.runCycle();
console.log('cycle 2:', show(second));
assert.equal(second.repliesPosted, 0, 'nothing is answered twice');
assert.equal(second.apiCalls, 1, 'the second cycle reuses the kept session: one call');
assert.equal(await comments() - before, first.repliesPosted, 'no reply was posted twice');
assert.equal(sync.listConversations().length, first.conversationsCreated, 'the conversations are listed');
assert.ok(_kv.get('session') && !_kv.get('session').includes(token.instance_url.replace(/^https?:\/\//, '')),
  'the kept session is stored sealed (its instance URL is not readable in it)');
assert.equal(_conversations.size, first.conversationsCreated, 'every case became a platform conversation');
for (const conversation of _conversations.values()) {
  assert.ok(conversation.parts.size > 0, `the conversation of case ${conversation.caseId} has its parts`);
}
// The CRM actions are exported too: this host has no people, and says so.
assert.throws(() => crm.unlinkContact('nobody'), (e) => e.payload?.tag === 'invalid-request' || /invalid-request/.test(String(e)),
  'a CRM action on an unknown person is refused with invalid-request');
console.log('the component (contract 0.2.3) ran two full cycles and a CRM action under Node');
