// The paywall's two ways in, in Debian's headless Chromium. One viewer meets the paywall,
// types an access code into it and watches. Another subscribes: the Subscribe button
// takes them to the (stand-in) Stripe Checkout page, they pay there, and Stripe sends them
// back to the watch page by the cancel address, as a viewer who closes the tab after
// paying would come back: only the webhook Stripe sent can have unlocked the title.
// Usage: node buy.mjs <base-url> <title-id> <access-code> <email1> <email2> <password>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, id, code, email1, email2, password] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });

async function viewer(email) {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    viewport: { width: 1280, height: 800 },
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/login?next=/watch/${id}`, { waitUntil: 'load' });
  await page.fill('form[action="/login"] input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`**/watch/${id}`), page.click('form[action="/login"] button[type=submit]')]);
  if (await page.locator('#video').count()) throw new Error(`${email} has a player before paying`);
  const reason = (await page.locator('#paywall-reason').textContent()).trim();
  return { context, page, errors, reason };
}

async function plays(page) {
  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
  await page.waitForFunction(() => window.marquee.video.currentTime > 0.5, null, { timeout: 30000 });
  return page.evaluate(() => window.marquee.video.currentTime);
}

const opened = [];
try {
  // 1. An access code typed into the paywall.
  const a = await viewer(email1);
  opened.push(a.context);
  step('paywall', { reason: a.reason });
  await a.page.fill('form.redeem input[name=code]', code.toLowerCase().replaceAll('-', ' '));
  await Promise.all([a.page.waitForURL(`**/watch/${id}`), a.page.click('form.redeem button[type=submit]')]);
  step('redeemed', { played: await plays(a.page) });
  if (a.errors.length) throw new Error(`page errors: ${a.errors}`);

  // 2. Checkout at the stand-in; the webhook unlocks the title.
  const b = await viewer(email2);
  opened.push(b.context);
  await Promise.all([b.page.waitForURL('**/pay/cs_*'), b.page.click('form.buy button[value=month]')]);
  step('checkout', { at: new URL(b.page.url()).pathname });
  await Promise.all([b.page.waitForURL(`**/watch/${id}`), b.page.click('button#pay')]);
  step('subscribed', { played: await plays(b.page) });
  if (b.errors.length) throw new Error(`page errors: ${b.errors}`);
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  for (const c of opened) await c.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
