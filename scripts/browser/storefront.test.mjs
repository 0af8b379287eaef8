// Drives the storefront (web/) in headless Chromium through clicks and typing only; the API is
// called directly only to check what the page did. scripts/browser-test.sh starts everything and
// runs this with:
//
//   PLAYWRIGHT_DIR  the folder where playwright-core is installed     CHROMIUM   the browser
//   GATEWAY         the gateway (page at /, API under /api)            ARTIFACTS  screenshots
//   WEB_ALONE       the page on its own port
//   USERS_URL, PRODUCTS_URL, ORDERS_URL   the services' own base URLs
//   MAILDIR         the maildir the test's SMTP server writes the user service's mails to
//   ADMIN_EMAIL, ADMIN_PASSWORD           the admin account the user service ensures
//
// Every step runs, also after an earlier one failed (a later failure may follow from it), and
// prints ok or FAIL; the exit status is 1 if any failed. Any console error, page error, failed
// request or error answer of the page fails the step it happened in, unless the step expected it
// (harness.mjs). The shop's flows are here; the account's (verification, name, password, reset,
// through the mails) are in account.mjs.
import { deflateSync } from 'node:zlib';

import { accountBehindTheGateway, accountPagesOnTheirOwnPort } from './account.mjs';
import {
  GATEWAY, TAG, TIMEOUT, answer, api, byTestId, env, logIn, logOut, register, run, sessionTokens, statusSays, step,
  watch,
} from './harness.mjs';

const PRODUCT = `Desk lamp ${TAG}`;

// --- a small real PNG: 64×48, a gradient ------------------------------------------------------

function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, no interlace
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1); // each row starts with filter type 0
    for (let x = 0; x < width; x++) rows.set([x * 4, y * 5, 160], row + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function search(page, text) {
  await byTestId(page, 'search-input').fill(text);
  await byTestId(page, 'search-submit').click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid=catalog-summary]').textContent === '1 product'
      && document.querySelectorAll('[data-testid=product]').length === 1,
    null, { timeout: TIMEOUT },
  );
}

async function imageLoaded(page) {
  const image = byTestId(page, 'product-image');
  await image.scrollIntoViewIfNeeded();
  const src = await image.getAttribute('src');
  if (src.endsWith('placeholder.svg')) throw new Error('the product shows the placeholder: it has no image_url');
  await page.waitForFunction(
    () => { const img = document.querySelector('[data-testid=product-image]'); return img.complete && img.naturalWidth > 0; },
    null, { timeout: TIMEOUT },
  );
  const width = await image.evaluate((img) => img.naturalWidth);
  if (width !== 64) throw new Error(`the image is ${width} px wide, not the 64 px uploaded`);
}

const isRefresh = (url) => url.pathname.endsWith('/users/refresh');

/**
 * Makes the page's next POST /users/refresh get `status` with a contract error body and
 * `Retry-After: 1` (the service never sees it), has the page reload the buyer's orders with the
 * access token it holds (invalid), and checks that the page shows the answer's detail, still
 * shows the user logged in and still holds both tokens as they were.
 */
async function refreshRefusedKeepsSession(page, status, code, detail) {
  const held = await sessionTokens(page);
  let refreshes = 0;
  const refuse = (route) => {
    refreshes += 1;
    return route.fulfill({
      status,
      headers: { 'Retry-After': '1' },
      contentType: 'application/json',
      body: JSON.stringify({ detail, error_code: code }),
    });
  };
  await page.route(isRefresh, refuse, { times: 1 });
  try {
    await byTestId(page, 'reload-orders').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, null, { timeout: TIMEOUT });
  } finally {
    await page.unroute(isRefresh, refuse);
  }
  if (refreshes !== 1) throw new Error(`the page asked for ${refreshes} refreshes, not 1`);
  const shown = await byTestId(page, 'error').textContent();
  if (!shown.includes(detail)) throw new Error(`the page shows "${shown}", not the ${status}'s detail`);
  const whoami = await byTestId(page, 'whoami').textContent();
  if (!whoami.includes('(buyer)')) throw new Error(`the page logged the user out on a ${status}: "${whoami}"`);
  if (await byTestId(page, 'orders').isHidden()) throw new Error('the orders are no longer shown');
  const now = await sessionTokens(page);
  if (now[0] !== held[0] || now[1] !== held[1]) {
    throw new Error(`the tokens did not stay as they were: access ${now[0] ? 'changed' : 'dropped'}, refresh ${now[1] ? 'changed' : 'dropped'}`);
  }
}

