// Watching in Debian's headless Chromium, against a real Marquee server.
// Usage:
//   node watching.mjs resume <base-url> <title-id> <email> <password>
//     Signed in: the title page's "Resume from" button leads to a player that starts
//     exactly there (its start position and the video's first position).
//   node watching.mjs home <base-url> <title-id> <email> <password>
//     Signed in, on a phone: the home page's "Continue watching" tile of the title shows
//     its bar (visible, the watched share as its value) and says "Watched N %" to a
//     screen reader (the link's accessible name).
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [mode, base, ...rest] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });

const launch = (viewport, extra = {}) => chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  viewport,
  ...extra,
});

async function signIn(page, email, password, next) {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`, { waitUntil: 'load' });
  await page.fill('form[action="/login"] input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`**${next}`), page.click('form[action="/login"] button[type=submit]')]);
}

async function resume(context, [id, email, password]) {
  const page = await context.newPage();
  await signIn(page, email, password, `/title/${id}`);
  const button = page.locator('#main-action');
  const offered = (await button.textContent()).trim();
  step('offered', { offered });
  await Promise.all([page.waitForURL(`**/watch/${id}`), button.click()]);
  await page.waitForFunction(() => window.marquee && window.marquee.video.readyState >= 1 && window.marquee.video.currentTime > 0, null, { timeout: 30000 });
  const started = await page.evaluate(() => ({ startAt: window.marquee.startAt, currentTime: window.marquee.video.currentTime }));
  step('started', started);
}

async function home(context, [id, email, password]) {
  const page = await context.newPage();
  await signIn(page, email, password, '/');
  const rail = page.locator('section.rail', { has: page.getByRole('heading', { name: 'Continue watching' }) });
  const link = rail.locator(`a[href="/title/${id}"]`);
  const name = await link.evaluate((a) => a.textContent.replace(/\s+/g, ' ').trim());
  const bar = link.locator('progress.watched');
  const box = await bar.boundingBox();
  const tile = await link.boundingBox();
  const value = await bar.evaluate((p) => p.value);
  // What a screen reader hears for the tile: its accessible name.
  const heard = await rail.getByRole('link', { name: /Watched \d+ %/ }).count();
  step('tile', { name, value, heard, bar: box, tile });
}

const modes = {
  resume: [{ width: 1280, height: 800 }, resume],
  home: [{ width: 390, height: 844 }, home],
};
const [viewport, run] = modes[mode] || [];
if (!run) {
  console.log(JSON.stringify({ ok: false, error: `unknown mode ${mode}` }));
  process.exit(2);
}
const context = await launch(viewport);
const pageErrors = [];
context.on('page', (page) => page.on('pageerror', (e) => pageErrors.push(String(e))));
try {
  await run(context, rest);
  if (pageErrors.length) throw new Error(`page errors: ${JSON.stringify(pageErrors)}`);
  report.ok = true;
} catch (e) {
  report.error = String((e && e.stack) || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
