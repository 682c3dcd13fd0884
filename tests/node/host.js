// A minimal casebridge host for Node (contract 0.2.3): the org's settings,
// an in-memory compare-and-swap store, platform records kept in memory, an
// agent that always answers, a mailer that records, a console log.
const kv = new Map();
let org = null;
/** Set the org the instance works: the settings every `settings` call answers from. */
export function configure(settings) { org = settings; }
export const settings = {
  orgName: () => org.name, loginUrl: () => org.loginUrl, apiVersion: () => org.apiVersion,
  credentials: () => org.credentials, agentUserId: () => org.agentUserId, handOff: () => org.handOff,
  replyAs: () => org.replyAs, involvedField: () => org.involvedField, resolutionStateField: () => org.resolutionStateField,
  topics: () => org.topics, dailyApiBudget: () => org.dailyApiBudget, pollOverlapSeconds: () => org.pollOverlapSeconds,
  resolutionTimeouts: () => org.resolutionTimeouts, mappings: () => org.mappings,
  personMatchKey: () => ({ field: 'Email', attribute: 'email' }), companyMatchKey: () => ({ field: 'Name', attribute: 'name' }),
  // The CRM actions' options (0.2.1): all off, as a host that offers none.
  maintainOwnership: () => false, allowDuplicateSave: () => false, caseRecordType: () => undefined,
  caseTriggers: () => [], logConversationsAsTasks: () => false, linkContactsAutomatically: () => false,
  // The messenger (0.2.2): no Messaging for In-App and Web deployment.
  messenger: () => undefined,
  // The workflow (0.2.3): none on any channel, no value descriptions.
  channelWorkflow: () => undefined,
  valueDescriptions: () => [],
};
export const store = {
  get(key) { return kv.get(key); },
  scan(prefix) { return [...kv.keys()].filter(k => k.startsWith(prefix)).sort().map(key => ({ key, value: kv.get(key) })); },
  commit(expect, writes) {
    for (const e of expect) { if (kv.get(e.key) !== e.value) throw { tag: 'conflict', val: e.key }; }
    for (const w of writes) { if (w.tag === 'put') kv.set(w.val.key, w.val.value); else kv.delete(w.val); }
  },
};
// The platform's conversations by case Id; no people or companies.
const conversations = new Map();
export const platform = {
  listAttributes: () => [], getPerson: () => undefined, findPeople: () => [], findLinkedPeople: () => [],
  getCompany: () => undefined, findCompanies: () => [], listTeammates: () => [], getConversation: () => undefined,
  changes: (cursor) => ({ changes: [], cursor: cursor ?? '0', more: false }),
  setPersonAttributes: () => {}, linkPerson: () => {}, setCompanyAttributes: () => {}, linkCompany: () => {},
  upsertCaseConversation(conversation) {
    const known = conversations.get(conversation.caseId) ?? { parts: new Map() };
    for (const part of conversation.parts) known.parts.set(part.id, part);
    conversations.set(conversation.caseId, { ...conversation, parts: known.parts });
    return `case-${conversation.caseId}`;
  },
  addNote: (conversationId, key) => `note-${key}`,
  // The messenger's writes (0.2.2): this host keeps no messenger conversations.
  postPart: () => { throw { tag: 'not-found', val: 'this host keeps no messenger conversations' }; },
  readFile: (path) => { throw { tag: 'not-found', val: `no file ${path}` }; },
};
export const agent = {
  respond(conversation) {
    return { action: { tag: 'answer', val: `Thanks, we are looking into case ${conversation.caseNumber ?? ''}.` }, detected: [] };
  },
  // Attribute detection (0.2.3): this agent detects nothing.
  detect: () => [],
};
export const mail = {
  sent: [],
  send(key, message) { mail.sent.push(key); return { fromAddress: 'support@example.com', messageId: `<${key}@example.com>` }; },
};
export const log = { write(level, message, fields) { if (level !== 'trace' && level !== 'debug') console.error(`[${level}] ${message}`, JSON.stringify(fields)); } };
export const _kv = kv;
export const _conversations = conversations;
