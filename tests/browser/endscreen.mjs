// The player's end screen in Debian's headless Chromium, against a real Marquee server.
// Usage:
//   node endscreen.mjs next <base-url> <episode-id> <next-episode-id> <next-asset-id>
//     A visitor plays the episode to its end: the end screen names the next episode,
//     counts down, has focus on "Play now" and said once to screen readers (axe checks
//     it). By keyboard, Shift+Tab to Cancel stops the countdown, Enter closes the screen,
//     and the page stays after the countdown would have run out. Played to the end again
//     and left alone, it counts down and opens the next episode's watch page; every
//     request the first page made for the next episode's media or pass is listed.
//   node endscreen.mjs more <base-url> <movie-id>
//     A visitor plays the movie to its end: "More like this" and the names of its titles.
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

/// Serious and critical axe violations on the end screen now, kept under `name`.
async function axe(page, name) {
  // Evaluated through DevTools, not as an inline <script>, which the page's policy refuses.
  await page.evaluate(readFileSync(axePath, 'utf8'));
  const result = await page.evaluate(async () => window.axe.run('#endscreen', { resultTypes: ['violations'] }));
  report.axe[name] = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, target: v.nodes[0] && v.nodes[0].target.join(' ') }));
}

/// Opens the watch page of `id` and plays its last moment, until the end screen shows.
async function playToEnd(page, id) {
  await page.goto(`${base}/watch/${id}`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.marquee && window.marquee.video.duration > 0
    || (window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0), null, { timeout: 30000 });
  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play().catch(() => {}); });
  await page.waitForFunction(() => window.marquee.video.duration > 0 && !window.marquee.video.paused, null, { timeout: 30000 });
  await page.evaluate(() => { const v = window.marquee.video; v.currentTime = Math.max(0, v.duration - 0.4); });
  await page.waitForSelector('#endscreen:not([hidden])', { timeout: 30000 });
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function next(context, [id, nextId, nextAsset]) {
  const page = await context.newPage();
  // What this page asks for of the next episode's media or pass, its poster frame aside
  // (storefront artwork, public whatever the level).
  const fetched = [];
  page.on('request', (r) => {
    const url = r.url();
    if ((url.includes(`/${nextAsset}/`) && !/\/poster\.[a-z]+$/.test(url)) || url.includes(`/watch/${nextId}/`)) fetched.push(url);
  });
  await playToEnd(page, id);
  const end = page.locator('#endscreen');
  step('shown', {
    heading: (await end.locator('h2').textContent()).trim(),
    episode: (await end.locator('.up-next-name').textContent()).trim(),
    countdownVisible: await end.locator('[data-countdown-text]').isVisible(),
    secs: (await end.locator('[data-countdown-secs]').textContent()).trim(),
    focused: await page.evaluate(() => document.activeElement.textContent.trim()),
    announced: await end.locator('[role="status"]').textContent(),
  });
  await axe(page, 'next episode');

  const seconds = await page.evaluate(() => Number(document.getElementById('endscreen').dataset.countdown));
  await page.keyboard.press('Shift+Tab');
  const afterTab = await page.evaluate(() => ({
    focused: document.activeElement.textContent.trim(),
    counting: window.marquee.endScreen.counting,
    countdownVisible: document.querySelector('[data-countdown-text]').getClientRects().length > 0,
  }));
  await page.keyboard.press('Enter');
  const open = await page.evaluate(() => window.marquee.endScreen.open);
  await sleep((seconds + 2) * 1000);
  step('cancelled', {
    focusedAfterTab: afterTab.focused,
    countingAfterTab: afterTab.counting,
    countdownVisibleAfterTab: afterTab.countdownVisible,
    open,
    url: page.url(),
  });

  await playToEnd(page, id);
  await page.waitForFunction(() => window.marquee.endScreen.left < 10, null, { timeout: 5000 });
  const ticked = Number(await page.locator('[data-countdown-secs]').textContent());
  const nextFetched = [...fetched];
  await page.waitForURL(`**/watch/${nextId}*`, { timeout: (seconds + 10) * 1000 });
  await page.waitForLoadState('load');
  step('counted', {
    ticked,
    url: page.url(),
    paywall: await page.locator('#paywall').isVisible(),
    player: (await page.locator('#player').count()) > 0,
    nextMediaFetched: nextFetched,
  });
}

async function more(context, [id]) {
  const page = await context.newPage();
  await playToEnd(page, id);
  const end = page.locator('#endscreen');
  step('shown', {
    heading: (await end.locator('h2').textContent()).trim(),
    names: await end.locator('.card .title').allTextContents(),
    countdown: (await end.locator('[data-countdown-text]').count()) > 0,
  });
  await axe(page, 'more like this');
}

const modes = { next, more };
const run = modes[mode];
if (!run) {
  console.log(JSON.stringify({ ok: false, error: `unknown mode ${mode}` }));
  await browser.close();
  process.exit(2);
}
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
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
