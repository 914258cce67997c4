// External IdP: Ward started with `[auth.external_idp]` pointing at a real `oidc-provider`
// (idp.mjs, loopback) accepts that provider's JWT access tokens — discovery, JWKS, iss, aud,
// exp, alg allowlist — maps scope/patient/fhirUser claims, and follows key rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenarios, operatorToken, putResource } from './lib.mjs';

const s = scenarios.plain;
const idp = process.env.IDP_URL;

async function idpToken(resource = 'urn:ward:fhir', scope = 'patient/*.rs') {
  const r = await fetch(`${idp}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from('ward-test:a-long-client-secret-for-the-test-idp').toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
  });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  return body.access_token;
}

const read = (path, tok) => fetch(`${s.base}/${path}`, { headers: { authorization: `Bearer ${tok}` } });

test('tokens of the configured OpenID provider are accepted and confined', async () => {
  const op = operatorToken(s.data);
  await putResource(s.base, op, { resourceType: 'Patient', id: 'p1', name: [{ family: 'Ownrecord' }] });
  await putResource(s.base, op, { resourceType: 'Patient', id: 'p2', name: [{ family: 'Someoneelse' }] });
  const tok = await idpToken();
  const claims = JSON.parse(Buffer.from(tok.split('.')[1], 'base64url'));
  assert.equal(claims.iss, idp);
  assert.equal(claims.patient, 'p1');
  assert.equal((await read('Patient/p1', tok)).status, 200);
  assert.equal((await read('Patient/p2', tok)).status, 404, 'patient/ scope from the IdP is confined');

  const other = await idpToken('urn:other:api');
  const r = await read('Patient/p1', other);
  assert.equal(r.status, 401, 'wrong audience');
  assert.match(r.headers.get('www-authenticate'), /invalid_token/);

  const [h, p, sig] = tok.split('.');
  const tampered = JSON.parse(Buffer.from(p, 'base64url'));
  tampered.patient = 'p2';
  const forged = `${h}.${Buffer.from(JSON.stringify(tampered)).toString('base64url')}.${sig}`;
  assert.equal((await read('Patient/p2', forged)).status, 401, 'tampered claims');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${p}.`;
  assert.equal((await read('Patient/p1', none)).status, 401, 'alg none');

  await fetch(`${idp}/rotate`, { method: 'POST' });
  await new Promise((r) => setTimeout(r, 5500)); // Ward refetches a JWKS at most every 5 s
  const rotated = await idpToken();
  assert.notEqual(JSON.parse(Buffer.from(rotated.split('.')[0], 'base64url')).kid, JSON.parse(Buffer.from(h, 'base64url')).kid);
  assert.equal((await read('Patient/p1', rotated)).status, 200, 'new key fetched on an unknown kid');
});
