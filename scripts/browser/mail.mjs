// The mails the user service sent during the test, as the test's SMTP server (aiosmtpd's Mailbox
// handler, started by scripts/browser-test.sh) stored them: one file per message in MAILDIR/new.
// Only as much MIME as finding a link takes: headers (folded lines joined), the parts of a
// multipart, and quoted-printable (soft line breaks `=\r\n`, escapes such as `=3D`) or base64
// bodies.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { TIMEOUT, env } from './harness.mjs';

const MAILDIR = env('MAILDIR');
// The mailer sends at once, and retries a failed attempt after a second or two.
const MAIL_TIMEOUT = TIMEOUT + 5_000;

/** The files of MAILDIR/new in the order they arrived (none before the first mail). */
function arrivals() {
  let names;
  try {
    names = readdirSync(join(MAILDIR, 'new'));
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  // Python's mailbox names a message `<seconds>.M<microseconds>P<pid>Q<count>.<host>`.
  const order = (name) => (/^(\d+)\.M(\d+)P\d+Q(\d+)/.exec(name) ?? [0, 0, 0, 0]).slice(1).map(Number);
  return names
    .filter((name) => !name.startsWith('.'))
    .map((name) => ({ name, order: order(name) }))
    .sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1] || a.order[2] - b.order[2])
    .map(({ name }) => join(MAILDIR, 'new', name));
}

/** `{headers, body}` of a message or a part; header names lowercased. */
function parse(raw) {
  const text = raw.replace(/\r\n/g, '\n');
  const end = text.indexOf('\n\n');
  const head = end < 0 ? text : text.slice(0, end);
  const headers = {};
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] ??= line.slice(colon + 1).trim();
  }
  return { headers, body: end < 0 ? '' : text.slice(end + 2) };
}

/** A part's body as text, its Content-Transfer-Encoding undone. */
function decode({ headers, body }) {
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding !== 'quoted-printable') return body;
  const bytes = body
    .replace(/=\n/g, '') // a soft line break: the line goes on
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** The text parts of a message or part, multiparts opened: [{type, text}]. */
function textParts(part) {
  const type = part.headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    return part.body
      .split(`--${boundary}`)
      .slice(1)
      .filter((chunk) => !chunk.startsWith('--'))
      .flatMap((chunk) => textParts(parse(chunk.replace(/^[ \t]*\n/, ''))));
  }
  return /^text\//i.test(type) ? [{ type: type.toLowerCase(), text: decode(part) }] : [];
}

/** The link to `page` (verify-email or reset-password) in a mail's text part, or null. */
function linkIn(message, page) {
  const pattern = new RegExp(`https?://[^\\s<>"]+/${page}\\.html\\?token=[A-Za-z0-9_\\-]+`);
  const plain = textParts(message).find((part) => part.type.startsWith('text/plain'));
  return plain ? pattern.exec(plain.text)?.[0] ?? null : null;
}

/**
 * Waits until at least `count` mails to `to` with a link to `page` (verify-email or
 * reset-password) have arrived, and returns their links in the order they arrived.
 */
export async function mailedLinks(to, page, count) {
  const deadline = Date.now() + MAIL_TIMEOUT;
  for (;;) {
    const links = arrivals()
      .map((file) => parse(readFileSync(file, 'utf8')))
      .filter((message) => (message.headers.to ?? '').toLowerCase().includes(to.toLowerCase()))
      .map((message) => linkIn(message, page))
      .filter(Boolean);
    if (links.length >= count) return links;
    if (Date.now() > deadline) {
      throw new Error(`${links.length} of ${count} mails to ${to} with a ${page} link arrived in ${MAILDIR}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
