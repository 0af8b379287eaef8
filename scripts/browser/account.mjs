// The account's flows of the browser test, through the mails the user service sends (mail.mjs):
// the verification banner, "Send again" up to its 429, the verification link (an older one
// refused), the refresh of the token the verification revoked; the name; the password change,
// which ends the session; "Forgot password?", the reset link (a 422 at its field, used once, an
// account disabled since). Then the two link pages on the page's own port, with the services'
// bases in their query and, for a link as mailed, without.
import {
  GATEWAY, PASSWORD, TAG, TIMEOUT, answer, api, byTestId, env, logIn, logOut, register, sessionTokens, shows,
  statusSays, step, watch,
} from './harness.mjs';
import { mailedLinks } from './mail.mjs';

const NEW_PASSWORD = 'staple battery horse';
const RESET_PASSWORD = 'a password set by mail';
const API = `${GATEWAY}/api`;

const json = (method, body, token) => ({
  method,
  headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
  body: JSON.stringify(body),
});

const whoamiSays = (page, text) =>
  page.waitForFunction((t) => document.querySelector('[data-testid=whoami]').textContent.includes(t), text, { timeout: TIMEOUT });

/** Waits until the storefront has loaded its catalog, and so is ready for clicks and typing. */
const storefrontReady = (page) =>
  page.waitForFunction(() => document.querySelector('[data-testid=catalog-summary]')?.textContent, null, { timeout: TIMEOUT });

