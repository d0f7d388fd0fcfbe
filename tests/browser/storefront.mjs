// The catalog walk in Debian's headless Chromium. An editor signs in, creates a series with
// two episodes from videos on the Media page, publishes it, and puts it in a hero banner and
// a hand-picked rail. Then a signed-out visitor finds it on the home page and by search as
// they type, opens it and plays episode 2. axe-core checks the home, title and search pages.
// Usage: node storefront.mjs <server-url> <editor-email> <password> <video 1 title> <video 2 title>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, email, password, video1, video2] = process.argv.slice(2);
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const report = { ok: false, steps: [], axe: {} };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });
const SERIES = 'Night Harbour';

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});

/// Serious and critical axe violations on the page now: rule id, impact, first target.
async function axe(page) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, target: v.nodes[0] && v.nodes[0].target.join(' ') }));
}

/// Picks the option whose label starts with `label` in a <select>.
async function choose(page, selector, label) {
  const value = await page.$eval(selector, (s, l) => {
    const o = [...s.options].find((x) => x.textContent.trim().startsWith(l));
    return o ? o.value : null;
  }, label);
  if (!value) throw new Error(`no option ${label} in ${selector}`);
  await page.selectOption(selector, value);
}

try {
  const editor = await context.newPage();
  const errors = [];
  editor.on('pageerror', (e) => errors.push(String(e)));
  editor.on('dialog', (d) => d.accept());

  await editor.goto(`${base}/login`);
  await editor.fill('input[name="email"]', email);
  await editor.fill('input[name="password"]', password);
  await Promise.all([editor.waitForNavigation(), editor.click('button[type="submit"]')]);
  await editor.goto(`${base}/admin/titles`);
  await editor.fill('form[method="post"][action="/admin/titles"] input[name="name"]', SERIES);
  await editor.selectOption('form[method="post"][action="/admin/titles"] select[name="kind"]', 'series');
  await Promise.all([editor.waitForURL(/\/admin\/titles\/[a-z0-9]+$/), editor.click('form[method="post"][action="/admin/titles"] button')]);
  const seriesUrl = editor.url();
  const seriesId = seriesUrl.split('/').pop();
  step('series created', { id: seriesId });

  const details = `form[action="/admin/titles/${seriesId}"]`;
  await editor.fill(`${details} textarea[name="synopsis"]`, 'Boats, fog and a lighthouse keeper with a secret.');
  await editor.fill(`${details} input[name="genres"]`, 'Drama, Mystery');
  await Promise.all([editor.waitForNavigation(), editor.click(`${details} button[type="submit"]`)]);

  for (const [number, name, video] of [[1, 'Fog', video1], [2, 'The Keeper', video2]]) {
    const add = 'form[data-add-episode]';
    await editor.fill(`${add} input[name="season"]`, '1');
    await editor.fill(`${add} input[name="episode"]`, String(number));
    await editor.fill(`${add} input[name="name"]`, name);
    await choose(editor, `${add} select[name="asset_id"]`, video);
    await Promise.all([editor.waitForNavigation(), editor.click(`${add} button[type="submit"]`)]);
  }
  const episodes = await editor.$$eval('table tbody tr td a', (as) => as.map((a) => a.textContent));
  step('episodes added', { episodes });

  const missingBefore = await editor.$$eval('[data-missing] li', (li) => li.map((l) => l.textContent));
  await Promise.all([editor.waitForNavigation(), editor.click(`form[action="/admin/titles/${seriesId}/publish"] button`)]);
  const status = await editor.textContent('h1 + p .badge');
  step('published', { status: status.trim(), missingBefore });

  // The home page: a hero with the series, then a hand-picked rail, both before "New".
  await editor.goto(`${base}/admin/rails`);
  for (const [kind, name, moves] of [['hero', 'Tonight', 1], ['manual', 'Editors’ picks', 1]]) {
    await editor.fill('form[action="/admin/rails"] input[name="name"]', name);
    await editor.selectOption('form[action="/admin/rails"] select[name="kind"]', kind);
    await Promise.all([editor.waitForNavigation(), editor.click('form[action="/admin/rails"] button')]);
    const rail = editor.locator('li.rail-edit', { hasText: name });
    await choose(editor, `li.rail-edit:has-text("${name}") select[name="titles"]`, SERIES);
    await Promise.all([editor.waitForNavigation(), rail.locator('form.inline button').click()]);
    // Up above "New": the hero first, then the picks.
    for (let i = 0; i < moves; i += 1) {
      const up = editor.locator('li.rail-edit', { hasText: name }).locator('button[aria-label$=" up"]');
      await Promise.all([editor.waitForNavigation(), up.click()]);
    }
  }
  const order = await editor.$$eval('li.rail-edit .rail-head strong', (s) => s.map((x) => x.textContent));
  step('rails arranged', { order });

  // A visitor, signed out.
  // A visitor: the same browser without the editor's cookies.
  await context.clearCookies();
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/`);
  const hero = await page.textContent('.hero h2');
  const rails = await page.$$eval('section.rail h2', (h) => h.map((x) => x.textContent));
  const onHome = await page.$$eval('section.rail .card .title', (t) => t.map((x) => x.textContent));
  step('home', { hero, rails, onHome });
  report.axe.home = await axe(page);

  await page.goto(`${base}/search`);
  await page.focus('#q');
  await page.keyboard.type('nigh', { delay: 60 });
  await page.waitForSelector(`#results a[href="/title/${seriesId}"]`, { timeout: 10000 });
  const searchUrl = page.url();
  step('found by search', { url: searchUrl });
  report.axe.search = await axe(page);

  await Promise.all([page.waitForURL(`${base}/title/${seriesId}`), page.click(`#results a[href="/title/${seriesId}"]`)]);
  const listed = await page.$$eval('.episodes li a .title', (t) => t.map((x) => x.textContent));
  step('title page', { listed });
  report.axe.title = await axe(page);

  await Promise.all([page.waitForURL(/\/watch\//), page.click('.episodes li:nth-child(2) a')]);
  const heading = await page.textContent('.about h1');
  await page.click('[data-action="play"]');
  await page.waitForFunction(() => {
    const v = document.getElementById('video');
    return v && v.currentTime > 0.3 && !v.paused;
  }, null, { timeout: 30000 });
  step('played', { heading });

  report.errors = errors;
  report.ok = errors.length === 0;
} catch (e) {
  report.error = String(e && e.stack || e);
  // What the page said when it went wrong (an error page, say).
  try {
    report.pages = await Promise.all(context.pages().map(async (p) => ({ url: p.url(), text: (await p.innerText('body')).slice(0, 600) })));
  } catch (_) { /* closed */ }
} finally {
  await context.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
