// Counts a visit for the operator's funnel: once per browser session (tab), on the
// first storefront page, with sendBeacon to POST /beacon. Nothing about the visitor is
// sent beyond a random id for this session.
(function visit() {
  'use strict';
  try {
    if (location.pathname.startsWith('/admin')) return;
    if (sessionStorage.getItem('marquee-visit')) return;
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    const session = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem('marquee-visit', session);
    const body = JSON.stringify({ session, title: 'site', events: [{ kind: 'visit', n: 1 }] });
    if (!(navigator.sendBeacon && navigator.sendBeacon('/beacon', body))) {
      fetch('/beacon', { method: 'POST', body, keepalive: true }).catch(() => {});
    }
  } catch (_) { /* storage off: no visit counted */ }
}());
