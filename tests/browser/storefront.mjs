// The catalog walk in Debian's headless Chromium. An editor signs in, creates a series with
// two episodes from videos on the Media page, its cast and crew, publishes it and a movie,
// and builds the home page: a hero banner, a hand-picked rail (reordered) and a genre rail
// beside "New". Then a signed-out visitor finds the series on the home page, by search as
// they type and by an actor's name, opens it and plays episode 2. axe-core checks the home,
// title and search pages.
// Usage: node storefront.mjs <server-url> <editor-email> <password> <video 1> <video 2> <movie video>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, email, password, video1, video2, movieVideo] = process.argv.slice(2);
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const report = { ok: false, steps: [], axe: {} };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });
const SERIES = 'Night Harbour';
const MOVIE = 'Gull Island';
const PICKS = 'Editors’ picks';

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  // The installed appliance's certificate is self-signed.
  ignoreHTTPSErrors: true,
});

/// Serious and critical axe violations on the page now: rule id, impact, first target.
async function axe(page) {
  // Evaluated through DevTools, not as an inline <script>, which the page's policy refuses.
  await page.evaluate(readFileSync(axePath, 'utf8'));
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
  await Promise.all([editor.waitForURL(/\/admin\/titles\/[a-z0-9]+\?saved=/), editor.click('form[method="post"][action="/admin/titles"] button')]);
  const seriesId = new URL(editor.url()).pathname.split('/').pop();
  step('series created', { id: seriesId });

  const details = `form[action="/admin/titles/${seriesId}"]`;
  await editor.fill(`${details} textarea[name="synopsis"]`, 'Boats, fog and a lighthouse keeper with a secret.');
  await editor.fill(`${details} input[name="genres"]`, 'Drama, Mystery');
  await editor.fill(`${details} textarea[name="people"]`, 'Mara Quinn as The Keeper\nJo Park\nDirector: Tomas Ek');
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

  // A movie made from a dropped video: a name, a synopsis, then published.
  await editor.goto(`${base}/admin/titles`);
  await Promise.all([editor.waitForURL(/\/admin\/titles\/[a-z0-9]+$/), editor.click(`table a:has-text("${movieVideo}")`)]);
  const movieId = editor.url().split('/').pop();
  const movieForm = `form[action="/admin/titles/${movieId}"]`;
  await editor.fill(`${movieForm} input[name="name"]`, MOVIE);
  await editor.fill(`${movieForm} textarea[name="synopsis"]`, 'Seabirds, cliffs and one stubborn ferry.');
  await Promise.all([editor.waitForNavigation(), editor.click(`${movieForm} button[type="submit"]`)]);
  await Promise.all([editor.waitForNavigation(), editor.click(`form[action="/admin/titles/${movieId}/publish"] button`)]);
  step('movie published', { status: (await editor.textContent('h1 + p .badge')).trim() });

  // The home page: a hero with the series, hand-picked picks (the movie moved first), both
  // above "New", and a genre rail at the end.
  await editor.goto(`${base}/admin/rails`);
  const addRail = async (kind, name, genre) => {
    await editor.fill('form[action="/admin/rails"] input[name="name"]', name);
    await editor.selectOption('form[action="/admin/rails"] select[name="kind"]', kind);
    if (genre) await choose(editor, 'form[action="/admin/rails"] select[name="genre"]', genre);
    await Promise.all([editor.waitForNavigation(), editor.click('form[action="/admin/rails"] button')]);
  };
  const rail = (name) => editor.locator('li.rail-edit', { hasText: name });
  const addPick = async (name, title) => {
    await choose(editor, `li.rail-edit:has-text("${name}") form[data-add-pick] select[name="title"]`, title);
    await Promise.all([editor.waitForNavigation(), rail(name).locator('form[data-add-pick] button').click()]);
  };
  const railUp = async (name) => {
    const up = rail(name).locator('.rail-head button[aria-label$=" up"]');
    await Promise.all([editor.waitForNavigation(), up.click()]);
  };
  await addRail('hero', 'Tonight');
  await addPick('Tonight', SERIES);
  await railUp('Tonight');
  await addRail('manual', PICKS);
  await addPick(PICKS, SERIES);
  await addPick(PICKS, MOVIE);
  await Promise.all([editor.waitForNavigation(), editor.click(`button[aria-label="Move ${MOVIE} up in ${PICKS}"]`)]);
  await railUp(PICKS);
  await addRail('genre', 'Mysteries', 'Mystery');
  const picks = await rail(PICKS).locator('ol.picks li > span:first-child').allTextContents();
  const order = await editor.$$eval('li.rail-edit .rail-head strong', (s) => s.map((x) => x.textContent));
  step('rails arranged', { order, picks });

  // A visitor, signed out.
  // A visitor: the same browser without the editor's cookies.
  await context.clearCookies();
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/`);
  const hero = await page.textContent('.hero h2');
  const rails = await page.$$eval('section.rail h2', (h) => h.map((x) => x.textContent));
  const onHome = await page.$$eval('section.rail .card .title', (t) => t.map((x) => x.textContent));
  const picksOnHome = await page.locator('section.rail', { hasText: PICKS }).locator('.card .title').allTextContents();
  step('home', { hero, rails, onHome, picksOnHome });
  report.axe.home = await axe(page);

  await page.goto(`${base}/search`);
  await page.focus('#q');
  await page.keyboard.type('nigh', { delay: 60 });
  await page.waitForSelector(`#results a[href="/title/${seriesId}"]`, { timeout: 10000 });
  const searchUrl = page.url();
  step('found by search', { url: searchUrl });
  report.axe.search = await axe(page);
  // By a name in the cast.
  await page.goto(`${base}/search?q=quin`);
  const byCast = await page.$$eval('#results a', (as) => as.map((a) => a.getAttribute('href')));
  step('found by cast', { byCast });

  await Promise.all([page.waitForURL(`${base}/title/${seriesId}`), page.click(`#results a[href="/title/${seriesId}"]`)]);
  const listed = await page.$$eval('.episodes li a .title', (t) => t.map((x) => x.textContent));
  const credits = await page.$$eval('.credits div', (d) => d.map((x) => `${x.querySelector('dt').textContent}: ${x.querySelector('dd').textContent}`));
  step('title page', { listed, credits });
  report.axe.title = await axe(page);

  await Promise.all([page.waitForURL(/\/watch\//), page.click('.episodes li:nth-child(2) a')]);
  const heading = await page.textContent('.about h1');
  // The episode link says "play": no second click.
  await page.waitForFunction(() => {
    const v = document.getElementById('video');
    return v && v.currentTime > 0.3 && !v.paused;
  }, null, { timeout: 30000 });
  step('played', { heading, url: page.url() });

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
