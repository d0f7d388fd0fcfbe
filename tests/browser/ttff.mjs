// Time to first frame in headless Chromium: loads each url `runs` times, taking turns (so a
// slow spell of the machine falls on every page alike), each in a fresh browser context
// (nothing cached), starts playback as soon as the page has its <video> (muted, as autoplay
// is), and records performance.now() at the first rendered frame (requestVideoFrameCallback):
// milliseconds from the start of navigation.
// Usage: node ttff.mjs <runs> <url>...   Prints one JSON line: {"ms": [[...], ...]}, a list
// of times per url in the order given.
import { chromium } from 'playwright-core';

const [runs, ...urls] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
});
const ms = urls.map(() => []);
try {
  for (let i = 0; i < Number(runs) * urls.length; i += 1) {
    const which = i % urls.length;
    const url = urls[which];
    const context = await browser.newContext();
    await context.addInitScript(() => {
      document.addEventListener('DOMContentLoaded', () => {
        const video = document.querySelector('video');
        if (!video) return;
        video.muted = true;
        video.requestVideoFrameCallback(() => { window.__ttff = performance.now(); });
        video.play().catch(() => { /* the page's own code starts it */ });
      });
    });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => window.__ttff !== undefined, null, { timeout: 30000 });
    ms[which].push(await page.evaluate(() => window.__ttff));
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ms }));
