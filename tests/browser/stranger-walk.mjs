// Issue 23's acceptance walk, in Debian's headless Chromium on a phone (390x844).
// The operator sees "No one can pay yet" until they save the Stripe keys in Settings, and
// "Test connection" then says in words that it works. A stranger sees which titles on the
// home page are paid, presses "Start free trial" on a subscribers-only title, pays at the
// Stripe stand-in's Checkout with a new email, comes back signed in and plays, sets a
// password from the welcome email and signs in with it in a second browser. A second
// stranger makes a free account from the paywall of a "registered" title (proof of work
// solved by the page's own script, then the emailed link) and plays it. The operator then
// finds both in Members, the first with the plan's trial. axe-core checks the home, title,
// pricing, sign-up, paywall and account pages: no serious or critical violation.
// Emails: the Rust test writes each one the SMTP sink gets to <mail-dir>/<n>.eml.
// Usage: node stranger-walk.mjs <base> <owner> <owner-password> <club-id> <free-id>
//          <first-email> <second-email> <new-password> <secret-key> <webhook-secret> <mail-dir>
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, owner, ownerPassword, clubId, freeId, first, second, newPassword, secretKey, webhookSecret, mailDir] =
  process.argv.slice(2);
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const report = { ok: false, steps: [], axe: {} };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });
const BANNER = 'No one can pay yet: Stripe is not set up.';
const opened = [];

/// A fresh browser (its own cookies) on a phone.
async function phone() {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'marquee-chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36',
  });
  opened.push(context);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('dialog', (d) => d.accept());
  return page;
}

const words = async (locator) => ((await locator.textContent()) || '').replace(/\s+/g, ' ').trim();

/// Serious and critical axe violations on the page now, kept under `name` in the report.
async function axe(page, name) {
  // Evaluated through DevTools, not as an inline <script>, which the page's policy refuses.
  await page.evaluate(readFileSync(axePath, 'utf8'));
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  report.axe[name] = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, target: v.nodes[0] && v.nodes[0].target.join(' ') }));
}

