// The same playback check as watch.mjs, in Debian's Firefox ESR, driven over WebDriver
// BiDi (Firefox's own remote protocol; Playwright needs a patched Firefox).
// Usage: node --experimental-websocket watch-firefox.mjs <watch-page-url>
// Prints one JSON line; exits non-zero on failure.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url] = process.argv.slice(2);
const report = { ok: false, steps: [] };
const step = (name, extra = {}) => report.steps.push({ name, ...extra });

// A fresh profile: autoplay allowed, nothing that reaches out to the network.
const profile = mkdtempSync(join(tmpdir(), 'marquee-firefox-'));
writeFileSync(join(profile, 'user.js'), [
  'user_pref("media.autoplay.default", 0);',
  'user_pref("media.autoplay.blocking_policy", 0);',
  'user_pref("browser.shell.checkDefaultBrowser", false);',
  'user_pref("app.update.enabled", false);',
  'user_pref("app.normandy.enabled", false);',
  'user_pref("datareporting.policy.dataSubmissionEnabled", false);',
  'user_pref("toolkit.telemetry.enabled", false);',
  'user_pref("network.connectivity-service.enabled", false);',
  'user_pref("network.captive-portal-service.enabled", false);',
  'user_pref("extensions.update.enabled", false);',
  'user_pref("browser.safebrowsing.malware.enabled", false);',
  'user_pref("browser.safebrowsing.phishing.enabled", false);',
  'user_pref("services.settings.server", "http://127.0.0.1:9/");',
].join('\n'));

const firefox = spawn('firefox-esr', ['--headless', '--no-remote', '--remote-debugging-port=0', '--profile', profile, 'about:blank'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const endpoint = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('Firefox did not start its WebDriver BiDi server')), 30000);
  const look = (chunk) => {
    const m = String(chunk).match(/WebDriver BiDi listening on (ws:\/\/\S+)/);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  };
  firefox.stdout.on('data', look);
  firefox.stderr.on('data', look);
  firefox.on('exit', (code) => reject(new Error(`Firefox exited (${code})`)));
});

const socket = new WebSocket(`${endpoint}/session`);
await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = () => reject(new Error('cannot connect to Firefox')); });
let nextId = 1;
const pending = new Map();
socket.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  if (msg.id && pending.has(msg.id)) {
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.type === 'error') reject(new Error(`${msg.error}: ${msg.message}`));
    else resolve(msg.result);
  }
};
const send = (method, params) => new Promise((resolve, reject) => {
  const id = nextId++;
  pending.set(id, { resolve, reject });
  socket.send(JSON.stringify({ id, method, params }));
});

let context;
// Evaluates an expression in the page and returns its value (JSON-able results only).
const evaluate = async (expression) => {
  const result = await send('script.evaluate', {
    expression: `(async () => JSON.stringify(await (${expression})))()`,
    target: { context },
    awaitPromise: true,
  });
  if (result.type === 'exception') throw new Error(`page: ${result.exceptionDetails.text}`);
  return result.result.value === undefined ? undefined : JSON.parse(result.result.value);
};
const waitFor = async (expression, what, timeoutMs = 30000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { if (await evaluate(expression)) return; } catch (_) { /* page not ready yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

try {
  await send('session.new', { capabilities: {} });
  const tree = await send('browsingContext.getTree', {});
  context = tree.contexts[0].context;
  await send('browsingContext.navigate', { context, url, wait: 'complete' });
  await waitFor('window.marquee && window.marquee.hls && window.marquee.hls.levels.length > 0', 'the manifest');
  step('manifest', { levels: await evaluate('window.marquee.hls.levels.map((l) => l.height)') });

  await evaluate('(window.marquee.video.muted = true, window.marquee.video.play().then(() => true))');
  await waitFor('window.marquee.video.currentTime > 2', 'playback past 2 s');
  step('played', { currentTime: await evaluate('window.marquee.video.currentTime') });

  const target = await evaluate(`(() => { const h = window.marquee.hls; const cur = h.currentLevel >= 0 ? h.currentLevel : h.loadLevel;
    const t = h.levels.findIndex((_, i) => i !== cur); window.marquee.switched = null; h.currentLevel = t; return t; })()`);
  if (target < 0) throw new Error('only one rendition: nothing to switch to');
  await waitFor(`window.marquee.switched === ${target}`, 'the rendition switch');
  const at = await evaluate('window.marquee.video.currentTime');
  await waitFor(`window.marquee.video.currentTime > ${at + 1}`, 'playback after the switch');
  step('switched', { level: target });

  if (await evaluate('document.querySelectorAll("#captions option").length > 1')) {
    await evaluate(`(() => { const s = document.getElementById('captions'); s.value = '0'; s.dispatchEvent(new Event('change')); window.marquee.video.currentTime = 0.5; return true; })()`);
    await waitFor('Array.from(window.marquee.video.textTracks).some((t) => t.mode === "showing" && t.cues && t.cues.length > 0)', 'subtitle cues');
    step('subtitles');
  }
  const errors = await evaluate('window.marquee.errors');
  if (errors.length) throw new Error(`player errors: ${JSON.stringify(errors)}`);
  report.ok = true;
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  try { await send('session.end', {}); } catch (_) { /* closing anyway */ }
  socket.close();
  firefox.kill('SIGKILL');
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
