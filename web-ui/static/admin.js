// The dashboard's few lines of script; every page works without it except live updates
// and uploads.
'use strict';

/** The session's CSRF token, for API calls that change state. */
function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

/** Calls the API as the signed-in user; resolves to the parsed JSON, rejects with the API's message. */
async function api(method, path, body) {
  const headers = { 'x-csrf-token': csrfToken() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const resp = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new Error(data && data.error ? data.error.message : resp.statusText);
  return data;
}

// Forms marked data-confirm="…" ask before they submit (deletes).
document.addEventListener('submit', (ev) => {
  const message = ev.target.dataset && ev.target.dataset.confirm;
  if (message && !window.confirm(message)) ev.preventDefault();
});

// Live regions: an element with an id and `data-live` is fetched again from this page's
// URL every two seconds and replaced, until the fresh copy no longer says `data-live` (no
// job in flight). The server renders each region; this only swaps it in.
let liveTimer = null;
async function refreshLive() {
  liveTimer = null;
  const regions = [...document.querySelectorAll('[id][data-live]')];
  if (!regions.length) return;
  let doc;
  try {
    const resp = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } });
    if (!resp.ok) throw new Error(resp.statusText);
    doc = new DOMParser().parseFromString(await resp.text(), 'text/html');
  } catch (_) {
    liveTimer = setTimeout(refreshLive, 5000);
    return;
  }
  for (const old of regions) {
    const fresh = doc.getElementById(old.id);
    if (fresh) old.replaceWith(document.importNode(fresh, true));
    else old.removeAttribute('data-live');
  }
  watchLive();
}
/** Starts polling the live regions; `force` marks them live first (after an upload). */
function watchLive(force) {
  if (force) document.querySelectorAll('[id][data-live-region]').forEach((el) => el.setAttribute('data-live', ''));
  if (liveTimer === null && document.querySelector('[id][data-live]')) liveTimer = setTimeout(refreshLive, 2000);
}
document.addEventListener('DOMContentLoaded', () => watchLive(false));

// Artwork on a title's page: a file input sends the image as it is (PUT), a button removes
// it; the page reloads to show the result, or says what was wrong with the file.
document.addEventListener('change', async (ev) => {
  const input = ev.target;
  if (!input.matches || !input.matches('input[type="file"][data-artwork]') || !input.files[0]) return;
  const status = document.getElementById(`${input.id}-status`);
  status.textContent = 'Uploading…';
  const resp = await fetch(input.dataset.artwork, {
    method: 'PUT', credentials: 'same-origin', body: input.files[0],
    headers: { 'x-csrf-token': csrfToken(), 'content-type': input.files[0].type || 'application/octet-stream' },
  });
  if (resp.ok) { window.location.reload(); return; }
  const data = await resp.json().catch(() => null);
  status.textContent = data && data.error ? data.error.message : `Upload failed (${resp.status})`;
});
document.addEventListener('click', async (ev) => {
  const button = ev.target.closest && ev.target.closest('button[data-artwork-remove]');
  if (!button) return;
  try { await api('DELETE', button.dataset.artworkRemove); window.location.reload(); } catch (e) { window.alert(e.message); }
});

window.marquee = { api, csrfToken, watchLive };

// Copy buttons: `data-copy="<id>"` copies that field's value (the Stripe webhook address).
document.addEventListener('click', async (ev) => {
  const button = ev.target.closest && ev.target.closest('[data-copy]');
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const said = button.parentElement.querySelector('[data-copied]');
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch (_) {
    // Plain HTTP has no clipboard API: select it and use the older command.
    field.select();
    copied = document.execCommand && document.execCommand('copy');
  }
  if (said) said.textContent = copied ? 'Copied.' : 'Select the address and copy it.';
});

// Title pickers: an input marked `data-title-picker` with a `list` suggests titles by name
// as the operator types (`/admin/title-names`); the form sends the name, which the server
// turns into the title (and says so in the page when no title has that name).
let pickerTimer = null;
document.addEventListener('input', (ev) => {
  const input = ev.target;
  if (!input.matches || !input.matches('input[data-title-picker][list]')) return;
  clearTimeout(pickerTimer);
  pickerTimer = setTimeout(async () => {
    const list = document.getElementById(input.getAttribute('list'));
    const typed = input.value.trim();
    if (!list || typed.length < 1) return;
    try {
      const resp = await fetch(`/admin/title-names?q=${encodeURIComponent(typed)}`, { credentials: 'same-origin' });
      if (!resp.ok) return;
      const labels = await resp.json();
      list.replaceChildren(...labels.map((label) => {
        const option = document.createElement('option');
        option.value = label;
        return option;
      }));
    } catch (_) { /* no suggestions: typing the whole name still works */ }
  }, 150);
});
