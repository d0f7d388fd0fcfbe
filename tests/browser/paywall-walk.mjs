// The paywall as a new operator and their viewers meet it, in Debian's headless Chromium.
// The operator, with the dashboard only: a plan with a 7-day trial, a rental price on one
// film, a pay-per-view premiere, a batch of access codes (its CSV downloaded). Then the
// viewers: one subscribes through Checkout (the Stripe stand-in's page), one redeems a code
// from the CSV, one rents the film and buys a ticket; each plays. A signed-out visitor
// meets a paywall on all three and never a player.
// Usage: node paywall-walk.mjs <base> <owner-email> <password> <club-id> <film-id> <premiere-id>
//                              <subscriber> <code-user> <renter>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, owner, password, clubId, filmId, premiereId, subscriber, codeUser, renter] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });
const opened = [];

async function browser() {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    viewport: { width: 1280, height: 900 },
  });
  opened.push(context);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  return page;
}

async function signIn(page, email, next) {
  await page.goto(`${base}/login?next=${next}`, { waitUntil: 'load' });
  await page.fill('form[action="/login"] input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`**${next}`), page.click('form[action="/login"] button[type=submit]')]);
}

async function submit(page, form) {
  await Promise.all([page.waitForNavigation(), page.click(`${form} button[type=submit]`)]);
  if (!page.url().startsWith(base)) throw new Error(`left the site: ${page.url()}`);
  const status = await page.evaluate(() => document.title);
  return status;
}

async function plays(page) {
  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
  await page.waitForFunction(() => window.marquee.video.currentTime > 0.5, null, { timeout: 30000 });
  return Math.round(await page.evaluate(() => window.marquee.video.currentTime) * 10) / 10;
}

/// Pays at the stand-in's Checkout page; back on the watch page by Stripe's redirect.
async function payAtCheckout(page, id) {
  await page.waitForURL('**/pay/cs_*');
  const at = await page.locator('p').first().textContent();
  await Promise.all([page.waitForURL(`**/watch/${id}`), page.click('button#pay')]);
  return at.trim();
}

function local(t) {
  return new Date(t * 1000).toISOString().slice(0, 16);
}

try {
  // The operator.
  const ann = await browser();
  await signIn(ann, owner, '/admin/paywall');
  const plan = 'form[data-new-plan]';
  await ann.fill(`${plan} input[name=name]`, 'Club');
  await ann.fill(`${plan} input[name=currency]`, 'eur');
  await ann.fill(`${plan} input[name=monthly]`, '7.99');
  await ann.fill(`${plan} input[name=trial_days]`, '7');
  await ann.fill(`${plan} input[name=stream_limit]`, '2');
  await submit(ann, plan);
  const planLine = (await ann.locator('details.plan summary').first().textContent()).replace(/\s+/g, ' ').trim();
  if (!planLine.includes('€7.99 a month') || !planLine.includes('7 days free')) throw new Error(`plan: ${planLine}`);
  step('plan', { line: planLine });

  const codes = 'form[data-new-codes]';
  await ann.fill(`${codes} input[name=name]`, 'Door sales');
  await ann.selectOption(`${codes} select[name=grants]`, 'plan:club');
  await ann.fill(`${codes} input[name=days]`, '30');
  await ann.fill(`${codes} input[name=count]`, '5');
  await submit(ann, codes);
  const csvLink = ann.locator('a[download]').first();
  const [download] = await Promise.all([ann.waitForEvent('download'), csvLink.click()]);
  const csv = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  const rows = csv.trim().split('\n');
  if (rows[0] !== 'code,uses,max_uses' || rows.length !== 6) throw new Error(`csv: ${csv}`);
  const code = rows[1].split(',')[0];
  step('codes', { count: rows.length - 1 });

  const access = async (id, fill) => {
    await ann.goto(`${base}/admin/titles/${id}#access`, { waitUntil: 'load' });
    await fill('form[data-access-form]');
    await submit(ann, 'form[data-access-form]');
    return (await ann.locator('#access p').first().textContent()).trim();
  };
  const club = await access(clubId, async (f) => ann.selectOption(`${f} select[name=kind]`, 'subscribers'));
  const film = await access(filmId, async (f) => {
    await ann.selectOption(`${f} select[name=kind]`, 'purchase');
    await ann.fill(`${f} input[name=currency]`, 'eur');
    await ann.fill(`${f} input[name=rent]`, '2.50');
  });
  const now = Math.floor(Date.now() / 1000);
  const premiere = await access(premiereId, async (f) => {
    await ann.selectOption(`${f} select[name=kind]`, 'pay_per_view');
    await ann.fill(`${f} input[name=currency]`, 'eur');
    await ann.fill(`${f} input[name=event_id]`, 'premiere-night');
    await ann.fill(`${f} input[name=ticket]`, '5');
    await ann.fill(`${f} input[name=starts_at]`, local(now - 3600));
    await ann.fill(`${f} input[name=ends_at]`, local(now + 2 * 86400));
  });
  step('levels', { club, film, premiere });

  // A signed-out visitor: a paywall on each, never a player.
  const anon = await browser();
  const walls = [];
  for (const id of [clubId, filmId, premiereId]) {
    await anon.goto(`${base}/watch/${id}`, { waitUntil: 'load' });
    if (await anon.locator('#video').count()) throw new Error(`a player for a signed-out visitor on ${id}`);
    walls.push({
      reason: (await anon.locator('#paywall-reason').textContent()).trim(),
      offers: (await anon.locator('.paywall-box').textContent()).replace(/\s+/g, ' ').trim(),
    });
  }
  step('visitor', { walls });

  // A subscriber through Checkout, with the plan's trial.
  const bob = await browser();
  await signIn(bob, subscriber, `/watch/${clubId}`);
  const offer = (await bob.locator('ul.plans li').first().textContent()).replace(/\s+/g, ' ').trim();
  await bob.click('form.buy button[value=month]');
  const paid = await payAtCheckout(bob, clubId);
  step('subscribed', { offer, paid, played: await plays(bob) });

  // An access code from the CSV.
  const cat = await browser();
  await signIn(cat, codeUser, `/watch/${clubId}`);
  await cat.fill('form.redeem input[name=code]', code);
  await Promise.all([cat.waitForURL(`**/watch/${clubId}`), cat.click('form.redeem button[type=submit]')]);
  step('redeemed', { played: await plays(cat) });

  // A rental and a ticket.
  const dan = await browser();
  await signIn(dan, renter, `/watch/${filmId}`);
  await dan.click('form.buy.offer button');
  const rent = await payAtCheckout(dan, filmId);
  step('rented', { paid: rent, played: await plays(dan) });
  await dan.goto(`${base}/watch/${premiereId}`, { waitUntil: 'load' });
  await dan.click('form.buy.offer button');
  const ticket = await payAtCheckout(dan, premiereId);
  step('ticket', { paid: ticket, played: await plays(dan) });

  for (const p of [ann, anon, bob, cat, dan]) {
    if (p.errors.length) throw new Error(`page errors: ${p.errors}`);
  }
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  for (const c of opened) await c.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
