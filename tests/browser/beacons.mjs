// A playback in Debian's headless Chromium reports itself: the watch page plays a title to
// its end while the third video segment is held back for 8 s (the player stalls: a
// rebuffer), then the test asks the player to send what it has and leaves the page.
// Usage: node beacons.mjs <base-url> <title-id>
// Prints one JSON line with the playback session id; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, id] = process.argv.slice(2);
const report = { ok: false };
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await context.newPage();
  const beacons = [];
  const media = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname === '/beacon') beacons.push(r.postData());
    if (url.pathname.startsWith('/p/')) media.push(url.pathname + url.search);
  });
  // The origin made slow for one segment: playback runs dry there.
  await page.route('**/video_*/seg_00002.m4s*', async (route) => {
    await new Promise((r) => setTimeout(r, 8000));
    await route.continue();
  });
  await page.goto(`${base}/watch/${id}`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
  await page.waitForFunction(() => window.marquee.video.currentTime > 1, null, { timeout: 30000 });
  await page.waitForFunction(() => {
    const v = window.marquee.video;
    return v.ended || (v.duration && v.currentTime >= 0.95 * v.duration);
  }, null, { timeout: 60000 });
  report.session = await page.evaluate(() => window.marquee.beaconSession);
  await page.evaluate(() => window.marquee.flushBeacons());
  await page.goto('about:blank');
  await new Promise((r) => setTimeout(r, 500));
  report.sent = beacons.length;
  report.media = media;
  report.ok = beacons.length > 0;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
