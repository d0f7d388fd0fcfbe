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

window.marquee = { api, csrfToken };
