// The acceptance walk in Debian's headless Chromium, as a new operator would do it: open
// the setup link, create the owner, upload a clip on the Media page, watch it become
// ready without reloading, invite an editor (email is off, so the link is shown), give the
// clip's title a synopsis and publish it, rename the site in Settings and see the home
// page change with the title on it, then accept the invitation.
// Usage: node dashboard.mjs <server-url> <setup-path> <clip-file> <title the clip gets>
// (a self-signed certificate is accepted: the appliance makes one on first start)
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, setupPath, clip, title] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });
const PASSWORD = 'a long enough owner password';

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  ignoreHTTPSErrors: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync'],
});
try {
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());

  await page.goto(`${base}${setupPath}`);
  await page.fill('input[name="email"]', 'owner@example.com');
  await page.fill('input[name="name"]', 'Olive Owner');
  await page.fill('input[name="password"]', PASSWORD);
  await page.fill('input[name="confirm"]', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type="submit"]')]);
  step('owner created', { url: page.url() });

  await Promise.all([page.waitForURL(`${base}/admin/media`), page.click('nav.dash-nav >> text=Media')]);
  await page.waitForSelector('#upload:not([hidden])');
  // A marker that a reload would wipe: the list must update in place.
  await page.evaluate(() => { window.stillThisPage = true; });
  const states = new Set();
  await page.setInputFiles('#upload-file', clip);
  await page.waitForSelector('.uploads li.done', { timeout: 60000 });
  step('uploaded', { text: await page.textContent('.uploads li.done .state') });
  const deadline = Date.now() + 120000;
  let ready = false;
  // The uploaded clip's row, as the page shows it now.
  const uploaded = () => page.$$eval('#media-rows tr[data-status]', (rows, t) => rows
    .map((r) => ({ status: r.dataset.status, title: r.querySelector('a').textContent }))
    .find((r) => r.title === t) || null, title);
  let row = null;
  while (!ready && Date.now() < deadline) {
    row = await uploaded();
    if (row) states.add(row.status);
    ready = row !== null && (row.status === 'ready' || row.status === 'failed');
    if (!ready) await page.waitForTimeout(250);
  }
  if (!row) throw new Error(`no row titled ${title}`);
  if (row.status !== 'ready') throw new Error(`the upload ended ${JSON.stringify(row)}`);
  if (!await page.evaluate(() => window.stillThisPage === true)) throw new Error('the page reloaded');
  step('ready', { title: row.title, seen: [...states] });

  await page.goto(`${base}/admin/members`);
  const form = 'form[action="/admin/members/invite"]';
  await page.fill(`${form} input[name="email"]`, 'ed@example.com');
  await page.selectOption(`${form} select[name="role"]`, 'editor');
  await Promise.all([page.waitForNavigation(), page.click(`${form} button`)]);
  const invite = await page.inputValue('#invite-link');
  step('invited');

  // The clip's title: a draft unless the server publishes new media itself; an operator
  // gives it a synopsis and publishes it from the Titles page.
  await page.goto(`${base}/admin/titles`);
  await Promise.all([page.waitForURL(/\/admin\/titles\/[a-z0-9]+$/), page.click(`table.titles a:text-is("${row.title}")`)]);
  const titleUrl = page.url();
  const titleId = titleUrl.split('/').pop();
  await page.fill(`form[action="/admin/titles/${titleId}"] textarea[name="synopsis"]`, 'A clip from the acceptance walk.');
  await Promise.all([page.waitForNavigation(), page.click(`form[action="/admin/titles/${titleId}"] button[type="submit"]`)]);
  const publish = await page.$(`form[action="/admin/titles/${titleId}/publish"] button`);
  if (publish) await Promise.all([page.waitForNavigation(), publish.click()]);
  const badge = (await page.textContent('h1 + p .badge')).trim();
  if (badge !== 'published') throw new Error(`the title is ${badge}`);
  step('published', { was: publish ? 'draft' : 'published' });

  await page.goto(`${base}/admin/settings`);
  await page.fill('[name="site.name"]', 'Acceptance TV');
  await Promise.all([page.waitForURL(/saved=1/), page.click('form.settings button[type="submit"]')]);
  await page.goto(`${base}/`);
  const brand = await page.textContent('.brand');
  const home = await page.textContent('main');
  if (brand !== 'Acceptance TV' || !home.includes(row.title)) throw new Error(`home: ${brand} / ${home}`);
  step('site renamed', { brand, title: await page.title() });

  await context.clearCookies();
  await page.goto(invite);
  await page.fill('input[name="name"]', 'Ed Editor');
  await page.fill('input[name="password"]', PASSWORD);
  await page.fill('input[name="confirm"]', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type="submit"]')]);
  const nav = await page.$$eval('nav.dash-nav li a', (as) => as.map((a) => a.textContent));
  step('editor signed in', { nav });

  if (pageErrors.length) throw new Error(`page errors: ${JSON.stringify(pageErrors)}`);
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
  console.log(JSON.stringify(report));
  process.exit(report.ok ? 0 : 1);
}
