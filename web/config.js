// Where the pages find the three services. Each base URL is what goes before the service's own
// paths (/users/..., /products/..., /categories, /orders/...).
//
// Behind the gateway (deploy/nginx/gateway.conf.template) the pages and the API share one origin
// and every service lives under /api, so the three bases are '/api' and the browser needs no
// CORS at all.
//
// Served on its own port (scripts/run.sh), a page calls each service on its own port, across
// origins (the services allow any origin by default). run.sh prints the address to open, with
// the bases in the query string:
//
//   http://localhost:8080/?users=http://localhost:8001&products=http://localhost:8002&orders=http://localhost:8003
//
// The pages that mailed links open (verify-email.html, reset-password.html) read the same query,
// beside their `token`. A link in a mail carries only the token, so on a loopback address the
// bases of the last address that gave them are remembered (localStorage, per origin) and used
// when an address gives none.
//
// The query string is honoured only when the page itself is on a loopback address: on a public
// host a crafted link could otherwise send the shopper's password to another server.

const SERVICES = ['users', 'products', 'orders'];
const REMEMBERED = 'storefront.bases';
const defaults = { users: '/api', products: '/api', orders: '/api' };

const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(location.hostname);
const query = new URLSearchParams(location.search);

function remembered() {
  try {
    return JSON.parse(localStorage.getItem(REMEMBERED)) ?? {};
  } catch {
    return {};
  }
}

function given() {
  if (!loopback) return {};
  const fromQuery = Object.fromEntries(SERVICES.filter((s) => query.get(s)).map((s) => [s, query.get(s)]));
  if (Object.keys(fromQuery).length === 0) return remembered();
  try {
    localStorage.setItem(REMEMBERED, JSON.stringify(fromQuery));
  } catch {
    // Storage may be off (a private window's policy): the query still applies to this page.
  }
  return fromQuery;
}

const bases = given();

// No trailing slash: paths are appended as base + '/products'.
const base = (service) => (bases[service] || defaults[service]).replace(/\/+$/, '');

export const config = Object.freeze({
  users: base('users'),
  products: base('products'),
  orders: base('orders'),
});

/** The storefront's address from this page: its folder, with this page's query but no `token`. */
export function storefrontHref() {
  const kept = new URLSearchParams(location.search);
  kept.delete('token');
  return kept.size ? `./?${kept}` : './';
}
