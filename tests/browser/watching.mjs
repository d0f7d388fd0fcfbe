// Watching in Debian's headless Chromium, against a real Marquee server.
// Usage:
//   node watching.mjs resume <base-url> <title-id> <email> <password>
//     Signed in: the title page's "Resume from" button leads to a player that starts
//     exactly there (its start position and the video's first position).
//   node watching.mjs home <base-url> <title-id> <email> <password>
//     Signed in, on a phone: the home page's "Continue watching" tile of the title shows
//     its bar (visible, the watched share as its value) and says "Watched N %" to a
//     screen reader (the link's accessible name).
//   node watching.mjs phone <base-url> <title-id> [screenshot.png]
//     The player on a 390×844 touch phone: every control on one line inside the player,
//     the big play button over the picture's centre (it plays, then hides), the speed menu
//     behind "Settings" changes playbackRate, picture in picture offered where the browser
//     has it (and it floats the video), AirPlay hidden where Safari's event is missing, no
//     keyboard hints; then on a desktop with a mouse, the keyboard hints.
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [mode, base, ...rest] = process.argv.slice(2);
const report = { ok: false, steps: [], axe: {} };
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const step = (name, extra = {}) => report.steps.push({ name, ...extra });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});

/// Serious and critical axe violations on the page now, kept under `name` in the report.
async function axe(page, name) {
  // Evaluated through DevTools, not as an inline <script>, which the page's policy refuses.
  await page.evaluate(readFileSync(axePath, 'utf8'));
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  report.axe[name] = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, target: v.nodes[0] && v.nodes[0].target.join(' ') }));
}

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
  await axe(page, 'home');
}

// Where each visible control of the player's row sits.
const controlBoxes = (page) => page.evaluate(() => {
  const row = document.querySelector('.controls').getBoundingClientRect();
  const shown = Array.from(document.querySelectorAll('.controls > *')).filter((el) => el.getClientRects().length > 0);
  return {
    row: { left: row.left, right: row.right },
    controls: shown.map((el) => {
      const r = el.getBoundingClientRect();
      return { what: el.dataset.action || el.id || el.className, top: r.top, bottom: r.bottom, left: r.left, right: r.right };
    }),
  };
});
const keyHints = (page) => page.evaluate(() => ({
  keysShown: document.querySelector('.keys').getClientRects().length > 0,
  playTitle: document.querySelector('[data-action="play"]').title,
}));

async function phone(context, [id, screenshot]) {
  const page = await context.newPage();
  await page.goto(`${base}/watch/${id}`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  step('layout', { width: await page.evaluate(() => window.innerWidth), ...(await controlBoxes(page)) });
  await axe(page, 'watch');

  const big = page.locator('[data-action="bigplay"]');
  const bigBox = await big.boundingBox();
  const videoBox = await page.locator('#video').boundingBox();
  await page.evaluate(() => { window.marquee.video.muted = true; });
  await big.tap();
  await page.waitForFunction(() => window.marquee.video.currentTime > 0.5 && !window.marquee.video.paused, null, { timeout: 30000 });
  step('bigplay', { big: bigBox, video: videoBox, hiddenWhilePlaying: await big.isHidden() });

  const speedShownFolded = await page.locator('#speed').isVisible();
  await page.locator('[data-action="settings"]').tap();
  await page.locator('#speed').selectOption('1.5');
  const rate = await page.evaluate(() => window.marquee.video.playbackRate);
  // Open, the menu is on top of the picture (what a finger at its centre touches).
  const speedOnTop = await page.evaluate(() => {
    const speed = document.getElementById('speed');
    const r = speed.getBoundingClientRect();
    return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === speed;
  });
  step('speed', { speedShownFolded, speedShownOpen: await page.locator('#speed').isVisible(), speedOnTop, rate });
  await axe(page, 'watch settings open');
  await page.locator('[data-action="settings"]').tap();

  const pipEnabled = await page.evaluate(() => document.pictureInPictureEnabled);
  const pipShown = await page.locator('[data-action="pip"]').isVisible();
  let floated = false;
  if (pipShown) {
    await page.locator('[data-action="pip"]').tap();
    floated = await page.waitForFunction(() => document.pictureInPictureElement === window.marquee.video, null, { timeout: 5000 })
      .then(() => true, () => false);
  }
  step('pip', { pipEnabled, pipShown, floated });
  step('airplay', {
    event: await page.evaluate(() => 'WebKitPlaybackTargetAvailabilityEvent' in window),
    shown: await page.locator('[data-action="airplay"]').isVisible(),
  });
  step('phone hints', await keyHints(page));
  if (screenshot) await page.screenshot({ path: screenshot });

  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const wide = await desktop.newPage();
    await wide.goto(`${base}/watch/${id}`, { waitUntil: 'load' });
    await wide.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
    step('desktop hints', { ...(await keyHints(wide)), ...(await controlBoxes(wide)) });
  } finally {
    await desktop.close();
  }
}

const modes = {
  resume: [{ width: 1280, height: 800 }, resume],
  home: [{ width: 390, height: 844 }, home],
  phone: [{ width: 390, height: 844 }, phone, { hasTouch: true, isMobile: true, deviceScaleFactor: 3 }],
};
const [viewport, run, device] = modes[mode] || [];
if (!run) {
  console.log(JSON.stringify({ ok: false, error: `unknown mode ${mode}` }));
  await browser.close();
  process.exit(2);
}
const context = await browser.newContext({ viewport, ...device });
const pageErrors = [];
context.on('page', (page) => page.on('pageerror', (e) => pageErrors.push(String(e))));
try {
  await run(context, rest);
  if (pageErrors.length) throw new Error(`page errors: ${JSON.stringify(pageErrors)}`);
  report.ok = true;
} catch (e) {
  report.error = String((e && e.stack) || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
