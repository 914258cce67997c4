// Shared helpers of the SMART acceptance suite: the `ward` CLI, HTTPS calls trusting the test
// servers' CAs (NODE_EXTRA_CA_CERTS, set by run.sh), RFC 6238 codes, and a loopback web server
// for the test app.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const bin = process.env.WARD_BIN;
export const appPort = Number(process.env.APP_PORT);
export const appOrigin = `http://127.0.0.1:${appPort}`;

export const scenarios = {
  plain: { base: process.env.WARD_PLAIN_BASE, data: process.env.WARD_PLAIN_DATA },
  mfa: { base: process.env.WARD_MFA_BASE, data: process.env.WARD_MFA_DATA },
};

/** Runs `ward ARGS --data-dir DATA` and returns stdout. */
export function ward(data, args, input) {
  return execFileSync(bin, [...args, '--data-dir', data], { input, encoding: 'utf8' });
}

/** An operator token for `data`. */
export function operatorToken(data, scope = 'system/*.cruds') {
  return ward(data, ['token', 'issue', '--scope', scope, '--ttl', '900']).trim();
}

export async function putResource(base, token, resource) {
  const r = await fetch(`${base}/${resource.resourceType}/${resource.id}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(resource),
  });
  if (!r.ok) throw new Error(`seed failed: ${r.status} ${await r.text()}`);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from a base32 secret. */
export function totp(base32, at = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/** Serves the test app (launch.html, callback.html) and the stock fhirclient bundle. */
export function startApp() {
  const files = {
    '/launch.html': path.join(here, 'app/launch.html'),
    '/callback.html': path.join(here, 'app/callback.html'),
    '/fhir-client.js': path.join(here, 'node_modules/fhirclient/build/fhir-client.js'),
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, appOrigin).pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const type = file.endsWith('.js') ? 'text/javascript' : 'text/html';
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8` });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(appPort, '127.0.0.1', () => resolve(server)));
}
