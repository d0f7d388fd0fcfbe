// Time to first frame in headless Chromium: loads `url` `runs` times, each in a fresh
// browser context (nothing cached), starts playback as soon as the page has its <video>
// (muted, as autoplay is), and records performance.now() at the first rendered frame
// (requestVideoFrameCallback): milliseconds from the start of navigation.
// Usage: node ttff.mjs <url> <runs>   Prints one JSON line: {"ms": [...]}.
import { chromium } from 'playwright-core';

const [url, runs] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
});
const ms = [];
try {
  for (let i = 0; i < Number(runs); i += 1) {
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
    ms.push(await page.evaluate(() => window.__ttff));
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ms }));
