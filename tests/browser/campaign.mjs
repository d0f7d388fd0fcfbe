// A member a retention campaign targeted, in Debian's headless Chromium: signs in, sees the
// campaign's banner on the home page, follows it to their personal offer and takes it.
// Usage: node campaign.mjs <server-url> <email> <password>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, email, password] = process.argv.slice(2);
const report = { ok: false };
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync'],
});
try {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  await page.goto(`${base}/`);
  const banner = await page.waitForSelector('.campaign-banner a', { timeout: 10000 });
  report.banner = await banner.textContent();
  await Promise.all([page.waitForURL(/\/c\/[A-Za-z0-9_-]+$/), banner.click()]);
  report.offer = await page.textContent('.campaign-offer');
  await Promise.all([page.waitForNavigation(), page.click('.campaign-offer button[type="submit"]')]);
  report.after = await page.textContent('.campaign-offer');
  // Taken: the banner is gone from the storefront.
  await page.goto(`${base}/`);
  await page.waitForTimeout(1000);
  report.banner_after = await page.$('.campaign-banner') !== null;
  report.errors = errors;
  report.ok = report.after.includes('Done') && !report.banner_after && errors.length === 0;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
