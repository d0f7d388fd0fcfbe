// Uploads a file from Debian's headless Chromium with the vendored tus-js-client, as the
// dashboard will: small chunks, an abort half-way, then a new Upload that finds the old
// one's URL and resumes from the offset the server reports.
// Usage: node tus-upload.mjs <server-url> <api-key> <file> <name> <asset-out>
// Writes the id of the asset the upload became to <asset-out>. Prints one JSON line;
// exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, key, file, name, assetOut] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (stepName, extra = {}) => report.steps.push({ name: stepName, ...extra });

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync'],
});
try {
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.addScriptTag({ url: '/static/vendor/tus.min.js' });
  if (!await page.evaluate(() => window.tus && window.tus.isSupported)) throw new Error('tus-js-client did not load');
  step('loaded');

  const bytes = readFileSync(file).toString('base64');
  const result = await page.evaluate(async ({ bytes, key, name }) => {
    const data = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
    const blob = new Blob([data], { type: 'video/mp4' });
    const chunkSize = Math.ceil(data.length / 6);
    const options = (extra) => ({
      endpoint: '/api/v1/uploads',
      headers: { Authorization: `Bearer ${key}` },
      metadata: { filename: name, filetype: 'video/mp4' },
      chunkSize,
      retryDelays: [],
      ...extra,
    });
    // First attempt: stopped once two chunks are acknowledged, as a dropped tab would.
    const first = await new Promise((resolve, reject) => {
      const upload = new tus.Upload(blob, options({
        onError: reject,
        onChunkComplete: (_chunk, sent) => {
          if (sent >= 2 * chunkSize) {
            upload.abort().then(() => resolve({ url: upload.url, sent }));
          }
        },
      }));
      upload.start();
    });
    // Second: a new Upload finds the first (same file, by its fingerprint) and resumes.
    let asset = null;
    let resumedFrom = null;
    const second = await new Promise((resolve, reject) => {
      const upload = new tus.Upload(blob, options({
        onError: reject,
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'HEAD') resumedFrom = Number(res.getHeader('Upload-Offset'));
          asset = res.getHeader('Marquee-Asset-Id') || asset;
        },
        onSuccess: () => resolve({ url: upload.url }),
      }));
      upload.findPreviousUploads().then((previous) => {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
    });
    return { first, second, resumedFrom, asset, size: data.length };
  }, { bytes, key, name });
  step('interrupted', result.first);
  if (result.second.url !== result.first.url) throw new Error(`not resumed: ${JSON.stringify(result)}`);
  if (!(result.resumedFrom >= result.first.sent && result.resumedFrom < result.size)) {
    throw new Error(`resumed from ${result.resumedFrom}: ${JSON.stringify(result)}`);
  }
  step('resumed', { from: result.resumedFrom });
  if (!result.asset) throw new Error(`no asset named: ${JSON.stringify(result)}`);
  step('finished');
  writeFileSync(assetOut, result.asset);
  if (pageErrors.length) throw new Error(`page errors: ${JSON.stringify(pageErrors)}`);
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
