// A real OpenID provider (oidc-provider from npm) on loopback for Ward's external-IdP tests.
// Usage: node idp.mjs PORT. Issues ES256 JWT access tokens (client_credentials + resource
// indicator `urn:ward:fhir`) with SMART scopes and patient/fhirUser claims. Prints "ready".
// POST /rotate switches to a new signing key (the old one is dropped) to test key rotation.
import http from 'node:http';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;

async function signingKey(kid) {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
}

async function provider(kid) {
  const p = new Provider(issuer, {
    clients: [{
      client_id: 'ward-test',
      client_secret: 'a-long-client-secret-for-the-test-idp',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [await signingKey(kid)] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:ward:fhir',
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'patient/*.rs system/Patient.rs',
          audience: resource === 'urn:other:api' ? 'urn:other:api' : 'urn:ward:fhir',
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    extraTokenClaims: () => ({ patient: 'p1', fhirUser: 'Patient/p1' }),
  });
  p.proxy = false;
  return p;
}

let current = await provider('idp-key-1');
let n = 1;
const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/rotate') {
    n += 1;
    current = await provider(`idp-key-${n}`);
    res.end('rotated');
    return;
  }
  current.callback()(req, res);
});
server.listen(port, '127.0.0.1', () => console.log('ready'));
