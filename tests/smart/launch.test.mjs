// SMART App Launch 2 standalone launch in a real browser: Playwright drives Debian's Chromium
// through the stock `fhirclient` library against `ward serve` over TLS. The patient user logs
// in, consents, reads their own Patient, and is refused another patient's (compartment
// confinement: 404). The second run does the same with TOTP MFA, computing codes from the
// secret shown on the enrollment page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { scenarios, ward, operatorToken, putResource, startApp, appOrigin, totp } from './lib.mjs';

const PASSWORD = 'a long patient password 42';
let browser;
let app;

before(async () => {
  app = await startApp();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  for (const s of Object.values(scenarios)) {
    ward(s.data, ['client', 'add', '--id', 'smart-app', '--kind', 'public',
      '--scope', 'launch/patient patient/*.rs openid fhirUser offline_access',
      '--redirect-uri', `${appOrigin}/callback.html`]);
    ward(s.data, ['user', 'add', '--username', 'jane', '--role', 'patient', '--patient', 'p1'], `${PASSWORD}\n`);
    const op = operatorToken(s.data);
    await putResource(s.base, op, { resourceType: 'Patient', id: 'p1', name: [{ family: 'Ownrecord' }] });
    await putResource(s.base, op, { resourceType: 'Patient', id: 'p2', name: [{ family: 'Someoneelse' }] });
  }
});

after(async () => {
  await browser?.close();
  app?.close();
});

async function standalone(s, { mfa }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const seen = [];
  page.on('response', (r) => seen.push(`${r.status()} ${new URL(r.url()).pathname}`));
  await page.goto(`${appOrigin}/launch.html?iss=${encodeURIComponent(s.base)}`);
  await page.waitForURL(/\/auth\/login/);
  // Keyboard only: the form is usable without a mouse.
  await page.focus('#username');
  await page.keyboard.type('jane');
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  if (mfa) {
    await page.waitForURL(/\/auth\/totp/);
    assert.ok(await page.locator('svg').count(), 'QR code shown');
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    const secret = (await page.locator('#totp-secret').textContent()).trim();
    await page.fill('#code', '000000');
    await page.click('#confirm');
    assert.match(await page.locator('#error').textContent(), /not right/);
    // The retry page keeps the pending secret; the next code from it completes enrollment.
    await page.fill('#code', totp(secret));
    await page.click('button[type=submit]');
  }
  await page.waitForURL(/\/auth\/consent/);
  const items = await page.locator('input[name=scope]').count();
  assert.ok(items >= 4, 'scopes listed with checkboxes');
  assert.match(await page.locator('main').textContent(), /read and search all of the patient's records/);
  await page.click('#allow');
  await page.waitForFunction(() => document.title === 'done', null, { timeout: 20000 });
  const result = JSON.parse(await page.locator('#result').textContent());
  await context.close();
  return { result, seen };
}

for (const [name, mfa] of [['plain', false], ['mfa', true]]) {
  test(`standalone launch with fhirclient in Chromium (${name})`, async () => {
    const { result, seen } = await standalone(scenarios[name], { mfa });
    assert.equal(result.error, undefined, JSON.stringify(result));
    assert.equal(result.patientId, 'p1');
    assert.equal(result.ownName, 'Ownrecord');
    assert.equal(result.needPatientBanner, true);
    assert.equal(result.fhirUser, 'Patient/p1');
    assert.match(result.scope, /patient\/\*\.rs/);
    assert.equal(result.other, 'refused', JSON.stringify(result));
    assert.ok(seen.some((l) => l.startsWith('404 ') && l.endsWith('/fhir/Patient/p2')), seen.join('\n'));
    assert.ok(seen.some((l) => l === '200 /auth/token'), seen.join('\n'));
  });
}
