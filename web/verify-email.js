// The page a verification mail links to: {PUBLIC_BASE_URL}/verify-email.html?token=…. It sends the
// token to POST /users/verify-email at once and says what came of it. The services' base URLs come
// from config.js, as on the storefront (so on the page's own port the query may carry them beside
// the token); the way back keeps them.
import { ApiError, verifyEmail } from './api.js';
import { storefrontHref } from './config.js';

const $ = (selector) => document.querySelector(selector);
const token = new URLSearchParams(location.search).get('token');

function say(message) {
  $('#error').hidden = true;
  $('#status').textContent = message;
}

function fail(message) {
  $('#status').textContent = '';
  $('#error').textContent = message;
  $('#error').hidden = false;
}

async function verify() {
  $('#retry-line').hidden = true;
  say('Checking your link…');
  try {
    await verifyEmail(token);
  } catch (err) {
    if (err instanceof ApiError && (err.code === 'INVALID_TOKEN' || err.status === 422)) {
      fail('This link is used or expired: a link works once, for a limited time. If your email is not verified yet, '
        + 'log in on the shop and press “Send again” in its banner for a new link.');
      return;
    }
    // No answer, or one that says nothing about the link (busy, rate limited): it may work later.
    fail(err instanceof TypeError ? `Could not reach the shop (${err.message}).` : err.message);
    $('#retry-line').hidden = false;
    return;
  }
  say('Email verified. Thank you: your account’s address is confirmed.');
  $('#back').textContent = 'Continue to the shop';
  $('#back').focus();
}

$('#back').href = storefrontHref();
$('#retry').addEventListener('click', verify);
if (token) {
  verify();
} else {
  fail('This address has no token: open the link from the mail as it is, without changing it.');
}
