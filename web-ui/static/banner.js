// The in-app banner of a retention campaign: a signed-in member a campaign chose sees its
// text above the page, linking to their personal offer. Built from text nodes only.
(function banner() {
  'use strict';
  if (location.pathname.startsWith('/admin') || location.pathname.startsWith('/c/')) return;
  fetch('/c/banner', { credentials: 'same-origin' }).then((res) => {
    if (res.status !== 200) return null;
    return res.json();
  }).then((b) => {
    if (!b || !b.text || !b.href || !b.href.startsWith('/c/')) return;
    const bar = document.createElement('aside');
    bar.className = 'campaign-banner';
    bar.setAttribute('role', 'note');
    const link = document.createElement('a');
    link.href = b.href;
    link.textContent = b.text;
    bar.append(link);
    document.body.prepend(bar);
  }).catch(() => {});
}());
