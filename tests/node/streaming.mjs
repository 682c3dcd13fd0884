// An unmodified public Streaming API client (jsforce, with faye underneath)
// against the emulator whose first stdout line (URL and credentials) is in
// the file named by argv[2]: log in with the refresh token, subscribe to
// /data/CaseChangeEvent with jsforce's replay extension (-1: new events),
// create a Case over REST and wait for its CREATE change event. Exits 0 on
// receiving it within 20 s, 1 otherwise with the reason.
import { readFileSync } from 'node:fs';
import jsforce from 'jsforce';
import { StreamingExtension } from 'jsforce/lib/api/streaming.js';

const fail = (reason) => {
  console.error(`streaming: ${reason}`);
  process.exit(1);
};

const emu = JSON.parse(readFileSync(process.argv[2], 'utf8').split('\n')[0]);
const version = '59.0';
const channel = '/data/CaseChangeEvent';

const timer = setTimeout(() => fail('no CaseChangeEvent for the new case within 20 s'), 20_000);

try {
  const oauth2 = new jsforce.OAuth2({ clientId: emu.client_id, clientSecret: emu.client_secret, loginUrl: emu.url, redirectUri: 'http://localhost/callback' });
  const token = await oauth2.refreshToken(emu.refresh_token);
  const conn = new jsforce.Connection({ instanceUrl: token.instance_url, accessToken: token.access_token, version });

  const client = conn.streaming.createClient([
    new StreamingExtension.Replay(channel, -1),
    new StreamingExtension.AuthFailure((message) => fail(`authentication failed: ${JSON.stringify(message)}`)),
  ]);

  let caseId = null;
  const early = [];
  const check = (event) => {
    const header = event?.payload?.ChangeEventHeader;
    if (!header || !caseId) return false;
    if (header.changeType === 'CREATE' && header.entityName === 'Case' && header.recordIds?.includes(caseId)) {
      clearTimeout(timer);
      console.log(`streaming: jsforce received the CaseChangeEvent of ${caseId} (replayId ${event.event?.replayId}, origin ${JSON.stringify(header.changeOrigin)})`);
      client.disconnect();
      process.exit(0);
    }
    return false;
  };
  const subscription = client.subscribe(channel, (event) => {
    if (!caseId) early.push(event);
    else check(event);
  });
  // faye's subscription is thenable: resolved once /meta/subscribe succeeded.
  await new Promise((resolve, reject) => subscription.then(resolve, (e) => reject(new Error(`subscribe failed: ${JSON.stringify(e)}`))));

  const created = await conn.sobject('Case').create({ Subject: 'Streaming check from jsforce', Origin: 'Web' });
  if (!created.success) fail(`the case was not created: ${JSON.stringify(created)}`);
  caseId = created.id;
  early.forEach(check);
} catch (e) {
  fail(e?.stack || String(e));
}
