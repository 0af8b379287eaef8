// The page a password-reset mail links to: {PUBLIC_BASE_URL}/reset-password.html?token=…. The new
// password, typed twice, goes with the token to POST /users/password-reset/confirm. The services'
// base URLs come from config.js, as on the storefront (so on the page's own port the query may
// carry them beside the token); the way back keeps them.
import { ApiError, confirmPasswordReset } from './api.js';
import { storefrontHref } from './config.js';
import { clearFieldErrors, showFieldError, showFieldErrors } from './forms.js';

const $ = (selector) => document.querySelector(selector);
const token = new URLSearchParams(location.search).get('token');
const form = $('#reset-form');

function say(message) {
  $('#error').hidden = true;
  $('#status').textContent = message;
}

function fail(message) {
  $('#status').textContent = '';
  $('#error').textContent = message;
  $('#error').hidden = false;
}

/** The link cannot set a password (any more): the form goes, the reason and the way back stay. */
function linkUnusable(message) {
  form.hidden = true;
  fail(message);
  $('#back').focus();
}

const UNUSABLE = {
  INVALID_TOKEN: 'This link is used or expired: a reset link works once, for a limited time. '
    + 'Ask for a new one with “Forgot password?” on the shop’s login form.',
  ACCOUNT_DISABLED: 'This account is disabled, so its password cannot be set. '
    + 'Ask the shop to enable it again if you think this is a mistake.',
};

async function submit(button) {
  clearFieldErrors(form);
  $('#error').hidden = true;
  const data = new FormData(form);
  if (data.get('new_password') !== data.get('repeat')) {
    showFieldError(form.elements.repeat, 'This is not the same as the new password above: type it again.');
    form.elements.repeat.focus();
    return;
  }
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await confirmPasswordReset(token, data.get('new_password'));
  } catch (err) {
    if (err instanceof ApiError && UNUSABLE[err.code]) return linkUnusable(UNUSABLE[err.code]);
    // A 422 on the password shows at its field; one on the token means a damaged link.
    if (err instanceof ApiError && err.status === 422 && showFieldErrors(form, err)) return;
    if (err instanceof ApiError && err.status === 422) return linkUnusable(UNUSABLE.INVALID_TOKEN);
    return fail(err instanceof TypeError ? `Could not reach the shop (${err.message}).` : err.message);
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
  form.hidden = true;
  say('Password set. Every session of the account has ended: log in on the shop with the new password.');
  $('#back').textContent = 'Log in on the shop';
  $('#back').focus();
}

$('#back').href = storefrontHref();
form.addEventListener('submit', (event) => {
  event.preventDefault();
  submit(form.querySelector('[type=submit]'));
});
if (!token) {
  linkUnusable('This address has no token: open the link from the mail as it is, without changing it.');
}
