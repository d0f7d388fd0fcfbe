// The dashboard's title pickers and copy button in Debian's headless Chromium, under the
// real Content-Security-Policy (no inline script): typing part of a name on the Paywall
// page fills the picker's suggestions from /admin/title-names, and the chosen name makes
// codes for that title; Settings → Stripe's Copy button copies the webhook address (or,
// without a clipboard, says how to).
// Usage: node words.mjs <base> <owner-email> <password>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, owner, password] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });
let context;

try {
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('dialog', (d) => d.accept());

  await page.goto(`${base}/login?next=/admin/paywall`, { waitUntil: 'load' });
  await page.fill('form[action="/login"] input[name=email]', owner);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL('**/admin/paywall'), page.click('form[action="/login"] button[type=submit]')]);

  // Part of a name: the suggestions arrive in the picker's datalist.
  const form = 'form[data-new-codes]';
  await page.fill(`${form} input[name=name]`, 'From the picker');
  await page.selectOption(`${form} select[name=grants]`, 'title:');
  await page.locator(`${form} input[data-title-picker]`).pressSequentially('hold', { delay: 30 });
  await page.waitForFunction(() => document.querySelectorAll('#code-title-names option').length > 0, null, { timeout: 10000 });
  const suggested = await page.$$eval('#code-title-names option', (os) => os.map((o) => o.value));
  step('suggested', { suggested });
  await page.fill(`${form} input[data-title-picker]`, suggested[0]);
  await Promise.all([page.waitForNavigation(), page.click(`${form} button[type=submit]`)]);
  const made = await page.locator('table').last().textContent();
  step('codes', { made: made.includes('From the picker') && made.includes(suggested[0]), url: page.url() });

  // Settings → Stripe: the webhook address and its Copy button.
  await page.goto(`${base}/admin/settings#stripe`, { waitUntil: 'load' });
  const address = await page.inputValue('#webhook-url');
  await page.click('button[data-copy="webhook-url"]');
  await page.waitForFunction(() => document.querySelector('[data-copied]').textContent !== '', null, { timeout: 5000 });
  step('copy', { address, said: await page.locator('[data-copied]').textContent() });

  if (errors.length) throw new Error(`page errors: ${errors}`);
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  if (context) await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
