// Opens a Marquee watch page in Debian's headless Chromium and checks real playback:
// hls.js loads the stream, time advances past 2 s with no player error, a forced switch
// to another rendition lands and keeps playing, and subtitles can be turned on. Any console
// error or mixed-content warning fails it.
// Usage: node watch.mjs <watch-page-url> [screenshot.png] [--trust-cert cert.pem]
// --trust-cert: Chromium accepts exactly that certificate (pinned by its public key) and
// no other invalid one, as a browser told to trust a self-signed certificate would.
// Prints one JSON line (with the URL the page ended on, the redirect that led there, and
// the protocols used for the page and the stream); exits non-zero on failure.
import { chromium } from 'playwright-core';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const trustAt = args.indexOf('--trust-cert');
const trustCert = trustAt >= 0 ? args.splice(trustAt, 2)[1] : null;
const [url, screenshot] = args;
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });

// base64(SHA-256(SubjectPublicKeyInfo)): the form --ignore-certificate-errors-spki-list takes.
const spkiHash = (pemFile) => createHash('sha256')
  .update(new X509Certificate(readFileSync(pemFile)).publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
    ...(trustCert ? [`--ignore-certificate-errors-spki-list=${spkiHash(trustCert)}`] : []),
  ],
  viewport: { width: 1280, height: 800 },
});
try {
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' || /mixed content/i.test(m.text())) pageErrors.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
  });
  const response = await page.goto(url, { waitUntil: 'load' });
  const redirect = response.request().redirectedFrom();
  report.page = { url: page.url(), status: response.status() };
  if (redirect) report.page.redirectedFrom = { url: redirect.url(), status: (await redirect.response()).status() };
  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  step('manifest', { levels: await page.evaluate(() => window.marquee.hls.levels.map((l) => l.height)) });

  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
  await page.waitForFunction(() => window.marquee.video.currentTime > 2, null, { timeout: 30000 });
  step('played', { currentTime: await page.evaluate(() => window.marquee.video.currentTime) });

  // Force another rendition and see it arrive and play on.
  const target = await page.evaluate(() => {
    const hls = window.marquee.hls;
    const current = hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel;
    return hls.levels.findIndex((_, i) => i !== current);
  });
  if (target < 0) throw new Error('only one rendition: nothing to switch to');
  await page.evaluate((t) => { window.marquee.switched = null; window.marquee.hls.currentLevel = t; }, target);
  await page.waitForFunction((t) => window.marquee.switched === t, target, { timeout: 20000 });
  const at = await page.evaluate(() => window.marquee.video.currentTime);
  await page.waitForFunction((t0) => window.marquee.video.currentTime > t0 + 1, at, { timeout: 20000 });
  step('switched', { level: target, height: await page.evaluate((t) => window.marquee.hls.levels[t].height, target) });
  // The protocols the page and everything under /p/ (playlists, segments) came over.
  report.protocols = await page.evaluate(() => {
    const stream = performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/p/'));
    return {
      page: performance.getEntriesByType('navigation')[0].nextHopProtocol,
      stream: [...new Set(stream.map((e) => e.nextHopProtocol))],
      streamRequests: stream.length,
    };
  });

  // Subtitles: the menu lists the track; choosing it shows cues.
  const tracks = await page.evaluate(() => Array.from(document.querySelectorAll('#captions option')).map((o) => o.textContent));
  if (tracks.length > 1) {
    await page.selectOption('#captions', '0');
    await page.evaluate(() => { window.marquee.video.currentTime = 0.5; });
    await page.waitForFunction(() => Array.from(window.marquee.video.textTracks).some((t) => t.mode === 'showing' && t.cues && t.cues.length > 0), null, { timeout: 20000 });
    step('subtitles', { tracks });
  }

  // Keyboard: k pauses.
  await page.keyboard.press('k');
  await page.waitForFunction(() => window.marquee.video.paused, null, { timeout: 5000 });
  step('keyboard');

  // Resume: paused at 12 s (past the rule's first 10 s), a reload starts there again.
  await page.evaluate(() => { window.marquee.video.currentTime = 12; });
  await page.waitForFunction(() => Math.abs(window.marquee.video.currentTime - 12) < 0.5, null, { timeout: 5000 });
  await page.evaluate(() => { window.marquee.video.pause(); window.dispatchEvent(new Event('pagehide')); });
  const errors = await page.evaluate(() => window.marquee.errors);
  await page.reload({ waitUntil: 'load' });
  await page.waitForFunction(() => window.marquee && window.marquee.video.readyState >= 1 && window.marquee.video.currentTime > 11, null, { timeout: 20000 });
  step('resumed', { currentTime: await page.evaluate(() => window.marquee.video.currentTime) });

  if (errors.length || pageErrors.length) throw new Error(`player errors: ${JSON.stringify({ errors, pageErrors })}`);
  if (screenshot) await page.screenshot({ path: screenshot });
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
