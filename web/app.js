// The storefront page: wires the forms and lists of index.html to the API client (api.js).
// Everything the API returns is written with textContent, never as HTML.
import * as api from './api.js';
import { clearFieldErrors, inWords, showFieldError, showFieldErrors } from './forms.js';

const $ = (selector, root = document) => root.querySelector(selector);
// Amounts come with their currency (ISO 4217), as exact decimal numbers with at most its decimals.
const moneyFormats = new Map();
const moneyFormat = (currency = 'USD') => {
  if (!moneyFormats.has(currency)) {
    moneyFormats.set(currency, new Intl.NumberFormat(undefined, { style: 'currency', currency }));
  }
  return moneyFormats.get(currency);
};
const money = (amount, currency) => moneyFormat(currency).format(amount);
// A sum of price × quantity, added in the currency's minor units so that 0.1 × 3 shows 0.30.
const moneySum = (lines, currency) => {
  const scale = 10 ** moneyFormat(currency).resolvedOptions().maximumFractionDigits;
  const minor = lines.reduce((sum, { price, quantity }) => sum + Math.round(price * scale) * quantity, 0);
  return minor / scale;
};
const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const state = {
  user: null,          // GET /users/me of the logged-in user, or null
  catalog: null,       // the page of products on screen: {items, total, next, prev}
  offset: 0,           // where that page starts
  cart: new Map(),     // product id → {product, quantity}
  checkoutKey: null,   // the Idempotency-Key of the cart as it is; a new one when it changes
};

// --- messages and busy buttons -----------------------------------------------------------------

function say(message) {
  $('#error').hidden = true;
  $('#status').textContent = message;
}

function fail(err) {
  $('#status').textContent = '';
  // fetch rejects with a TypeError when no answer came at all (network down, CORS refused).
  $('#error').textContent = err instanceof TypeError ? `Could not reach the shop (${err.message})` : err.message;
  $('#error').hidden = false;
  // The refresh token itself was refused (api.js has dropped the tokens): the session is over.
  // Any other error, a refresh that was rate limited or overloaded included, is only shown: the
  // user stays logged in and a later action refreshes again.
  if (err instanceof api.ApiError && err.sessionEnded && state.user) showUser(null);
}

/** Runs an action for a button or form: busy while it runs, its error shown when it fails. */
async function attempt(control, action) {
  control.disabled = true;
  control.setAttribute('aria-busy', 'true');
  // An earlier error no longer stands once the user tries again; a new one shows in its place.
  $('#error').hidden = true;
  try {
    await action();
  } catch (err) {
    fail(err);
  } finally {
    control.disabled = false;
    control.removeAttribute('aria-busy');
  }
}

function onSubmit(form, action) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    attempt(form.querySelector('[type=submit]'), () => action(new FormData(form), form));
  });
}

// --- account -----------------------------------------------------------------------------------

function showUser(user) {
  state.user = user;
  const seller = user && (user.role === 'seller' || user.role === 'admin');
  $('#whoami').textContent = user ? `Logged in as ${user.name || user.email} (${user.role})` : 'Not logged in';
  $('#logout').hidden = !user;
  $('#account-link').hidden = !user;
  $('#account').hidden = Boolean(user);
  $('#seller').hidden = !seller;
  $('#orders').hidden = !user;
  $('#profile').hidden = !user;
  if (user) {
    $('#profile-email').textContent = `Logged in with ${user.email}`;
    $('#profile-name').value = user.name;
  } else {
    $('#order-list').replaceChildren();
    for (const form of [$('#name-form'), $('#password-form')]) {
      form.reset();
      clearFieldErrors(form);
    }
  }
  showVerification(user);
  renderCart();
}

// --- the account: name, password, email verification -------------------------------------------

let resendHeld = null; // the timer that allows "Send again" after a 429's Retry-After

/** The banner that asks to verify the email, for a user whose `email_verified` is false. */
function showVerification(user) {
  const pending = user?.email_verified === false;
  $('#verify-banner').hidden = !pending;
  $('#verify-address').textContent = pending ? ` to ${user.email}` : '';
  if (!pending) {
    $('#verify-note').textContent = '';
    clearTimeout(resendHeld);
    $('#verify-resend').disabled = false;
  }
}

