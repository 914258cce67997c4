// Black-box FHIR R4 client suite: drives a running `ward serve` over real TLS with the
// independent `fhir-kit-client` library (no Ward code involved). Started by run.sh, which
// passes WARD_BASE, WARD_TOKEN, WARD_PHI_MARKER and trusts the server's CA via
// NODE_EXTRA_CA_CERTS. Covers validation and $validate, REST interactions (conditional ones and
// history paging included), HTTP semantics, limits (413) and auth (401, 403 for too small a scope).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';

const base = process.env.WARD_BASE;
const token = process.env.WARD_TOKEN;
const marker = process.env.WARD_PHI_MARKER;
assert.ok(base && token && marker, 'run via run.sh');

const client = new Client({ baseUrl: base, bearerToken: token });
const anonymous = new Client({ baseUrl: base });

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (e) {
    return e.response?.status ?? e.status ?? 0;
  }
}

async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return { status: e.response?.status, data: e.response?.data };
  }
  assert.fail('expected the request to fail');
}

const patient = () => ({
  resourceType: 'Patient',
  name: [{ family: marker, given: ['Blackbox'] }],
  gender: 'female',
  birthDate: '1975-04-12',
});

test('metadata is public; everything else needs a token', async () => {
  const cs = await anonymous.capabilityStatement();
  assert.equal(cs.resourceType, 'CapabilityStatement');
  assert.equal(cs.fhirVersion, '4.0.1');
  const f = await failure(anonymous.read({ resourceType: 'Patient', id: 'x' }));
  assert.equal(f.status, 401);
  const bad = new Client({ baseUrl: base, bearerToken: 'not.a.token' });
  assert.equal(await status(bad.read({ resourceType: 'Patient', id: 'x' })), 401);
});

test('create, read, vread, update, patch, delete, history', async () => {
  const created = await client.create({ resourceType: 'Patient', body: patient() });
  assert.equal(created.meta.versionId, '1');
  const id = created.id;
  const read = await client.read({ resourceType: 'Patient', id });
  assert.equal(read.name[0].family, marker);
  const updated = await client.update({ resourceType: 'Patient', id, body: { ...read, gender: 'other' } });
  assert.equal(updated.meta.versionId, '2');
  const v1 = await client.vread({ resourceType: 'Patient', id, version: '1' });
  assert.equal(v1.gender, 'female');
  const patched = await client.patch({
    resourceType: 'Patient', id,
    jsonPatch: [{ op: 'replace', path: '/gender', value: 'male' }],
  });
  assert.equal(patched.gender, 'male');
  assert.equal(patched.meta.versionId, '3');
  await client.delete({ resourceType: 'Patient', id });
  assert.equal(await status(client.read({ resourceType: 'Patient', id })), 410);
  const hist = await client.history({ resourceType: 'Patient', id });
  assert.equal(hist.type, 'history');
  assert.deepEqual(hist.entry.map((e) => e.request.method), ['DELETE', 'PATCH', 'PUT', 'POST']);
  const typeHist = await client.typeHistory({ resourceType: 'Patient' });
  assert.ok(typeHist.entry.length >= 4);
});

test('validation: 400 for unparseable, 422 listing every issue', async () => {
  const broken = await fetch(`${base}/Patient`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: '{"resourceType": "Patient",',
  });
  assert.equal(broken.status, 400);
  assert.equal((await broken.json()).resourceType, 'OperationOutcome');
  const f = await failure(client.create({
    resourceType: 'Patient',
    body: { resourceType: 'Patient', gender: 'robot', birthDate: '1975-02-30x', nickname: 'x' },
  }));
  assert.equal(f.status, 422);
  const where = f.data.issue.map((i) => i.expression[0]).sort();
  assert.deepEqual(where, ['Patient.birthDate', 'Patient.gender', 'Patient.nickname']);
  const wrongType = await failure(client.create({ resourceType: 'Patient', body: { resourceType: 'Observation' } }));
  assert.equal(wrongType.status, 400);
  const op = await client.operation({ resourceType: 'Patient', name: '$validate', input: { resourceType: 'Patient', gender: 'x' } });
  assert.equal(op.issue[0].code, 'code-invalid');
});

