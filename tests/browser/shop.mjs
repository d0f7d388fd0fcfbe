// The paywall as a visitor meets it, in Debian's headless Chromium, on a phone (390x844)
// and a desktop (1280x800): a card over a darkened backdrop, fully visible (nothing clipped,
// no sideways scrolling), every action a button at least 44 px tall, its text readable
// whatever the image (contrast worked out against a white image under the scrim), and an
// event's start shown in the browser's own time zone.
// Usage: node shop.mjs <base-url> <members-title-id> <event-title-id>
// (SHOP_SHOTS=<dir> also saves screenshots of the paywall, pricing, home and title pages.)
// Prints one JSON line; exits non-zero on failure.
import { chromium } from 'playwright-core';

const [base, clubId, eventId] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });

// What the page measures of its own paywall.
function measure() {
  const rgba = (s) => {
    const m = s.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a] = m[1].split(',').map((x) => parseFloat(x));
    return { r, g, b, a: Number.isNaN(a) || a === undefined ? 1 : a };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const lum = (c) => {
    const ch = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  };
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const wall = document.querySelector('#paywall');
  const box = wall.querySelector('.paywall-box');
  const w = wall.getBoundingClientRect();
  const b = box.getBoundingClientRect();
  // The scrim: the paywall's ::before, its darkest-lightest stop taken as its least alpha.
  const scrimStyle = getComputedStyle(wall, '::before');
  const stops = [...scrimStyle.backgroundImage.matchAll(/rgba?\([^)]+\)/g)].map((m) => rgba(m[0]));
  const scrimAlpha = stops.length ? Math.min(...stops.map((s) => s.a)) : 0;
  const scrimColor = stops.length ? stops[0] : { r: 0, g: 0, b: 0, a: 0 };
  // The worst image is white: what the card's background becomes over it.
  const white = { r: 255, g: 255, b: 255, a: 1 };
  const underCard = over({ ...scrimColor, a: scrimAlpha }, white);
  const cardBg = over(rgba(getComputedStyle(box).backgroundColor), underCard);
  const texts = [...box.querySelectorAll('h2, p, label, li')]
    .filter((el) => el.offsetParent !== null && el.textContent.trim() && !el.closest('.sale, .not-on-sale, .error, .notice'))
    .map((el) => ({ text: el.textContent.trim().slice(0, 40), ratio: contrast(rgba(getComputedStyle(el).color), cardBg) }));
  const buttons = [...box.querySelectorAll('button, a.button')]
    .filter((el) => el.offsetParent !== null)
    .map((el) => ({ text: el.textContent.trim(), height: el.getBoundingClientRect().height, bg: getComputedStyle(el).backgroundColor }));
  const poster = wall.querySelector('.paywall-poster');
  return {
    viewport: { width: innerWidth, height: innerHeight },
    wall: { top: w.top, bottom: w.bottom, left: w.left, right: w.right, clipped: wall.scrollHeight > wall.clientHeight + 1 },
    box: { top: b.top, bottom: b.bottom, left: b.left, right: b.right, overflowing: box.scrollWidth > box.clientWidth + 1 },
    pageWidth: document.documentElement.scrollWidth,
    scrimAlpha,
    backdrop: poster ? poster.complete && poster.naturalWidth > 0 : false,
    texts,
    minContrast: Math.min(...texts.map((t) => t.ratio)),
    buttons,
  };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync'],
});
try {
  for (const [name, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1280, height: 800 }]]) {
    const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'America/New_York' });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`${base}/watch/${clubId}`, { waitUntil: 'load' });
    const m = await page.evaluate(measure);
    const problems = [];
    if (m.box.left < 0 || m.box.right > m.viewport.width) problems.push('the card is wider than the screen');
    if (m.box.top < m.wall.top || m.box.bottom > m.wall.bottom || m.wall.clipped) problems.push('the card is clipped');
    if (m.box.overflowing) problems.push('text overflows the card');
    if (m.pageWidth > m.viewport.width) problems.push(`the page scrolls sideways (${m.pageWidth})`);
    if (!m.backdrop) problems.push('no backdrop image');
    if (m.scrimAlpha < 0.6) problems.push(`the scrim is too light (${m.scrimAlpha})`);
    if (m.minContrast < 4.5) problems.push(`text contrast ${m.minContrast.toFixed(2)} over a white image`);
    if (m.buttons.length < 3) problems.push(`only ${m.buttons.length} buttons`);
    for (const b of m.buttons) if (b.height < 44) problems.push(`"${b.text}" is ${b.height}px tall`);
    if (errors.length) problems.push(...errors);
    if (problems.length) throw new Error(`${name}: ${problems.join('; ')}\n${JSON.stringify(m)}`);
    if (process.env.SHOP_SHOTS) await page.screenshot({ path: `${process.env.SHOP_SHOTS}/paywall-${name}.png`, fullPage: true });
    step(`paywall on ${name}`, { buttons: m.buttons.map((b) => b.text), minContrast: m.minContrast, scrimAlpha: m.scrimAlpha });

    // The event's start, as this browser's clock shows it.
    await page.goto(`${base}/watch/${eventId}`, { waitUntil: 'load' });
    const time = page.locator('.paywall time[data-local]');
    const iso = await time.getAttribute('datetime');
    const expected = new Intl.DateTimeFormat('en-US', {
      weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
      hour: 'numeric', minute: '2-digit', timeZoneName: 'short', timeZone: 'America/New_York',
    }).format(new Date(iso));
    await page.waitForFunction((want) => document.querySelector('.paywall time[data-local]').textContent === want, expected, { timeout: 5000 })
      .catch(async () => {
        throw new Error(`${name}: the event reads "${await time.textContent()}", not "${expected}"`);
      });
    step(`event time on ${name}`, { iso, shown: await time.textContent() });
    if (process.env.SHOP_SHOTS) {
      await page.screenshot({ path: `${process.env.SHOP_SHOTS}/event-${name}.png`, fullPage: true });
      for (const path of ['/plans', '/', `/title/${clubId}`]) {
        await page.goto(`${base}${path}`, { waitUntil: 'load' });
        await page.screenshot({ path: `${process.env.SHOP_SHOTS}/${name}${path.replaceAll('/', '-')}.png`, fullPage: true });
      }
    }
    // The pricing page's monthly/yearly switch, made of radio buttons and CSS only.
    await page.goto(`${base}/plans`, { waitUntil: 'load' });
    const shown = () => page.evaluate(() => [...document.querySelectorAll('.plan-card .bill')]
      .filter((el) => getComputedStyle(el).display !== 'none')
      .map((el) => el.querySelector('.price').textContent.replace(/\s+/g, ' ').trim()));
    const monthly = await shown();
    await page.click('label[for=bill-year]');
    const yearly = await shown();
    if (monthly.length !== 1 || !monthly[0].includes('a month') || yearly.length !== 1 || !yearly[0].includes('a year')) {
      throw new Error(`${name}: the switch shows ${JSON.stringify(monthly)} then ${JSON.stringify(yearly)}`);
    }
    step(`switch on ${name}`, { monthly, yearly });
    await context.close();
  }
  report.ok = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