$('#verify-resend').addEventListener('click', async (event) => {
  const button = event.currentTarget;
  const note = $('#verify-note');
  let wait = null;
  await attempt(button, async () => {
    note.textContent = '';
    try {
      await api.resendVerification();
      note.textContent = `A new link is on its way to ${state.user.email}; it replaces the earlier ones.`;
    } catch (err) {
      if (!(err instanceof api.ApiError && err.status === 429)) throw err;
      wait = err.retryAfter ?? 60;
      note.textContent = `You asked for several links already: you can ask again in ${inWords(wait)}. `
        + 'The latest link we sent still works.';
    }
  });
  if (wait !== null) {
    // Asking before then only gets another 429.
    button.disabled = true;
    clearTimeout(resendHeld);
    resendHeld = setTimeout(() => { button.disabled = false; }, wait * 1000);
  }
});

onSubmit($('#name-form'), async (data, form) => {
  clearFieldErrors(form);
  const name = data.get('name').trim();
  try {
    showUser(await api.rename(name));
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 422 && showFieldErrors(form, err)) return;
    throw err;
  }
  say(name ? `Your name is now ${name}.` : 'Your name is removed: the shop shows your email instead.');
});

onSubmit($('#password-form'), async (data, form) => {
  clearFieldErrors(form);
  const { current_password: current, repeat } = form.elements;
  if (data.get('new_password') !== data.get('repeat')) {
    showFieldError(repeat, 'This is not the same as the new password above: type it again.');
    repeat.focus();
    return;
  }
  const email = state.user.email;
  try {
    await api.changePassword(data.get('current_password'), data.get('new_password'));
  } catch (err) {
    // 401 INVALID_CREDENTIALS: the current password is wrong (it counts as a failed login).
    if (err instanceof api.ApiError && err.code === 'INVALID_CREDENTIALS') {
      showFieldError(current, 'This is not your current password.');
      current.focus();
      return;
    }
    if (err instanceof api.ApiError && err.status === 422 && showFieldErrors(form, err)) return;
    throw err;
  }
  // Every token of the account stopped working, this session's too (api.js has dropped them).
  showUser(null);
  $('#login-form [name=email]').value = email;
  $('#login-form [name=password]').focus();
  say('Password changed, and every session of your account has ended: log in with the new password.');
});

onSubmit($('#register-form'), async (data, form) => {
  const account = await api.register({
    email: data.get('email'),
    password: data.get('password'),
    name: data.get('name'),
    role: data.get('role'),
  });
  form.reset();
  $('#login-form [name=email]').value = account.email;
  $('#login-form [name=password]').focus();
  say(`Account created for ${account.email}. Log in with its password; we mailed a link to verify the address.`);
});

onSubmit($('#login-form'), async (data, form) => {
  await api.login(data.get('email'), data.get('password'));
  form.reset();
  showUser(await api.me());
  // The form that had the focus is gone: keep it on the page, on the account's control.
  $('#logout').focus();
  say(`Welcome, ${state.user.name || state.user.email}.`);
  await loadOrders();
});

// "Forgot password?" opens a small form under the login form; the answer is the same whether or
// not the email has an account, so the page says the same too.
const resetRequest = $('#reset-request-form');

function showResetRequest(open) {
  resetRequest.hidden = !open;
  $('#forgot-password').setAttribute('aria-expanded', String(open));
  clearFieldErrors(resetRequest);
  if (open) {
    resetRequest.elements.email.value ||= $('#login-form [name=email]').value;
    resetRequest.elements.email.focus();
  }
}

$('#forgot-password').addEventListener('click', () => showResetRequest(resetRequest.hidden));
$('#reset-cancel').addEventListener('click', () => {
  showResetRequest(false);
  $('#forgot-password').focus();
});

onSubmit(resetRequest, async (data, form) => {
  clearFieldErrors(form);
  const email = data.get('email').trim();
  try {
    await api.requestPasswordReset(email);
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 422 && showFieldErrors(form, err)) return;
    if (err instanceof api.ApiError && err.status === 429) {
      err.message = `You asked for several links already: you can ask again in ${inWords(err.retryAfter ?? 60)}. `
        + 'The latest link we sent still works.';
    }
    throw err;
  }
  form.reset();
  showResetRequest(false);
  $('#login-form [name=email]').value = email;
  $('#forgot-password').focus();
  say('If an account has that email, a link is on its way: open it to choose a new password.');
});

$('#logout').addEventListener('click', (event) =>
  attempt(event.currentTarget, async () => {
    try {
      await api.logout();
    } finally {
      showUser(null);
    }
    $('#login-form [name=email]').focus();
    say('Logged out.');
  }));