async function signIn(page, email, password, next) {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`, { waitUntil: 'load' });
  await page.fill('form[action="/login"] input[name=email]', email);
  await page.fill('form[action="/login"] input[name=password]', password);
  await Promise.all([page.waitForURL(`**${next}`), page.click('form[action="/login"] button[type=submit]')]);
}

async function plays(page) {
  await page.waitForFunction(() => window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0, null, { timeout: 20000 });
  await page.evaluate(() => { window.marquee.video.muted = true; return window.marquee.video.play(); });
  await page.waitForFunction(() => window.marquee.video.currentTime > 0.5, null, { timeout: 30000 });
  return Math.round(await page.evaluate(() => window.marquee.video.currentTime) * 10) / 10;
}

/// The link to `prefix` in the email to `to`, once it is here (quoted-printable undone).
async function emailedLink(to, prefix) {
  for (let i = 0; i < 300; i++) {
    const files = existsSync(mailDir) ? readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort() : [];
    for (const f of files) {
      const mail = readFileSync(join(mailDir, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      const head = mail.split(/\r?\n\r?\n/)[0];
      if (!head.toLowerCase().includes(to.toLowerCase())) continue;
      const at = mail.indexOf(prefix);
      if (at < 0) continue;
      return `${base}${mail.slice(at).split(/[\s"<>]/)[0]}`;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no email to ${to} with a ${prefix} link`);
}

const signedInHeader = (page) => page.locator('header.top').getByRole('link', { name: 'Account', exact: true });

try {
  // The operator, before Stripe is set: the banner, in words, with the way to fix it.
  const ann = await phone();
  await signIn(ann, owner, ownerPassword, '/admin');
  const body = await words(ann.locator('body'));
  if (!body.includes(BANNER)) throw new Error(`no banner on /admin: ${body.slice(0, 400)}`);
  step('banner before stripe', { banner: BANNER });

  // Settings → Stripe: the keys saved, the connection tested.
  await ann.goto(`${base}/admin/settings`, { waitUntil: 'load' });
  await ann.fill('#s-stripe\\.secret_key', secretKey);
  await ann.fill('#s-stripe\\.webhook_secret', webhookSecret);
  await Promise.all([ann.waitForNavigation(), ann.getByRole('button', { name: 'Save settings' }).click()]);
  await Promise.all([ann.waitForNavigation(), ann.getByRole('button', { name: 'Test connection' }).click()]);
  const tested = await words(ann.locator('[data-connection-report]'));
  if (!tested.includes('The connection works.')) throw new Error(`test connection: ${tested}`);
  await ann.goto(`${base}/admin`, { waitUntil: 'load' });
  if ((await words(ann.locator('body'))).includes(BANNER)) throw new Error('the banner stays once Stripe is set');
  step('stripe set and tested', { tested });

  // 1. A stranger on the home page: which titles are paid.
  const pat = await phone();
  await pat.goto(`${base}/`, { waitUntil: 'load' });
  const clubCard = pat.locator(`li.card a[href="/title/${clubId}"]`).first();
  const freeCard = pat.locator(`li.card a[href="/title/${freeId}"]`).first();
  const clubMark = await words(clubCard.locator('.lock'));
  if (!clubMark.includes('Included with Club')) throw new Error(`club tile: ${clubMark}`);
  if (!(await clubCard.locator('.lock-icon').isVisible())) throw new Error('no lock on the club tile');
  // The "registered" title is free: it says so, and names no plan or price.
  const freeMark = await words(freeCard.locator('.lock'));
  if (freeMark !== 'Free with an account') throw new Error(`free tile: ${freeMark}`);
  await axe(pat, 'home');
  step('home shows what is paid', { mark: clubMark, free: freeMark });

  // 2. The title page, and its main button.
  await Promise.all([pat.waitForURL(`**/title/${clubId}`), clubCard.click()]);
  const main = pat.locator('#main-action');
  const action = await words(main);
  if (action !== 'Start free trial') throw new Error(`main button: ${action}`);
  await axe(pat, 'title');
  await Promise.all([pat.waitForURL('**/pay/cs_*'), main.click()]);
  step('start free trial', { action });

  // 3. Checkout (the stand-in's page) asks a guest for an email.
  const asked = await words(pat.locator('p').first());
  await pat.fill('#email', first);
  await Promise.all([pat.waitForURL((u) => u.href.startsWith(base), { timeout: 20000 }),
    pat.click('button#pay')]);
  await pat.waitForLoadState('load');
  step('paid at checkout', { asked, back: pat.url().slice(base.length) });

  // 4. Back signed in; the title plays.
  if (!(await signedInHeader(pat).isVisible())) throw new Error(`not signed in after paying, at ${pat.url()}`);
  await pat.goto(`${base}/watch/${clubId}`, { waitUntil: 'load' });
  step('signed in and plays', { played: await plays(pat) });

  // 5. The welcome email's link sets a password.
  const reset = await emailedLink(first, '/reset/');
  await pat.goto(reset, { waitUntil: 'load' });
  await pat.fill('input[name=password]', newPassword);
  await pat.fill('input[name=confirm]', newPassword);
  await Promise.all([pat.waitForNavigation(), pat.getByRole('button', { name: 'Set the new password' }).click()]);
  if (pat.url().includes('/reset/')) throw new Error(`password not set: ${await words(pat.locator('main'))}`);
  step('password from the welcome email');

  // 6. A second browser: that password signs in.
  const pat2 = await phone();
  await signIn(pat2, first, newPassword, '/account');
  const account = await words(pat2.locator('main'));
  if (!account.includes(first)) throw new Error(`account page: ${account.slice(0, 300)}`);
  await axe(pat2, 'account');
  step('signed in on a second browser', { trial: account.includes('free trial') });

  // A second stranger: a free account from the paywall of a "registered" title.
  const sam = await phone();
  await sam.goto(`${base}/plans`, { waitUntil: 'load' });
  await axe(sam, 'plans');
  await sam.goto(`${base}/watch/${freeId}`, { waitUntil: 'load' });
  if (await sam.locator('#video').count()) throw new Error('a player for a signed-out visitor');
  const reason = await words(sam.locator('#paywall-reason'));
  await axe(sam, 'paywall');
  await Promise.all([sam.waitForURL(/\/signup/), sam.locator('#paywall').getByRole('link', { name: 'Create account' }).click()]);
  await axe(sam, 'signup');
  await sam.getByLabel('Email', { exact: true }).fill(second);
  await sam.getByRole('button', { name: 'Create account' }).click();
  await sam.getByText('Check your email').waitFor({ timeout: 30000 });
  const confirm = await emailedLink(second, '/signup/');
  await sam.goto(confirm, { waitUntil: 'load' });
  await Promise.all([sam.waitForURL(`**/watch/${freeId}`, { timeout: 15000 }),
    sam.getByRole('button', { name: 'Create my account' }).click()]);
  step('free account from the paywall', { reason, played: await plays(sam) });

  // The operator: the new members, and the first one's trial.
  await ann.goto(`${base}/admin/members`, { waitUntil: 'load' });
  const list = await words(ann.locator('main'));
  for (const who of [first, second]) if (!list.includes(who)) throw new Error(`${who} not in Members: ${list}`);
  await Promise.all([ann.waitForURL(/\/admin\/members\/\d+/), ann.getByRole('link', { name: first }).click()]);
  const sub = await words(ann.locator('#paywall table').first().locator('tbody tr').first());
  if (!sub.includes('Club') || !sub.includes('free trial') || /trialing|sub_/.test(sub)) throw new Error(`subscription on the member page: ${sub}`);
  step('operator sees the members and the trial', { subscription: sub });

  for (const p of [ann, pat, pat2, sam]) {
    if (p.errors.length) throw new Error(`page errors: ${p.errors}`);
  }
  const bad = Object.entries(report.axe).filter(([, v]) => v.length);
  if (bad.length) throw new Error(`axe: ${JSON.stringify(bad)}`);
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  for (const c of opened) await c.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
