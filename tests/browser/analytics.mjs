// The analytics page in Debian's headless Chromium: sign in, open Analytics from the
// dashboard's navigation, and check that every chart was drawn (a uPlot canvas with
// coloured pixels in it) and that the page raised no script error; then the Quality tab.
// Usage: node analytics.mjs <server-url> <email> <password>
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

// Charts drawn on the page: each figure's canvas holds pixels of a series colour.
const drawn = (page) => page.evaluate(() => Array.from(document.querySelectorAll('figure.chart')).map((figure) => {
  const canvas = figure.querySelector('canvas');
  if (!canvas) return false;
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < data.length; i += 4) {
    // Any clearly coloured pixel: a line or a bar (axes and grid are grey).
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) return true;
  }
  return false;
}));

try {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  await page.goto(`${base}/admin`);
  await Promise.all([page.waitForURL(/\/admin\/analytics/), page.click('nav.dash-nav >> text=Analytics')]);
  await page.waitForSelector('figure.chart canvas', { timeout: 10000 });
  const audience = await drawn(page);
  report.audience = audience;
  await Promise.all([page.waitForURL(/tab=quality/), page.click('nav.tabs >> text=Quality')]);
  await page.waitForSelector('figure.chart canvas', { timeout: 10000 });
  const quality = await drawn(page);
  report.quality = quality;
  report.charts = audience.filter(Boolean).length + quality.filter(Boolean).length;
  report.errors = errors;
  report.ok = errors.length === 0 && audience.length > 0 && audience.every(Boolean) && quality.every(Boolean);
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