test('concurrency and conditional read', async () => {
  const p = await client.create({ resourceType: 'Patient', body: patient() });
  const stale = await failure(client.update({
    resourceType: 'Patient', id: p.id, body: p, options: { headers: { 'If-Match': 'W/"9"' } },
  }));
  assert.equal(stale.status, 412);
  const ok = await client.update({ resourceType: 'Patient', id: p.id, body: p, options: { headers: { 'If-Match': 'W/"1"' } } });
  assert.equal(ok.meta.versionId, '2');
  const res = await fetch(`${base}/Patient/${p.id}`, { headers: { authorization: `Bearer ${token}`, 'if-none-match': 'W/"2"' } });
  assert.equal(res.status, 304);
  const res2 = await fetch(`${base}/Patient/${p.id}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res2.headers.get('etag'), 'W/"2"');
  assert.ok(res2.headers.get('last-modified').endsWith('GMT'));
  assert.equal(res2.headers.get('cache-control'), 'no-store');
  assert.match(res2.headers.get('strict-transport-security'), /max-age=/);
});

test('Prefer, _summary, _elements, content negotiation', async () => {
  const minimal = await fetch(`${base}/Patient`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    body: JSON.stringify(patient()),
  });
  assert.equal(minimal.status, 201);
  assert.equal(await minimal.text(), '');
  const location = minimal.headers.get('location');
  assert.match(location, /\/Patient\/[^/]+\/_history\/1$/);
  const id = location.split('/').at(-3);
  const s = await (await fetch(`${base}/Patient/${id}?_summary=true`, { headers: { authorization: `Bearer ${token}` } })).json();
  assert.ok(s.meta.tag.some((t) => t.code === 'SUBSETTED'));
  const el = await (await fetch(`${base}/Patient/${id}?_elements=birthDate`, { headers: { authorization: `Bearer ${token}` } })).json();
  assert.equal(el.birthDate, '1975-04-12');
  assert.equal(el.name, undefined);
  const xml = await fetch(`${base}/Patient/${id}?_format=xml`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(xml.status, 406);
  const xmlBody = await fetch(`${base}/Patient`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+xml' }, body: '<Patient/>',
  });
  assert.equal(xmlBody.status, 415);
});

test('transaction resolves urn:uuid and is atomic; batch entries are independent', async () => {
  const tx = await client.transaction({
    body: {
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:6f0e1a52-1f3e-4a8a-9a55-000000000001', resource: patient(), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'heart rate' }, subject: { reference: 'urn:uuid:6f0e1a52-1f3e-4a8a-9a55-000000000001' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    },
  });
  assert.equal(tx.type, 'transaction-response');
  const pid = tx.entry[0].resource.id;
  assert.equal(tx.entry[1].resource.subject.reference, `Patient/${pid}`);
  const before = (await client.typeHistory({ resourceType: 'Observation' })).entry.length;
  const failed = await failure(client.transaction({
    body: {
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
        { resource: { resourceType: 'Observation', status: 'bogus', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
      ],
    },
  }));
  assert.equal(failed.status, 422);
  assert.equal((await client.typeHistory({ resourceType: 'Observation' })).entry.length, before);
  const batch = await client.batch({
    body: {
      resourceType: 'Bundle', type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${pid}` } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
      ],
    },
  });
  assert.equal(batch.entry[0].response.status, '200 OK');
  assert.equal(batch.entry[1].response.status, '404 Not Found');
});

const auth = { authorization: `Bearer ${token}` };
const json = { ...auth, 'content-type': 'application/fhir+json' };
const mrn = (v) => ({ ...patient(), identifier: [{ system: 'urn:blackbox:mrn', value: v }] });
const uniq = () => `${Date.now()}-${Math.random().toString(16).slice(2)}`;

test('conditional create, update and delete', async () => {
  const v = uniq();
  const ifNoneExist = { ...json, 'if-none-exist': `identifier=urn:blackbox:mrn|${v}` };
  const first = await fetch(`${base}/Patient`, { method: 'POST', headers: ifNoneExist, body: JSON.stringify(mrn(v)) });
  assert.equal(first.status, 201);
  const id = (await first.json()).id;
  const again = await fetch(`${base}/Patient`, { method: 'POST', headers: ifNoneExist, body: JSON.stringify(mrn(v)) });
  assert.equal(again.status, 200, 'one match: the existing resource, nothing created');
  assert.equal((await again.json()).id, id);

  const put = await fetch(`${base}/Patient?identifier=urn:blackbox:mrn|${v}`, {
    method: 'PUT', headers: json, body: JSON.stringify({ ...mrn(v), gender: 'other' }),
  });
  assert.equal(put.status, 200);
  const updated = await put.json();
  assert.equal(updated.id, id);
  assert.equal(updated.meta.versionId, '2');
  const w = uniq();
  const createdByPut = await fetch(`${base}/Patient?identifier=urn:blackbox:mrn|${w}`, {
    method: 'PUT', headers: json, body: JSON.stringify(mrn(w)),
  });
  assert.equal(createdByPut.status, 201, 'no match: created');

  // Two matches: conditional create and delete refuse with 412.
  await client.create({ resourceType: 'Patient', body: mrn(w) });
  const two = await fetch(`${base}/Patient`, {
    method: 'POST', headers: { ...json, 'if-none-exist': `identifier=urn:blackbox:mrn|${w}` }, body: JSON.stringify(mrn(w)),
  });
  assert.equal(two.status, 412);
  assert.equal((await two.json()).resourceType, 'OperationOutcome');
  const delTwo = await fetch(`${base}/Patient?identifier=urn:blackbox:mrn|${w}`, { method: 'DELETE', headers: auth });
  assert.equal(delTwo.status, 412);

  const del = await fetch(`${base}/Patient?identifier=urn:blackbox:mrn|${v}`, { method: 'DELETE', headers: auth });
  assert.ok([200, 204].includes(del.status), `conditional delete of one match: ${del.status}`);
  assert.equal(await status(client.read({ resourceType: 'Patient', id })), 410);
});

