// Search as you type: the results list is fetched from /search?partial=1 (server-rendered,
// escaped there) and replaces the one on the page; the address follows the query.
(() => {
  'use strict';
  const form = document.querySelector('[data-live-search]');
  const box = document.querySelector('[data-results]');
  if (!form || !box) return;
  const input = form.querySelector('input[name="q"]');
  let timer = null;
  let latest = 0;
  const run = async () => {
    const q = input.value;
    const ticket = ++latest;
    const url = `/search?partial=1&q=${encodeURIComponent(q)}`;
    try {
      const res = await fetch(url, { headers: { accept: 'text/html' } });
      if (!res.ok || ticket !== latest) return;
      box.innerHTML = await res.text();
      history.replaceState(null, '', q ? `/search?q=${encodeURIComponent(q)}` : '/search');
    } catch (_) { /* offline: the form still submits */ }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, 120);
  });
})();
