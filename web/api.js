// The storefront's API client: every request the page makes goes through `call` below, which
// shows how to talk to the three services from a browser:
//
//   - base URLs come from config.js ('/api' behind the gateway, one port per service otherwise);
//   - `Authorization: Bearer <access token>` on the routes that need a user;
//   - an answer of 401 UNAUTHORIZED (an access token expired, or refused because the account
//     changed: a verified email, a new password or role) gets one refresh of the tokens
//     (POST /users/refresh) and one retry; only a 401 of the refresh itself ends the session (see
//     refreshTokens). A 401 with another code (INVALID_CREDENTIALS: a wrong current password) is
//     the answer, never retried: each retry would count as another failed login;
//   - every error answer is `{detail, error_code}`: it is thrown as an ApiError whose message is
//     the API's own sentence (or, for a 422, its list of invalid fields, also by field in
//     `fields`), with the seconds of a 429's or 503's Retry-After in `retryAfter`;
//   - lists carry their total in X-Total-Count and their neighbours in an RFC 8288 Link header;
//   - POST /orders carries an Idempotency-Key, so that sending it again never orders twice.
//
// Tokens live in sessionStorage: they survive a reload of the page but not the closing of the
// tab, and other tabs do not share them. (Any storage a script can read is as exposed to an XSS
// flaw as memory is; the page never writes the API's data as HTML.)
import { config } from './config.js';

/** An error answer of the API. `message` is its `detail`, ready to show to a person. */
export class ApiError extends Error {
  constructor(status, body, headers) {
    super(describe(status, body));
    this.status = status;
    this.code = body?.error_code ?? `HTTP_${status}`;
    // A 422's invalid fields: {new_password: 'Password should have at least 8 bytes', …}.
    this.fields = Array.isArray(body?.detail)
      ? Object.fromEntries(body.detail.map((e) => [e.loc?.at(-1) ?? '', e.msg]))
      : {};
    // Seconds to wait before asking again (429, 503), or null. The services expose the header
    // to other origins (CORS).
    const retryAfter = Number.parseInt(headers?.get('Retry-After') ?? '', 10);
    this.retryAfter = Number.isFinite(retryAfter) ? retryAfter : null;
    // True only when POST /users/refresh refused the refresh token: both tokens are gone and the
    // user has to log in again. Any other error leaves the session as it was.
    this.sessionEnded = false;
  }
}

function describe(status, body) {
  const detail = body?.detail;
  if (typeof detail === 'string') return detail;
  // A 422 lists each invalid field as FastAPI does: [{loc: ['body', 'price'], msg: '…'}].
  if (Array.isArray(detail)) return detail.map((e) => `${e.loc?.at(-1) ?? 'request'}: ${e.msg}`).join('; ');
  return `The server answered ${status}`;
}

// --- tokens ------------------------------------------------------------------------------------

const ACCESS = 'storefront.access_token';
const REFRESH = 'storefront.refresh_token';

export const tokens = {
  get access() { return sessionStorage.getItem(ACCESS); },
  get refresh() { return sessionStorage.getItem(REFRESH); },
  save({ access_token, refresh_token }) {
    sessionStorage.setItem(ACCESS, access_token);
    sessionStorage.setItem(REFRESH, refresh_token);
  },
  clear() {
    sessionStorage.removeItem(ACCESS);
    sessionStorage.removeItem(REFRESH);
  },
};

// A refresh token works once (presenting a spent one revokes all of the user's sessions), so
// calls that get 401 at the same time share one refresh instead of racing with the same token.
let refreshing = null;

// Only a 401 of the refresh says that the refresh token is no longer valid (spent, expired, or
// revoked by a password change), and a 403 ACCOUNT_DISABLED that it never will be again: then the
// session is over. A 429 RATE_LIMITED, a 503 OVERLOADED or DB_UNAVAILABLE, or no answer at all
// says nothing about the token: both tokens stay, the error goes to the caller, and the next call
// that gets a 401 refreshes again.
function refreshTokens() {
  refreshing ??= call('POST', `${config.users}/users/refresh`, { json: { refresh_token: tokens.refresh } })
    .then(({ data }) => tokens.save(data))
    .catch((err) => {
      if (err instanceof ApiError && (err.status === 401 || err.code === 'ACCOUNT_DISABLED')) {
        tokens.clear();
        err.sessionEnded = true;
      }
      throw err;
    })
    .finally(() => { refreshing = null; });
  return refreshing;
}

// --- one request -------------------------------------------------------------------------------

/**
 * Sends one request and returns `{data, response}` (data: the parsed JSON, or null).
 * `json` is sent as a JSON body; `body` as it is (a File for an image upload, with its type in
 * `headers`). `auth` adds the bearer token and allows one refresh-and-retry on 401.
 */