async function stockOf(productsBase, productId) {
  return (await api(`${productsBase}/products/${productId}`)).body?.stock;
}

// --- the flow ---------------------------------------------------------------------------------

async function behindTheGateway(context) {
  const page = await context.newPage();
  watch(page);
  const seller = `seller-${TAG}@example.com`;
  const buyer = `buyer-${TAG}@example.com`;
  const apiBase = `${GATEWAY}/api`;
  let productId = null;

  console.log(`Behind the gateway (${GATEWAY}/)`);
  await step(page, 'open the page', async () => {
    await page.goto(`${GATEWAY}/`);
    await page.waitForFunction(() => document.querySelector('[data-testid=catalog-summary]').textContent !== '',
      null, { timeout: TIMEOUT });
  });
  await step(page, 'register a seller', () => register(page, seller, 'Vera Seller', 'seller'));
  await step(page, 'log in as the seller', () => logIn(page, seller, 'seller'));
  await step(page, 'add a product with stock and its image', async () => {
    await byTestId(page, 'product-name-input').fill(PRODUCT);
    await byTestId(page, 'product-price-input').fill('12.5');
    await byTestId(page, 'product-category-input').fill(`Lamps ${TAG}`);
    await byTestId(page, 'product-stock-input').fill('5');
    await byTestId(page, 'product-description-input').fill('A lamp for the browser test.');
    await byTestId(page, 'product-image-input').setInputFiles({ name: 'lamp.png', mimeType: 'image/png', buffer: png(64, 48) });
    await byTestId(page, 'product-submit').click();
    await statusSays(page, `Added ${PRODUCT}`);
    const found = await api(`${apiBase}/products?q=${TAG}`);
    productId = found.body?.[0]?.id;
    if (!productId || found.body[0].stock !== 5) throw new Error(`the API does not list it with stock 5: ${JSON.stringify(found.body)}`);
    await statusSays(page, `Added ${PRODUCT}, with its image`);
    if (!found.body[0].image_url && !(await api(`${apiBase}/products/${productId}`)).body?.image_url) {
      throw new Error('the product has no image_url after the upload');
    }
  });
  await step(page, 'log out the seller', () => logOut(page));
  await step(page, 'register a buyer', () => register(page, buyer, 'Bo Buyer', 'buyer'));
  await step(page, 'log in as the buyer', () => logIn(page, buyer, 'buyer'));
  await step(page, 'search for the product', () => search(page, TAG));
  await step(page, 'see the product image load', () => imageLoaded(page));
  await step(page, 'an order beyond the stock shows the 409 detail', async () => {
    await byTestId(page, 'quantity').fill('6');
    await byTestId(page, 'add-to-cart').click();
    await byTestId(page, 'place-order').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, null, { timeout: TIMEOUT });
    // The API's own detail, which names the product: "Insufficient stock for product <id>".
    const shown = await byTestId(page, 'error').textContent();
    if (!/insufficient stock/i.test(shown) || !shown.includes(productId)) throw new Error(`the page shows: ${shown}`);
    await byTestId(page, 'remove-line').click();
  }, { expect: [{ status: 409, url: '/api/orders' }] });
  await step(page, 'place an order of 2', async () => {
    await byTestId(page, 'quantity').fill('2');
    await byTestId(page, 'add-to-cart').click();
    await byTestId(page, 'place-order').click();
    // Written in the order's currency (USD here), in the browser's locale.
    await statusSays(page, 'Order placed: total $25.00');
    await page.waitForFunction(() => document.querySelector('[data-testid=order] [data-testid=order-status]')?.textContent === 'PLACED',
      null, { timeout: TIMEOUT });
    const stock = await stockOf(apiBase, productId);
    if (stock !== 3) throw new Error(`the stock is ${stock}, not 3`);
  });
  await step(page, 'see it in the orders and cancel it', async () => {
    const order = byTestId(page, 'order').first();
    await order.getByText(`2 × ${PRODUCT}`).waitFor({ timeout: TIMEOUT });
    await order.getByTestId('cancel-order').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=order] [data-testid=order-status]')?.textContent === 'CANCELLED',
      null, { timeout: TIMEOUT });
    const stock = await stockOf(apiBase, productId);
    if (stock !== 5) throw new Error(`the stock is ${stock}, not back to 5`);
  });
  await step(page, 'a checkout holds the stock and shows its time left, then is cancelled', async () => {
    await byTestId(page, 'quantity').fill('1');
    await byTestId(page, 'add-to-cart').click();
    await byTestId(page, 'checkout').check();
    await byTestId(page, 'place-order').click();
    await statusSays(page, 'Order held for payment until');
    const order = byTestId(page, 'order').first();
    await page.waitForFunction(() => document.querySelector('[data-testid=order] [data-testid=order-status]')?.textContent === 'PENDING_PAYMENT',
      null, { timeout: TIMEOUT });
    const expiry = await order.getByTestId('order-expiry').textContent();
    if (!/1[45] min left, until /.test(expiry)) throw new Error(`the expiry reads "${expiry}"`);
    if ((await stockOf(apiBase, productId)) !== 4) throw new Error('the checkout did not hold 1 unit');
    await order.getByTestId('cancel-order').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=order] [data-testid=order-status]')?.textContent === 'CANCELLED',
      null, { timeout: TIMEOUT });
    const stock = await stockOf(apiBase, productId);
    if (stock !== 5) throw new Error(`the stock is ${stock}, not back to 5`);
    await byTestId(page, 'checkout').uncheck();
  });
  await step(page, 'a rejected access token is refreshed once and the call succeeds', async () => {
    const before = await page.evaluate(() => sessionStorage.getItem('storefront.refresh_token'));
    await page.evaluate(() => sessionStorage.setItem('storefront.access_token', 'corrupted.access.token'));
    const refreshed = answer(page, (r) => r.url().endsWith('/api/users/refresh'));
    const orders = answer(page, (r) => r.url().includes('/api/orders') && r.status() === 200);
    await byTestId(page, 'reload-orders').click();
    if ((await refreshed).status() !== 200) throw new Error(`POST /users/refresh answered ${(await refreshed).status()}`);
    await orders;
    const after = await page.evaluate(() => [sessionStorage.getItem('storefront.access_token'), sessionStorage.getItem('storefront.refresh_token')]);
    if (after[0] === 'corrupted.access.token' || after[1] === before) throw new Error('the tokens were not replaced');
    await byTestId(page, 'order').first().waitFor({ timeout: TIMEOUT });
    if (!(await byTestId(page, 'error').isHidden())) throw new Error(`the page shows: ${await byTestId(page, 'error').textContent()}`);
  }, { expect: [{ status: 401, url: '/api/orders' }] });
  // A refresh the service cannot do now (busy, rate limited) says nothing about the refresh
  // token: the user stays logged in, sees why the action failed, and a later action refreshes.
  let held = null;
  await step(page, 'a refresh answered 503 OVERLOADED keeps the session and shows its detail', async () => {
    await page.evaluate(() => sessionStorage.setItem('storefront.access_token', 'expired.access.token'));
    held = await sessionTokens(page);
    await refreshRefusedKeepsSession(page, 503, 'OVERLOADED', 'The service is busy: try again in 1 s.');
  }, { expect: [{ status: 401, url: '/api/orders' }, { status: 503, url: '/api/users/refresh' }] });
  await step(page, 'a refresh answered 429 RATE_LIMITED keeps the session too', () =>
    refreshRefusedKeepsSession(page, 429, 'RATE_LIMITED', 'Too many requests: try again in 1 s.'),
  { expect: [{ status: 401, url: '/api/orders' }, { status: 429, url: '/api/users/refresh' }] });
  await step(page, 'then the next action refreshes for real and succeeds', async () => {
    const refreshed = answer(page, (r) => r.url().endsWith('/api/users/refresh'));
    const orders = answer(page, (r) => r.url().includes('/api/orders') && r.status() === 200);
    await byTestId(page, 'reload-orders').click();
    if ((await refreshed).status() !== 200) throw new Error(`POST /users/refresh answered ${(await refreshed).status()}`);
    await orders;
    const after = await sessionTokens(page);
    if (!after[0] || !after[1] || after[0] === held?.[0] || after[1] === held?.[1]) throw new Error('the tokens were not replaced');
    await byTestId(page, 'order').first().waitFor({ timeout: TIMEOUT });
    if (!(await byTestId(page, 'whoami').textContent()).includes('(buyer)')) throw new Error('the user is not shown logged in');
    if (!(await byTestId(page, 'error').isHidden())) throw new Error(`the page shows: ${await byTestId(page, 'error').textContent()}`);
  }, { expect: [{ status: 401, url: '/api/orders' }] });
  let spent = null;
  await step(page, 'log out the buyer', async () => {
    spent = (await sessionTokens(page))[1];
    await logOut(page);
  });
  // A refresh token the service refuses (here the one the logout spent) does end the session.
  await step(page, 'log in as the buyer again', () => logIn(page, buyer, 'buyer'));
  await step(page, 'a refresh answered 401 ends the session', async () => {
    await page.evaluate((token) => {
      sessionStorage.setItem('storefront.access_token', 'expired.access.token');
      sessionStorage.setItem('storefront.refresh_token', token);
    }, spent);
    const refreshed = answer(page, (r) => r.url().endsWith('/api/users/refresh'));
    await byTestId(page, 'reload-orders').click();
    if ((await refreshed).status() !== 401) throw new Error(`POST /users/refresh answered ${(await refreshed).status()}, not 401`);
    await page.waitForFunction(() => document.querySelector('[data-testid=whoami]').textContent === 'Not logged in',
      null, { timeout: TIMEOUT });
    const after = await sessionTokens(page);
    if (after[0] || after[1]) throw new Error('the page still holds tokens');
    if (await byTestId(page, 'error').isHidden()) throw new Error('the page does not say why the user was logged out');
    if (!(await byTestId(page, 'orders').isHidden())) throw new Error('the orders are still shown');
  }, { expect: [{ status: 401, url: '/api/orders' }, { status: 401, url: '/api/users/refresh' }] });
  await page.close();
  return { buyer };
}

