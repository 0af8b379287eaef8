// Where the page finds the three services. Each base URL is what goes before the service's own
// paths (/users/..., /products/..., /categories, /orders/...).
//
// Behind the gateway (deploy/nginx/gateway.conf.template) the page and the API share one origin
// and every service lives under /api, so the three bases are '/api' and the browser needs no
// CORS at all.
//
// Served on its own port (scripts/run.sh), the page calls each service on its own port, across
// origins (the services allow any origin by default). run.sh prints the address to open, with
// the bases in the query string:
//
//   http://localhost:8080/?users=http://localhost:8001&products=http://localhost:8002&orders=http://localhost:8003
//
// The query string is honoured only when the page itself is on a loopback address: on a public
// host a crafted link could otherwise send the shopper's password to another server.

const defaults = { users: '/api', products: '/api', orders: '/api' };

const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(location.hostname);
const query = new URLSearchParams(location.search);

function base(service) {
  const given = loopback ? query.get(service) : null;
  // No trailing slash: paths are appended as base + '/products'.
  return (given || defaults[service]).replace(/\/+$/, '');
}

export const config = Object.freeze({
  users: base('users'),
  products: base('products'),
  orders: base('orders'),
});
