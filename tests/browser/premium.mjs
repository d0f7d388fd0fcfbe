// A premium title in Debian's headless Chromium: signed out, the watch page shows the
// paywall and no player; signed in (through the login form), it plays, every stream
// request goes out under the viewer's token (never the public path), and after the player
// renews its token the next requests use the new one.
// Usage: node premium.mjs <base-url> <title-id> <email> <password>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, id, email, password] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  viewport: { width: 1280, height: 800 },
});
try {
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // Every stream request and its answer.
  const stream = [];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/p/')) stream.push({ path, status: r.status() });
  });

  await page.goto(`${base}/watch/${id}`, { waitUntil: 'load' });
  if (await page.locator('#video').count()) throw new Error('a player for a signed-out viewer');
  const reason = (await page.locator('#paywall-reason').textContent()).trim();
  step('paywall', { reason });

  await page.goto(`${base}/login?next=/watch/${id}`, { waitUntil: 'load' });
  await page.fill('form[action="/login"] input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`**/watch/${id}`), page.click('form[action="/login"] button[type=submit]')]);
  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
  await page.waitForFunction(() => window.marquee.video.currentTime > 1, null, { timeout: 30000 });
  const first = stream.filter((r) => !r.path.endsWith('/poster.jpg'));
  const tokens = [...new Set(first.map((r) => r.path.split('/')[2]))];
  if (tokens.length !== 1 || tokens[0] === 'public') throw new Error(`stream paths: ${JSON.stringify(first)}`);
  if (first.some((r) => r.status !== 200 && r.status !== 206)) throw new Error(`refused: ${JSON.stringify(first)}`);
  if (!first.some((r) => r.path.endsWith('/key.bin'))) throw new Error(`no key fetched: ${JSON.stringify(first)}`);
  step('played', { requests: first.length });

  // A renewal (as the player does before expiry), then more requests: under the new token.
  await page.waitForTimeout(1100); // a later second: another expiry, another token
  await page.evaluate(() => window.marquee.renewPass());
  const renewed = await page.evaluate(() => window.marquee.pass.prefix.split('/')[2]);
  if (renewed === tokens[0]) throw new Error('the renewal gave the same token');
  const before = stream.length;
  await page.evaluate(() => {
    const hls = window.marquee.hls;
    const current = hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel;
    const other = hls.levels.findIndex((_, i) => i !== current);
    hls.currentLevel = other >= 0 ? other : current;
    window.marquee.video.currentTime = 0.2;
  });
  await page.waitForFunction((n) => performance.getEntriesByType('resource').length > 0 && n >= 0, before);
  await page.waitForTimeout(1500);
  const later = stream.slice(before).filter((r) => !r.path.endsWith('/poster.jpg'));
  if (!later.length) throw new Error('no request after the renewal');
  if (later.some((r) => r.path.split('/')[2] !== renewed)) throw new Error(`after renewal: ${JSON.stringify(later)}`);
  if (later.some((r) => r.status !== 200 && r.status !== 206)) throw new Error(`refused after renewal: ${JSON.stringify(later)}`);
  step('renewed', { requests: later.length });

  const errors = await page.evaluate(() => window.marquee.errors);
  if (errors.length || pageErrors.length) throw new Error(`player errors: ${JSON.stringify({ errors, pageErrors })}`);
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