// --- catalog -----------------------------------------------------------------------------------

function filters() {
  const data = new FormData($('#search-form'));
  return { q: data.get('q').trim(), category: data.get('category'), limit: Number(data.get('limit')) };
}

async function loadCatalog(pageUrl) {
  const page = await api.listProducts(pageUrl ?? { ...filters(), offset: 0 });
  state.catalog = page;
  state.offset = pageUrl ? Number(new URL(pageUrl).searchParams.get('offset') ?? 0) : 0;
  renderCatalog();
}

function renderCatalog() {
  const { items, total, next, prev } = state.catalog;
  $('#products').replaceChildren(...items.map(productCard));
  $('#catalog-summary').textContent = total === 0 ? 'No product matches.'
    : total === 1 ? '1 product'
      : `Showing ${state.offset + 1}–${state.offset + items.length} of ${total} products`;
  $('#next-page').disabled = !next;
  $('#prev-page').disabled = !prev;
}

function productCard(product) {
  const card = $('#product-template').content.firstElementChild.cloneNode(true);
  card.dataset.productId = product.id;
  const image = $('.product-image', card);
  const src = api.imageSrc(product);
  image.src = src ?? 'placeholder.svg';
  image.alt = src ? product.name : '';
  $('.product-name', card).textContent = product.name;
  $('.product-category', card).textContent = product.category || 'Uncategorised';
  $('.product-description', card).textContent = product.description;
  $('.product-price', card).textContent = money(product.price, product.currency);
  $('.product-stock', card).textContent = product.stock > 0 ? `${product.stock} in stock` : 'Out of stock';
  const quantity = $('[name=quantity]', card);
  quantity.setAttribute('aria-label', `Quantity of ${product.name}`);
  const add = $('[type=submit]', card);
  add.setAttribute('aria-label', `Add ${product.name} to the order`);
  add.disabled = product.stock <= 0;
  $('.add-form', card).addEventListener('submit', (event) => {
    event.preventDefault();
    addToCart(product, Number(quantity.value));
  });
  return card;
}

async function loadCategories() {
  const categories = await api.listCategories();
  const select = $('#search-form [name=category]');
  const chosen = select.value;
  select.replaceChildren(select.options[0], ...categories.map((c) => new Option(`${c.name} (${c.product_count})`, c.name)));
  select.value = chosen;
  $('#category-names').replaceChildren(...categories.map((c) => new Option(c.name)));
}

onSubmit($('#search-form'), () => loadCatalog());
for (const [button, rel] of [[$('#next-page'), 'next'], [$('#prev-page'), 'prev']]) {
  button.addEventListener('click', () => attempt(button, () => loadCatalog(state.catalog[rel])));
}

// --- the order being put together --------------------------------------------------------------

function addToCart(product, quantity) {
  const line = state.cart.get(product.id);
  state.cart.set(product.id, { product, quantity: (line?.quantity ?? 0) + quantity });
  state.checkoutKey = null;
  renderCart();
  say(`Added ${quantity} × ${product.name} to your order.`);
}

function renderCart() {
  const lines = [...state.cart.values()];
  $('#cart-lines').replaceChildren(...lines.map(({ product, quantity }) => {
    const line = $('#cart-line-template').content.firstElementChild.cloneNode(true);
    $('.cart-line-text', line).textContent = `${quantity} × ${product.name} — ${money(moneySum([{ price: product.price, quantity }], product.currency), product.currency)}`;
    const remove = $('button', line);
    remove.setAttribute('aria-label', `Remove ${product.name}`);
    remove.addEventListener('click', () => {
      state.cart.delete(product.id);
      state.checkoutKey = null;
      renderCart();
    });
    return line;
  }));
  const currency = lines[0]?.product.currency;
  const total = moneySum(lines.map(({ product, quantity }) => ({ price: product.price, quantity })), currency);
  $('#cart-empty').hidden = lines.length > 0;
  $('#cart-total').textContent = lines.length ? `Total ${money(total, currency)}` : '';
  $('#place-order').disabled = !lines.length || !state.user;
  $('#cart-login-hint').hidden = Boolean(state.user);
}

