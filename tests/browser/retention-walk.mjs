// The operator's retention workflow in the dashboard, in Debian's headless Chromium, as a
// new operator would do it: sign in, build the at-risk segment in the Segments form
// (watching down by half, renewal within 21 days) and watch the live count, save it,
// target it with a retention offer, a 10 % holdout, an email and a banner, and wait on
// the campaign's page until it has gone out. Run again with `report` later to read the
// campaign's effect off the same page.
// Usage: node retention-walk.mjs <server-url> <email> <password> send
//        node retention-walk.mjs <server-url> <email> <password> report <campaign-path>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, email, password, phase, campaignPath] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name) => report.steps.push({ name });
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync'],
});
const text = async (page, selector) => (await page.textContent(selector)).trim();

async function send(page) {
  await page.goto(`${base}/admin/segments`);
  // With nothing chosen yet the count is every member.
  const before = await text(page, '#segment-count');
  await page.fill('input[name="name"]', 'Watching less, renewing soon');
  await page.fill('input[name="renewal_days"]', '21');
  // The count follows the form as it is typed: first the renewal alone, then with the
  // drop in watching, which can only narrow it.
  await page.waitForFunction((b) => {
    const t = document.querySelector('#segment-count').textContent.trim();
    return /^\d+$/.test(t) && t !== b;
  }, before, { timeout: 10000 });
  const renewing = Number(await text(page, '#segment-count'));
  await page.fill('input[name="watch_days"]', '14');
  await page.fill('input[name="watch_previous_days"]', '28');
  await page.fill('input[name="watch_percent"]', '-50');
  await page.waitForFunction((n) => {
    const t = document.querySelector('#segment-count').textContent.trim();
    return /^\d+$/.test(t) && Number(t) < n;
  }, renewing, { timeout: 10000 });
  report.count_before = before;
  report.renewing = renewing;
  report.at_risk = Number(await text(page, '#segment-count'));
  report.preview_rows = await page.$$eval('#segment-members tr', (rows) => rows.length);
  step('segment previewed as typed');
  await Promise.all([page.waitForURL(/\/admin\/segments\/\d+\?saved=segment$/), page.click('#segment-form button[type="submit"]')]);
  report.saved_count = Number(await text(page, '#segment-count'));
  step('segment saved');

  await page.goto(`${base}/admin/campaigns`);
  await page.fill('.campaign-form input[name="name"]', 'Win back the quiet ones');
  // Chosen by what the lists say, as a person would (an offer's entry also tells its terms).
  const choose = async (select, name) => {
    const value = await page.$eval(select, (el, n) =>
      [...el.options].find((o) => o.textContent.trim().startsWith(n))?.value, name);
    if (value === undefined) throw new Error(`no “${name}” in ${select}`);
    await page.selectOption(select, value);
  };
  await choose('select[name="segment_id"]', 'Watching less, renewing soon');
  await choose('select[name="offer_id"]', 'Stay with us');
  report.holdout_default = await page.inputValue('input[name="holdout_percent"]');
  await page.fill('input[name="holdout_percent"]', '10');
  await page.check('input[name="email"]');
  await page.fill('input[name="subject"]', 'A month on us, {{name}}');
  await page.fill('textarea[name="body"]', 'Hello {{name}}, a free month is yours: {{link}}\n\nNo more offers: {{unsubscribe}}');
  await page.check('input[name="banner"]');
  await page.fill('input[name="banner_text"]', 'A free month is waiting for you');
  await Promise.all([page.waitForURL(/\/admin\/campaigns\/\d+\?saved=campaign$/), page.click('.campaign-form button[type="submit"]')]);
  report.campaign = new URL(page.url()).pathname;
  step('campaign created');
  // It goes out within the sender's round: reload until every target was emailed.
  for (let i = 0; i < 120; i++) {
    const targets = await page.$('#report-targets');
    if (targets) {
      const t = Number(await text(page, '#report-targets'));
      const e = Number(await text(page, '#report-emailed'));
      if (t > 0 && e === t) break;
    }
    await page.waitForTimeout(500);
    await page.reload();
  }
  report.targets = Number(await text(page, '#report-targets'));
  report.holdout = Number(await text(page, '#report-holdout'));
  report.emailed = Number(await text(page, '#report-emailed'));
  step('campaign sent');
  return report.emailed === report.targets && report.targets > 0;
}

async function readReport(page) {
  await page.goto(`${base}${campaignPath}`);
  for (const id of ['targets', 'holdout', 'emailed', 'opened', 'redeemed', 'target-rate', 'holdout-rate', 'lift']) {
    report[id] = await text(page, `#report-${id}`);
  }
  step('report read');
  return true;
}

try {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${base}/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  step('signed in');
  const done = phase === 'send' ? await send(page) : await readReport(page);
  report.errors = errors;
  report.ok = done && errors.length === 0;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