/** Waits until the user service refuses `accessToken` (a token cutoff reaches it within about a second). */
async function refused(accessToken) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const { status } = await api(`${API}/users/me`, { headers: { Authorization: `Bearer ${accessToken}` } });
    if (status === 401) return;
    if (Date.now() > deadline) throw new Error(`the access token issued before is still accepted (${status})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Fills the reset page's two password fields and submits. */
async function setPassword(page, password, repeat = password) {
  await byTestId(page, 'new-password').fill(password);
  await byTestId(page, 'repeat-password').fill(repeat);
  await byTestId(page, 'reset-submit').click();
}

/** Fills the storefront's password form and submits. */
async function changePassword(page, current, next, repeat = next) {
  await byTestId(page, 'current-password').fill(current);
  await byTestId(page, 'new-password').fill(next);
  await byTestId(page, 'repeat-password').fill(repeat);
  await byTestId(page, 'password-submit').click();
}

export async function accountBehindTheGateway(context) {
  const page = await context.newPage();
  watch(page);
  const email = `ada-${TAG}@example.com`;
  let verifyLinks = [];
  let resetLink = null;
  let held = null;

  console.log(`The account, through its mails (${GATEWAY}/)`);
  await step(page, 'register and log in: a banner asks to verify the email', async () => {
    await page.goto(`${GATEWAY}/`);
    await storefrontReady(page);
    await register(page, email, 'Ada', 'buyer');
    await logIn(page, email, 'buyer');
    const banner = await shows(page, 'verify-banner', 'Verify your email: we sent you a link');
    if (!banner.includes(email)) throw new Error(`the banner reads "${banner}"`);
  });
  await step(page, 'the verification mail arrives with its link to the storefront', async () => {
    verifyLinks = await mailedLinks(email, 'verify-email', 1);
    if (!verifyLinks[0].startsWith(`${GATEWAY}/verify-email.html?token=`)) throw new Error(`the link is ${verifyLinks[0]}`);
  });
  await step(page, '"Send again" mails a new link three times, then says when to ask again (429)', async () => {
    for (let mails = 2; mails <= 4; mails += 1) {
      const sent = answer(page, (r) => r.url().endsWith('/api/users/me/verify-email'));
      await byTestId(page, 'verify-resend').click();
      if ((await sent).status() !== 202) throw new Error(`POST /users/me/verify-email answered ${(await sent).status()}`);
      await shows(page, 'verify-note', 'A new link is on its way');
      verifyLinks = await mailedLinks(email, 'verify-email', mails);
    }
    const limited = answer(page, (r) => r.url().endsWith('/api/users/me/verify-email'));
    await byTestId(page, 'verify-resend').click();
    if ((await limited).status() !== 429) throw new Error(`the fourth resend answered ${(await limited).status()}, not 429`);
    const note = await shows(page, 'verify-note', 'you can ask again in');
    if (!/ask again in (59|60) minutes/.test(note)) throw new Error(`the note reads "${note}"`);
    if (!(await byTestId(page, 'verify-resend').isDisabled())) throw new Error('"Send again" stays enabled');
    if (!(await byTestId(page, 'error').isHidden())) throw new Error(`the page shows: ${await byTestId(page, 'error').textContent()}`);
  }, { expect: [{ status: 429, url: '/api/users/me/verify-email' }] });
  await step(page, 'an older link says it is used or expired, with a way back', async () => {
    held = await sessionTokens(page);
    await page.goto(verifyLinks[0]);
    await shows(page, 'error', 'This link is used or expired');
    const back = await byTestId(page, 'back-to-shop').getAttribute('href');
    if (back !== './') throw new Error(`the way back is ${back}`);
  }, { expect: [{ status: 400, url: '/api/users/verify-email' }] });
  await step(page, 'the latest link verifies the email', async () => {
    await page.goto(verifyLinks.at(-1));
    await shows(page, 'status', 'Email verified');
  });
  await step(page, 'back on the storefront the banner is gone, after one refresh of the revoked token', async () => {
    await refused(held[0]);
    const stale = answer(page, (r) => r.url().endsWith('/api/users/me') && r.status() === 401);
    const refreshed = answer(page, (r) => r.url().endsWith('/api/users/refresh'));
    await byTestId(page, 'back-to-shop').click();
    await stale;
    if ((await refreshed).status() !== 200) throw new Error(`POST /users/refresh answered ${(await refreshed).status()}`);
    await whoamiSays(page, '(buyer)');
    if (!(await byTestId(page, 'verify-banner').isHidden())) throw new Error('the banner still shows');
    const now = await sessionTokens(page);
    if (!now[0] || now[0] === held[0] || now[1] === held[1]) throw new Error('the tokens were not replaced');
    const me = await api(`${API}/users/me`, { headers: { Authorization: `Bearer ${now[0]}` } });
    if (me.body?.email_verified !== true) throw new Error(`GET /users/me: ${JSON.stringify(me.body)}`);
  }, { expect: [{ status: 401, url: '/api/users/me' }] });
  await step(page, 'change the name', async () => {
    await byTestId(page, 'account-link').click();
    await byTestId(page, 'profile-name').fill('Ada Lovelace');
    await byTestId(page, 'name-submit').click();
    await statusSays(page, 'Your name is now Ada Lovelace');
    await whoamiSays(page, 'Logged in as Ada Lovelace (buyer)');
    const [access] = await sessionTokens(page);
    const me = await api(`${API}/users/me`, { headers: { Authorization: `Bearer ${access}` } });
    if (me.body?.name !== 'Ada Lovelace') throw new Error(`GET /users/me: ${JSON.stringify(me.body)}`);
  });
  await step(page, 'the password form shows a differing repetition and a wrong current password at their fields', async () => {
    const sent = [];
    const count = (request) => request.url().includes('/api/') && sent.push(new URL(request.url()).pathname);
    page.on('request', count);
    try {
      await changePassword(page, PASSWORD, NEW_PASSWORD, 'staple battery horsE');
      await shows(page, 'repeat-password-error', 'not the same');
      if (sent.length) throw new Error(`a differing repetition was sent: ${sent.join(', ')}`);
      const refusedChange = answer(page, (r) => r.url().endsWith('/api/users/me/password'));
      await changePassword(page, 'not my password', NEW_PASSWORD);
      if ((await refusedChange).status() !== 401) throw new Error(`POST /users/me/password answered ${(await refusedChange).status()}`);
      await shows(page, 'current-password-error', 'This is not your current password');
    } finally {
      page.off('request', count);
    }
    // A wrong current password is no refused token: no refresh, no second attempt.
    if (sent.some((path) => path.endsWith('/users/refresh'))) throw new Error('the page refreshed its tokens');
    if (sent.filter((path) => path.endsWith('/users/me/password')).length !== 1) throw new Error(`the page sent ${sent.join(', ')}`);
    await whoamiSays(page, '(buyer)');
    if (!(await byTestId(page, 'error').isHidden())) throw new Error(`the page shows: ${await byTestId(page, 'error').textContent()}`);
  }, { expect: [{ status: 401, url: '/api/users/me/password' }] });
  await step(page, 'change the password: the page logs out and says why', async () => {
    const [before] = await sessionTokens(page);
    await changePassword(page, PASSWORD, NEW_PASSWORD);
    await statusSays(page, 'Password changed');
    await whoamiSays(page, 'Not logged in');
    const after = await sessionTokens(page);
    if (after[0] || after[1]) throw new Error('the page still holds tokens');
    if ((await byTestId(page, 'login-email').inputValue()) !== email) throw new Error('the login form does not have the email');
    await refused(before);
  });
  await step(page, 'the old password is refused, the new one logs in', async () => {
    const login = answer(page, (r) => r.url().endsWith('/api/users/login'));
    await byTestId(page, 'login-email').fill(email);
    await byTestId(page, 'login-password').fill(PASSWORD);
    await byTestId(page, 'login-submit').click();
    if ((await login).status() !== 401) throw new Error(`the old password got ${(await login).status()}`);
    await shows(page, 'error', 'Invalid credentials');
    await logIn(page, email, 'buyer', NEW_PASSWORD);
    await logOut(page);
  }, { expect: [{ status: 401, url: '/api/users/login' }] });
  await step(page, '"Forgot password?" says the same for an email without an account', async () => {
    await byTestId(page, 'forgot-password').click();
    await byTestId(page, 'reset-email').fill(`nobody-${TAG}@example.com`);
    const sent = answer(page, (r) => r.url().endsWith('/api/users/password-reset'));
    await byTestId(page, 'reset-submit').click();
    if ((await sent).status() !== 202) throw new Error(`POST /users/password-reset answered ${(await sent).status()}`);
    await statusSays(page, 'If an account has that email, a link is on its way');
    if (!(await byTestId(page, 'reset-request-form').isHidden())) throw new Error('the form stays open');
  });
  await step(page, '"Forgot password?" mails a reset link', async () => {
    await byTestId(page, 'forgot-password').click();
    await byTestId(page, 'reset-email').fill(email);
    const sent = answer(page, (r) => r.url().endsWith('/api/users/password-reset'));
    await byTestId(page, 'reset-submit').click();
    if ((await sent).status() !== 202) throw new Error(`POST /users/password-reset answered ${(await sent).status()}`);
    await statusSays(page, 'If an account has that email, a link is on its way');
    [resetLink] = await mailedLinks(email, 'reset-password', 1);
    if (!resetLink.startsWith(`${GATEWAY}/reset-password.html?token=`)) throw new Error(`the link is ${resetLink}`);
  });
  await step(page, 'the reset page shows a 422 and a differing repetition at their fields', async () => {
    await page.goto(resetLink);
    // 40 characters, 80 bytes in UTF-8: the browser lets it through, the service does not.
    const refusedReset = answer(page, (r) => r.url().endsWith('/api/users/password-reset/confirm'));
    await setPassword(page, 'ü'.repeat(40));
    if ((await refusedReset).status() !== 422) throw new Error(`the service answered ${(await refusedReset).status()}`);
    await shows(page, 'new-password-error', '72 bytes');
    await setPassword(page, RESET_PASSWORD, `${RESET_PASSWORD}!`);
    await shows(page, 'repeat-password-error', 'not the same');
    if (!(await byTestId(page, 'new-password-error').isHidden())) throw new Error('the earlier error stays');
  }, { expect: [{ status: 422, url: '/api/users/password-reset/confirm' }] });
  await step(page, 'set a new password with the reset link', async () => {
    await setPassword(page, RESET_PASSWORD);
    await shows(page, 'status', 'Password set');
    if (!(await byTestId(page, 'reset-form').isHidden())) throw new Error('the form stays');
  });
  await step(page, 'the reset link works once', async () => {
    await page.reload();
    await setPassword(page, `${RESET_PASSWORD} again`);
    await shows(page, 'error', 'This link is used or expired');
    if (!(await byTestId(page, 'reset-form').isHidden())) throw new Error('the form stays');
  }, { expect: [{ status: 400, url: '/api/users/password-reset/confirm' }] });
  await step(page, 'log in with the password the link set', async () => {
    await byTestId(page, 'back-to-shop').click();
    await storefrontReady(page);
    await logIn(page, email, 'buyer', RESET_PASSWORD);
    if (!(await byTestId(page, 'verify-banner').isHidden())) throw new Error('the banner shows again');
    await logOut(page);
  });
  await step(page, 'the reset link of an account disabled since says so', async () => {
    const other = `dora-${TAG}@example.com`;
    const made = await api(`${API}/users/register`, json('POST', { email: other, password: PASSWORD }));
    if (made.status !== 200) throw new Error(`registering ${other}: ${made.status}`);
    if ((await api(`${API}/users/password-reset`, json('POST', { email: other }))).status !== 202) throw new Error('no reset');
    const [link] = await mailedLinks(other, 'reset-password', 1);
    const admin = await api(`${API}/users/login`, json('POST', { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') }));
    const disabled = await api(`${API}/users/${made.body.id}`, json('PATCH', { disabled: true }, admin.body?.access_token));
    if (disabled.status !== 200) throw new Error(`disabling ${other}: ${disabled.status}`);
    await page.goto(link);
    await setPassword(page, RESET_PASSWORD);
    await shows(page, 'error', 'This account is disabled');
  }, { expect: [{ status: 403, url: '/api/users/password-reset/confirm' }] });
  await page.close();
}

export async function accountPagesOnTheirOwnPort(context) {
  const page = await context.newPage();
  watch(page);
  const users = env('USERS_URL');
  const query = new URLSearchParams({ users, products: env('PRODUCTS_URL'), orders: env('ORDERS_URL') });
  const alone = env('WEB_ALONE');
  console.log(`The link pages on their own port (${alone}), calling the user service on its own port`);
  await step(page, 'the verification page calls the user service its query names', async () => {
    const sent = answer(page, (r) => r.url() === `${users}/users/verify-email` && r.request().method() === 'POST');
    await page.goto(`${alone}/verify-email.html?${query}&token=unknown-${TAG}`);
    if ((await sent).status() !== 400) throw new Error(`POST /users/verify-email answered ${(await sent).status()}`);
    await shows(page, 'error', 'This link is used or expired');
    const back = await byTestId(page, 'back-to-shop').getAttribute('href');
    if (back !== `./?${query}`) throw new Error(`the way back is ${back}, without the bases`);
  }, { expect: [{ status: 400, url: `${users}/users/verify-email` }] });
  await step(page, 'a link as mailed (no bases in its query) calls the user service given before', async () => {
    await page.goto(`${alone}/reset-password.html?token=unknown-${TAG}`);
    const sent = answer(page, (r) => r.url() === `${users}/users/password-reset/confirm` && r.request().method() === 'POST');
    await setPassword(page, RESET_PASSWORD);
    if ((await sent).status() !== 400) throw new Error(`POST /users/password-reset/confirm answered ${(await sent).status()}`);
    await shows(page, 'error', 'This link is used or expired');
    const back = await byTestId(page, 'back-to-shop').getAttribute('href');
    if (back !== './') throw new Error(`the way back is ${back}`);
  }, { expect: [{ status: 400, url: `${users}/users/password-reset/confirm` }] });
  await page.close();
}