$('#place-order').addEventListener('click', (event) =>
  attempt(event.currentTarget, async () => {
    const items = [...state.cart.values()].map(({ product, quantity }) => ({ product_id: product.id, quantity }));
    // One key per cart: pressing the button again after a failure that may have placed the
    // order (a network error) cannot place it twice.
    state.checkoutKey ??= api.newIdempotencyKey();
    let order;
    try {
      order = await api.placeOrder(items, state.checkoutKey, $('#checkout').checked);
    } catch (err) {
      // The detail names the product by id ("Insufficient stock for product 6b04…"): add its name.
      const short = err.code === 'INSUFFICIENT_STOCK' && items.find(({ product_id }) => err.message.includes(product_id));
      if (short) err.message += ` (${state.cart.get(short.product_id).product.name})`;
      throw err;
    }
    state.cart.clear();
    state.checkoutKey = null;
    say(order.status === 'PENDING_PAYMENT'
      ? `Order held for payment until ${when.format(new Date(order.expires_at))}: total ${money(order.total, order.currency)}.`
      : `Order placed: total ${money(order.total, order.currency)}.`);
    await Promise.all([loadOrders(), loadCatalog()]);
  }).finally(renderCart));

// --- the buyer's orders ------------------------------------------------------------------------

async function loadOrders() {
  const page = await api.listOrders({ limit: 20 });
  $('#order-list').replaceChildren(...page.items.map(orderItem));
  $('#orders-summary').textContent = page.total === 0 ? 'No order yet.'
    : page.total === 1 ? '1 order'
      : page.items.length === page.total ? `${page.total} orders, newest first`
        : `The ${page.items.length} most recent of ${page.total} orders`;
}

function orderItem(order) {
  const item = $('#order-template').content.firstElementChild.cloneNode(true);
  item.dataset.orderId = order.id;
  $('.order-when', item).textContent = when.format(new Date(order.created_at));
  $('.order-status', item).textContent = order.status;
  $('.order-status', item).dataset.status = order.status;
  $('.order-total', item).textContent = `Total ${money(order.total, order.currency)}`;
  $('.order-items', item).replaceChildren(...order.items.map((line) => {
    const li = document.createElement('li');
    li.textContent = `${line.quantity} × ${line.name} at ${money(line.unit_price, order.currency)}`;
    return li;
  }));
  if (order.status === 'PENDING_PAYMENT' && order.expires_at) {
    const expiry = $('.order-expiry', item);
    const until = new Date(order.expires_at);
    const minutes = Math.max(0, Math.ceil((until - Date.now()) / 60_000));
    expiry.textContent = `Waiting for payment: ${minutes} min left, until ${when.format(until)}; unpaid then, it expires.`;
    expiry.hidden = false;
  }
  const cancel = $('button', item);
  cancel.hidden = !['PLACED', 'PENDING_PAYMENT'].includes(order.status);
  cancel.addEventListener('click', () =>
    attempt(cancel, async () => {
      const cancelled = await api.cancelOrder(order.id);
      item.replaceWith(orderItem(cancelled));
      say(`Order cancelled; its stock is back in the catalog.`);
      await loadCatalog();
    }));
  return item;
}

$('#reload-orders').addEventListener('click', (event) => attempt(event.currentTarget, loadOrders));

// --- selling -----------------------------------------------------------------------------------

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const IMAGE_MAX_BYTES = 2 * 1024 * 1024;

onSubmit($('#product-form'), async (data, form) => {
  const image = data.get('image');
  const hasImage = image instanceof File && image.size > 0;
  if (hasImage && (!IMAGE_TYPES.includes(image.type) || image.size > IMAGE_MAX_BYTES)) {
    throw new Error('The image must be a PNG, JPEG or WebP file of at most 2 MiB.');
  }
  const product = await api.createProduct({
    name: data.get('name').trim(),
    description: data.get('description'),
    price: Number(data.get('price')),
    category: data.get('category').trim(),
    stock: Number(data.get('stock')),
  });
  say(`Added ${product.name}.`);
  form.reset();
  try {
    if (hasImage) {
      await api.uploadImage(product.id, image);
      say(`Added ${product.name}, with its image.`);
    }
  } catch (err) {
    err.message = `${product.name} was added, but not its image: ${err.message}`;
    throw err;
  } finally {
    await Promise.all([loadCategories(), loadCatalog()]);
  }
});

// --- start -------------------------------------------------------------------------------------

async function start() {
  await Promise.all([loadCategories(), loadCatalog()]);
  if (api.tokens.access) {
    showUser(await api.me());
    await loadOrders();
  } else {
    showUser(null);
  }
}

start().catch(fail);
