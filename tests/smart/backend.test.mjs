// SMART Backend Services against `ward serve`: the client makes a key pair Ward has never seen,
// registers only its public JWKS with `ward client add --kind backend` (inline file, then by
// URL from a loopback server), signs a client assertion (ES384, RS384) with `jose`, gets a
// token and reads data; a replayed assertion and a wrong audience are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { scenarios, ward, operatorToken, putResource } from './lib.mjs';

const s = scenarios.plain;
const authBase = s.base.replace(/\/fhir$/, '/auth');

async function keyPair(alg, kid) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

function assertion(privateKey, alg, kid, clientId, aud, jti) {
  return new SignJWT({})
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(aud)
    .setJti(jti)
    .setIssuedAt()
    .setExpirationTime('4m')
    .sign(privateKey);
}

async function token(clientAssertion, scope = 'system/Patient.rs') {
  const r = await fetch(`${authBase}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
    }),
  });
  return { status: r.status, body: await r.json() };
}

test('backend services with a key registered inline (ES384) and by URL (RS384)', async () => {
  await putResource(s.base, operatorToken(s.data), { resourceType: 'Patient', id: 'bs1' });
  const es = await keyPair('ES384', 'es-key');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ward-bs-')), 'jwks.json');
  fs.writeFileSync(file, JSON.stringify({ keys: [es.jwk] }));
  ward(s.data, ['client', 'add', '--id', 'bulk-es', '--kind', 'backend', '--scope', 'system/Patient.rs', '--jwks', file]);

  const rs = await keyPair('RS384', 'rs-key');
  const jwksServer = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [rs.jwk] }));
  });
  await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
  const jwksUrl = `http://127.0.0.1:${jwksServer.address().port}/jwks.json`;
  ward(s.data, ['client', 'add', '--id', 'bulk-rs', '--kind', 'backend', '--scope', 'system/Patient.rs', '--jwks-url', jwksUrl]);

  try {
    for (const [id, k, alg] of [['bulk-es', es, 'ES384'], ['bulk-rs', rs, 'RS384']]) {
      const a = await assertion(k.privateKey, alg, k.jwk.kid, id, `${authBase}/token`, `${id}-1`);
      const ok = await token(a);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.token_type, 'Bearer');
      assert.equal(ok.body.scope, 'system/Patient.rs');
      assert.ok(ok.body.expires_in <= 300);
      const read = await fetch(`${s.base}/Patient/bs1`, { headers: { authorization: `Bearer ${ok.body.access_token}` } });
      assert.equal(read.status, 200);
      const replay = await token(a);
      assert.equal(replay.status, 401);
      assert.equal(replay.body.error, 'invalid_client');
      const wrongAud = await assertion(k.privateKey, alg, k.jwk.kid, id, s.base, `${id}-2`);
      assert.equal((await token(wrongAud)).status, 401);
    }
    const stranger = await keyPair('ES384', 'es-key');
    const forged = await assertion(stranger.privateKey, 'ES384', 'es-key', 'bulk-es', `${authBase}/token`, 'x-1');
    assert.equal((await token(forged)).status, 401, 'a key that was never registered');
  } finally {
    jwksServer.close();
  }
});
