// A staff member previews a draft in Debian's headless Chromium: signed in as an editor
// (through the login form), the draft's watch page shows the band and plays under their
// own token (never the public path), the key of encrypted media included; the player's
// heartbeat does not stop it and its renewed token plays on. The title page shows the band
// too, and the dashboard's Media page shows the draft's poster frame.
// Usage: node guide.mjs <base-url> <title-id> <email> <password>
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
  const stream = [];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/p/')) stream.push({ path, status: r.status() });
  });

  await page.goto(`${base}/login?next=/watch/${id}`, { waitUntil: 'load' });
  await page.fill('form[action="/login"] input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`**/watch/${id}`), page.click('form[action="/login"] button[type=submit]')]);
  const band = (await page.locator('[data-preview]').textContent()).trim();
  step('band', { band });

  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
  await page.waitForFunction(() => window.marquee.video.currentTime > 1, null, { timeout: 30000 });
  const tokens = [...new Set(stream.map((r) => r.path.split('/')[2]))];
  if (tokens.length !== 1 || tokens[0] === 'public') throw new Error(`stream paths: ${JSON.stringify(stream)}`);
  if (stream.some((r) => r.status !== 200 && r.status !== 206)) throw new Error(`refused: ${JSON.stringify(stream)}`);
  if (!stream.some((r) => r.path.endsWith('/key.bin'))) throw new Error(`no key fetched: ${JSON.stringify(stream)}`);
  step('played', { requests: stream.length });

  // The heartbeat the player sent on its first frame did not stop it; a renewal plays on.
  await page.waitForTimeout(1100);
  await page.evaluate(() => window.marquee.renewPass());
  const renewed = await page.evaluate(() => window.marquee.pass.prefix.split('/')[2]);
  if (renewed === tokens[0] || renewed === 'public') throw new Error(`renewed to ${renewed}`);
  const before = stream.length;
  await page.evaluate(() => {
    const hls = window.marquee.hls;
    const current = hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel;
    const other = hls.levels.findIndex((_, i) => i !== current);
    hls.currentLevel = other >= 0 ? other : current;
    window.marquee.video.currentTime = 0.2;
  });
  await page.waitForTimeout(1500);
  const later = stream.slice(before);
  if (!later.length) throw new Error('no request after the renewal');
  if (later.some((r) => r.path.split('/')[2] !== renewed)) throw new Error(`after renewal: ${JSON.stringify(later)}`);
  if (later.some((r) => r.status !== 200 && r.status !== 206)) throw new Error(`refused after renewal: ${JSON.stringify(later)}`);
  // A refused heartbeat or renewal shows its reason and lands in the player's errors.
  const errors = await page.evaluate(() => window.marquee.errors);
  if (errors.length || pageErrors.length) throw new Error(`player errors: ${JSON.stringify({ errors, pageErrors })}`);
  step('renewed', { requests: later.length });

  await page.goto(`${base}/title/${id}`, { waitUntil: 'load' });
  step('title page', { band: (await page.locator('[data-preview]').textContent()).trim() });

  await page.goto(`${base}/admin/media`, { waitUntil: 'load' });
  const poster = page.locator(`tr[data-id="${id}"] img.thumb`);
  await poster.waitFor({ timeout: 10000 });
  await page.waitForFunction((sel) => {
    const img = document.querySelector(sel);
    return img && img.complete;
  }, `tr[data-id="${id}"] img.thumb`, { timeout: 10000 });
  const width = await poster.evaluate((img) => img.naturalWidth);
  if (!width) throw new Error('the draft\'s poster is broken on Media');
  step('poster', { width });
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
