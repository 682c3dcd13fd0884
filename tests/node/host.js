// A minimal casebridge host for Node: an in-memory compare-and-swap store,
// an agent that always answers, a mailer that records, a console log.
const kv = new Map();
export const store = {
  get(key) { return kv.get(key); },
  scan(prefix) { return [...kv.keys()].filter(k => k.startsWith(prefix)).sort().map(key => ({ key, value: kv.get(key) })); },
  commit(expect, writes) {
    for (const e of expect) { if (kv.get(e.key) !== e.value) throw { tag: 'conflict', val: e.key }; }
    for (const w of writes) { if (w.tag === 'put') kv.set(w.val.key, w.val.value); else kv.delete(w.val); }
  },
};
export const agent = {
  respond(conversation) {
    return { action: { tag: 'answer', val: `Thanks, we are looking into case ${conversation.caseNumber ?? ''}.` }, detected: [] };
  },
};
export const mail = {
  sent: [],
  send(key, message) { mail.sent.push(key); return { fromAddress: 'support@example.com', messageId: `<${key}@example.com>` }; },
};
export const log = { write(level, message, fields) { if (level !== 'trace' && level !== 'debug') console.error(`[${level}] ${message}`, JSON.stringify(fields)); } };
export const _kv = kv;