async function onItsOwnPort(context, buyer) {
  const page = await context.newPage();
  watch(page);
  const query = new URLSearchParams({ users: env('USERS_URL'), products: env('PRODUCTS_URL'), orders: env('ORDERS_URL') });
  const url = `${env('WEB_ALONE')}/?${query}`;
  console.log(`On its own port (${url}), calling each service on its own port`);
  await step(page, 'open the page alone', async () => {
    const products = answer(page, (r) => r.url().startsWith(`${env('PRODUCTS_URL')}/products`));
    await page.goto(url);
    if ((await products).status() !== 200) throw new Error('the catalog did not come from the product service');
  });
  await step(page, 'search across origins and see the image', async () => {
    await search(page, TAG);
    await imageLoaded(page);
  });
  await step(page, 'log in across origins and list the orders', async () => {
    const orders = answer(page, (r) => r.url().startsWith(`${env('ORDERS_URL')}/orders`));
    await logIn(page, buyer, 'buyer');
    if ((await orders).status() !== 200) throw new Error('GET /orders on the order service failed');
    await page.waitForFunction(() => document.querySelector('[data-testid=order-status]')?.textContent === 'CANCELLED',
      null, { timeout: TIMEOUT });
  });
  await page.close();
}

// --- main -------------------------------------------------------------------------------------

await run(async (context) => {
  const { buyer } = await behindTheGateway(context);
  await accountBehindTheGateway(context);
  await onItsOwnPort(context, buyer);
  await accountPagesOnTheirOwnPort(context);
});