export async function call(method, url, { json, body, headers = {}, auth = false, retried = false } = {}) {
  const sent = new Headers(headers);
  if (json !== undefined) sent.set('Content-Type', 'application/json');
  const token = auth ? tokens.access : null;
  if (token) sent.set('Authorization', `Bearer ${token}`);

  const response = await fetch(url, {
    method,
    headers: sent,
    body: json !== undefined ? JSON.stringify(json) : body,
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);

  if (response.status === 401 && token && tokens.refresh && !retried && tokenRefused(data)) {
    // Another call may have refreshed while this one was on its way: then just retry.
    if (tokens.access === token) await refreshTokens();
    return call(method, url, { json, body, headers, auth, retried: true });
  }

  if (!response.ok) throw new ApiError(response.status, data, response.headers);
  return { data, response };
}

/** Whether a 401's body refuses the access token itself (UNAUTHORIZED, or no contract body). */
const tokenRefused = (body) => (body?.error_code ?? 'UNAUTHORIZED') === 'UNAUTHORIZED';

// --- lists -------------------------------------------------------------------------------------

/**
 * A page of a list: `{items, total, next, prev}`, where next and prev are the absolute URLs of
 * the neighbouring pages (from the Link header), or null at either end.
 */
function page({ data, response }, base) {
  const links = {};
  // Link: </products?limit=12&offset=12>; rel="next", </products?limit=12&offset=0>; rel="prev"
  for (const [, target, rel] of (response.headers.get('Link') ?? '').matchAll(/<([^>]*)>\s*;\s*rel="([^"]*)"/g)) {
    // The targets are paths on the service's host: behind the gateway they already carry /api.
    links[rel] = new URL(target, new URL(base, location.href)).href;
  }
  return {
    items: data,
    total: Number(response.headers.get('X-Total-Count') ?? data.length),
    next: links.next ?? null,
    prev: links.prev ?? null,
  };
}

function withQuery(url, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, value);
  }
  return query.size ? `${url}?${query}` : url;
}

// --- users -------------------------------------------------------------------------------------

export const register = ({ email, password, name, role }) =>
  call('POST', `${config.users}/users/register`, { json: { email, password, name, role } }).then((r) => r.data);

export async function login(email, password) {
  const { data } = await call('POST', `${config.users}/users/login`, { json: { email, password } });
  tokens.save(data);
}

/** Spends the refresh token on the server, then forgets both tokens whatever the answer. */
export async function logout() {
  try {
    if (tokens.refresh) await call('POST', `${config.users}/users/logout`, { json: { refresh_token: tokens.refresh } });
  } finally {
    tokens.clear();
  }
}

/** GET /users/me: `{id, email, name, role, created_at, email_verified}`. */
export const me = () => call('GET', `${config.users}/users/me`, { auth: true }).then((r) => r.data);

/** PATCH /users/me: the account with its new name. */
export const rename = (name) =>
  call('PATCH', `${config.users}/users/me`, { json: { name }, auth: true }).then((r) => r.data);

/**
 * POST /users/me/password. On success every token of the account stops working (this session's
 * too), so both are forgotten here: the user logs in again with the new password.
 */
export async function changePassword(currentPassword, newPassword) {
  await call('POST', `${config.users}/users/me/password`, {
    json: { current_password: currentPassword, new_password: newPassword },
    auth: true,
  });
  tokens.clear();
}

/** POST /users/me/verify-email: mails a new verification link (429 with Retry-After past 3 an hour). */
export const resendVerification = () =>
  call('POST', `${config.users}/users/me/verify-email`, { auth: true }).then(() => undefined);

/** POST /users/verify-email with a verification link's token (400 INVALID_TOKEN once used or expired). */
export const verifyEmail = (token) =>
  call('POST', `${config.users}/users/verify-email`, { json: { token } }).then(() => undefined);

/** POST /users/password-reset: answered 202 whether or not the email has an account. */
export const requestPasswordReset = (email) =>
  call('POST', `${config.users}/users/password-reset`, { json: { email } }).then(() => undefined);

/** POST /users/password-reset/confirm with a reset link's token. */
export const confirmPasswordReset = (token, newPassword) =>
  call('POST', `${config.users}/users/password-reset/confirm`, { json: { token, new_password: newPassword } })
    .then(() => undefined);

// --- products ----------------------------------------------------------------------------------

/** GET /products with `{q, category, limit, offset}`, or a `next`/`prev` URL of an earlier page. */
export async function listProducts(filters) {
  const url = typeof filters === 'string' ? filters : withQuery(`${config.products}/products`, filters);
  return page(await call('GET', url), config.products);
}

export const listCategories = () => call('GET', `${config.products}/categories`).then((r) => r.data);

export const createProduct = (fields) =>
  call('POST', `${config.products}/products`, { json: fields, auth: true }).then((r) => r.data);

/** Uploads the image's bytes as they are, with the file's own type (PNG, JPEG or WebP). */
export const uploadImage = (productId, file) =>
  call('PUT', `${config.products}/products/${productId}/image`, {
    body: file,
    headers: { 'Content-Type': file.type },
    auth: true,
  }).then((r) => r.data);

/** Where a product's image is: its `image_url` is relative to the product service. */
export function imageSrc(product) {
  const url = product.image_url;
  if (!url) return null;
  return new URL(/^https?:/.test(url) ? url : `${config.products}${url}`, location.href).href;
}

// --- orders ------------------------------------------------------------------------------------

/** A fresh Idempotency-Key. randomUUID needs a secure context (https or localhost). */
export const newIdempotencyKey = () =>
  crypto.randomUUID?.() ?? Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * POST /orders. Send the same `key` again to retry the same order (after a network error, say):
 * the service then returns the first order instead of placing a second one.
 */
// With `checkout`, the order waits as PENDING_PAYMENT, its stock held, until the payment provider
// confirms it or its `expires_at` passes.
export const placeOrder = (items, key, checkout = false) =>
  call('POST', `${config.orders}/orders`, {
    json: checkout ? { items, checkout } : { items },
    headers: { 'Idempotency-Key': key },
    auth: true,
  }).then((r) => r.data);

export async function listOrders(filters = {}) {
  return page(await call('GET', withQuery(`${config.orders}/orders`, filters), { auth: true }), config.orders);
}

export const cancelOrder = (orderId) =>
  call('POST', `${config.orders}/orders/${orderId}/cancel`, { auth: true }).then((r) => r.data);
