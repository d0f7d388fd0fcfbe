// The segment form's live count and preview: on every edit (debounced), the form is posted
// to /admin/segments/preview and the count and first members are redrawn. The preview is
// built with DOM text nodes, never HTML, so names cannot inject markup.
(function segments() {
  'use strict';
  const form = document.getElementById('segment-form');
  if (!form) return;
  const count = document.getElementById('segment-count');
  const body = document.getElementById('segment-members');
  const error = document.getElementById('segment-error');
  let timer = null;
  let asked = 0;
  const cell = (row, text, href, small) => {
    const td = row.insertCell();
    if (href) {
      const a = document.createElement('a');
      a.href = href;
      a.textContent = text;
      td.append(a);
    } else {
      td.textContent = text;
    }
    if (small) {
      td.append(document.createElement('br'));
      const s = document.createElement('span');
      s.className = 'muted';
      s.textContent = small;
      td.append(s);
    }
  };
  const refresh = async () => {
    const ask = ++asked;
    const data = new URLSearchParams(new FormData(form));
    try {
      const res = await fetch('/admin/segments/preview', { method: 'POST', body: data, credentials: 'same-origin' });
      if (ask !== asked) return;
      if (!res.ok) {
        error.textContent = (await res.text()).slice(0, 300);
        error.hidden = false;
        return;
      }
      const preview = await res.json();
      if (ask !== asked) return;
      error.hidden = true;
      count.textContent = String(preview.count);
      body.replaceChildren();
      preview.members.forEach((m) => {
        const row = body.insertRow();
        cell(row, m.name || m.email, `/admin/members/${m.id}`, m.email);
        cell(row, m.plan);
        cell(row, m.renews);
        cell(row, m.last_played);
      });
    } catch (_) { /* offline: the next edit tries again */ }
  };
  const soon = () => { clearTimeout(timer); timer = setTimeout(refresh, 300); };
  form.addEventListener('input', soon);
  form.addEventListener('change', soon);
  refresh();
}());
