// A stranger on a phone (Chromium at 390x844): the header shows "Sign in" and "Create
// account" in view; from a search page they press "Create account", sign up with email
// only (the proof of work solved by the page's own script), then open the emailed link
// (the Rust test writes it to <link-file> once the SMTP sink has it), press the button and
// land back on the search page, signed in ("Account" in the header).
// Usage: node signup.mjs <server-url> <email> <link-file>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, email, linkFile] = process.argv.slice(2);
const report = { ok: false, steps: [], problems: [] };
const step = (name, detail) => report.steps.push(detail === undefined ? { name } : { name, detail });

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync'],
  viewport: { width: 390, height: 844 },
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36',
});
const page = await context.newPage();
const outside = [];
page.on('request', (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
page.on('pageerror', (e) => errors.push(String(e)));

/** The element is shown and lies inside the 390-px-wide viewport. */
async function inView(locator, what) {
  const box = await locator.boundingBox();
  if (!(await locator.isVisible()) || !box || box.x < 0 || box.x + box.width > 390 || box.width === 0) {
    throw new Error(`${what} is not in view at 390 px: ${JSON.stringify(box)}`);
  }
}

try {
  await page.goto(`${base}/search?q=kelp`, { waitUntil: 'load' });
  const header = page.locator('header.top');
  const signIn = header.getByRole('link', { name: 'Sign in' });
  const create = header.getByRole('link', { name: 'Create account' });
  await inView(signIn, 'Sign in');
  await inView(create, 'Create account');
  await inView(header.getByRole('link', { name: 'Plans' }), 'Plans');
  if (await header.getByRole('link', { name: 'Account', exact: true }).count() !== 0) {
    throw new Error('"Account" shown to a signed-out visitor');
  }
  step('header for a signed-out visitor');

  await create.click();
  await page.waitForURL(/\/signup\?next=/);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Check your email').waitFor({ timeout: 30000 });
  step('asked for an account');

  let link = null;
  for (let i = 0; i < 200 && !link; i++) {
    if (existsSync(linkFile)) link = readFileSync(linkFile, 'utf8').trim();
    else await new Promise((r) => setTimeout(r, 100));
  }
  if (!link) throw new Error('no emailed link');
  await page.goto(link, { waitUntil: 'load' });
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.waitForURL((u) => u.pathname === '/search' && u.search === '?q=kelp', { timeout: 15000 });
  const account = page.locator('header.top').getByRole('link', { name: 'Account', exact: true });
  await inView(account, 'Account');
  if (await page.locator('header.top').getByRole('link', { name: 'Sign in' }).count() !== 0) {
    throw new Error('"Sign in" shown to a signed-in visitor');
  }
  step('signed in and back on the page', page.url());

  if (outside.length) report.problems.push(`requests to other sites: ${outside.join(', ')}`);
  if (errors.length) report.problems.push(`console errors: ${errors.join(' | ')}`);
  report.ok = report.problems.length === 0;
} catch (e) {
  report.problems.push(String(e && e.stack || e));
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