test('update as create with a client id; If-Modified-Since', async () => {
  const id = `bb-${uniq()}`.slice(0, 64);
  const put = await fetch(`${base}/Patient/${id}`, { method: 'PUT', headers: json, body: JSON.stringify({ ...patient(), id }) });
  assert.equal(put.status, 201);
  assert.match(put.headers.get('location'), new RegExp(`/Patient/${id}/_history/1$`));
  const lastModified = put.headers.get('last-modified');
  const later = new Date(Date.parse(lastModified) + 60_000).toUTCString();
  const notModified = await fetch(`${base}/Patient/${id}`, { headers: { ...auth, 'if-modified-since': later } });
  assert.equal(notModified.status, 304);
  const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString();
  assert.equal((await fetch(`${base}/Patient/${id}`, { headers: { ...auth, 'if-modified-since': earlier } })).status, 200);
  const mismatch = await fetch(`${base}/Patient/${id}`, { method: 'PUT', headers: json, body: JSON.stringify({ ...patient(), id: 'other' }) });
  assert.equal(mismatch.status, 400, 'body id must match the URL');
});

test('history paging, newest first, and _since', async () => {
  const p = await client.create({ resourceType: 'Patient', body: patient() });
  let body = p;
  for (const g of ['male', 'other', 'unknown', 'female']) {
    body = await client.update({ resourceType: 'Patient', id: p.id, body: { ...body, gender: g } });
  }
  const versions = [];
  let url = `${base}/Patient/${p.id}/_history?_count=2`;
  let pages = 0;
  while (url) {
    const page = await (await fetch(url, { headers: auth })).json();
    assert.equal(page.type, 'history');
    assert.ok(page.entry.length <= 2);
    versions.push(...page.entry.map((e) => e.resource.meta.versionId));
    url = page.link.find((l) => l.relation === 'next')?.url;
    pages += 1;
    assert.ok(pages <= 5, 'paging terminates');
  }
  assert.deepEqual(versions, ['5', '4', '3', '2', '1']);
  const future = new Date(Date.now() + 3_600_000).toISOString();
  const since = await (await fetch(`${base}/Patient/${p.id}/_history?_since=${encodeURIComponent(future)}`, { headers: auth })).json();
  assert.equal((since.entry ?? []).length, 0);
  const sys = await (await fetch(`${base}/_history?_count=3`, { headers: auth })).json();
  assert.equal(sys.entry.length, 3);
  assert.ok(sys.link.some((l) => l.relation === 'next'));
});

test('limits and errors: 413, unknown type, unsupported method, too small a scope', async () => {
  const huge = JSON.stringify({ ...patient(), text: { status: 'generated', div: `<div>${'x'.repeat(17 * 1024 * 1024)}</div>` } });
  const big = await fetch(`${base}/Patient`, { method: 'POST', headers: json, body: huge });
  assert.equal(big.status, 413);
  assert.equal((await big.json()).resourceType, 'OperationOutcome');
  const unknown = await fetch(`${base}/NotAType/1`, { headers: auth });
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).resourceType, 'OperationOutcome');
  const readOnly = new Client({ baseUrl: base, bearerToken: process.env.WARD_TOKEN_READONLY });
  const denied = await failure(readOnly.create({ resourceType: 'Patient', body: patient() }));
  assert.equal(denied.status, 403);
  const r = await fetch(`${base}/Patient/x`, { headers: { authorization: `Bearer ${process.env.WARD_TOKEN_READONLY}` } });
  assert.ok([404, 410].includes(r.status), 'a read scope may read');
  const audit = await fetch(`${base}/AuditEvent/x`, { method: 'DELETE', headers: auth });
  assert.equal(audit.status, 405);
});

test('$validate at type and instance level', async () => {
  const ok = await fetch(`${base}/Patient/$validate`, { method: 'POST', headers: json, body: JSON.stringify(patient()) });
  assert.equal(ok.status, 200);
  const outcome = await ok.json();
  assert.equal(outcome.resourceType, 'OperationOutcome');
  assert.ok(outcome.issue.every((i) => !['error', 'fatal'].includes(i.severity)));
  const p = await client.create({ resourceType: 'Patient', body: patient() });
  const inst = await fetch(`${base}/Patient/${p.id}/$validate`, { method: 'POST', headers: json, body: JSON.stringify({ ...p, gender: 'robot' }) });
  const io = await inst.json();
  assert.equal(io.resourceType, 'OperationOutcome');
  assert.ok(io.issue.some((i) => i.severity === 'error' && i.expression?.[0] === 'Patient.gender'), JSON.stringify(io));
});
