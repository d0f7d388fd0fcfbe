// Walks representative pages in Debian's headless Chromium under the site's
// Content-Security-Policy: the storefront, a title page, search, the watch page playing
// its media (hls.js with blob: media and its worker), then signed in, the account page and
// every dashboard section. Each page must carry the policy and cause no violation (the
// `securitypolicyviolation` event, or Chromium's console error naming the policy).
// Usage: node csp.mjs <server-url> <email> <password> <title-path> <watch-path>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, email, password, titlePath, watchPath] = process.argv.slice(2);
const report = { ok: false, pages: [], problems: [] };

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  ignoreHTTPSErrors: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  viewport: { width: 1280, height: 800 },
});
try {
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  const visit = async (path, settle) => {
    consoleErrors.length = 0;
    const response = await page.goto(`${base}${path}`, { waitUntil: 'load' });
    if (settle) await settle();
    await page.waitForTimeout(300);
    const policy = (await response.allHeaders())['content-security-policy'] || null;
    const violations = await page.evaluate(() => window.__violations);
    const entry = { path, status: response.status(), policy: policy !== null, violations, consoleErrors: [...consoleErrors] };
    report.pages.push(entry);
    if (!policy) report.problems.push(`${path}: no Content-Security-Policy`);
    if (policy && !/default-src 'self'/.test(policy)) report.problems.push(`${path}: policy ${policy}`);
    for (const v of violations) report.problems.push(`${path}: ${v}`);
    for (const c of consoleErrors) report.problems.push(`${path}: console: ${c}`);
  };

  await visit('/');
  await visit(titlePath);
  await visit('/search?q=harbour', () => page.waitForTimeout(500));
  await visit(watchPath, async () => {
    await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
    await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
    await page.waitForFunction(() => window.marquee.video.currentTime > 1.5, null, { timeout: 30000 });
  });
  report.played = await page.evaluate(() => window.marquee.video.currentTime);

  await visit('/login');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type="submit"]')]);
  for (const path of ['/account', '/admin', '/admin/media', '/admin/titles', '/admin/rails',
    '/admin/analytics', '/admin/analytics?tab=quality', '/admin/alerts', '/admin/segments', '/admin/campaigns',
    '/admin/paywall', '/admin/members', '/admin/api-keys', '/admin/webhooks', '/admin/settings', '/admin/audit']) {
    await visit(path);
  }
  report.ok = report.problems.length === 0;
} catch (e) {
  report.error = String(e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
